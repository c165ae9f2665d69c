//! The resolver: snapshots per region behind refresh cells, route fallback, and the contract's
//! resolution order.
//!
//! 1. A fresh snapshot answers at once (`cache: hit`).
//! 2. An expired one still answers (`stale`) while exactly one background refresh runs, for one
//!    more TTL (stale-while-revalidate, as RFC 5861 bounds it). Past that (a sandbox frozen
//!    through its expiry), the request waits for the refresh, bounded by the upstream timeout,
//!    and gets the old snapshot only if the refresh fails: stale-if-error, up to the maximum
//!    staleness.
//! 3. Without a usable snapshot the request waits for the one in-flight load, at most the
//!    upstream timeout (`miss`).
//! 4. When the tags give no match, or tag discovery is unavailable, routes answer.
//! 5. Otherwise `NoMatch` if the sources answered, `UpstreamUnavailable` if they did not.
//!
//! A query never causes an upstream call: calls happen only when a snapshot is due, so a region
//! sees one snapshot build per TTL window whatever the request rate.
//!
//! Lambda's lifecycle: the host tells the engine when the sandbox thaws ([`Resolver::thawed`])
//! and waits for refreshes to end before it lets the sandbox freeze ([`Resolver::settle`]). A
//! refresh that was running when the sandbox froze is superseded at the thaw; see `cell` for
//! how a superseded refresh is fenced off.

mod cell;
mod fleet;
mod health;
mod lifecycle;
mod lookup;
mod memo;
mod outcome;
mod refresh;
mod routes;

pub use health::RegionHealth;
pub use memo::RawQuery;
use outcome::{answer, tags_text};
use routes::RouteOutcome;

use crate::answer::{BatchAnswer, CacheState, Resolution};
use crate::build::Sources;
use crate::clock::{Clock, Stamp};
use crate::config::EngineConfig;
use crate::error::{ApiError, ErrorCode};
use crate::query::{MatchMode, Query};
use crate::snapshot::Snapshot;
use crate::source::{Operation, SourceError};
use crate::stats::{Event, Stats};
use cell::{Cell, View};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Routes grouped by the region of their ARN.
type RouteTable = HashMap<String, Arc<Snapshot>>;

/// At most this many candidates are listed in an `AmbiguousMatch`, the first in ARN order; the
/// error's `count` gives the total.
pub const MAX_CANDIDATES: usize = 20;

/// The engine. Cheap to clone; clones share snapshots, refreshes and stats.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

struct Inner {
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    sources: Sources,
    regions: foldhash::HashMap<String, Cell<Snapshot>>,
    routes: Cell<RouteTable>,
    /// Fleet mode: what each region's reader holds of the published objects.
    marks: foldhash::HashMap<String, parking_lot::Mutex<Option<fleet::Mark>>>,
    /// The account published snapshots must be for, once known (see [`Resolver::pin_account`]).
    account: std::sync::OnceLock<String>,
    stats: Arc<Stats>,
    /// Thaws seen so far (see [`Resolver::thawed`]).
    epoch: AtomicU64,
    /// When the host last parked in `/next`, epoch milliseconds (0: never).
    parked_ms: AtomicU64,
}

