//! Counters for `GET /v1/stats` and the extension's metrics: cache outcomes, refreshes and
//! upstream calls by operation, in all and per region.

use crate::source::Operation;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lock-free counters shared by the resolver and its sources: totals, and the same per allowed
/// region (the set of regions is fixed at start, so the hot path takes no lock). Each answer
/// bumps two relaxed atomics.
#[derive(Debug, Default)]
pub struct Stats {
    total: Tally,
    regions: foldhash::HashMap<String, Tally>,
}

/// How many kinds of [`Event`] there are.
const EVENTS: usize = Event::Unavailable as usize + 1;

#[derive(Debug, Default)]
struct Tally {
    events: [AtomicU64; EVENTS],
    upstream: [AtomicU64; Operation::ALL.len()],
}

impl Tally {
    fn bump(&self, event: Event) {
        self.events[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self, event: Event) -> u64 {
        self.events[event as usize].load(Ordering::Relaxed)
    }

    fn counters(&self) -> Counters {
        Counters {
            hits: self.count(Event::Hit),
            stale_hits: self.count(Event::StaleHit),
            misses: self.count(Event::Miss),
            refreshes: self.count(Event::Refresh),
            refresh_failures: self.count(Event::RefreshFailure),
            unavailable: self.count(Event::Unavailable),
            upstream_calls: Operation::ALL
                .iter()
                .map(|op| (op.as_str(), self.upstream[*op as usize].load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

/// Which counter to bump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Answered from a fresh snapshot.
    Hit = 0,
    /// Answered from an expired snapshot.
    StaleHit,
    /// Had to wait for a load.
    Miss,
    /// A refresh completed.
    Refresh,
    /// A refresh failed.
    RefreshFailure,
    /// An answer was `UpstreamUnavailable` (503).
    Unavailable,
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
    /// Answers that were `UpstreamUnavailable` (503).
    pub unavailable: u64,
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
        self.total.bump(event);
        if let Some(t) = self.regions.get(region) {
            t.bump(event);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up_per_region_and_in_all() {
        let stats = std::sync::Arc::new(Stats::for_regions(&["us-east-1".into(), "eu-west-1".into()]));
        let threads: Vec<_> = (0..40)
            .map(|i| {
                let stats = std::sync::Arc::clone(&stats);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        stats.record("us-east-1", Event::Hit);
                    }
                    stats.record(if i % 2 == 0 { "us-east-1" } else { "eu-west-1" }, Event::Miss);
                    stats.record("us-east-1", Event::RefreshFailure);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("counting thread");
        }
        let total = stats.counters();
        assert_eq!((total.hits, total.misses, total.refresh_failures), (40_000, 40, 40));
        assert_eq!((total.stale_hits, total.refreshes), (0, 0));
        let by_region = stats.by_region();
        assert_eq!(by_region["us-east-1"].hits, 40_000);
        assert_eq!(by_region["us-east-1"].misses, 20);
        assert_eq!(by_region["eu-west-1"].misses, 20);
        assert_eq!(by_region["eu-west-1"].hits, 0);
    }
}
