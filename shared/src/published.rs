//! Fleet mode: snapshots built once per region by the publisher and shared through S3.
//!
//! Two objects per region under `s3://BUCKET/PREFIX/`:
//! - `{region}.json`, the snapshot (see [`mod@format`]). It is written only when the content
//!   changes, so readers holding it get `304 Not Modified` from a conditional GET for as long as
//!   the region is unchanged.
//! - `{region}.heartbeat.json`, a few hundred bytes ([`format::Beat`]), rewritten by every
//!   publish: when the listing started, the content hash it found and the publisher's interval.
//!   It is how readers learn that the publisher is alive and how old the data is. (A `304` from S3
//!   carries the ETag only (moto's carries neither `Last-Modified` nor metadata, and
//!   `Last-Modified` has one-second precision anyway), so the time cannot ride on the snapshot
//!   object without making every publish a new download.)
//!
//! A reader's poll is one conditional GET of the heartbeat: `304` between publishes, a small
//! `200` after one. Only when the heartbeat names new content is the snapshot fetched (again
//! conditionally).

pub mod format;
pub mod memory;
pub mod s3;

use crate::source::SourceError;
use async_trait::async_trait;
use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

/// The snapshot schema this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The largest snapshot object a reader accepts (100,000 profiles take about 40 MiB).
pub const MAX_OBJECT_BYTES: u64 = 256 * 1024 * 1024;

/// Where a fleet's snapshots live: `s3://bucket/prefix/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotUrl {
    /// The bucket.
    pub bucket: String,
    /// The key prefix, empty or ending in `/`.
    pub prefix: String,
}

impl SnapshotUrl {
    /// Parses `s3://bucket/` or `s3://bucket/some/prefix/` (a missing final `/` is added).
    ///
    /// # Errors
    /// The expected form.
    pub fn parse(url: &str) -> Result<Self, &'static str> {
        const EXPECTED: &str = "s3://BUCKET/ or s3://BUCKET/PREFIX/ with a valid bucket name";
        let rest = url.strip_prefix("s3://").ok_or(EXPECTED)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        let valid_prefix = prefix.len() <= 900 && !prefix.starts_with('/') && !prefix.contains("//");
        if !valid_bucket || !valid_prefix {
            return Err(EXPECTED);
        }
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    /// The key of a region's snapshot.
    pub fn snapshot_key(&self, region: &str) -> String {
        format!("{}{region}.json", self.prefix)
    }

    /// The key of a region's heartbeat.
    pub fn heartbeat_key(&self, region: &str) -> String {
        format!("{}{region}.heartbeat.json", self.prefix)
    }

    /// The key of the publisher's record of a region's cost views (what CloudWatch holds).
    pub fn cost_views_key(&self, region: &str) -> String {
        format!("{}{region}.cost-views.json", self.prefix)
    }
}

impl fmt::Display for SnapshotUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// An object as a (conditional) GET found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// `304`: the object still has the ETag the reader holds.
    NotModified,
    /// `200`.
    Found {
        /// Its ETag, for the next conditional GET.
        etag: String,
        /// Its bytes.
        body: Bytes,
    },
    /// No such object (never published, or deleted).
    Missing,
}

/// The few S3 calls fleet mode makes. The S3 store is [`s3::S3Store`]; tests may use
/// [`memory::MemoryStore`].
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// `GetObject`, conditional when `if_none_match` is given.
    ///
    /// # Errors
    /// A failed call (`GetObject`), or an object over [`MAX_OBJECT_BYTES`].
    async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Fetched, SourceError>;

    /// `PutObject` with a JSON content type; returns the new ETag.
    ///
    /// # Errors
    /// A failed call (`PutObject`).
    async fn put(&self, key: &str, body: Bytes) -> Result<String, SourceError>;
}

/// The published snapshots a reader (or the publisher) uses.
#[derive(Clone)]
pub struct Published {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// Where in it.
    pub url: SnapshotUrl,
}

impl fmt::Debug for Published {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Published")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_url_gives_one_key_per_region_under_its_prefix() {
        let url = SnapshotUrl::parse("s3://my-bucket/fleet/snapshots").unwrap();
        assert_eq!(url.bucket, "my-bucket");
        assert_eq!(url.snapshot_key("us-east-1"), "fleet/snapshots/us-east-1.json");
        assert_eq!(
            url.heartbeat_key("us-east-1"),
            "fleet/snapshots/us-east-1.heartbeat.json"
        );
        assert_eq!(url.to_string(), "s3://my-bucket/fleet/snapshots/");
        let bare = SnapshotUrl::parse("s3://my-bucket").unwrap();
        assert_eq!(bare.snapshot_key("eu-west-1"), "eu-west-1.json");
    }

    #[test]
    fn a_url_that_is_not_an_s3_bucket_is_refused() {
        for bad in [
            "https://my-bucket/x/",
            "s3://",
            "s3://My_Bucket/",
            "s3://ab/",
            "s3://-bucket/",
            "s3://bucket//x/",
            "s3://bucket//",
        ] {
            assert!(SnapshotUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
