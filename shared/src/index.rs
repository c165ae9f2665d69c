//! An inverted index over tags. A query touches only the posting lists of its keys: AND across
//! keys is an intersection, OR within a key a union, a key-only filter the key's own list.
//! Postings are positions in the ARN-sorted profile list, so results come out sorted by ARN.
//!
//! A list is stored as one position inline (a tag whose value is unique, such as a name), a
//! sorted array, or a bitmap over the snapshot once the list holds at least one profile in 64
//! (the bitmap is then at most twice the array's size). An intersection walks the smallest
//! list and probes the others: one bit test per bitmap, a galloping search with a
//! forward-only cursor per array; when every list is a bitmap, it ANDs words, which is what
//! keeps a query over the large keys of a large organisation fast.

use crate::query::{Query, ValueFilter};
use foldhash::HashMap;
use std::borrow::Cow;
use std::sync::Arc;

/// Positions of profiles in their snapshot, ascending.
pub type Postings = Vec<u32>;

/// A list of at least one position in this many becomes a bitmap.
const BITMAP_DENSITY: u64 = 64;

/// A list of positions in its stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum List {
    One(u32),
    Sorted(Box<[u32]>),
    Bits { words: Box<[u64]>, count: u32 },
}

impl List {
    /// The smaller form of `positions` (ascending) in a snapshot of `len` profiles.
    fn from_sorted(positions: Vec<u32>, len: u32) -> Self {
        match positions.as_slice() {
            [one] => Self::One(*one),
            _ if positions.len() as u64 * BITMAP_DENSITY >= u64::from(len) => {
                let mut words = vec![0u64; len.div_ceil(64) as usize].into_boxed_slice();
                for &p in &positions {
                    words[(p / 64) as usize] |= 1 << (p % 64);
                }
                Self::Bits {
                    words,
                    count: positions.len() as u32,
                }
            }
            _ => Self::Sorted(positions.into_boxed_slice()),
        }
    }

    fn count(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Sorted(s) => s.len(),
            Self::Bits { count, .. } => *count as usize,
        }
    }

    /// Every position, ascending.
    fn positions(&self) -> Postings {
        match self {
            Self::One(p) => vec![*p],
            Self::Sorted(s) => s.to_vec(),
            Self::Bits { words, count } => {
                let mut out = Vec::with_capacity(*count as usize);
                for (i, &w) in (0u32..).zip(words.iter()) {
                    push_bits(&mut out, i, w);
                }
                out
            }
        }
    }
}

/// Appends the positions of the set bits of word `i`.
fn push_bits(out: &mut Postings, i: u32, mut w: u64) {
    while w != 0 {
        out.push(i * 64 + w.trailing_zeros());
        w &= w - 1;
    }
}

#[derive(Debug)]
struct KeyLists {
    any: List,
    by_value: HashMap<Arc<str>, List>,
}

/// The tag index of one snapshot. Keys and values are the snapshot's shared strings.
#[derive(Debug, Default)]
pub struct Index {
    keys: HashMap<Arc<str>, KeyLists>,
    len: u32,
}

impl Index {
    /// Builds the index from each profile's tags, in profile order.
    pub fn build<'a, I>(profiles: I) -> Self
    where
        I: IntoIterator<Item = &'a [(Arc<str>, Arc<str>)]>,
    {
        type Building = (Vec<u32>, HashMap<Arc<str>, Vec<u32>>);
        let mut keys: HashMap<Arc<str>, Building> = HashMap::default();
        let mut len = 0;
        for (pos, tags) in (0u32..).zip(profiles) {
            for (k, v) in tags {
                let (any, by_value) = keys.entry(k.clone()).or_default();
                any.push(pos);
                by_value.entry(v.clone()).or_default().push(pos);
            }
            len = pos + 1;
        }
        let keys = keys
            .into_iter()
            .map(|(k, (any, by_value))| {
                let by_value = by_value
                    .into_iter()
                    .map(|(v, list)| (v, List::from_sorted(list, len)))
                    .collect();
                let lists = KeyLists {
                    any: List::from_sorted(any, len),
                    by_value,
                };
                (k, lists)
            })
            .collect();
        Self { keys, len }
    }

