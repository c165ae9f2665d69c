//! One refreshable value (a region's snapshot, or the route table) with TTL, single-flight
//! refresh, stale-while-revalidate and stale-if-error.
//!
//! Single-flight is a promise: while a refresh makes progress, no second one starts, whatever
//! the number of readers. Readers never wait on the lock that guards this; it is held only to
//! flip a few fields, never across an `.await`.
//!
//! Fencing: every refresh carries a generation. Only the refresh that is *the* running one may
//! finish: a refresh that was superseded (its heartbeat went silent, or the sandbox thawed
//! after it started) is aborted, and should it still reach [`Cell::finish`] it publishes
//! nothing and records nothing: no value, no error, no backoff, no wake-up.
//!
//! Ages: a value is stamped with the moment its listing *started*, so data delayed by a freeze
//! is never presented as new.

use crate::clock::Stamp;
use crate::source::{FailureKind, Heartbeat, SourceError};
use arc_swap::ArcSwapOption;
use futures::future::{AbortHandle, AbortRegistration};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// What a refresh produced.
#[derive(Debug)]
pub(crate) struct Loaded<T> {
    pub(crate) value: Arc<T>,
    /// How old the data already was when the refresh started: zero for a listing made here, the
    /// publisher's data age for a published snapshot.
    pub(crate) lag: Duration,
    /// How old the data may normally be at a read: zero here, the publisher's interval for a
    /// published snapshot (it is rebuilt at least that often).
    pub(crate) allowance: Duration,
    /// When its listing started, by the lister's clock: `None` for a listing made here, which
    /// started with the refresh.
    pub(crate) listed: Option<SystemTime>,
}

impl<T> From<T> for Loaded<T> {
    fn from(value: T) -> Self {
        Self {
            value: Arc::new(value),
            lag: Duration::ZERO,
            allowance: Duration::ZERO,
            listed: None,
        }
    }
}

/// A loaded value and its times.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    pub(crate) value: Arc<T>,
    /// When the refresh that produced it started (the listing, or the read of a published one).
    pub(crate) built: Stamp,
    /// Its jittered TTL.
    ttl: Duration,
    lag: Duration,
    allowance: Duration,
    /// When its listing started, by the lister's clock: published data is never replaced by
    /// data listed earlier.
    pub(crate) listed: SystemTime,
}

impl<T> Entry<T> {
    /// The data's age at `now`: from when its listing started, wherever that ran.
    pub(crate) fn age(&self, now: &Stamp) -> Duration {
        self.read_age(now) + self.lag
    }

    /// The time since the refresh that produced it started; the TTL counts on this.
    fn read_age(&self, now: &Stamp) -> Duration {
        now.since(&self.built)
    }

    /// Whether it is due on a schedule of its own: its own jittered TTL runs out within `lead`
    /// (the time a scheduled refresh may take to start and to end), so that the refresh
    /// replaces it while it is still fresh, and sandboxes keep the TTL's jitter apart.
    pub(crate) fn due_on_schedule(&self, now: &Stamp, lead: Duration) -> bool {
        self.read_age(now) + lead >= self.ttl
    }

    /// How long past its TTL it is (zero while fresh).
    pub(crate) fn past_expiry(&self, now: &Stamp) -> Duration {
        self.read_age(now).saturating_sub(self.ttl)
    }

    /// Whether it may still serve at `now`, as [`Cell::view`] classifies it.
    pub(crate) fn usable(&self, now: &Stamp, max_stale: Duration) -> bool {
        !matches!(classify(self, now, max_stale), Class::Unusable)
    }

