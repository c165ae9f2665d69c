//! The resolver over in-memory sources with a mock clock: TTL, single flight, stale serving,
//! routes and errors. No test sleeps; time moves by advancing the clock.

use super::*;
use crate::clock::MockClock;
use crate::source::memory::MemorySource;
use crate::source::{CatalogEntry, FailureKind, Route, TaggedResource};

pub(super) const TTL: Duration = Duration::from_secs(60);
const MAX_STALE: Duration = Duration::from_secs(3600);
const TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn arn(region: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:123456789012:application-inference-profile/{id}")
}

pub(super) struct World {
    pub(super) resolver: Resolver,
    pub(super) source: Arc<MemorySource>,
    pub(super) clock: MockClock,
}

impl World {
    pub(super) fn new() -> Self {
        let source = Arc::new(MemorySource::default());
        let mut profiles = Vec::new();
        for (id, tenant, app) in [
            ("p1", "acme", "chat"),
            ("p2", "acme", "batch"),
            ("p3", "globex", "chat"),
        ] {
            profiles.push((id, vec![("tenant", tenant), ("app", app)]));
        }
        set_region(&source, "us-east-1", &profiles);
        set_region(
            &source,
            "eu-west-1",
            &[("e1", vec![("tenant", "acme"), ("app", "chat")])],
        );
        source.set_routes(vec![Route {
            parameter: "/profile-resolver/routes/initech".into(),
            tags: vec![("tenant".into(), "initech".into())],
            arn: arn("us-east-1", "route1"),
        }]);
        let clock = MockClock::default();
        let config = EngineConfig {
            home_region: "us-east-1".into(),
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            ttl: TTL,
            max_stale: MAX_STALE,
            ssm_prefix: Some("/profile-resolver/routes/".into()),
            upstream_timeout: TIMEOUT,
            snapshot_url: None,
            snapshot_fallback: crate::config::Fallback::Direct,
            account: None,
        };
        let sources = Sources {
            tags: source.clone(),
            catalog: source.clone(),
            routes: Some(source.clone()),
            published: None,
        };
        let resolver = Resolver::new(config, sources, Arc::new(clock.clone()), Arc::default());
        Self {
            resolver,
            source,
            clock,
        }
    }

    pub(super) async fn resolve(&self, body: &str) -> Result<Resolution, ApiError> {
        self.resolver
            .resolve(&Query::from_json_bytes(body.as_bytes()).unwrap())
            .await
    }

    fn tag_calls(&self) -> u64 {
        self.source.calls(Operation::GetResources)
    }
}

pub(super) fn set_region(source: &MemorySource, region: &str, profiles: &[(&str, Vec<(&str, &str)>)]) {
    let tagged = profiles
        .iter()
        .map(|(id, tags)| TaggedResource {
            arn: arn(region, id),
            tags: tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
        })
        .collect();
    let catalog = profiles
        .iter()
        .map(|(id, _)| CatalogEntry {
            arn: arn(region, id),
            name: (*id).into(),
            status: Some("ACTIVE".into()),
            models: vec![],
        })
        .collect();
    source.set_region(region, tagged, catalog);
}

/// Lets spawned refreshes run to completion; bounded.
pub(super) async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

fn arns(r: &Resolution) -> Vec<String> {
    r.profiles().map(|p| p.arn.to_string()).collect()
}

const ACME_CHAT: &str = r#"{"tags": {"tenant": "acme", "app": "chat"}}"#;

