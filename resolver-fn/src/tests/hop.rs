//! The function → extension hop must not change the answer: the function forwards queries in
//! their canonical form (and tenant-pinned), which can break the extension's limits although
//! the client's own request kept them. The extension here is the real router and server of
//! `cache-extension`, on a loopback port.

use super::*;
use cache_extension::config::Auth;
use shared::query::{MAX_BODY, MAX_KEYS};
use shared::source::Operation;
use tokio::net::TcpListener;

/// Fifty one-character keys, the most a query may have.
fn keys() -> Vec<String> {
    ('A'..='Z').chain('a'..='x').map(String::from).collect()
}

/// A profile carrying every key of [`keys`] (value `vvvv`) and `tenant=acme`.
fn wide_source() -> Arc<MemorySource> {
    let mut tags: Vec<(String, String)> = keys().into_iter().map(|k| (k, "vvvv".to_owned())).collect();
    tags.push(("tenant".into(), "acme".into()));
    let source = Arc::new(MemorySource::default());
    source.set_region(
        "us-east-1",
        vec![TaggedResource { arn: arn("wide"), tags }],
        vec![CatalogEntry {
            arn: arn("wide"),
            name: "wide".into(),
            status: Some("ACTIVE".into()),
            models: vec![],
        }],
    );
    source
}

pub(super) fn engine(source: &Arc<MemorySource>) -> Resolver {
    engine_with(source, MockClock::default())
}

fn engine_with(source: &Arc<MemorySource>, clock: MockClock) -> Resolver {
    let engine = EngineConfig {
        home_region: "us-east-1".into(),
        regions: vec!["us-east-1".into()],
        ttl: Duration::from_secs(60),
        max_stale: Duration::from_secs(3600),
        ssm_prefix: None,
        upstream_timeout: Duration::from_millis(500),
        snapshot_url: None,
        snapshot_fallback: shared::config::Fallback::Direct,
        account: None,
    };
    let sources = Sources {
        tags: source.clone(),
        catalog: source.clone(),
        routes: None,
        published: None,
    };
    Resolver::new(engine, sources, Arc::new(clock), Arc::default())
}

pub(super) struct Hop {
    pub(super) app: App,
    /// The function's own engine's upstream: calls here mean "answered in-process".
    pub(super) local: Arc<MemorySource>,
}

/// The function, with the real extension on a free port when `with_extension`.
async fn hop(with_extension: bool, tenancy: Option<Tenancy>) -> Hop {
    hop_over(wide_source, with_extension, tenancy).await
}

/// As [`hop`], with the extension and the function's engine over `source()` each.
pub(super) async fn hop_over(source: fn() -> Arc<MemorySource>, with_extension: bool, tenancy: Option<Tenancy>) -> Hop {
    let url = if with_extension {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = cache_extension::http::AppState::new(engine(&source()), Auth::Disabled);
        let api = Arc::new(cache_extension::http::Api::new(state));
        tokio::spawn(cache_extension::server::serve(
            listener,
            move |req| api.call(req),
            cache_extension::server::Limits {
                max_connections: 16,
                idle_timeout: cache_extension::server::IDLE_TIMEOUT,
                drain: Duration::ZERO,
            },
            std::future::pending(),
        ));
        url
    } else {
        "http://127.0.0.1:1".to_owned()
    };
    let local = source();
    let extension = ExtensionClient::new(&url, None, Duration::from_secs(2));
    let config = Config::from_lookup(|k| (k == "AWS_REGION").then(|| "us-east-1".to_owned())).unwrap();
    let config = Config { tenancy, ..config };
    let app = App::new(
        Backend::new(extension, engine(&local)),
        &config,
        Metrics::new("resolver-fn", Box::new(Buffer::default())),
    );
    Hop { app, local }
}

