//! The fleet simulation (see `harness::sim`): 50 real extension processes under the freeze
//! cycle, random invokes, every model call metered by the emulator.

use harness::sim::{Mode, Plan, Report, run, spend_table};
use std::time::Duration;

fn plan(mode: Mode) -> Plan {
    Plan {
        mode,
        sandboxes: 50,
        rounds: 24,
        invokes_per_round: 8,
        round_gap: Duration::from_millis(250),
        ttl_seconds: 2,
        filler: 150,
        retag_at: Some(6),
        throttle: Some((2, 10, 0.3)),
        publisher_down: Some((12, 17)),
        schedule_every: 4,
        latency_ms: 0,
    }
}

fn show(r: &Report) {
    eprintln!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
    eprintln!("{}", spend_table(r));
}

#[test]
fn fifty_sandboxes_bill_every_model_call_to_the_right_tenant_in_both_modes() {
    let s3 = run(&plan(Mode::S3)).unwrap();
    show(&s3);
    let direct = run(&plan(Mode::Direct)).unwrap();
    show(&direct);
    for r in [&s3, &direct] {
        assert!(r.model_calls >= 400, "{} calls", r.model_calls);
        assert_eq!(
            r.overdue_answers, 0,
            "{}: the old profile answered after the window, not as stale-if-error",
            r.mode
        );
        assert!(
            r.misbilled <= r.stale_if_error,
            "{}: {} calls billed to another tenant outside the retag window, {} stale-if-error answers",
            r.mode,
            r.misbilled,
            r.stale_if_error
        );
        assert_eq!(r.errors, 0, "{}: resolve errors outside the retag window", r.mode);
        assert!(
            !r.retag_seen_after.is_empty(),
            "{}: no sandbox ever answered with the retag",
            r.mode
        );
        let archived = r.spend.get("acme-archived").map_or(0, |s| s.0);
        assert_eq!(
            archived,
            r.misbilled_in_window + r.misbilled,
            "{}: only in-window and stale-if-error calls reach the old profile",
            r.mode
        );
    }
    // S3 mode: the readers list nothing; every GetResources call is the publisher's.
    assert_eq!(s3.get_resources, s3.publisher_get_resources);
    assert!(s3.publishes >= 4 && s3.s3_gets.0 + s3.s3_gets.1 > 0, "{s3:?}");
    // Direct mode: every sandbox lists the region itself, once per TTL it is invoked in.
    assert!(
        direct.get_resources >= 10 * s3.get_resources.max(1),
        "direct {} against S3 mode {}",
        direct.get_resources,
        s3.get_resources
    );
}
