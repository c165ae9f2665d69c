//! An injected wall clock. Expiry uses wall-clock time because monotonic clocks stop while a
//! Lambda sandbox is frozen; tests advance a [`MockClock`] instead of sleeping.

use parking_lot::Mutex;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct MockClock(Arc<Mutex<SystemTime>>);

impl MockClock {
    /// A clock stopped at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        *self.0.lock() += by;
    }

    /// Moves the clock back, as an NTP step can.
    pub fn rewind(&self, by: Duration) {
        let mut now = self.0.lock();
        *now = now.checked_sub(by).unwrap_or(SystemTime::UNIX_EPOCH);
    }
}

impl Default for MockClock {
    fn default() -> Self {
        Self::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
    }
}

impl Clock for MockClock {
    fn now(&self) -> SystemTime {
        *self.0.lock()
    }
}