    /// Positions of the profiles matching `query`'s tags, ascending.
    pub fn matches(&self, query: &Query) -> Postings {
        if query.tags.is_empty() {
            return (0..self.len).collect();
        }
        let mut sets: Vec<Cow<'_, List>> = Vec::with_capacity(query.tags.len());
        for (key, filter) in &query.tags {
            let Some(lists) = self.keys.get(key.as_str()) else {
                return Vec::new();
            };
            let set = match filter {
                ValueFilter::AnyValue => Cow::Borrowed(&lists.any),
                ValueFilter::OneOf(values) => {
                    match union(values.iter().filter_map(|v| lists.by_value.get(v.as_str())), self.len) {
                        Some(set) => set,
                        None => return Vec::new(),
                    }
                }
            };
            sets.push(set);
        }
        sets.sort_unstable_by_key(|s| s.count());
        intersect(&sets)
    }
}

/// The union of one key's value lists, or `None` when there are none. A profile has one value
/// per key, so the lists are disjoint.
fn union<'a>(mut lists: impl Iterator<Item = &'a List>, len: u32) -> Option<Cow<'a, List>> {
    let first = lists.next()?;
    let Some(second) = lists.next() else {
        return Some(Cow::Borrowed(first));
    };
    let mut all = first.positions();
    all.extend(second.positions());
    for list in lists {
        all.extend(list.positions());
    }
    all.sort_unstable();
    Some(Cow::Owned(List::from_sorted(all, len)))
}

/// The positions in every one of `sets`, smallest set first.
fn intersect(sets: &[Cow<'_, List>]) -> Postings {
    let Some((first, rest)) = sets.split_first() else {
        return Vec::new();
    };
    let all_bits = sets.iter().all(|s| matches!(s.as_ref(), List::Bits { .. }));
    if let (true, List::Bits { words, .. }) = (all_bits, first.as_ref()) {
        let others: Vec<&[u64]> = rest
            .iter()
            .filter_map(|s| match s.as_ref() {
                List::Bits { words, .. } => Some(&words[..]),
                List::One(_) | List::Sorted(_) => None,
            })
            .collect();
        return and_words(words, &others);
    }
    let owned;
    let candidates: &[u32] = match first.as_ref() {
        List::One(p) => std::slice::from_ref(p),
        List::Sorted(s) => s,
        List::Bits { .. } => {
            owned = first.positions();
            &owned
        }
    };
    let mut cursors = vec![0usize; rest.len()];
    candidates
        .iter()
        .copied()
        .filter(|&pos| {
            rest.iter().zip(cursors.iter_mut()).all(|(s, cursor)| match s.as_ref() {
                List::One(p) => *p == pos,
                List::Sorted(s) => gallop(s, cursor, pos),
                List::Bits { words, .. } => words
                    .get((pos / 64) as usize)
                    .is_some_and(|w| w & (1 << (pos % 64)) != 0),
            })
        })
        .collect()
}

/// The positions set in `first` and in every one of `others` (bitmaps of one snapshot). Two
/// and three lists, the common queries, run as plain zipped loops the compiler vectorises.
fn and_words(first: &[u64], others: &[&[u64]]) -> Postings {
    let mut out = Vec::new();
    let mut emit = |i: usize, w: u64| {
        if w != 0 {
            push_bits(&mut out, i as u32, w);
        }
    };
    match others {
        [] => first.iter().enumerate().for_each(|(i, &w)| emit(i, w)),
        [a] => first
            .iter()
            .zip(a.iter())
            .enumerate()
            .for_each(|(i, (&w, &x))| emit(i, w & x)),
        [a, b] => first
            .iter()
            .zip(a.iter())
            .zip(b.iter())
            .enumerate()
            .for_each(|(i, ((&w, &x), &y))| emit(i, w & x & y)),
        _ => first.iter().enumerate().for_each(|(i, &w)| {
            emit(i, others.iter().fold(w, |acc, o| acc & o.get(i).copied().unwrap_or(0)));
        }),
    }
    out
}

/// Whether `target` is in `list` at or after `*cursor`, moving the cursor to the first element
/// not below `target`. Targets arrive ascending, so the cursor only moves forward: each probe
/// costs the logarithm of the distance it moves.
fn gallop(list: &[u32], cursor: &mut usize, target: u32) -> bool {
    let start = *cursor;
    let mut step = 1;
    let mut hi = start;
    while hi < list.len() && list[hi] < target {
        hi = start + step;
        step *= 2;
    }
    let lo = start + step / 4;
    let hi = hi.min(list.len());
    let lo = lo.min(hi);
    *cursor = lo + list[lo..hi].partition_point(|&x| x < target);
    list.get(*cursor) == Some(&target)
}

#[cfg(test)]
mod tests;
