//! Answers as clients see them: `{"profile": ...}` or `{"profiles": [...]}` with `source`,
//! `cache` and `ageSeconds`, and batch results. They borrow profiles from the snapshot that
//! answered, so serving copies nothing until serialisation.

use crate::error::{ApiError, ErrorCode};
use crate::profile::Profile;
use crate::query::MatchMode;
use crate::snapshot::{Origin, Snapshot};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use std::sync::Arc;
use std::time::Duration;

/// The largest answer body, in bytes: a `match=all` answer or a whole batch. Lambda's
/// synchronous response is at most 6 MB, and an HTTP event carries the body JSON-escaped inside
/// the proxy response, which at worst doubles it; 3,000,000 bytes fits both, about 7,000
/// profiles with a few tags each. Larger answers are `TooManyResults`, never partial.
pub const MAX_ANSWER_BYTES: usize = 3_000_000;

/// An upper bound of the tail an answer adds after [`Resolution::head`]: `cache`, `ageSeconds`.
const TAIL_BOUND: usize = 64;

/// The `TooManyResults` error for an answer of `bytes` bytes holding `count` profiles.
pub fn too_many_results(what: &str, count: usize, bytes: usize) -> ApiError {
    let mut err = ApiError::new(
        ErrorCode::TooManyResults,
        format!(
            "{what} would be {bytes} bytes with {count} profiles, over the {MAX_ANSWER_BYTES}-byte answer limit; \
             add tag filters (or fewer queries to a batch) to narrow it"
        ),
    );
    err.count = Some(count);
    err
}

/// How fresh the answering snapshot was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheState {
    /// Younger than its TTL.
    Hit,
    /// Expired; a refresh runs in the background.
    Stale,
    /// The request waited for a load.
    Miss,
}

impl CacheState {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Stale => "stale",
            Self::Miss => "miss",
        }
    }
}

/// A successful resolve.
#[derive(Debug, Clone)]
pub struct Resolution {
    snapshot: Arc<Snapshot>,
    hits: Vec<u32>,
    mode: MatchMode,
    /// How fresh the snapshot was.
    pub cache: CacheState,
    /// The snapshot's age.
    pub age: Duration,
}

impl Resolution {
    pub(crate) fn new(
        snapshot: Arc<Snapshot>,
        hits: Vec<u32>,
        mode: MatchMode,
        cache: CacheState,
        age: Duration,
    ) -> Self {
        Self {
            snapshot,
            hits,
            mode,
            cache,
            age,
        }
    }

    /// Where the answer came from.
    pub fn origin(&self) -> Origin {
        self.snapshot.origin()
    }

    /// The match mode asked for.
    pub fn mode(&self) -> MatchMode {
        self.mode
    }

