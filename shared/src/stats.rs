//! Counters for `GET /v1/stats` and the extension's metrics: cache outcomes, refreshes and
//! upstream calls by operation, in all and per region.

use crate::source::Operation;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lock-free counters shared by the resolver and its sources: totals, and the same per allowed
/// region (the set of regions is fixed at start, so the hot path takes no lock).
#[derive(Debug, Default)]
pub struct Stats {
    total: Tally,
    regions: foldhash::HashMap<String, Tally>,
}

#[derive(Debug, Default)]
struct Tally {
    hits: AtomicU64,
    stale_hits: AtomicU64,
    misses: AtomicU64,
    refreshes: AtomicU64,
    refresh_failures: AtomicU64,
    upstream: [AtomicU64; Operation::ALL.len()],
}

impl Tally {
    fn counter(&self, event: Event) -> &AtomicU64 {
        match event {
            Event::Hit => &self.hits,
            Event::StaleHit => &self.stale_hits,
            Event::Miss => &self.misses,
            Event::Refresh => &self.refreshes,
            Event::RefreshFailure => &self.refresh_failures,
        }
    }

    fn counters(&self) -> Counters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            hits: get(&self.hits),
            stale_hits: get(&self.stale_hits),
            misses: get(&self.misses),
            refreshes: get(&self.refreshes),
            refresh_failures: get(&self.refresh_failures),
            upstream_calls: Operation::ALL
                .iter()
                .map(|op| (op.as_str(), get(&self.upstream[*op as usize])))
                .collect(),
        }
    }
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
    pub upstream_calls: BTreeMap<&'static str, u64>,
}

impl Stats {
    /// Counters for these regions (and totals).
    pub fn for_regions(regions: &[String]) -> Self {
        Self {
            total: Tally::default(),
            regions: regions.iter().map(|r| (r.clone(), Tally::default())).collect(),
        }
    }

    /// Counts one event of `region`.
    pub fn record(&self, region: &str, event: Event) {
        self.total.counter(event).fetch_add(1, Ordering::Relaxed);
        if let Some(t) = self.regions.get(region) {
            t.counter(event).fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one upstream call (one page) made for `region`.
    pub fn upstream_call(&self, region: &str, op: Operation) {
        self.total.upstream[op as usize].fetch_add(1, Ordering::Relaxed);
        if let Some(t) = self.regions.get(region) {
            t.upstream[op as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Upstream calls so far for one operation.
    pub fn upstream_calls(&self, op: Operation) -> u64 {
        self.total.upstream[op as usize].load(Ordering::Relaxed)
    }

    /// Copies the totals.
    pub fn counters(&self) -> Counters {
        self.total.counters()
    }

    /// Copies the counters of each region.
    pub fn by_region(&self) -> BTreeMap<String, Counters> {
        self.regions.iter().map(|(r, t)| (r.clone(), t.counters())).collect()
    }
}
