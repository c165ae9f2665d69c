//! The cell alone: single flight, fencing of superseded refreshes, ages from the start of a
//! listing, backoff, and the freeze rules.

use super::*;
use crate::clock::{Clock, MockClock};
use crate::source::{FailureKind, Operation};

const TTL: Duration = Duration::from_secs(60);
const STUCK: Duration = Duration::from_secs(6);
const MAX_STALE: Duration = Duration::from_secs(3600);

fn start_in(cell: &Cell<u32>, clock: &MockClock, epoch: u64) -> Option<Permit> {
    let c = Arc::new(clock.clone());
    cell.try_start(clock.stamp(), STUCK, false, epoch, || Heartbeat::new(c))
        .map(|(p, _)| p)
}

fn start(cell: &Cell<u32>, clock: &MockClock) -> Option<Permit> {
    start_in(cell, clock, 0)
}

fn finish(cell: &Cell<u32>, clock: &MockClock, p: &Permit, r: Result<u32, SourceError>) -> Recorded {
    cell.finish(p, r.map(Loaded::from), clock.now(), 0, TTL, TTL)
}

fn timeout() -> SourceError {
    SourceError::new(Operation::GetResources, FailureKind::Timeout, "timed out")
}

#[test]
fn a_second_refresh_cannot_start_while_one_is_alive() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    let first = start(&cell, &clock).unwrap();
    assert!(start(&cell, &clock).is_none());
    finish(&cell, &clock, &first, Ok(1));
    assert!(start(&cell, &clock).is_some());
}

#[test]
fn a_superseded_refresh_publishes_nothing_records_nothing_and_wakes_no_one() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    let wedged = start(&cell, &clock).unwrap();
    clock.advance(STUCK);
    let second = start(&cell, &clock).expect("a wedged refresh is superseded");
    let waiter = cell.subscribe();
    let err = SourceError::new(Operation::GetResources, FailureKind::Throttled, "x");
    assert_eq!(finish(&cell, &clock, &wedged, Err(err)), Recorded::Fenced);
    assert!(!waiter.has_changed().unwrap(), "no wake-up from a fenced refresh");
    assert_eq!(cell.last_error(), None, "no error recorded");
    assert_eq!(cell.attempts(), 0);
    assert!(cell.is_loading(), "the successor still runs");
    assert_eq!(finish(&cell, &clock, &wedged, Ok(1)), Recorded::Fenced);
    assert!(cell.current().is_none(), "no value published");
    assert_eq!(finish(&cell, &clock, &second, Ok(2)), Recorded::Published);
    assert_eq!(*cell.current().unwrap().value, 2);
}

#[test]
fn a_superseded_refresh_is_aborted() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    let c = Arc::new(clock.clone());
    let (_, registration) = cell
        .try_start(clock.stamp(), STUCK, false, 0, || Heartbeat::new(c.clone()))
        .unwrap();
    let work = futures::future::Abortable::new(std::future::pending::<()>(), registration);
    clock.advance(STUCK);
    assert!(
        cell.try_start(clock.stamp(), STUCK, false, 0, || Heartbeat::new(c))
            .is_some()
    );
    assert!(work.is_aborted());
}

#[test]
fn a_value_is_aged_from_when_its_listing_started() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    let p = start(&cell, &clock).unwrap();
    clock.advance_frozen(Duration::from_secs(50));
    finish(&cell, &clock, &p, Ok(1));
    let e = cell.current().unwrap();
    assert_eq!(e.age(&clock.stamp()), Duration::from_secs(50));
    assert_eq!(e.built, p.started);
}

#[test]
fn expiry_lies_within_ten_percent_of_the_ttl() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    for _ in 0..50 {
        let p = start(&cell, &clock).unwrap();
        finish(&cell, &clock, &p, Ok(1));
        let ttl = cell.current().unwrap().ttl;
        assert!(ttl >= TTL.mul_f64(0.9) && ttl <= TTL.mul_f64(1.1), "{ttl:?}");
        clock.advance(TTL * 2);
    }
}

