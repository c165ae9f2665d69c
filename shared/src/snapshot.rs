//! A snapshot: every profile one source knows for one region, sorted by ARN, with its index.
//! Snapshots are immutable; the resolver swaps whole snapshots.

use crate::index::{Index, Postings};
use crate::profile::Profile;
use crate::query::Query;
use crate::source::{CatalogEntry, TaggedResource};
use serde::Serialize;
use staged::Staged;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Discovered through the Resource Groups Tagging API.
    TaggingApi,
    /// A static route from SSM Parameter Store.
    ParameterStore,
}

impl Origin {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TaggingApi => "tagging-api",
            Self::ParameterStore => "parameter-store",
        }
    }
}

/// Profiles of one region with their tag index.
#[derive(Debug)]
pub struct Snapshot {
    origin: Origin,
    profiles: Vec<Profile>,
    index: Index,
}

impl Snapshot {
    /// Sorts the profiles by ARN, drops duplicate ARNs (first kept) and indexes them.
    pub fn new(origin: Origin, mut profiles: Vec<Profile>) -> Self {
        profiles.sort_by(|a, b| a.arn.cmp(&b.arn));
        profiles.dedup_by(|b, a| a.arn == b.arn);
        profiles.shrink_to_fit();
        // A rendering made before this snapshot existed could predate a change to a field.
        profiles.iter_mut().for_each(|p| p.rendered = Default::default());
        let index = Index::build(profiles.iter().map(|p| &p.tags[..]));
        Self {
            origin,
            profiles,
            index,
        }
    }

    /// Joins tagging's resources with Bedrock's catalogue, per the contract:
    /// - a resource with an empty tag list (a deleted profile's ghost) is dropped;
    /// - with a catalogue, a resource Bedrock no longer lists is dropped, and the rest gain
    ///   name, status and models;
    /// - without one (Bedrock denied or failed), profiles carry tags alone.
    ///
    /// Returns the snapshot and the number of resources dropped.
    pub fn join(tagged: Vec<TaggedResource>, catalog: Option<Vec<CatalogEntry>>) -> (Self, usize) {
        let total = tagged.len();
        let staged = Staged::new(tagged, catalog);
        let profiles = staged.profiles();
        let dropped = total - profiles.len();
        drop(staged);
        (Self::new(Origin::TaggingApi, profiles), dropped)
    }

    /// Where these profiles came from.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// How many profiles.
    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// The profile at a position returned by [`Snapshot::matches`].
    pub fn get(&self, pos: u32) -> Option<&Profile> {
        self.profiles.get(pos as usize)
    }

    /// Every profile, sorted by ARN.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// Positions of the matching profiles, in ARN order.
    pub fn matches(&self, query: &Query) -> Postings {
        self.index.matches(query)
    }

    /// The position of the profile with this ARN: a binary search, never a scan.
    pub fn position(&self, arn: &str) -> Option<u32> {
        self.profiles
            .binary_search_by(|p| (*p.arn).cmp(arn))
            .ok()
            .map(|i| i as u32)
    }

    /// The position of the profile with this bare id. Profiles are sorted by ARN, so those of
    /// one account (one ARN prefix) are contiguous and sorted by id: one binary search per
    /// account in the snapshot (one, for a snapshot from the Tagging API).
    pub fn position_of_id(&self, id: &str) -> Option<u32> {
        let mut start = 0;
        while let Some(first) = self.profiles.get(start) {
            let prefix = &first.arn[..first.arn.rfind('/').map_or(0, |i| i + 1)];
            let group = &self.profiles[start..];
            let end = start + group.partition_point(|p| p.arn.starts_with(prefix));
            let mut wanted = String::with_capacity(prefix.len() + id.len());
            wanted.push_str(prefix);
            wanted.push_str(id);
            if let Ok(i) = self.profiles[start..end].binary_search_by(|p| (*p.arn).cmp(&wanted)) {
                return Some((start + i) as u32);
            }
            start = end.max(start + 1);
        }
        None
    }

    /// The position of the profile a reverse lookup's `key` names: by ARN, or by id.
    pub fn position_of_key(&self, key: &crate::query::reverse::ProfileKey) -> Option<u32> {
        match &key.arn {
            Some(arn) => self.position(arn),
            None => self.position_of_id(&key.id),
        }
    }
}

mod staged;
#[cfg(test)]
mod tests;
