//! Answers remembered per request and per snapshot, for the extension's hot path: a gateway
//! asks the same few queries over and over, and between two refreshes their answers differ only
//! in `cache` and `ageSeconds`.
//!
//! What is remembered, per thread, is keyed by the request's exact bytes (its query string, or
//! its JSON body): the parsed query, the snapshot it was answered from, and the body up to its
//! `cache` field. A remembered answer is used only when the region's current snapshot is that
//! very snapshot; the snapshot is held by a `Weak`, so its address cannot be reused by a newer
//! one while it is remembered. Everything else runs as for any resolve: the region's snapshot is
//! looked up and classified (fresh, stale, revalidated, waited for) and counted the same way,
//! and `cache` and `ageSeconds` are this request's. Only answers found in the snapshot's own
//! profiles are remembered: an empty one may be the routes' to give, and an error is recomputed.
//!
//! Bounded: at most [`ENTRIES`] per thread and kind (a table is emptied when full), keys up to
//! [`MAX_KEY`] bytes and heads up to [`MAX_HEAD`] bytes; larger requests and answers are not
//! remembered.

use super::Resolver;
use crate::answer::{self, CacheState, Resolution};
use crate::error::ApiError;
use crate::query::Query;
use crate::snapshot::Snapshot;
use crate::stats::Event;
use std::cell::RefCell;
use std::sync::{Arc, Weak};

/// Remembered answers per thread and kind of request, at most.
pub(crate) const ENTRIES: usize = 64;
/// The longest request remembered, in bytes.
pub(crate) const MAX_KEY: usize = 1024;
/// The longest remembered head, in bytes (about sixteen profiles).
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// A query as the request carried it.
#[derive(Debug, Clone, Copy)]
pub enum RawQuery<'a> {
    /// `GET /v1/resolve`'s query string, undecoded.
    QueryString(&'a str),
    /// `POST /v1/resolve`'s JSON body.
    Json(&'a [u8]),
}

impl<'a> RawQuery<'a> {
    fn parse(self) -> Result<Query, ApiError> {
        match self {
            Self::QueryString(raw) => Query::from_query_string(raw),
            Self::Json(body) => Query::from_json_bytes(body),
        }
    }

    /// The memo's key: which table (a query string and a body never meet), and the bytes.
    fn key(self) -> Option<(usize, &'a [u8])> {
        let (table, bytes) = match self {
            Self::QueryString(raw) => (0, raw.as_bytes()),
            Self::Json(body) => (1, body),
        };
        (bytes.len() <= MAX_KEY).then_some((table, bytes))
    }
}

#[derive(Clone)]
struct Remembered {
    query: Arc<Query>,
    snapshot: Weak<Snapshot>,
    head: Arc<str>,
}

type Table = foldhash::HashMap<Box<[u8]>, Remembered>;

thread_local! {
    /// One table for query strings, one for JSON bodies.
    static MEMO: RefCell<[Table; 2]> = RefCell::default();
}

#[cfg(test)]
thread_local! {
    static USED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn recall((table, bytes): (usize, &[u8])) -> Option<Remembered> {
    MEMO.with_borrow(|memo| memo[table].get(bytes).cloned())
}

fn remember((table, bytes): (usize, &[u8]), remembered: Remembered) {
    MEMO.with_borrow_mut(|memo| {
        let table = &mut memo[table];
        if table.len() >= ENTRIES && !table.contains_key(bytes) {
            table.clear();
        }
        table.insert(bytes.into(), remembered);
    });
}

/// How many answers this thread remembers, and how many it has answered from (for tests).
#[cfg(test)]
pub(crate) fn here() -> (usize, u64) {
    (MEMO.with_borrow(|memo| memo.iter().map(Table::len).sum()), USED.get())
}

impl Resolver {
    /// Resolves a query as its request carried it, to the 200 body: the same answer, byte for
    /// byte, as parsing it and [`Resolver::resolve`], with repeated queries answered from what
    /// this thread remembers of the current snapshot.
    ///
    /// # Errors
    /// As [`Query::from_query_string`] and [`Query::from_json_bytes`], then as
    /// [`Resolver::resolve`].
    pub async fn resolve_raw(&self, raw: RawQuery<'_>) -> Result<String, ApiError> {
        if let Some(body) = self.remembered(raw) {
            return Ok(body);
        }
        let key = raw.key();
        let remembered = key.and_then(recall);
        let query = match &remembered {
            Some(r) => Arc::clone(&r.query),
            None => Arc::new(raw.parse()?),
        };
        let found = self.find(query.region.as_deref()).await?;
        if let (Some(r), Some(e)) = (&remembered, &found.entry)
            && std::ptr::eq(r.snapshot.as_ptr(), Arc::as_ptr(&e.value))
        {
            #[cfg(test)]
            USED.set(USED.get() + 1);
            return Ok(answer::with_tail(&r.head, found.cache, e.age(&found.now)));
        }
        let snapshot = found.entry.as_ref().map(|e| Arc::clone(&e.value));
        let resolution: Resolution = self.resolve_in(&query, found).await?;
        if let (Some(key), Some(snapshot)) = (key, snapshot)
            && resolution.found_in(&snapshot)
        {
            let head = resolution.head();
            let body = answer::with_tail(&head, resolution.cache, resolution.age);
            if head.len() <= MAX_HEAD {
                let snapshot = Arc::downgrade(&snapshot);
                remember(
                    key,
                    Remembered {
                        query,
                        snapshot,
                        head: head.into(),
                    },
                );
            }
            return Ok(body);
        }
        Ok(resolution.to_json())
    }

    /// The first step of [`Resolver::resolve_raw`] on its own: the answer to a request this
    /// thread remembers, when its region's snapshot is fresh and is the one it was answered
    /// from, or `None`. It never waits, so a caller can answer at once, without a future.
    pub fn remembered(&self, raw: RawQuery<'_>) -> Option<String> {
        raw.key().and_then(|key| self.fresh_from_memo(key))
    }

    /// The answer to a remembered request when its region's snapshot is fresh and is the one it
    /// was answered from: the common case, taken without waiting and without a reference on
    /// anything shared between threads. The resolve's own steps, for a fresh snapshot:
    /// classified as [`Resolver::find`] does, counted as a hit, aged at one clock reading.
    /// Anything else (stale, overdue, waiting, another snapshot) takes the full path.
    fn fresh_from_memo(&self, (table, bytes): (usize, &[u8])) -> Option<String> {
        MEMO.with_borrow(|memo| {
            let r = memo[table].get(bytes)?;
            let region = r.query.region.as_deref().unwrap_or(&self.inner.config.home_region);
            let cell = self.inner.regions.get(region)?;
            let now = self.now();
            cell.with_fresh(&now, self.inner.config.max_stale, |e| {
                let same = std::ptr::eq(r.snapshot.as_ptr(), Arc::as_ptr(&e.value));
                if !same || !e.overdue(&now).is_zero() {
                    return None;
                }
                self.inner.stats.record(region, Event::Hit);
                #[cfg(test)]
                USED.set(USED.get() + 1);
                Some(answer::with_tail(&r.head, CacheState::Hit, e.age(&now)))
            })
        })
    }
}

#[cfg(test)]
mod tests;
