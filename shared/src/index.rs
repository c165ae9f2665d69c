//! An inverted index over tags. A query touches only the posting lists of its keys: AND across
//! keys is an intersection, OR within a key a union, a key-only filter the key's own list.
//! Postings are positions in the ARN-sorted profile list, so results come out sorted by ARN.

use crate::query::{Query, ValueFilter};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Positions of profiles in their snapshot.
pub type Postings = Vec<u32>;

#[derive(Debug, Default)]
struct KeyPostings {
    any: Postings,
    by_value: HashMap<Arc<str>, Postings>,
}

/// The tag index of one snapshot. Keys and values are the snapshot's shared strings.
#[derive(Debug, Default)]
pub struct Index {
    keys: HashMap<Arc<str>, KeyPostings>,
    len: u32,
}

impl Index {
    /// Builds the index from each profile's tags, in profile order.
    pub fn build<'a, I>(profiles: I) -> Self
    where
        I: IntoIterator<Item = &'a [(Arc<str>, Arc<str>)]>,
    {
        let mut index = Self::default();
        for (pos, tags) in (0u32..).zip(profiles) {
            for (k, v) in tags {
                let entry = index.keys.entry(k.clone()).or_default();
                entry.any.push(pos);
                entry.by_value.entry(v.clone()).or_default().push(pos);
            }
            index.len = pos + 1;
        }
        for key in index.keys.values_mut() {
            key.any.shrink_to_fit();
            key.by_value.values_mut().for_each(Vec::shrink_to_fit);
        }
        index
    }

    /// Positions of the profiles matching `query`'s tags, ascending.
    pub fn matches(&self, query: &Query) -> Postings {
        if query.tags.is_empty() {
            return (0..self.len).collect();
        }
        let mut sets: Vec<Cow<'_, [u32]>> = Vec::with_capacity(query.tags.len());
        for (key, filter) in &query.tags {
            let Some(postings) = self.keys.get(key.as_str()) else {
                return Vec::new();
            };
            let set = match filter {
                ValueFilter::AnyValue => Cow::Borrowed(postings.any.as_slice()),
                ValueFilter::OneOf(values) => union(values.iter().filter_map(|v| postings.by_value.get(v.as_str()))),
            };
            if set.is_empty() {
                return Vec::new();
            }
            sets.push(set);
        }
        sets.sort_unstable_by_key(|s| s.len());
        let (first, rest) = sets.split_first().map_or((&[][..], &[][..]), |(f, r)| (f.as_ref(), r));
        first
            .iter()
            .copied()
            .filter(|pos| rest.iter().all(|s| s.binary_search(pos).is_ok()))
            .collect()
    }
}

/// The union of a key's value lists. A profile has one value per key, so the lists are
/// disjoint and a sort is enough.
fn union<'a>(mut lists: impl Iterator<Item = &'a Postings>) -> Cow<'a, [u32]> {
    let Some(first) = lists.next() else {
        return Cow::Borrowed(&[]);
    };
    let Some(second) = lists.next() else {
        return Cow::Borrowed(first.as_slice());
    };
    let mut all: Vec<u32> = first.iter().chain(second).copied().collect();
    for list in lists {
        all.extend_from_slice(list);
    }
    all.sort_unstable();
    Cow::Owned(all)
}
