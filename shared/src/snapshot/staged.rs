//! The join's inputs, copied into one buffer before the snapshot is built from them.
//!
//! The tagged list and the catalogue are thousands of small blocks, allocated between the SDK's
//! per-page garbage. Built straight from them, the snapshot's own small blocks would land between
//! theirs, and once the inputs are freed the allocator keeps every page that still holds one live
//! block. Copied first into a few large blocks, the inputs are freed before the snapshot allocates
//! anything, and its blocks then fill the freed pages densely.

use crate::profile::{Interner, Profile};
use crate::source::{CatalogEntry, TaggedResource};
use std::collections::HashMap;

/// The resources the join keeps, with what the catalogue adds to each, as spans of one text.
#[derive(Debug, Default)]
pub(super) struct Staged {
    text: String,
    /// Where each span ends in `text`; a span starts where the one before it ends.
    ends: Vec<usize>,
    rows: Vec<Row>,
}

/// One resource: its spans start at `first`, in the order ARN, name, status, models, then each
/// tag's key and value.
#[derive(Debug)]
struct Row {
    first: usize,
    listed: bool,
    status: bool,
    models: usize,
    tags: usize,
}

impl Staged {
    /// Stages what [`Snapshot::join`](super::Snapshot::join) keeps: resources with tags and, with
    /// a catalogue, only those Bedrock lists. Consumes (and so frees) both inputs.
    pub(super) fn new(tagged: Vec<TaggedResource>, catalog: Option<Vec<CatalogEntry>>) -> Self {
        let mut catalog: Option<HashMap<String, CatalogEntry>> =
            catalog.map(|c| c.into_iter().map(|e| (e.arn.clone(), e)).collect());
        let mut staged = Self::default();
        for r in tagged.iter().filter(|r| !r.tags.is_empty()) {
            let entry = match catalog.as_mut() {
                Some(c) => match c.remove(&r.arn) {
                    Some(e) => Some(e),
                    None => continue,
                },
                None => None,
            };
            let first = staged.ends.len();
            staged.push(&r.arn);
            let (listed, status, models) = match &entry {
                Some(e) => {
                    staged.push(&e.name);
                    if let Some(s) = &e.status {
                        staged.push(s);
                    }
                    e.models.iter().for_each(|m| staged.push(m));
                    (true, e.status.is_some(), e.models.len())
                }
                None => (false, false, 0),
            };
            for (k, v) in &r.tags {
                staged.push(k);
                staged.push(v);
            }
            staged.rows.push(Row {
                first,
                listed,
                status,
                models,
                tags: r.tags.len(),
            });
        }
        staged
    }

    /// The profiles, in staging order; a resource whose ARN is not a profile's is skipped.
    pub(super) fn profiles(&self) -> Vec<Profile> {
        let mut interner = Interner::default();
        let mut profiles = Vec::with_capacity(self.rows.len());
        for row in &self.rows {
            let mut at = row.first;
            let mut next = || {
                at += 1;
                self.span(at - 1)
            };
            let arn = next();
            let name = row.listed.then(&mut next);
            let status = row.status.then(&mut next);
            let models: Option<Box<[_]>> = row
                .listed
                .then(|| (0..row.models).map(|_| interner.get(next())).collect());
            let tags: Vec<(&str, &str)> = (0..row.tags).map(|_| (next(), next())).collect();
            let Some(mut profile) = Profile::from_arn(arn, tags, false, &mut interner) else {
                continue;
            };
            profile.name = name.map(Into::into);
            profile.status = status.map(|s| interner.get(s));
            profile.models = models;
            profiles.push(profile);
        }
        profiles
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    fn span(&self, i: usize) -> &str {
        let start = match i.checked_sub(1) {
            Some(before) => self.ends.get(before).copied().unwrap_or_default(),
            None => 0,
        };
        self.ends
            .get(i)
            .and_then(|&end| self.text.get(start..end))
            .unwrap_or_default()
    }
}
