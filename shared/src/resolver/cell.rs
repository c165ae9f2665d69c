//! One refreshable value (a region's snapshot, or the route table) with TTL, single-flight
//! refresh, stale-while-revalidate and stale-if-error.
//!
//! Single-flight is a promise: while a refresh makes progress, no second one starts, whatever
//! the number of readers. Readers never wait on the lock that guards this; it is held only to
//! flip a few fields, never across an `.await`. A refresh whose heartbeat has not moved for
//! `stuck_after` (wall clock: a sandbox freeze cut its connection) is superseded by a new one,
//! and the old one can no longer clear the new one's flag.

use crate::source::{Heartbeat, SourceError};
use arc_swap::ArcSwapOption;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// A loaded value and its times.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    pub(crate) value: Arc<T>,
    pub(crate) built_at: SystemTime,
    pub(crate) expires_at: SystemTime,
    generation: u64,
}

/// What a reader may do with the current value.
#[derive(Debug)]
pub(crate) enum View<T> {
    /// Younger than its TTL.
    Fresh(Arc<Entry<T>>),
    /// Expired, within the maximum staleness: serve it and refresh in the background.
    Stale(Arc<Entry<T>>),
    /// Nothing usable: never loaded, or stale beyond the bound.
    Unusable,
}

#[derive(Debug, Default)]
struct Flight {
    running: Option<(u64, Heartbeat)>,
    next_generation: u64,
    failures: u32,
    retry_after: Option<SystemTime>,
    last_error: Option<SourceError>,
    attempts: u64,
}

/// A permit to run one refresh, from [`Cell::try_start`].
#[derive(Debug)]
pub(crate) struct Permit {
    pub(crate) generation: u64,
    pub(crate) heartbeat: Heartbeat,
}

#[derive(Debug)]
pub(crate) struct Cell<T> {
    current: ArcSwapOption<Entry<T>>,
    flight: Mutex<Flight>,
    done: watch::Sender<u64>,
}

impl<T> Default for Cell<T> {
    fn default() -> Self {
        Self {
            current: ArcSwapOption::empty(),
            flight: Mutex::default(),
            done: watch::Sender::new(0),
        }
    }
}

impl<T> Cell<T> {
    /// Classifies the current value at `now`. A value built "in the future" (the wall clock
    /// stepped back) counts as expired, so that a clock step cannot pin it forever.
    pub(crate) fn view(&self, now: SystemTime, max_stale: Duration) -> View<T> {
        let Some(entry) = self.current.load_full() else {
            return View::Unusable;
        };
        if now < entry.built_at {
            return View::Stale(entry);
        }
        match now.duration_since(entry.expires_at) {
            Err(_) => View::Fresh(entry),
            Ok(stale_for) if stale_for <= max_stale => View::Stale(entry),
            Ok(_) => View::Unusable,
        }
    }

    /// The current value, usable or not, for health and stats.
    pub(crate) fn current(&self) -> Option<Arc<Entry<T>>> {
        self.current.load_full()
    }

    /// The last refresh error, cleared by a success.
    pub(crate) fn last_error(&self) -> Option<SourceError> {
        self.flight.lock().last_error.clone()
    }

    /// Refreshes that ended so far, successful or not.
    pub(crate) fn attempts(&self) -> u64 {
        self.flight.lock().attempts
    }

    /// The operation the running refresh waits on, if one runs.
    pub(crate) fn running_operation(&self) -> Option<crate::source::Operation> {
        self.flight.lock().running.as_ref().map(|(_, beat)| beat.operation())
    }

    /// Whether a refresh is running.
    pub(crate) fn is_loading(&self) -> bool {
        self.flight.lock().running.is_some()
    }

