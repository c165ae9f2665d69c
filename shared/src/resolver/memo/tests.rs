//! The memo answers exactly as a parsed resolve would, never from another snapshot, and stays
//! bounded. Each test runs on one thread, so it sees that thread's memo alone.

use super::*;
use crate::resolver::tests::{TTL, World, arn, set_region, settle};
use std::time::Duration;

const GET_ONE: &str = "tag:tenant=acme&tag:app=chat";
const GET_ALL: &str = "tag:app=chat&match=all";
const POST_ONE: &str = r#"{"tags": {"tenant": "globex", "app": ["chat"]}}"#;

/// What the ordinary path answers for the same request, now.
async fn parsed(w: &World, raw: RawQuery<'_>) -> Result<String, ApiError> {
    Ok(w.resolver.resolve(&raw.parse()?).await?.to_json())
}

/// Loads the home region, with a request the tests do not remember.
async fn warm(w: &World) {
    parsed(w, RawQuery::QueryString("tag:tenant=globex")).await.unwrap();
}

async fn both(w: &World, raw: RawQuery<'_>) -> (String, String) {
    let memo = w.resolver.resolve_raw(raw).await.unwrap();
    let plain = parsed(w, raw).await.unwrap();
    (memo, plain)
}

#[tokio::test(flavor = "current_thread")]
async fn repeated_requests_are_answered_from_the_memo_byte_for_byte_as_a_parsed_resolve() {
    let w = World::new();
    warm(&w).await;
    let requests = [
        RawQuery::QueryString(GET_ONE),
        RawQuery::QueryString(GET_ALL),
        RawQuery::Json(POST_ONE.as_bytes()),
    ];
    for round in 0..3 {
        for raw in requests {
            let (memo, plain) = both(&w, raw).await;
            assert_eq!(memo, plain, "round {round}, {raw:?}");
        }
        w.clock.advance(Duration::from_secs(7));
    }
    let (remembered, used) = here();
    assert_eq!(remembered, 3);
    // The first round (cold, then remembered) used nothing; the next two used all three.
    assert_eq!(used, 6);
    let body = w.resolver.resolve_raw(RawQuery::QueryString(GET_ONE)).await.unwrap();
    assert!(
        body.contains(&arn("us-east-1", "p1")) && body.contains(r#""ageSeconds":21.0"#),
        "{body}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_remembered_answer_is_never_served_from_a_newer_snapshot() {
    let w = World::new();
    let raw = RawQuery::QueryString(GET_ONE);
    assert!(
        w.resolver
            .resolve_raw(raw)
            .await
            .unwrap()
            .contains(&arn("us-east-1", "p1"))
    );
    // acme's chat moves to p9; the old snapshot serves stale until the refresh lands.
    set_region(
        &w.source,
        "us-east-1",
        &[("p9", vec![("tenant", "acme"), ("app", "chat")])],
    );
    w.clock.advance(TTL.mul_f64(1.11));
    let (stale, plain) = both(&w, raw).await;
    assert_eq!(stale, plain);
    assert!(
        stale.contains(&arn("us-east-1", "p1")) && stale.contains(r#""cache":"stale""#),
        "{stale}"
    );
    settle().await;
    let (fresh, plain) = both(&w, raw).await;
    assert_eq!(fresh, plain);
    assert!(fresh.contains(&arn("us-east-1", "p9")), "{fresh}");
    assert!(!fresh.contains(&arn("us-east-1", "p1")), "{fresh}");
    assert!(fresh.contains(r#""cache":"hit""#), "{fresh}");
    // And the new answer is the one remembered from now on.
    let again = w.resolver.resolve_raw(raw).await.unwrap();
    assert!(again.contains(&arn("us-east-1", "p9")), "{again}");
}

#[tokio::test(flavor = "current_thread")]
async fn route_answers_empty_answers_and_errors_are_not_remembered() {
    let w = World::new();
    for _ in 0..2 {
        let routed = w
            .resolver
            .resolve_raw(RawQuery::QueryString("tag:tenant=initech"))
            .await
            .unwrap();
        assert!(routed.contains(r#""source":"parameter-store""#), "{routed}");
        let empty = w
            .resolver
            .resolve_raw(RawQuery::QueryString("tag:tenant=nobody&match=all"))
            .await
            .unwrap();
        assert!(empty.starts_with(r#"{"profiles":[]"#), "{empty}");
        let ambiguous = w.resolver.resolve_raw(RawQuery::QueryString("tag:tenant=acme")).await;
        assert_eq!(ambiguous.unwrap_err().code.as_str(), "AmbiguousMatch");
        let invalid = w.resolver.resolve_raw(RawQuery::QueryString("bogus=1")).await;
        assert_eq!(invalid.unwrap_err().code.as_str(), "InvalidQuery");
        let not_allowed = w
            .resolver
            .resolve_raw(RawQuery::QueryString("tag:tenant=acme&region=mars-1"))
            .await;
        assert_eq!(not_allowed.unwrap_err().code.as_str(), "InvalidQuery");
    }
    assert_eq!(here(), (0, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn the_memo_is_bounded_in_entries_and_in_key_size() {
    let w = World::new();
    warm(&w).await;
    // Distinct requests that all find p1: an OR with values no profile has.
    for i in 0..(ENTRIES * 3) {
        let raw = format!("{GET_ONE}&tag:app=unused-{i}");
        let (memo, plain) = both(&w, RawQuery::QueryString(&raw)).await;
        assert_eq!(memo, plain);
        assert!(here().0 <= ENTRIES, "{} remembered", here().0);
    }
    // Over MAX_KEY bytes, within the value limits once decoded (250 characters each).
    let escaped = "%78".repeat(250);
    let long = format!("{GET_ONE}&tag:app={escaped}&tag:app=y{escaped}");
    assert!(long.len() > MAX_KEY);
    let before = here();
    for _ in 0..2 {
        let (memo, plain) = both(&w, RawQuery::QueryString(&long)).await;
        assert_eq!(memo, plain);
    }
    assert_eq!(
        here().1,
        before.1,
        "a request over MAX_KEY is never answered from the memo"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn each_answer_carries_its_own_cache_state_and_age() {
    let w = World::new();
    let raw = RawQuery::Json(POST_ONE.as_bytes());
    let cold = w.resolver.resolve_raw(raw).await.unwrap();
    assert!(cold.contains(r#""cache":"miss""#), "{cold}");
    w.clock.advance(Duration::from_millis(2500));
    let warm = w.resolver.resolve_raw(raw).await.unwrap();
    assert!(warm.ends_with(r#""cache":"hit","ageSeconds":2.5}"#), "{warm}");
    assert_eq!(here().1, 1);
}