impl Resolver {
    /// A resolver over `sources`. Nothing is loaded until [`Resolver::prewarm`] or a query.
    pub fn new(config: EngineConfig, sources: Sources, clock: Arc<dyn Clock>, stats: Arc<Stats>) -> Self {
        let regions = config.regions.iter().map(|r| (r.clone(), Cell::default())).collect();
        let marks = config.regions.iter().map(|r| (r.clone(), Default::default())).collect();
        let account = std::sync::OnceLock::new();
        if let Some(a) = &config.account {
            let _ = account.set(a.clone());
        }
        Self {
            inner: Arc::new(Inner {
                config,
                clock,
                sources,
                regions,
                routes: Cell::default(),
                marks,
                account,
                stats,
                epoch: AtomicU64::new(0),
                parked_ms: AtomicU64::new(0),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Pins the account published snapshots must be for, when the host learns it (the
    /// function, from its ARN). The first account pinned, or configured, stays.
    pub fn pin_account(&self, account: &str) {
        if self.inner.account.set(account.to_owned()).is_ok() {
            tracing::debug!(account, "published snapshots are read for this account only");
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.inner.stats
    }

    /// Starts loading every region and the routes, without waiting.
    pub fn prewarm(&self) {
        for region in self.inner.regions.keys() {
            self.start_region_refresh(region, false);
        }
        self.start_routes_refresh(false);
    }

    /// Starts a refresh of whatever has expired or was never loaded. Called when a Lambda
    /// sandbox thaws (an INVOKE event); correctness never depends on it.
    pub fn refresh_due(&self) {
        let now = self.now();
        for (region, cell) in &self.inner.regions {
            if !matches!(cell.view(&now, self.inner.config.max_stale), View::Fresh(_)) {
                self.start_region_refresh(region, false);
            }
        }
        if !matches!(
            self.inner.routes.view(&now, self.inner.config.max_stale),
            View::Fresh(_)
        ) {
            self.start_routes_refresh(false);
        }
    }

    /// Forces a refresh of one region (or all, and the routes), past any failure backoff. A
    /// refresh already running is not duplicated.
    ///
    /// # Errors
    /// `InvalidQuery` for a region outside the allow-list.
    pub fn force_refresh(&self, region: Option<&str>) -> Result<(), ApiError> {
        match region {
            Some(r) => {
                self.cell(r)?;
                self.start_region_refresh(r, true);
            }
            None => {
                for r in self.inner.regions.keys() {
                    self.start_region_refresh(r, true);
                }
                self.start_routes_refresh(true);
            }
        }
        Ok(())
    }

    /// Resolves one query.
    ///
    /// # Errors
    /// `InvalidQuery` (region not allowed), `NoMatch`, `AmbiguousMatch` or
    /// `UpstreamUnavailable`, as the contract orders them.
    pub async fn resolve(&self, query: &Query) -> Result<Resolution, ApiError> {
        let found = self.find(query.region.as_deref()).await?;
        self.resolve_in(query, found).await
    }

    /// The asked region's snapshot for a request (the home region's when `None`), with what a
    /// resolve needs besides: the first step of every lookup.
    async fn find<'a>(&'a self, region: Option<&'a str>) -> Result<Found<'a>, ApiError> {
        let region = region.unwrap_or(&self.inner.config.home_region);
        let cell = self.cell(region)?;
        let deadline = tokio::time::Instant::now() + self.inner.config.upstream_timeout;
        let (entry, cache, now) = self.region_snapshot(region, cell, deadline).await;
        Ok(Found {
            region,
            cell,
            deadline,
            entry,
            cache,
            now,
        })
    }

    /// The rest of [`Resolver::resolve`], once the region's snapshot is known.
    async fn resolve_in(&self, query: &Query, found: Found<'_>) -> Result<Resolution, ApiError> {
        let Found {
            region,
            cell,
            deadline,
            entry,
            cache,
            now,
        } = found;
        if let Some(entry) = &entry {
            let hits = entry.value.matches(query);
            if !hits.is_empty() {
                return answer(query, &entry.value, entry.age(&now), hits, cache);
            }
        }
        let tags_failure = entry.is_none().then(|| self.region_failure(region, cell));
        match (self.route_answer(query, region, deadline).await, tags_failure, entry) {
            (RouteOutcome::Answer(answered), _, _) => answered,
            (RouteOutcome::Failed(routes), tags, _) => Err(self.unavailable(region, tags.as_ref(), Some(&routes))),
            (RouteOutcome::NoMatch, Some(tags), _) => Err(self.unavailable(region, Some(&tags), None)),
            (RouteOutcome::NoMatch, None, Some(entry)) if query.mode == MatchMode::All => {
                answer(query, &entry.value, entry.age(&self.now()), Vec::new(), cache)
            }
            (RouteOutcome::NoMatch, None, _) => Err(ApiError::new(
                ErrorCode::NoMatch,
                format!("no profile in {region} matches {}", tags_text(query)),
            )),
        }
    }

    /// Resolves each query of a batch on its own, concurrently, within the answer limit.
    ///
    /// # Errors
    /// `TooManyResults` when the whole answer would exceed the limit
    /// ([`crate::answer::MAX_ANSWER_BYTES`]); each item is bounded on its own.
    pub async fn resolve_batch(&self, queries: Vec<Result<Query, ApiError>>) -> Result<BatchAnswer, ApiError> {
        let results =
            futures::future::join_all(queries.into_iter().map(|q| async move { self.resolve(&q?).await })).await;
        BatchAnswer::bounded(results)
    }

    /// The region's snapshot for a request, if usable: at once when fresh or stale (a stale one
    /// starts a refresh), else after waiting for the load until `deadline`.
    async fn region_snapshot(
        &self,
        region: &str,
        cell: &Cell<Snapshot>,
        deadline: Instant,
    ) -> (Option<Arc<cell::Entry<Snapshot>>>, CacheState, Stamp) {
        // One reading of the clocks serves a hit from start to answer; any other path reads
        // them again at the end, as it may have waited.
        let now = self.now();
        let (entry, cache) = match cell.view(&now, self.inner.config.max_stale) {
            // Read recently, but its publisher has not rebuilt it for longer than it promised.
            View::Fresh(e) if !e.overdue(&now).is_zero() => (Some(e), CacheState::Stale),
            View::Fresh(e) => (Some(e), CacheState::Hit),
            // Long past expiry (a sandbox frozen through it): revalidate first, bounded by the
            // deadline, and serve the old snapshot only if that fails (stale-if-error).
            View::Stale(e) if e.past_expiry(&now) > self.inner.config.ttl => {
                match self.wait_for_region(region, cell, deadline).await {
                    Some(newer) if !Arc::ptr_eq(&newer, &e) => (Some(newer), CacheState::Miss),
                    // Classified again: the wait may have taken it past the maximum staleness.
                    _ if e.usable(&self.now(), self.inner.config.max_stale) => (Some(e), CacheState::Stale),
                    _ => (None, CacheState::Miss),
                }
            }
            View::Stale(e) => {
                self.start_region_refresh(region, false);
                (Some(e), CacheState::Stale)
            }
            View::Unusable => {
                // Routes may have to answer instead: load them alongside, not after.
                self.start_routes_refresh(false);
                (self.wait_for_region(region, cell, deadline).await, CacheState::Miss)
            }
        };
        self.inner.stats.record(
            region,
            match cache {
                CacheState::Hit => Event::Hit,
                CacheState::Stale => Event::StaleHit,
                CacheState::Miss => Event::Miss,
            },
        );
        let now = if cache == CacheState::Hit { now } else { self.now() };
        (entry, cache, now)
    }

    /// Why a region has no usable snapshot.
    fn region_failure(&self, region: &str, cell: &Cell<Snapshot>) -> SourceError {
        cell.last_error().unwrap_or_else(|| {
            self.loading_error(
                &format!("the first snapshot of {region}"),
                cell,
                Operation::GetResources,
            )
        })
    }

    fn cell(&self, region: &str) -> Result<&Cell<Snapshot>, ApiError> {
        self.inner.regions.get(region).ok_or_else(|| {
            ApiError::invalid(
                "region",
                format!(
                    "{region} is not an allowed region (allowed: {})",
                    self.inner.config.regions.join(", ")
                ),
            )
        })
    }

    /// How long a refresh may go without progress before it is presumed wedged by a freeze. Every
    /// page is bounded by the upstream timeout, so a live build beats at least this often.
    fn stuck_after(&self) -> Duration {
        self.inner.config.upstream_timeout * 3
    }

    /// The error for a load that did not finish in time, naming the call it was waiting on.
    fn loading_error<T>(&self, what: &str, cell: &Cell<T>, first: Operation) -> SourceError {
        let op = cell.running_operation().unwrap_or(first);
        let ms = self.inner.config.upstream_timeout.as_millis();
        SourceError::new(
            op,
            crate::source::FailureKind::Timeout,
            format!("{what} did not load within {ms} ms (waiting on {op})"),
        )
    }

    fn max_backoff(&self) -> Duration {
        self.inner.config.ttl.min(Duration::from_secs(30))
    }

    async fn wait_for_region(
        &self,
        region: &str,
        cell: &Cell<Snapshot>,
        deadline: Instant,
    ) -> Option<Arc<cell::Entry<Snapshot>>> {
        let mut done = cell.subscribe();
        self.start_region_refresh(region, false);
        self.wait(cell, &mut done, deadline).await
    }

    /// Waits for the running refresh of `cell` to end, until `deadline`, then reads the cell.
    async fn wait<T>(
        &self,
        cell: &Cell<T>,
        done: &mut tokio::sync::watch::Receiver<u64>,
        deadline: Instant,
    ) -> Option<Arc<cell::Entry<T>>> {
        if cell.has_live_refresh(&self.now(), self.stuck_after()) {
            // Either outcome is read back from the cell below.
            let _ = tokio::time::timeout_at(deadline, done.changed()).await;
        }
        match cell.view(&self.now(), self.inner.config.max_stale) {
            View::Fresh(e) | View::Stale(e) => Some(e),
            View::Unusable => None,
        }
    }

    fn now(&self) -> Stamp {
        self.inner.clock.stamp()
    }

    fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::SeqCst)
    }
}

/// What a resolve knows once it has its region's snapshot (or learnt there is none).
struct Found<'a> {
    region: &'a str,
    cell: &'a Cell<Snapshot>,
    deadline: Instant,
    entry: Option<Arc<cell::Entry<Snapshot>>>,
    cache: CacheState,
    now: Stamp,
}

#[cfg(test)]
mod tests;