    /// How far the data is past the age it may normally have (its source's allowance plus the
    /// TTL). Only a published snapshot whose publisher stopped gets there while fresh.
    pub(crate) fn overdue(&self, now: &Stamp) -> Duration {
        self.age(now).saturating_sub(self.allowance + self.ttl)
    }
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

#[derive(Debug)]
struct Running {
    generation: u64,
    heartbeat: Heartbeat,
    epoch: u64,
    abort: AbortHandle,
}

#[derive(Debug, Default)]
struct Flight {
    running: Option<Running>,
    next_generation: u64,
    failures: u32,
    retry_after: Option<SystemTime>,
    /// The last failure and the lifecycle epoch its refresh started in.
    last_error: Option<(SourceError, u64)>,
    attempts: u64,
}

/// A permit to run one refresh, from [`Cell::try_start`].
#[derive(Debug)]
pub(crate) struct Permit {
    pub(crate) generation: u64,
    pub(crate) heartbeat: Heartbeat,
    /// When the refresh started: the value's age counts from here.
    pub(crate) started: Stamp,
    /// The lifecycle epoch (thaws so far) it started in.
    pub(crate) epoch: u64,
}

/// How a refresh ended, as [`Cell::finish`] recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// The value was replaced.
    Published,
    /// A failure, counted for the backoff.
    Failed,
    /// A timeout that spanned a freeze: recorded, but not held against the upstream.
    Interrupted,
    /// The refresh had been superseded: nothing recorded.
    Fenced,
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

enum Class {
    Fresh,
    Stale,
    Unusable,
}

/// Where `entry` stands at `now`: see [`Cell::view`].
fn classify<T>(entry: &Entry<T>, now: &Stamp, max_stale: Duration) -> Class {
    let read = entry.read_age(now);
    let late = read.saturating_sub(entry.ttl).max(entry.overdue(now));
    if late > max_stale {
        Class::Unusable
    } else if read < entry.ttl {
        Class::Fresh
    } else {
        Class::Stale
    }
}

impl<T> Cell<T> {
    /// Classifies the current value at `now`. Ages never shrink when the wall clock steps
    /// back (see [`Stamp::since`]), so every value leaves service within its TTL plus
    /// `max_stale`.
    ///
    /// The TTL counts from the last refresh; the maximum staleness bounds both the time since
    /// that refresh and how far the data itself is overdue (see [`Entry::overdue`]).
    pub(crate) fn view(&self, now: &Stamp, max_stale: Duration) -> View<T> {
        match self.current.load_full() {
            Some(entry) => match classify(&entry, now, max_stale) {
                Class::Fresh => View::Fresh(entry),
                Class::Stale => View::Stale(entry),
                Class::Unusable => View::Unusable,
            },
            None => View::Unusable,
        }
    }

    /// The current value if it is fresh at `now`, lent to `f` without taking a reference on it:
    /// the hot path's read, which leaves the value's shared reference count alone (every
    /// worker thread bumping it would move its cache line between cores at every request).
    /// Classified as [`Cell::view`] does.
    pub(crate) fn with_fresh<R>(
        &self,
        now: &Stamp,
        max_stale: Duration,
        f: impl FnOnce(&Entry<T>) -> Option<R>,
    ) -> Option<R> {
        let current = self.current.load();
        let entry = current.as_ref()?;
        match classify(entry, now, max_stale) {
            Class::Fresh => f(entry),
            Class::Stale | Class::Unusable => None,
        }
    }

    /// The current value, usable or not, for health and stats.
    pub(crate) fn current(&self) -> Option<Arc<Entry<T>>> {
        self.current.load_full()
    }

    /// The last refresh error, cleared by a success.
    pub(crate) fn last_error(&self) -> Option<SourceError> {
        self.flight.lock().last_error.as_ref().map(|(e, _)| e.clone())
    }

    /// Refreshes that ended so far and were recorded, successful or not.
    pub(crate) fn attempts(&self) -> u64 {
        self.flight.lock().attempts
    }

    /// The operation the running refresh waits on, if one runs.
    pub(crate) fn running_operation(&self) -> Option<crate::source::Operation> {
        self.flight.lock().running.as_ref().map(|r| r.heartbeat.operation())
    }

    /// Whether a refresh is running.
    pub(crate) fn is_loading(&self) -> bool {
        self.flight.lock().running.is_some()
    }

    /// How long the running refresh, if one runs, has made no progress at `now` (on both
    /// clocks: see [`Heartbeat::silent`]).
    pub(crate) fn silence(&self, now: &Stamp) -> Option<Duration> {
        self.flight.lock().running.as_ref().map(|r| r.heartbeat.silent(now))
    }

    /// A receiver that wakes when the next refresh attempt is recorded. Subscribe before
    /// starting.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.done.subscribe()
    }