/// Status and matched ARN of each result, without the cache fields that differ by path.
fn outcomes(body: &Value) -> Vec<(u64, Option<String>, Option<String>)> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["status"].as_u64().unwrap(),
                r["profile"]["arn"].as_str().map(str::to_owned),
                r["error"]["code"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_batch_whose_canonical_form_outgrows_the_body_limit_answers_as_without_the_extension() {
    let query: serde_json::Map<String, Value> = keys().into_iter().map(|k| (k, json!("vvvv"))).collect();
    let queries: Vec<Value> = (0..100).map(|_| json!({"tags": query})).collect();
    let client_body = json!({"queries": queries}).to_string();
    let canonical: usize = queries
        .iter()
        .map(|q| {
            Query::from_json_bytes(q.to_string().as_bytes())
                .unwrap()
                .to_string()
                .len()
                + 1
        })
        .sum();
    assert!(client_body.len() <= MAX_BODY, "the client's body is within the limit");
    assert!(
        canonical > MAX_BODY,
        "the canonical batch is over it ({canonical} bytes)"
    );

    let event = v2("POST", "/v1/resolve/batch", "", Some(&client_body));
    let with = hop(true, None).await;
    let (status, body, _) = http(&with.app, &event).await;
    let without = hop(false, None).await;
    let (status_alone, body_alone, _) = http(&without.app, &event).await;
    assert_eq!((status, status_alone), (200, 200), "{body}");
    assert_eq!(outcomes(&body), outcomes(&body_alone));
    assert!(
        outcomes(&body)
            .iter()
            .all(|(s, a, _)| *s == 200 && a.as_deref() == Some(arn("wide").as_str()))
    );
    assert_eq!(
        with.local.calls(Operation::GetResources),
        0,
        "the extension answered every query, in several requests"
    );
}

#[tokio::test]
async fn a_query_that_tenant_pinning_takes_past_fifty_keys_answers_as_without_the_extension() {
    let tags: serde_json::Map<String, Value> = keys().into_iter().map(|k| (k, json!([]))).collect();
    assert_eq!(tags.len(), MAX_KEYS);
    let event = v2_jwt(&json!({"tags": tags}).to_string(), json!({"custom:tenant": "acme"}));
    let with = hop(true, tenancy()).await;
    let (status, body, _) = http(&with.app, &event).await;
    let without = hop(false, tenancy()).await;
    let (status_alone, body_alone, _) = http(&without.app, &event).await;
    assert_eq!((status, status_alone), (200, 200), "{body}");
    assert_eq!(body["profile"]["arn"], body_alone["profile"]["arn"]);
    assert_eq!(body["profile"]["arn"], arn("wide"));
}

#[tokio::test]
async fn a_direct_query_over_the_body_limit_answers_as_without_the_extension() {
    // Direct invokes may carry up to 6 MB; the extension takes 64 KiB.
    let values: Vec<String> = (0..20).map(|i| format!("{i:0>256}")).collect();
    let mut tags: serde_json::Map<String, Value> = keys().into_iter().skip(1).map(|k| (k, json!(values))).collect();
    tags.insert("A".into(), json!("vvvv"));
    let payload = json!({"tags": tags, "match": "all"});
    assert!(payload.to_string().len() > MAX_BODY);
    let with = hop(true, None).await;
    let answered = invoke(&with.app, &payload).await.unwrap();
    let without = hop(false, None).await;
    let alone = invoke(&without.app, &payload).await.unwrap();
    assert_eq!(answered["profiles"], alone["profiles"]);
}

#[tokio::test(flavor = "current_thread")]
async fn an_in_process_refresh_ends_within_the_invoke_that_needed_it() {
    let source = wide_source();
    let clock = MockClock::default();
    let local = engine_with(&source, clock.clone());
    let extension = ExtensionClient::new("http://127.0.0.1:1", None, Duration::from_millis(200));
    let config = Config::from_lookup(|k| (k == "AWS_REGION").then(|| "us-east-1".to_owned())).unwrap();
    let app = App::new(
        Backend::new(extension, local.clone()),
        &config,
        Metrics::new("resolver-fn", Box::new(Buffer::default())),
    );
    let deadline = std::time::SystemTime::now() + Duration::from_secs(30);
    let mut context = Context::default();
    context.deadline = deadline.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let payload = RawValue::from_string(json!({"tags": {"tenant": "acme"}}).to_string()).unwrap();
    app.handle(LambdaEvent::new(payload.clone(), context.clone()))
        .await
        .unwrap();
    // Expired (TTL 60 s, jittered ±10 %), and within the one TTL of stale-while-revalidate that
    // answers at once; past that the request would wait for the refresh instead.
    clock.advance(Duration::from_secs(90));
    let stale = app.handle(LambdaEvent::new(payload, context)).await.unwrap();
    let stale: serde_json::Value = serde_json::from_str(stale.get()).unwrap();
    assert_eq!(stale["cache"], "stale", "served at once from the old snapshot");
    // Nothing else has run since the invoke returned: the refresh ended inside it.
    assert_eq!(source.calls(Operation::GetResources), 2);
    assert_eq!(local.health()["us-east-1"].state, "fresh");
}
