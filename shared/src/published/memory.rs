//! An in-memory [`ObjectStore`] for unit tests: ETags are content hashes, as S3's are for
//! single-part uploads, and GETs are counted by outcome.

use super::{Fetched, ObjectStore};
use crate::source::{FailureKind, Operation, SourceError};
use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;

/// GETs so far, by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Gets {
    /// `200`s.
    pub found: u64,
    /// `304`s.
    pub not_modified: u64,
    /// Missing objects.
    pub missing: u64,
}

/// Objects by key.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<HashMap<String, (String, Bytes)>>,
    gets: Mutex<Gets>,
    down: Mutex<bool>,
    failing_put: Mutex<Option<String>>,
}

impl MemoryStore {
    /// Writes an object directly, as another writer would.
    pub fn insert(&self, key: &str, body: impl Into<Bytes>) -> String {
        let body = body.into();
        let etag = format!("\"{}\"", &super::format::hash(&body)[7..39]);
        self.objects.lock().insert(key.to_owned(), (etag.clone(), body));
        etag
    }

    /// An object's bytes.
    pub fn body(&self, key: &str) -> Option<Bytes> {
        self.objects.lock().get(key).map(|(_, b)| b.clone())
    }

    /// GETs so far.
    pub fn gets(&self) -> Gets {
        *self.gets.lock()
    }

    /// Makes every `PutObject` of `key` fail (S3 `SlowDown` past the retries), or none.
    pub fn fail_puts_of(&self, key: Option<&str>) {
        *self.failing_put.lock() = key.map(str::to_owned);
    }

    /// Makes every call fail as an unreachable S3 would, or recover.
    pub fn set_down(&self, down: bool) {
        *self.down.lock() = down;
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Fetched, SourceError> {
        if *self.down.lock() {
            return Err(SourceError::new(Operation::GetObject, FailureKind::Unavailable, "down"));
        }
        let found = self.objects.lock().get(key).cloned();
        let mut gets = self.gets.lock();
        Ok(match found {
            None => {
                gets.missing += 1;
                Fetched::Missing
            }
            Some((etag, _)) if if_none_match == Some(etag.as_str()) => {
                gets.not_modified += 1;
                Fetched::NotModified
            }
            Some((etag, body)) => {
                gets.found += 1;
                Fetched::Found { etag, body }
            }
        })
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<String, SourceError> {
        if *self.down.lock() || self.failing_put.lock().as_deref() == Some(key) {
            return Err(SourceError::new(Operation::PutObject, FailureKind::Unavailable, "down"));
        }
        Ok(self.insert(key, body))
    }
}