    /// Claims the right to run a refresh, unless one is running and alive, or (without `force`)
    /// the failure backoff has not passed. A running refresh silent for `stuck_after` is
    /// superseded and aborted. The registration makes the new refresh abortable.
    pub(crate) fn try_start(
        &self,
        now: Stamp,
        stuck_after: Duration,
        force: bool,
        epoch: u64,
        heartbeat: impl FnOnce() -> Heartbeat,
    ) -> Option<(Permit, AbortRegistration)> {
        let mut f = self.flight.lock();
        if let Some(r) = &f.running {
            let silent = r.heartbeat.silent(&now);
            if silent < stuck_after {
                return None;
            }
            tracing::warn!(
                generation = r.generation,
                silent_ms = silent.as_millis() as u64,
                "refresh made no progress; superseding it"
            );
        }
        if !force && f.retry_after.is_some_and(|t| now.wall < t) {
            return None;
        }
        if let Some(old) = f.running.take() {
            old.abort.abort();
        }
        f.next_generation += 1;
        let (abort, registration) = AbortHandle::new_pair();
        let permit = Permit {
            generation: f.next_generation,
            heartbeat: heartbeat(),
            started: now,
            epoch,
        };
        f.running = Some(Running {
            generation: permit.generation,
            heartbeat: permit.heartbeat.clone(),
            epoch,
            abort,
        });
        Some((permit, registration))
    }

    /// The sandbox thawed into lifecycle `epoch`, after the host parked in `/next` at `parked`. A
    /// refresh from an earlier epoch that made no progress since the host parked was cut by the
    /// freeze: it is aborted and superseded. (One that progressed while parked was not frozen,
    /// as under an emulator or while the function still ran, and keeps going; if the freeze cut
    /// it later, its timeout is recorded as interrupted, not held against the upstream.) A
    /// timeout from before the thaw was the freeze's doing, so its backoff is lifted. Returns
    /// whether a refresh was superseded.
    pub(crate) fn thaw(&self, epoch: u64, parked: Option<SystemTime>) -> bool {
        let mut f = self.flight.lock();
        if matches!(&f.last_error, Some((e, started)) if e.kind == FailureKind::Timeout && *started < epoch) {
            f.retry_after = None;
        }
        let cut = |r: &mut Running| r.epoch < epoch && parked.is_none_or(|p| r.heartbeat.last() <= p);
        match f.running.take_if(cut) {
            Some(old) => {
                old.abort.abort();
                true
            }
            None => false,
        }
    }

    /// Whether a refresh is running and alive, i.e. a reader may wait for it.
    pub(crate) fn has_live_refresh(&self, now: &Stamp, stuck_after: Duration) -> bool {
        let f = self.flight.lock();
        f.running
            .as_ref()
            .is_some_and(|r| r.heartbeat.silent(now) < stuck_after)
    }

    /// Records the end of a refresh, if it is still the running one (see the module docs). A
    /// success replaces the value, aged from when the refresh started; a failure keeps the old
    /// value and backs off (doubling, capped by `max_backoff`), unless it is a timeout from an
    /// earlier lifecycle `epoch` than `epoch_now` (a freeze, not the upstream).
    pub(crate) fn finish(
        &self,
        permit: &Permit,
        result: Result<Loaded<T>, SourceError>,
        now: SystemTime,
        epoch_now: u64,
        ttl: Duration,
        max_backoff: Duration,
    ) -> Recorded {
        let recorded = {
            let mut f = self.flight.lock();
            if f.running.as_ref().is_none_or(|r| r.generation != permit.generation) {
                return Recorded::Fenced;
            }
            f.running = None;
            f.attempts += 1;
            match result {
                Ok(loaded) => {
                    self.current.store(Some(Arc::new(Entry {
                        value: loaded.value,
                        built: permit.started,
                        ttl: jittered(ttl),
                        lag: loaded.lag,
                        allowance: loaded.allowance,
                        listed: loaded.listed.unwrap_or(permit.started.wall),
                    })));
                    f.failures = 0;
                    f.retry_after = None;
                    f.last_error = None;
                    Recorded::Published
                }
                Err(err) if err.kind == FailureKind::Timeout && permit.epoch < epoch_now => {
                    f.last_error = Some((err, permit.epoch));
                    Recorded::Interrupted
                }
                Err(err) => {
                    f.failures = f.failures.saturating_add(1);
                    let backoff =
                        Duration::from_millis(500u64.saturating_mul(1 << f.failures.min(16))).min(max_backoff);
                    f.retry_after = Some(now + backoff);
                    f.last_error = Some((err, permit.epoch));
                    Recorded::Failed
                }
            }
        };
        self.done.send_modify(|n| *n = n.wrapping_add(1));
        recorded
    }
}

/// The shortest a jittered TTL can be, as a fraction of the TTL.
pub(crate) const JITTER_FLOOR: f64 = 0.9;

/// The TTL with ±10 % jitter, so that sandboxes don't refresh in step.
fn jittered(ttl: Duration) -> Duration {
    ttl.mul_f64(JITTER_FLOOR + 0.2 * fastrand::f64())
}

#[cfg(test)]
mod tests;