#[tokio::test(flavor = "current_thread")]
async fn a_cold_region_waits_for_its_load_then_answers_from_memory() {
    let w = World::new();
    let first = w.resolve(ACME_CHAT).await.unwrap();
    assert_eq!(arns(&first), [arn("us-east-1", "p1")]);
    assert_eq!(first.cache, CacheState::Miss);
    let second = w.resolve(ACME_CHAT).await.unwrap();
    assert_eq!(second.cache, CacheState::Hit);
    assert_eq!(w.tag_calls(), 1);
    assert_eq!(w.source.calls(Operation::ListInferenceProfiles), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_readers_of_a_cold_region_share_one_load() {
    let w = World::new();
    w.source.close();
    let readers = futures::future::join_all((0..50).map(|_| w.resolve(ACME_CHAT)));
    let opener = async {
        settle().await;
        w.source.open();
    };
    let (results, ()) = tokio::join!(readers, opener);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| arns(r) == [arn("us-east-1", "p1")]))
    );
    assert_eq!(w.tag_calls(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn n_concurrent_readers_of_an_expired_region_make_exactly_one_source_call_and_never_wait() {
    let w = World::new();
    w.resolve(ACME_CHAT).await.unwrap();
    w.clock.advance(TTL.mul_f64(1.2));
    w.source.close();
    let results = futures::future::join_all((0..50).map(|_| w.resolve(ACME_CHAT))).await;
    for r in &results {
        let r = r.as_ref().unwrap();
        assert_eq!(r.cache, CacheState::Stale, "served at once while the refresh is held");
        assert_eq!(arns(r), [arn("us-east-1", "p1")]);
    }
    settle().await;
    assert_eq!(w.tag_calls(), 2, "one initial load and exactly one refresh");
    w.source.open();
    settle().await;
    assert_eq!(w.resolve(ACME_CHAT).await.unwrap().cache, CacheState::Hit);
    assert_eq!(w.tag_calls(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_refresh_picks_up_changed_tags_and_deletions() {
    let w = World::new();
    w.resolve(ACME_CHAT).await.unwrap();
    set_region(
        &w.source,
        "us-east-1",
        &[("p9", vec![("tenant", "acme"), ("app", "chat")])],
    );
    w.clock.advance(TTL.mul_f64(1.11));
    let stale = w.resolve(ACME_CHAT).await.unwrap();
    assert_eq!(
        (stale.cache, arns(&stale)),
        (CacheState::Stale, vec![arn("us-east-1", "p1")])
    );
    settle().await;
    let fresh = w.resolve(ACME_CHAT).await.unwrap();
    assert_eq!(
        (fresh.cache, arns(&fresh)),
        (CacheState::Hit, vec![arn("us-east-1", "p9")])
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_snapshot_frozen_past_a_second_ttl_is_revalidated_before_it_answers() {
    let w = World::new();
    w.resolve(ACME_CHAT).await.unwrap();
    set_region(
        &w.source,
        "us-east-1",
        &[("p9", vec![("tenant", "acme"), ("app", "chat")])],
    );
    // A sandbox frozen for three TTLs: the first request after the thaw gets the new mapping.
    w.clock.advance_frozen(TTL * 3);
    let first = w.resolve(ACME_CHAT).await.unwrap();
    assert_eq!(
        (first.cache, arns(&first)),
        (CacheState::Miss, vec![arn("us-east-1", "p9")])
    );
    // With the refresh failing, the old snapshot still answers: stale-if-error.
    w.clock.advance_frozen(TTL * 3);
    w.source.fail(Operation::GetResources, Some(FailureKind::Throttled));
    let stale = w.resolve(ACME_CHAT).await.unwrap();
    assert_eq!(
        (stale.cache, arns(&stale)),
        (CacheState::Stale, vec![arn("us-east-1", "p9")])
    );
}

#[tokio::test(flavor = "current_thread")]
async fn misses_and_unknown_queries_make_no_source_call() {
    let w = World::new();
    w.resolver.prewarm();
    settle().await;
    let (tags_before, routes_before) = (w.tag_calls(), w.source.calls(Operation::GetParametersByPath));
    assert_eq!(
        (tags_before, routes_before),
        (2, 1),
        "one load per region and one of the routes"
    );
    for i in 0..1000 {
        let err = w
            .resolve(&format!(r#"{{"tags": {{"tenant": "unknown-{i}"}}}}"#))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::NoMatch);
    }
    assert_eq!(w.tag_calls(), tags_before);
    assert_eq!(w.source.calls(Operation::GetParametersByPath), routes_before);
}

#[tokio::test(flavor = "current_thread")]
async fn a_region_outside_the_allow_list_is_rejected_before_any_upstream_call() {
    let w = World::new();
    let err = w
        .resolve(r#"{"tags": {"a": "b"}, "region": "ap-south-1"}"#)
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::InvalidQuery, Some("region"))
    );
    assert_eq!(w.tag_calls(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn regions_are_independent() {
    let w = World::new();
    let r = w
        .resolve(r#"{"tags": {"tenant": "acme", "app": "chat"}, "region": "eu-west-1"}"#)
        .await
        .unwrap();
    assert_eq!(arns(&r), [arn("eu-west-1", "e1")]);
}

#[tokio::test(flavor = "current_thread")]
async fn several_matches_are_ambiguous_with_sorted_candidates_unless_match_all() {
    let w = World::new();
    let err = w.resolve(r#"{"tags": {"tenant": "acme"}}"#).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AmbiguousMatch);
    assert_eq!(
        err.candidates.unwrap(),
        [arn("us-east-1", "p1"), arn("us-east-1", "p2")]
    );
    let all = w
        .resolve(r#"{"tags": {"tenant": "acme"}, "match": "all"}"#)
        .await
        .unwrap();
    assert_eq!(arns(&all), [arn("us-east-1", "p1"), arn("us-east-1", "p2")]);
    let none = w
        .resolve(r#"{"tags": {"tenant": "nobody"}, "match": "all"}"#)
        .await
        .unwrap();
    assert_eq!(none.profiles().count(), 0);
    assert_eq!(
        none.to_json(),
        r#"{"profiles":[],"source":"tagging-api","cache":"hit","ageSeconds":0.0}"#
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_refresh_serves_the_old_snapshot_up_to_the_maximum_staleness() {
    let w = World::new();
    w.resolve(ACME_CHAT).await.unwrap();
    w.source.fail(Operation::GetResources, Some(FailureKind::Throttled));
    w.clock.advance(TTL.mul_f64(1.11));
    for _ in 0..3 {
        let r = w.resolve(ACME_CHAT).await.unwrap();
        assert_eq!((r.cache, arns(&r)), (CacheState::Stale, vec![arn("us-east-1", "p1")]));
        settle().await;
        w.clock.advance(Duration::from_secs(5));
    }
    w.clock.advance(MAX_STALE - Duration::from_secs(30));
    assert_eq!(
        w.resolve(ACME_CHAT).await.unwrap().cache,
        CacheState::Stale,
        "still within the bound"
    );
    settle().await;
    assert_eq!(w.resolver.stats().counters().unavailable, 0);
    w.clock.advance(Duration::from_secs(60));
    let err = w.resolve(ACME_CHAT).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert_eq!(err.operation.as_deref(), Some("GetResources"));
    assert!(err.message.contains("GetResources"), "{}", err.message);
    assert_eq!(w.resolver.stats().counters().unavailable, 1, "each 503 is counted");
}

#[tokio::test(flavor = "current_thread")]
async fn failing_refreshes_back_off_instead_of_hammering_the_upstream() {
    let w = World::new();
    w.resolve(ACME_CHAT).await.unwrap();
    w.source.fail(Operation::GetResources, Some(FailureKind::Throttled));
    w.clock.advance(TTL.mul_f64(1.11));
    for _ in 0..200 {
        w.resolve(ACME_CHAT).await.unwrap();
        settle().await;
    }
    assert_eq!(w.tag_calls(), 2, "one failed refresh; the rest wait out the backoff");
}

#[tokio::test(flavor = "current_thread")]
async fn recovery_follows_once_the_fault_clears() {
    let w = World::new();
    w.source.fail(Operation::GetResources, Some(FailureKind::Unavailable));
    assert_eq!(
        w.resolve(ACME_CHAT).await.unwrap_err().code,
        ErrorCode::UpstreamUnavailable
    );
    w.source.fail(Operation::GetResources, None);
    w.clock.advance(TTL);
    let r = w.resolve(ACME_CHAT).await.unwrap();
    assert_eq!((r.cache, arns(&r)), (CacheState::Miss, vec![arn("us-east-1", "p1")]));
}

#[tokio::test(flavor = "current_thread")]
async fn routes_answer_only_when_the_tags_give_no_match() {
    let w = World::new();
    let tagged = w.resolve(ACME_CHAT).await.unwrap();
    assert_eq!(tagged.origin(), crate::snapshot::Origin::TaggingApi);
    let routed = w.resolve(r#"{"tags": {"tenant": "initech"}}"#).await.unwrap();
    assert_eq!(arns(&routed), [arn("us-east-1", "route1")]);
    let json: serde_json::Value = serde_json::from_str(&routed.to_json()).unwrap();
    assert_eq!(json["source"], "parameter-store");
    assert_eq!(json["profile"]["accountId"], "123456789012");
    assert!(json["profile"].get("name").is_none() && json["profile"].get("id").is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn a_tagged_profile_wins_over_a_route_with_the_same_tags() {
    let w = World::new();
    w.source.set_routes(vec![Route {
        parameter: "/r/acme".into(),
        tags: vec![("tenant".into(), "acme".into()), ("app".into(), "chat".into())],
        arn: arn("us-east-1", "route2"),
    }]);
    assert_eq!(arns(&w.resolve(ACME_CHAT).await.unwrap()), [arn("us-east-1", "p1")]);
}

#[tokio::test(flavor = "current_thread")]
async fn routes_answer_when_tag_discovery_is_down_and_nothing_is_cached() {
    let w = World::new();
    w.source.fail(Operation::GetResources, Some(FailureKind::Throttled));
    let routed = w.resolve(r#"{"tags": {"tenant": "initech"}}"#).await.unwrap();
    assert_eq!(arns(&routed), [arn("us-east-1", "route1")]);
    let err = w.resolve(ACME_CHAT).await.unwrap_err();
    assert_eq!(
        (err.code, err.operation.as_deref()),
        (ErrorCode::UpstreamUnavailable, Some("GetResources"))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_miss_with_routes_unreadable_is_unavailable_not_no_match() {
    let w = World::new();
    w.source.fail(Operation::GetParametersByPath, Some(FailureKind::Denied));
    assert!(w.resolve(ACME_CHAT).await.is_ok(), "tag hits do not need routes");
    let err = w.resolve(r#"{"tags": {"tenant": "initech"}}"#).await.unwrap_err();
    assert_eq!(
        (err.code, err.operation.as_deref()),
        (ErrorCode::UpstreamUnavailable, Some("GetParametersByPath"))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_bedrock_failure_builds_the_snapshot_from_tags_alone() {
    let w = World::new();
    w.source
        .fail(Operation::ListInferenceProfiles, Some(FailureKind::Denied));
    let r = w.resolve(ACME_CHAT).await.unwrap();
    let p = r.profiles().next().unwrap();
    assert_eq!(&*p.arn, arn("us-east-1", "p1"));
    assert_eq!((p.models.as_ref(), p.status.as_ref()), (None, None));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_cold_start_waits_at_most_the_upstream_timeout() {
    let w = World::new();
    w.source.close();
    let started = tokio::time::Instant::now();
    let err = w.resolve(ACME_CHAT).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert_eq!(
        err.operation.as_deref(),
        Some("GetResources,GetParametersByPath"),
        "both were cold and held"
    );
    assert_eq!(
        started.elapsed(),
        TIMEOUT,
        "tags and routes are awaited together, not one after the other"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_cold_region_with_routes_loaded_names_only_the_tagging_operation() {
    let w = World::new();
    w.resolve(r#"{"tags": {"tenant": "initech"}, "region": "eu-west-1"}"#)
        .await
        .unwrap_err();
    w.source.close();
    let started = tokio::time::Instant::now();
    let err = w.resolve(ACME_CHAT).await.unwrap_err();
    assert_eq!(
        (err.code, err.operation.as_deref()),
        (ErrorCode::UpstreamUnavailable, Some("GetResources"))
    );
    assert_eq!(started.elapsed(), TIMEOUT);
}

#[tokio::test(flavor = "current_thread")]
async fn a_refresh_wedged_by_a_freeze_is_retried_by_the_next_reader() {
    let w = World::new();
    w.resolve(ACME_CHAT).await.unwrap();
    w.clock.advance(TTL.mul_f64(1.11));
    w.source.close();
    w.resolve(ACME_CHAT).await.unwrap();
    settle().await;
    assert_eq!(w.tag_calls(), 2);
    // The sandbox "thaws" ten minutes later; the held refresh never beat again.
    w.clock.advance(Duration::from_secs(600));
    assert_eq!(w.resolve(ACME_CHAT).await.unwrap().cache, CacheState::Stale);
    settle().await;
    assert_eq!(w.tag_calls(), 3, "a new refresh replaced the wedged one");
    w.source.open();
    settle().await;
    assert_eq!(w.resolve(ACME_CHAT).await.unwrap().cache, CacheState::Hit);
}

#[tokio::test(flavor = "current_thread")]
async fn prewarm_loads_every_region_and_health_reports_them() {
    let w = World::new();
    w.resolver.prewarm();
    settle().await;
    let health = w.resolver.health();
    assert!(health.values().all(|h| h.ready && h.state == "fresh"));
    assert_eq!(health["us-east-1"].profiles, 3);
    assert_eq!(w.tag_calls(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_batch_answers_each_query_on_its_own() {
    let w = World::new();
    let batch = crate::query::parse_batch(
        br#"{"queries": [{"tags": {"tenant": "acme", "app": "chat"}}, {"tags": {"tenant": "nobody"}}, {"tags": 1}]}"#,
    )
    .unwrap();
    let results = w.resolver.resolve_batch(batch).await.unwrap().0;
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().code, ErrorCode::NoMatch);
    assert_eq!(results[2].as_ref().unwrap_err().code, ErrorCode::InvalidQuery);
    let json: serde_json::Value = serde_json::from_str(&crate::BatchAnswer(results).to_json()).unwrap();
    assert_eq!(json["results"][0]["status"], 200);
    assert_eq!(json["results"][1]["status"], 404);
    assert_eq!(json["results"][2]["error"]["field"], "queries[2].tags");
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_is_aged_from_when_its_listing_started_not_when_it_ended() {
    let w = World::new();
    w.source.close();
    let cold = tokio::spawn({
        let resolver = w.resolver.clone();
        async move {
            resolver
                .resolve(&Query::from_json_bytes(ACME_CHAT.as_bytes()).unwrap())
                .await
        }
    });
    settle().await;
    // The listing started; the sandbox freezes for 40 s with the call in flight.
    w.clock.advance_frozen(Duration::from_secs(40));
    w.source.open();
    let answered = cold.await.unwrap().unwrap();
    assert!(
        answered.age >= Duration::from_secs(40),
        "the answer claims {:?}, younger than its data",
        answered.age
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_panic_in_a_refresh_is_a_failed_refresh_not_a_region_loading_for_ever() {
    let w = World::new();
    w.source.panic_on(Operation::GetResources, true);
    w.resolver.prewarm();
    settle().await;
    let health = w.resolver.health();
    assert_eq!(health["us-east-1"].state, "unavailable");
    assert_eq!(health["us-east-1"].last_error.as_deref(), Some("GetResources"));
    assert_eq!(w.resolver.stats().counters().refresh_failures, 2, "one per region");
    w.source.panic_on(Operation::GetResources, false);
    w.clock.advance(TTL);
    let r = w.resolve(ACME_CHAT).await.unwrap();
    assert_eq!(arns(&r), [arn("us-east-1", "p1")]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_thaw_supersedes_the_refresh_cut_by_the_freeze_and_the_next_one_runs_at_once() {
    let w = World::new();
    w.resolve(ACME_CHAT).await.unwrap();
    w.clock.advance(TTL.mul_f64(1.2));
    w.source.close();
    w.resolver.refresh_due();
    settle().await;
    assert_eq!(w.tag_calls(), 3, "both regions started a refresh; both are held");
    // Frozen for 2.5 s, then thawed: no heartbeat is silent long enough to look wedged, yet
    // the held refreshes were cut by the freeze.
    w.clock.advance_frozen(Duration::from_millis(2500));
    w.resolver.thawed();
    w.resolver.refresh_due();
    settle().await;
    assert_eq!(w.tag_calls(), 5, "new refreshes started at once");
    w.source.open();
    let settled = w.resolver.settle(Instant::now() + Duration::from_secs(5)).await;
    assert!(settled);
    assert_eq!(w.resolve(ACME_CHAT).await.unwrap().cache, CacheState::Hit);
    assert_eq!(w.resolver.stats().counters().refresh_failures, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn settle_waits_for_running_refreshes_and_gives_up_at_its_bound() {
    let w = World::new();
    w.source.close();
    w.resolver.prewarm();
    let started = Instant::now();
    assert!(!w.resolver.settle(started + Duration::from_millis(300)).await);
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    w.source.open();
    assert!(w.resolver.settle(Instant::now() + Duration::from_secs(1)).await);
    assert!(w.resolver.health().values().all(|h| h.state == "fresh"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_broad_ambiguous_match_lists_the_first_candidates_and_the_count() {
    let w = World::new();
    let many: Vec<(String, Vec<(&str, &str)>)> = (0..500)
        .map(|i| (format!("p{i:04}"), vec![("tenant", "acme")]))
        .collect();
    let refs: Vec<(&str, Vec<(&str, &str)>)> = many.iter().map(|(id, t)| (id.as_str(), t.clone())).collect();
    set_region(&w.source, "us-east-1", &refs);
    let err = w.resolve(r#"{"tags": {"tenant": "acme"}}"#).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AmbiguousMatch);
    assert_eq!(err.count, Some(500));
    let listed = err.candidates.unwrap();
    assert_eq!(listed.len(), MAX_CANDIDATES);
    assert_eq!(listed[0], arn("us-east-1", "p0000"));
    assert!(listed.windows(2).all(|p| p[0] < p[1]), "sorted");
    assert!(err.message.starts_with("500 profiles match"), "{}", err.message);
}

fn key(k: &str, region: Option<&str>) -> crate::query::reverse::ProfileKey {
    crate::query::reverse::ProfileKey::new(k, region).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn the_reverse_lookup_finds_a_profile_by_arn_or_id_without_an_upstream_call() {
    let w = World::new();
    w.resolver.prewarm();
    settle().await;
    let calls = w.tag_calls();
    let by_arn = w.resolver.profile(&key(&arn("us-east-1", "p2"), None)).await.unwrap();
    assert_eq!(arns(&by_arn), [arn("us-east-1", "p2")]);
    let json: serde_json::Value = serde_json::from_str(&by_arn.to_json()).unwrap();
    assert_eq!(json["profile"]["tags"]["app"], "batch");
    assert_eq!(json["cache"], "hit");
    let by_id = w.resolver.profile(&key("p3", None)).await.unwrap();
    assert_eq!(arns(&by_id), [arn("us-east-1", "p3")]);
    let elsewhere = w.resolver.profile(&key("e1", Some("eu-west-1"))).await.unwrap();
    assert_eq!(arns(&elsewhere), [arn("eu-west-1", "e1")]);
    for _ in 0..100 {
        let err = w.resolver.profile(&key("nosuchprofile", None)).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::NoMatch);
        assert!(err.message.contains("nosuchprofile"), "{}", err.message);
    }
    assert_eq!(w.tag_calls(), calls, "lookups, found or not, call no upstream");
}

#[tokio::test(flavor = "current_thread")]
async fn a_profile_known_only_from_a_route_answers_with_the_routes_record() {
    let w = World::new();
    let routed = w
        .resolver
        .profile(&key(&arn("us-east-1", "route1"), None))
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&routed.to_json()).unwrap();
    assert_eq!(json["source"], "parameter-store");
    assert_eq!(json["profile"]["tags"]["tenant"], "initech");
    assert!(json["profile"].get("name").is_none());
    let by_id = w.resolver.profile(&key("route1", None)).await.unwrap();
    assert_eq!(arns(&by_id), [arn("us-east-1", "route1")]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_lookup_outside_the_allowed_regions_is_invalid_before_any_call() {
    let w = World::new();
    let err = w.resolver.profile(&key("p1", Some("ap-south-1"))).await.unwrap_err();
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::InvalidQuery, Some("region"))
    );
    let err = w
        .resolver
        .profile(&key(&arn("ap-south-1", "p1"), None))
        .await
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("region"));
    assert_eq!(w.tag_calls(), 0);
}

mod stale;