#[test]
fn a_clock_stepped_back_still_expires_the_value_and_bounds_its_staleness() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    let p = start(&cell, &clock).unwrap();
    finish(&cell, &clock, &p, Ok(1));
    clock.rewind(Duration::from_secs(7200));
    assert!(matches!(cell.view(&clock.stamp(), MAX_STALE), View::Fresh(_)));
    clock.advance(TTL * 2);
    assert!(matches!(cell.view(&clock.stamp(), MAX_STALE), View::Stale(_)));
    clock.advance(MAX_STALE);
    assert!(
        matches!(cell.view(&clock.stamp(), MAX_STALE), View::Unusable),
        "a value built 'in the future' is unusable after its TTL plus the maximum staleness"
    );
}

#[test]
fn failures_back_off_unless_forced() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    let p = start(&cell, &clock).unwrap();
    let err = SourceError::new(Operation::GetResources, FailureKind::Throttled, "x");
    assert_eq!(finish(&cell, &clock, &p, Err(err.clone())), Recorded::Failed);
    assert!(start(&cell, &clock).is_none(), "backing off");
    assert_eq!(cell.last_error(), Some(err));
    let c = Arc::new(clock.clone());
    assert!(
        cell.try_start(clock.stamp(), STUCK, true, 0, || Heartbeat::new(c))
            .is_some()
    );
}

#[test]
fn a_thaw_supersedes_a_refresh_from_before_the_freeze() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    let before = start_in(&cell, &clock, 0).unwrap();
    clock.advance(Duration::from_millis(10));
    let parked = Some(clock.now());
    assert!(!cell.thaw(0, parked), "same epoch: nothing to supersede");
    clock.advance_frozen(Duration::from_secs(3));
    assert!(cell.thaw(1, parked));
    assert!(!cell.is_loading());
    let after = start_in(&cell, &clock, 1).expect("a new refresh starts at once");
    assert_eq!(finish(&cell, &clock, &before, Ok(1)), Recorded::Fenced);
    assert_eq!(finish(&cell, &clock, &after, Ok(2)), Recorded::Published);
    assert_eq!(*cell.current().unwrap().value, 2);
}

#[test]
fn a_refresh_that_progressed_while_parked_was_not_frozen_and_keeps_going() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    let running = start_in(&cell, &clock, 0).unwrap();
    let parked = Some(clock.now());
    clock.advance(Duration::from_millis(50));
    running.heartbeat.beat();
    assert!(!cell.thaw(1, parked), "it beat after the host parked: no freeze cut it");
    assert_eq!(finish(&cell, &clock, &running, Ok(1)), Recorded::Published);
}

#[test]
fn a_timeout_that_spans_a_freeze_sets_no_backoff() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    let p = start_in(&cell, &clock, 0).unwrap();
    let recorded = cell.finish(&p, Err(timeout()), clock.now(), 1, TTL, TTL);
    assert_eq!(recorded, Recorded::Interrupted);
    assert!(start_in(&cell, &clock, 1).is_some(), "no backoff after a freeze");
}

#[test]
fn a_timeout_recorded_just_before_the_thaw_is_noticed_lifts_its_backoff() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    let p = start_in(&cell, &clock, 0).unwrap();
    assert_eq!(finish(&cell, &clock, &p, Err(timeout())), Recorded::Failed);
    assert!(start_in(&cell, &clock, 0).is_none(), "backing off");
    cell.thaw(1, None);
    assert!(start_in(&cell, &clock, 1).is_some(), "the thaw lifted the backoff");
}

#[test]
fn a_throttle_before_a_freeze_keeps_its_backoff() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    let p = start_in(&cell, &clock, 0).unwrap();
    let err = SourceError::new(Operation::GetResources, FailureKind::Throttled, "x");
    cell.finish(&p, Err(err), clock.now(), 1, TTL, TTL);
    cell.thaw(1, None);
    assert!(start_in(&cell, &clock, 1).is_none());
}

#[test]
fn a_wall_clock_stepped_back_does_not_keep_a_wedged_refresh_alive() {
    let (cell, clock) = (Cell::<u32>::default(), MockClock::default());
    start(&cell, &clock).unwrap();
    // No progress for longer than STUCK on the monotonic clock, while the wall clock was set
    // back an hour: the refresh is not alive, and a new one may start.
    clock.advance(STUCK + Duration::from_secs(1));
    clock.rewind(Duration::from_secs(3600));
    assert!(!cell.has_live_refresh(&clock.stamp(), STUCK));
    assert!(start(&cell, &clock).is_some(), "superseded");
}