    /// The matching profiles, sorted by ARN.
    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.hits.iter().filter_map(|&i| self.snapshot.get(i))
    }

    /// How many profiles the answer holds.
    pub fn count(&self) -> usize {
        self.hits.len()
    }

    /// An upper bound of the body's length, without building it: each profile's kept rendering
    /// is measured, not copied.
    pub fn body_bound(&self) -> usize {
        let profiles: usize = match (self.mode, self.profiles().next()) {
            (MatchMode::One, Some(p)) => p.json().len(),
            _ => self.profiles().map(|p| p.json().len() + 1).sum(),
        };
        32 + profiles + self.origin().as_str().len() + TAIL_BOUND
    }

    /// This answer, or `TooManyResults` when its body would exceed [`MAX_ANSWER_BYTES`].
    ///
    /// # Errors
    /// `TooManyResults`, with the count of matching profiles.
    pub fn bounded(self) -> Result<Self, ApiError> {
        let bytes = self.body_bound();
        if bytes > MAX_ANSWER_BYTES {
            return Err(too_many_results("the answer", self.count(), bytes));
        }
        Ok(self)
    }

    /// The JSON body: what `Serialize` writes, assembled from each profile's kept rendering.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(96 + self.hits.len() * 512);
        self.write_head(&mut out);
        write_tail(&mut out, self.cache, self.age);
        out
    }

    /// The body up to its `cache` field: the profiles and the source, which depend on the
    /// snapshot and the query alone.
    pub(crate) fn head(&self) -> String {
        let mut out = String::with_capacity(48 + self.hits.len() * 512);
        self.write_head(&mut out);
        out
    }

    /// Whether this answer came from `snapshot`'s own profiles (not from routes, not empty).
    pub(crate) fn found_in(&self, snapshot: &Arc<Snapshot>) -> bool {
        !self.hits.is_empty() && Arc::ptr_eq(&self.snapshot, snapshot)
    }

    fn write_head(&self, out: &mut String) {
        let one = match (self.mode, self.profiles().next()) {
            (MatchMode::One, Some(p)) => Some(p),
            _ => None,
        };
        match one {
            Some(p) => {
                out.push_str(r#"{"profile":"#);
                out.push_str(p.json());
            }
            None => {
                out.push_str(r#"{"profiles":["#);
                for (i, p) in self.profiles().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(p.json());
                }
                out.push(']');
            }
        }
        out.push_str(r#","source":""#);
        out.push_str(self.origin().as_str());
    }

    /// The age in seconds, to the millisecond.
    fn age_seconds(&self) -> f64 {
        age_seconds(self.age)
    }
}

/// A whole body from a [`Resolution::head`] and this request's cache state and age: the same
/// bytes as [`Resolution::to_json`].
pub(crate) fn with_tail(head: &str, cache: CacheState, age: Duration) -> String {
    let mut out = String::with_capacity(head.len() + 48);
    out.push_str(head);
    write_tail(&mut out, cache, age);
    out
}

fn write_tail(out: &mut String, cache: CacheState, age: Duration) {
    out.push_str(r#"","cache":""#);
    out.push_str(cache.as_str());
    out.push_str(r#"","ageSeconds":"#);
    // serde_json writes a float with ryu: the same digits, without an allocation.
    out.push_str(ryu::Buffer::new().format_finite(age_seconds(age)));
    out.push('}');
}

fn age_seconds(age: Duration) -> f64 {
    (age.as_secs_f64() * 1000.0).round() / 1000.0
}

struct ProfileList<'a>(&'a Resolution);

impl Serialize for ProfileList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.hits.len()))?;
        for p in self.0.profiles() {
            seq.serialize_element(p)?;
        }
        seq.end()
    }
}

impl Resolution {
    fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match (self.mode, self.profiles().next()) {
            (MatchMode::One, Some(p)) => map.serialize_entry("profile", p)?,
            _ => map.serialize_entry("profiles", &ProfileList(self))?,
        }
        map.serialize_entry("source", self.origin().as_str())?;
        map.serialize_entry("cache", self.cache.as_str())?;
        map.serialize_entry("ageSeconds", &self.age_seconds())
    }
}

impl Serialize for Resolution {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(4))?;
        self.serialize_fields(&mut map)?;
        map.end()
    }
}

/// The body of a batch: `{"results": [{"status": 200, ...} | {"status": 4xx, "error": {...}}]}`.
#[derive(Debug)]
pub struct BatchAnswer(pub Vec<Result<Resolution, ApiError>>);

/// One result of a batch, in its wire form.
pub struct BatchItem<'a>(pub &'a Result<Resolution, ApiError>);

impl Serialize for BatchItem<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match self.0 {
            Ok(r) => {
                map.serialize_entry("status", &200)?;
                r.serialize_fields(&mut map)?;
            }
            Err(e) => {
                map.serialize_entry("status", &e.status())?;
                map.serialize_entry("error", &e.body().error)?;
            }
        }
        map.end()
    }
}

impl Serialize for BatchAnswer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("results", &self.0.iter().map(BatchItem).collect::<Vec<_>>())?;
        map.end()
    }
}

