//! Counters for `GET /v1/stats`: cache outcomes, refreshes and upstream calls by operation.

use crate::source::Operation;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lock-free counters shared by the resolver and its sources.
#[derive(Debug, Default)]
pub struct Stats {
    hits: AtomicU64,
    stale_hits: AtomicU64,
    misses: AtomicU64,
    refreshes: AtomicU64,
    refresh_failures: AtomicU64,
    upstream: [AtomicU64; 3],
}

/// Which counter to bump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Answered from a fresh snapshot.
    Hit,
    /// Answered from an expired snapshot.
    StaleHit,
    /// Had to wait for a load.
    Miss,
    /// A refresh completed.
    Refresh,
    /// A refresh failed.
    RefreshFailure,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Fresh answers.
    pub hits: u64,
    /// Stale answers.
    pub stale_hits: u64,
    /// Answers that waited for a load.
    pub misses: u64,
    /// Completed refreshes.
    pub refreshes: u64,
    /// Failed refreshes.
    pub refresh_failures: u64,
    /// Upstream calls (pages) by operation.
    pub upstream_calls: std::collections::BTreeMap<&'static str, u64>,
}

impl Stats {
    /// Counts one event.
    pub fn record(&self, event: Event) {
        let counter = match event {
            Event::Hit => &self.hits,
            Event::StaleHit => &self.stale_hits,
            Event::Miss => &self.misses,
            Event::Refresh => &self.refreshes,
            Event::RefreshFailure => &self.refresh_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one upstream call (one page).
    pub fn upstream_call(&self, op: Operation) {
        self.upstream[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Upstream calls so far for one operation.
    pub fn upstream_calls(&self, op: Operation) -> u64 {
        self.upstream[op as usize].load(Ordering::Relaxed)
    }

    /// Copies the counters.
    pub fn counters(&self) -> Counters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            hits: get(&self.hits),
            stale_hits: get(&self.stale_hits),
            misses: get(&self.misses),
            refreshes: get(&self.refreshes),
            refresh_failures: get(&self.refresh_failures),
            upstream_calls: Operation::ALL
                .iter()
                .map(|op| (op.as_str(), self.upstream_calls(*op)))
                .collect(),
        }
    }
}
