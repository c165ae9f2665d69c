//! An injected clock. Expiry and ages use wall-clock time, because a Lambda freeze may stop
//! monotonic clocks; a monotonic reading rides along only so that a wall clock stepped *back*
//! cannot make data look younger than it is (an age is the larger of the two readings). Tests
//! advance a [`MockClock`] instead of sleeping.

use parking_lot::Mutex;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// One reading of both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Wall-clock time.
    pub wall: SystemTime,
    /// Monotonic time since an arbitrary origin fixed for the process.
    pub mono: Duration,
}

impl Stamp {
    /// Time from `earlier` to `self`: the larger of the wall and monotonic differences, so
    /// neither a frozen monotonic clock nor a wall clock stepped back understates it.
    pub fn since(&self, earlier: &Stamp) -> Duration {
        let wall = self.wall.duration_since(earlier.wall).unwrap_or_default();
        let mono = self.mono.saturating_sub(earlier.mono);
        wall.max(mono)
    }
}

/// A source of time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Wall-clock now.
    fn now(&self) -> SystemTime;

    /// Monotonic now, from an arbitrary origin fixed for the process.
    fn monotonic(&self) -> Duration;

    /// Both readings at once.
    fn stamp(&self) -> Stamp {
        Stamp {
            wall: self.now(),
            mono: self.monotonic(),
        }
    }
}

/// The system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn monotonic(&self) -> Duration {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed()
    }
}

/// A clock that moves only when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct MockClock(Arc<Mutex<(SystemTime, Duration)>>);

impl MockClock {
    /// A clock stopped at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self(Arc::new(Mutex::new((start, Duration::ZERO))))
    }

    /// Moves both clocks forward, as time passing while awake does.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock();
        t.0 += by;
        t.1 += by;
    }

    /// Moves only the wall clock forward, as a Lambda freeze that stops monotonic time does.
    pub fn advance_frozen(&self, by: Duration) {
        self.0.lock().0 += by;
    }

    /// Moves the wall clock back, as an NTP step can. Monotonic time does not move.
    pub fn rewind(&self, by: Duration) {
        let mut t = self.0.lock();
        t.0 = t.0.checked_sub(by).unwrap_or(SystemTime::UNIX_EPOCH);
    }
}

impl Default for MockClock {
    fn default() -> Self {
        Self::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
    }
}

impl Clock for MockClock {
    fn now(&self) -> SystemTime {
        self.0.lock().0
    }

    fn monotonic(&self) -> Duration {
        self.0.lock().1
    }
}

/// Time left before a Lambda deadline (epoch milliseconds, as in an INVOKE event or an
/// invocation's context), less `margin`; zero when it has passed.
pub fn time_left(deadline_ms: u64, now: SystemTime, margin: Duration) -> Duration {
    let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms);
    deadline.duration_since(now).unwrap_or_default().saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_keeps_a_margin_and_never_goes_negative() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(10_000);
        let margin = Duration::from_millis(100);
        assert_eq!(time_left(12_000, now, margin), Duration::from_millis(1900));
        assert_eq!(time_left(10_050, now, margin), Duration::ZERO);
        assert_eq!(time_left(0, now, margin), Duration::ZERO);
    }

    #[test]
    fn an_age_is_never_shortened_by_a_wall_clock_stepped_back() {
        let clock = MockClock::default();
        let start = clock.stamp();
        clock.advance(Duration::from_secs(10));
        clock.rewind(Duration::from_secs(3600));
        assert_eq!(clock.stamp().since(&start), Duration::from_secs(10));
    }

    #[test]
    fn an_age_counts_a_freeze_that_stopped_monotonic_time() {
        let clock = MockClock::default();
        let start = clock.stamp();
        clock.advance(Duration::from_secs(1));
        clock.advance_frozen(Duration::from_secs(300));
        assert_eq!(clock.stamp().since(&start), Duration::from_secs(301));
    }
}
