//! Stale-if-error is bounded by the maximum staleness, also when the request waited for a
//! refresh first.

use super::*;

#[tokio::test(flavor = "current_thread")]
async fn a_snapshot_that_the_wait_for_its_refresh_took_past_the_maximum_staleness_is_not_served() {
    let w = World::new();
    w.resolve(ACME_CHAT).await.unwrap();
    // Long past expiry (a sandbox frozen through it) and just inside the maximum staleness,
    // whatever TTL the jitter drew: a request revalidates first.
    w.clock.advance(MAX_STALE + TTL.mul_f64(0.9) - Duration::from_secs(1));
    w.source.close();
    let clock = w.clock.clone();
    let during = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        clock.advance(Duration::from_secs(20));
    });
    let answer = w.resolve(ACME_CHAT).await;
    during.await.unwrap();
    let err = answer.expect_err("past the maximum staleness when the wait ended");
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable, "{err}");
}