impl BatchAnswer {
    /// A batch's answer, or `TooManyResults` (for the whole batch, nothing partial) when its
    /// body would exceed [`MAX_ANSWER_BYTES`]. Each item is already bounded on its own.
    ///
    /// # Errors
    /// `TooManyResults`, with the count of profiles over all the batch's answers.
    pub fn bounded(results: Vec<Result<Resolution, ApiError>>) -> Result<Self, ApiError> {
        let (mut bytes, mut count) = (16, 0);
        for r in &results {
            match r {
                Ok(r) => {
                    bytes += r.body_bound() + 16;
                    count += r.count();
                }
                Err(e) => bytes += e.to_json().len() + 16,
            }
        }
        if bytes > MAX_ANSWER_BYTES {
            return Err(too_many_results("the batch's answer", count, bytes));
        }
        Ok(Self(results))
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from(r#"{"results":[]}"#))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::profile::Interner;
    use crate::snapshot::Origin;

    fn snapshot() -> Arc<Snapshot> {
        let mut interner = Interner::default();
        let profiles = ["a1", "b2", "c3"]
            .iter()
            .map(|id| {
                let arn = format!("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/{id}");
                let mut p =
                    Profile::from_arn(&arn, [("tenant", "ac\"me"), ("app", "ché")], false, &mut interner).unwrap();
                p.name = Some(format!("name \\ {id}").into_boxed_str());
                p
            })
            .collect();
        Arc::new(Snapshot::new(Origin::TaggingApi, profiles))
    }

    #[test]
    fn an_answer_over_the_limit_is_too_many_results_with_its_count_and_a_batch_is_refused_whole() {
        let s = snapshot();
        let one = s.profiles()[0].json().len() + 1;
        let over = MAX_ANSWER_BYTES / one + 1;
        let hits: Vec<u32> = (0..over).map(|i| (i % 3) as u32).collect();
        let big = Resolution::new(s.clone(), hits, MatchMode::All, CacheState::Hit, Duration::ZERO);
        let err = big.bounded().unwrap_err();
        assert_eq!(
            (err.code, err.status(), err.count),
            (ErrorCode::TooManyResults, 413, Some(over))
        );
        let fits = Resolution::new(
            s.clone(),
            vec![0, 1, 2],
            MatchMode::All,
            CacheState::Hit,
            Duration::ZERO,
        );
        assert!(fits.clone().bounded().is_ok());
        // Each item fits; together they do not.
        let half: Vec<u32> = (0..over / 2 + 1).map(|i| (i % 3) as u32).collect();
        let item = || {
            Ok(Resolution::new(
                s.clone(),
                half.clone(),
                MatchMode::All,
                CacheState::Hit,
                Duration::ZERO,
            ))
        };
        assert!(item().unwrap().bounded().is_ok());
        let err = BatchAnswer::bounded(vec![item(), item(), Ok(fits.clone())]).unwrap_err();
        assert_eq!(err.code, ErrorCode::TooManyResults);
        assert_eq!(err.count, Some(2 * (over / 2 + 1) + 3));
        assert!(BatchAnswer::bounded(vec![item(), Ok(fits)]).is_ok());
    }

    #[test]
    fn the_assembled_body_is_byte_for_byte_what_serde_writes() {
        let s = snapshot();
        let cases = [
            (vec![1], MatchMode::One, CacheState::Hit, Duration::from_millis(1234)),
            (vec![0, 1, 2], MatchMode::All, CacheState::Stale, Duration::ZERO),
            (
                vec![],
                MatchMode::All,
                CacheState::Miss,
                Duration::from_micros(987_654_321),
            ),
            (vec![2], MatchMode::All, CacheState::Hit, Duration::from_secs(7)),
        ];
        for (hits, mode, cache, age) in cases {
            let r = Resolution::new(s.clone(), hits, mode, cache, age);
            assert!(
                r.body_bound() >= r.to_json().len(),
                "{} < {}",
                r.body_bound(),
                r.to_json().len()
            );
            assert!(r.body_bound() <= r.to_json().len() + 96);
            // Twice: the second answer uses the kept renderings.
            assert_eq!(r.to_json(), serde_json::to_string(&r).unwrap());
            assert_eq!(r.to_json(), serde_json::to_string(&r).unwrap());
        }
    }
}
