//! Answers as clients see them: `{"profile": ...}` or `{"profiles": [...]}` with `source`,
//! `cache` and `ageSeconds`, and batch results. They borrow profiles from the snapshot that
//! answered, so serving copies nothing until serialisation.

use crate::error::ApiError;
use crate::profile::Profile;
use crate::query::MatchMode;
use crate::snapshot::{Origin, Snapshot};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use std::sync::Arc;
use std::time::Duration;

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
            // Twice: the second answer uses the kept renderings.
            assert_eq!(r.to_json(), serde_json::to_string(&r).unwrap());
            assert_eq!(r.to_json(), serde_json::to_string(&r).unwrap());
        }
    }
}