    /// A receiver that wakes when the next refresh attempt ends. Subscribe before starting.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.done.subscribe()
    }

    /// Claims the right to run a refresh, unless one is running and alive, or (without `force`)
    /// the failure backoff has not passed.
    pub(crate) fn try_start(
        &self,
        now: SystemTime,
        stuck_after: Duration,
        force: bool,
        heartbeat: impl FnOnce() -> Heartbeat,
    ) -> Option<Permit> {
        let mut f = self.flight.lock();
        if let Some((generation, beat)) = &f.running {
            let silent = now.duration_since(beat.last()).unwrap_or_default();
            if silent < stuck_after {
                return None;
            }
            tracing::warn!(
                generation,
                silent_ms = silent.as_millis() as u64,
                "refresh made no progress; starting another"
            );
        }
        if !force && f.retry_after.is_some_and(|t| now < t) {
            return None;
        }
        f.next_generation += 1;
        let permit = Permit {
            generation: f.next_generation,
            heartbeat: heartbeat(),
        };
        f.running = Some((permit.generation, permit.heartbeat.clone()));
        Some(permit)
    }

    /// Whether a refresh is running and alive, i.e. a reader may wait for it.
    pub(crate) fn has_live_refresh(&self, now: SystemTime, stuck_after: Duration) -> bool {
        let f = self.flight.lock();
        f.running
            .as_ref()
            .is_some_and(|(_, beat)| now.duration_since(beat.last()).unwrap_or_default() < stuck_after)
    }

    /// Records the end of a refresh. A success replaces the value unless a newer refresh already
    /// did; a failure keeps the old value and backs off (doubling, capped by `max_backoff`).
    pub(crate) fn finish(
        &self,
        permit: &Permit,
        result: Result<T, SourceError>,
        now: SystemTime,
        ttl: Duration,
        max_backoff: Duration,
    ) {
        {
            let mut f = self.flight.lock();
            f.attempts += 1;
            if f.running.as_ref().is_some_and(|(g, _)| *g == permit.generation) {
                f.running = None;
            }
            match result {
                Ok(value) => {
                    let newer = self
                        .current
                        .load()
                        .as_ref()
                        .is_none_or(|e| e.generation < permit.generation);
                    if newer {
                        self.current.store(Some(Arc::new(Entry {
                            value: Arc::new(value),
                            built_at: now,
                            expires_at: now + jittered(ttl),
                            generation: permit.generation,
                        })));
                    }
                    f.failures = 0;
                    f.retry_after = None;
                    f.last_error = None;
                }
                Err(err) => {
                    f.failures = f.failures.saturating_add(1);
                    let backoff =
                        Duration::from_millis(500u64.saturating_mul(1 << f.failures.min(16))).min(max_backoff);
                    f.retry_after = Some(now + backoff);
                    f.last_error = Some(err);
                }
            }
        }
        self.done.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The TTL with ±10 % jitter, so that sandboxes don't refresh in step.
fn jittered(ttl: Duration) -> Duration {
    ttl.mul_f64(0.9 + 0.2 * fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, MockClock};
    use crate::source::{FailureKind, Operation};

    const TTL: Duration = Duration::from_secs(60);
    const STUCK: Duration = Duration::from_secs(6);

    fn start(cell: &Cell<u32>, clock: &MockClock) -> Option<Permit> {
        let c = Arc::new(clock.clone());
        cell.try_start(clock.now(), STUCK, false, || Heartbeat::new(c))
    }

    #[test]
    fn a_second_refresh_cannot_start_while_one_is_alive() {
        let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
        let first = start(&cell, &clock).unwrap();
        assert!(start(&cell, &clock).is_none());
        cell.finish(&first, Ok(1), clock.now(), TTL, TTL);
        assert!(start(&cell, &clock).is_some());
    }

    #[test]
    fn a_refresh_silent_past_the_bound_is_superseded_and_cannot_clear_its_successor() {
        let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
        let wedged = start(&cell, &clock).unwrap();
        clock.advance(STUCK);
        let second = start(&cell, &clock).expect("a wedged refresh is superseded");
        cell.finish(&second, Ok(2), clock.now(), TTL, TTL);
        cell.finish(&wedged, Ok(1), clock.now(), TTL, TTL);
        assert_eq!(
            *cell.current().unwrap().value,
            2,
            "the older refresh must not overwrite the newer value"
        );
    }

    #[test]
    fn expiry_lies_within_ten_percent_of_the_ttl() {
        let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
        for _ in 0..50 {
            let p = start(&cell, &clock).unwrap();
            cell.finish(&p, Ok(1), clock.now(), TTL, TTL);
            let e = cell.current().unwrap();
            let ttl = e.expires_at.duration_since(e.built_at).unwrap();
            assert!(ttl >= TTL.mul_f64(0.9) && ttl <= TTL.mul_f64(1.1), "{ttl:?}");
            clock.advance(TTL * 2);
        }
    }

    #[test]
    fn a_clock_stepped_back_makes_the_value_stale_not_fresh_forever() {
        let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
        let p = start(&cell, &clock).unwrap();
        cell.finish(&p, Ok(1), clock.now(), TTL, TTL);
        clock.rewind(Duration::from_secs(3600));
        assert!(matches!(cell.view(clock.now(), TTL), View::Stale(_)));
    }

    #[test]
    fn failures_back_off_unless_forced() {
        let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
        let p = start(&cell, &clock).unwrap();
        let err = SourceError::new(Operation::GetResources, FailureKind::Throttled, "x");
        cell.finish(&p, Err(err.clone()), clock.now(), TTL, TTL);
        assert!(start(&cell, &clock).is_none(), "backing off");
        assert_eq!(cell.last_error(), Some(err));
        let c = Arc::new(clock.clone());
        assert!(cell.try_start(clock.now(), STUCK, true, || Heartbeat::new(c)).is_some());
    }
}
