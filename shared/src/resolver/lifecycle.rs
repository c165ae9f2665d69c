//! The Lambda lifecycle as the engine sees it: the host parks in `/next` ([`Resolver::parked`]),
//! the sandbox may freeze, an invoke thaws it ([`Resolver::thawed`]), and the host waits for due
//! refreshes before it parks again ([`Resolver::settle`], [`Resolver::refresh_and_settle`]).

use super::Resolver;
use super::cell::Cell;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

impl Resolver {
    /// The host is about to park in `/next`: the sandbox may freeze from now on.
    pub fn parked(&self) {
        let ms = self
            .inner
            .clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64);
        self.inner.parked_ms.store(ms.max(1), Ordering::SeqCst);
    }

    /// The sandbox has thawed (an invoke began). Refreshes that were running when it froze
    /// were cut mid-flight: those that made no progress since the host parked are aborted and
    /// can no longer publish or record anything, and a timeout a freeze caused is not held
    /// against the upstream. Starts nothing by itself; the next [`Resolver::refresh_due`] or
    /// query does.
    pub fn thawed(&self) {
        let epoch = self.inner.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        let parked = match self.inner.parked_ms.load(Ordering::SeqCst) {
            0 => None,
            ms => Some(std::time::UNIX_EPOCH + Duration::from_millis(ms)),
        };
        for (region, cell) in &self.inner.regions {
            if cell.thaw(epoch, parked) {
                tracing::info!(region, "a refresh cut by the freeze was superseded");
            }
        }
        if self.inner.routes.thaw(epoch, parked) {
            tracing::info!("a route refresh cut by the freeze was superseded");
        }
    }

    /// Where nothing freezes (Lambda Managed Instances, an agent outside Lambda), the host keeps
    /// the data fresh on its own schedule: call this every [`Resolver::schedule_tick`]. It starts
    /// a refresh (single-flight, within the failure backoff) of every region and of the routes
    /// whose own jittered TTL runs out within one tick and one upstream timeout, or never
    /// loaded: the refresh ends before the data expires, so answers stay hits, a change is
    /// served within one TTL plus one upstream timeout without a request asking for it, and
    /// each region is rebuilt about once per (jittered) TTL.
    pub fn refresh_on_schedule(&self) {
        let now = self.now();
        let lead = self.schedule_tick() + self.inner.config.upstream_timeout;
        for (region, cell) in &self.inner.regions {
            if cell.current().is_none_or(|e| e.due_on_schedule(&now, lead)) {
                self.start_region_refresh(region, false);
            }
        }
        if self
            .inner
            .routes
            .current()
            .is_none_or(|e| e.due_on_schedule(&now, lead))
        {
            self.start_routes_refresh(false);
        }
    }

    /// How often [`Resolver::refresh_on_schedule`] should run: a twentieth of the TTL, from
    /// 100 ms to 5 s.
    pub fn schedule_tick(&self) -> Duration {
        (self.inner.config.ttl / 20).clamp(Duration::from_millis(100), Duration::from_secs(5))
    }

    /// Starts what is due and waits for it (see [`Resolver::settle`]), twice: a refresh that a
    /// freeze cut ends as interrupted, without backoff, and the second round replaces it.
    pub async fn refresh_and_settle(&self, until: Instant) -> bool {
        for _ in 0..2 {
            self.refresh_due();
            if !self.settle(until).await {
                return false;
            }
        }
        true
    }

    /// Waits until no refresh runs, so that the sandbox may freeze without cutting one. The
    /// wait ends at `until`, or early when a running refresh has made no progress for the
    /// upstream timeout (every upstream call is bounded by it, so a live refresh beats at least
    /// that often). Returns whether every refresh ended.
    pub async fn settle(&self, until: Instant) -> bool {
        let mut settled = true;
        for cell in self.inner.regions.values() {
            settled &= self.settle_cell(cell, until).await;
        }
        settled & self.settle_cell(&self.inner.routes, until).await
    }

    async fn settle_cell<T>(&self, cell: &Cell<T>, until: Instant) -> bool {
        let patience = self.inner.config.upstream_timeout;
        loop {
            let mut done = cell.subscribe();
            let Some(silent) = cell.silence(&self.now()) else {
                return true;
            };
            if silent >= patience || Instant::now() >= until {
                return false;
            }
            let slice = until.min(Instant::now() + (patience - silent));
            // A change, or a slice without one; either way the checks above run again.
            let _ = tokio::time::timeout_at(slice, done.changed()).await;
        }
    }
}
