//! Router tests: every route, status and error code, called with `oneshot`.

use super::*;
use crate::config::Auth;
use axum::http::Request as HttpRequest;
use futures::future;
use shared::Sources;
use shared::clock::MockClock;
use shared::config::EngineConfig;
use shared::source::memory::MemorySource;
use shared::source::{CatalogEntry, FailureKind, Operation, TaggedResource};
use tower::ServiceExt;

const TOKEN: &str = "test-token";

fn arn(id: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/{id}")
}

fn app_with(source: Arc<MemorySource>) -> Router {
    router(state_with(source))
}

fn state_with(source: Arc<MemorySource>) -> AppState {
    let tagged = [
        ("p1", "acme", "chat"),
        ("p2", "acme", "batch"),
        ("p3", "globex", "chat"),
    ]
    .map(|(id, tenant, app)| TaggedResource {
        arn: arn(id),
        tags: vec![("tenant".into(), tenant.into()), ("app".into(), app.into())],
    })
    .to_vec();
    let catalog = ["p1", "p2", "p3"]
        .map(|id| CatalogEntry {
            arn: arn(id),
            name: id.into(),
            status: Some("ACTIVE".into()),
            models: vec![],
        })
        .to_vec();
    source.set_region("us-east-1", tagged, catalog);
    let config = EngineConfig {
        home_region: "us-east-1".into(),
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        ttl: Duration::from_secs(60),
        max_stale: Duration::from_secs(3600),
        ssm_prefix: None,
        upstream_timeout: Duration::from_millis(200),
        snapshot_url: None,
        snapshot_fallback: shared::config::Fallback::Direct,
        account: None,
    };
    let sources = Sources {
        tags: source.clone(),
        catalog: source,
        routes: None,
        published: None,
    };
    let resolver = Resolver::new(config, sources, Arc::new(MockClock::default()), Arc::default());
    AppState::new(resolver, Auth::Token(TOKEN.into()))
}

fn app() -> Router {
    app_with(Arc::new(MemorySource::default()))
}

fn req(method: &str, uri: &str, body: &str) -> HttpRequest<Body> {
    HttpRequest::builder()
        .method(method)
        .uri(uri)
        .header(TOKEN_HEADER, TOKEN)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn send(app: &Router, request: HttpRequest<Body>) -> (u16, serde_json::Value) {
    let resp = app.clone().oneshot(request).await.unwrap();
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "application/json",
        "every answer is JSON"
    );
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn code(app: &Router, request: HttpRequest<Body>) -> (u16, String) {
    let (status, body) = send(app, request).await;
    (status, body["error"]["code"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn post_resolve_answers_the_one_profile_with_its_details() {
    let (status, body) = send(
        &app(),
        req("POST", "/v1/resolve", r#"{"tags": {"tenant": "acme", "app": "chat"}}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["profile"]["arn"], arn("p1"));
    assert_eq!(body["profile"]["id"], "p1");
    assert_eq!(body["profile"]["accountId"], "123456789012");
    assert_eq!(body["profile"]["tags"]["tenant"], "acme");
    assert_eq!(body["source"], "tagging-api");
    assert_eq!(body["cache"], "miss");
    assert!(body["ageSeconds"].is_number());
}

#[tokio::test]
async fn get_resolve_reads_tag_parameters() {
    let app = app();
    let (status, body) = send(&app, req("GET", "/v1/resolve?tag:tenant=globex&tag:app=chat", "")).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p3").as_str()))
    );
    let (status, body) = send(&app, req("GET", "/v1/resolve?tag:tenant=acme&match=all", "")).await;
    assert_eq!(status, 200);
    assert_eq!(body["profiles"].as_array().unwrap().len(), 2);
    assert_eq!(body["cache"], "hit");
}

#[tokio::test]
async fn no_match_ambiguity_and_empty_lists_follow_the_contract() {
    let app = app();
    assert_eq!(
        code(&app, req("POST", "/v1/resolve", r#"{"tags": {"tenant": "nobody"}}"#)).await,
        (404, "NoMatch".into())
    );
    let (status, body) = send(&app, req("POST", "/v1/resolve", r#"{"tags": {"tenant": "acme"}}"#)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("AmbiguousMatch")));
    assert_eq!(body["error"]["candidates"], serde_json::json!([arn("p1"), arn("p2")]));
    let (status, body) = send(
        &app,
        req(
            "POST",
            "/v1/resolve",
            r#"{"tags": {"tenant": "nobody"}, "match": "all"}"#,
        ),
    )
    .await;
    assert_eq!((status, body["profiles"].as_array().map(Vec::len)), (200, Some(0)));
}

#[tokio::test]
async fn invalid_queries_are_400_naming_the_field() {
    let app = app();
    for (body, field) in [
        ("{", "body"),
        (r#"{"tags": {"k": 1}}"#, "tags.k"),
        (r#"{"tags": {"k": "v"}, "match": "some"}"#, "match"),
        (r#"{"tags": {"k": "v"}, "region": "ap-south-1"}"#, "region"),
        (r#"{"tags": {"k": "v"}, "extra": true}"#, "extra"),
    ] {
        let (status, resp) = send(&app, req("POST", "/v1/resolve", body)).await;
        assert_eq!(
            (status, resp["error"]["code"].as_str()),
            (400, Some("InvalidQuery")),
            "{body}"
        );
        assert_eq!(resp["error"]["field"], field, "{body}");
    }
    let (status, resp) = send(&app, req("GET", "/v1/resolve?tag:k=v&colour=red", "")).await;
    assert_eq!((status, resp["error"]["field"].as_str()), (400, Some("colour")));
}

#[tokio::test]
async fn batch_answers_each_query_with_its_own_status() {
    let body =
        r#"{"queries": [{"tags": {"tenant": "acme", "app": "chat"}}, {"tags": {"tenant": "acme"}}, {"tags": 5}]}"#;
    let (status, resp) = send(&app(), req("POST", "/v1/resolve/batch", body)).await;
    assert_eq!(status, 200);
    let statuses: Vec<u64> = resp["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 409, 400]);
    assert_eq!(resp["results"][0]["profile"]["arn"], arn("p1"));
    assert_eq!(resp["results"][2]["error"]["field"], "queries[2].tags");
    let empty = code(&app(), req("POST", "/v1/resolve/batch", r#"{"queries": []}"#)).await;
    assert_eq!(empty, (400, "InvalidQuery".into()));
}

#[tokio::test]
async fn a_missing_token_is_401_and_a_wrong_one_403() {
    let app = app();
    let no_token = HttpRequest::builder().uri("/v1/stats").body(Body::empty()).unwrap();
    assert_eq!(code(&app, no_token).await, (401, "Unauthorized".into()));
    let wrong = HttpRequest::builder()
        .uri("/v1/stats")
        .header(TOKEN_HEADER, "test-tokeN")
        .body(Body::empty())
        .unwrap();
    assert_eq!(code(&app, wrong).await, (403, "Forbidden".into()));
    let twice = HttpRequest::builder()
        .uri("/v1/stats")
        .header(TOKEN_HEADER, "wrong")
        .header(TOKEN_HEADER, TOKEN)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        code(&app, twice).await.0,
        403,
        "two token headers are not one right token"
    );
    let unknown = HttpRequest::builder().uri("/v1/nope").body(Body::empty()).unwrap();
    assert_eq!(
        code(&app, unknown).await.0,
        401,
        "unknown /v1 paths are not revealed without a token"
    );
}

#[tokio::test]
async fn health_needs_no_token_and_reports_each_region() {
    let app = app();
    let (status, body) = send(&app, HttpRequest::builder().uri("/health").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    assert_eq!(body["regions"]["us-east-1"]["ready"], false);
    send(&app, req("POST", "/v1/resolve", r#"{"tags": {"tenant": "globex"}}"#)).await;
    let (_, body) = send(&app, HttpRequest::builder().uri("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(body["regions"]["us-east-1"]["ready"], true);
    assert_eq!(body["regions"]["us-east-1"]["profiles"], 3);
}

#[tokio::test]
async fn a_proxied_request_is_400() {
    let mut r = req("GET", "/v1/stats", "");
    r.headers_mut()
        .insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
    assert_eq!(code(&app(), r).await, (400, "InvalidQuery".into()));
    let health = HttpRequest::builder()
        .uri("/health")
        .header("x-forwarded-for", "1.2.3.4")
        .body(Body::empty())
        .unwrap();
    assert_eq!(code(&app(), health).await.0, 400);
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let big = format!(r#"{{"tags": {{"k": "{}"}}}}"#, "v".repeat(MAX_BODY));
    assert_eq!(
        code(&app(), req("POST", "/v1/resolve", &big)).await,
        (413, "PayloadTooLarge".into())
    );
    let mut chunked = req("POST", "/v1/resolve/batch", "");
    *chunked.body_mut() = Body::from(vec![b' '; MAX_BODY + 1]);
    chunked.headers_mut().remove(header::CONTENT_LENGTH);
    assert_eq!(code(&app(), chunked).await, (413, "PayloadTooLarge".into()));
}

#[tokio::test]
async fn the_reverse_lookup_answers_a_percent_encoded_arn_or_an_id_and_404s_the_unknown() {
    let app = app();
    let encoded = arn("p1").replace(':', "%3A").replace('/', "%2F");
    let (status, body) = send(&app, req("GET", &format!("/v1/profiles/{encoded}"), "")).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p1").as_str()))
    );
    let (status, body) = send(&app, req("GET", &format!("/v1/profiles/{}", arn("p1")), "")).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p1").as_str())),
        "unencoded too"
    );
    let id = arn("p1").rsplit('/').next().unwrap().to_owned();
    let (status, body) = send(&app, req("GET", &format!("/v1/profiles/{id}?region=us-east-1"), "")).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p1").as_str()))
    );
    let (status, body) = send(&app, req("GET", "/v1/profiles/nosuchprofile", "")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("NoMatch")));
    assert!(body["error"]["message"].as_str().unwrap().contains("nosuchprofile"));
    let (status, body) = send(&app, req("GET", "/v1/profiles/not%20an%20id", "")).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("profile")));
    let (status, body) = send(&app, req("GET", "/v1/profiles/abc?region=ap-south-1", "")).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("region")));
    let mut no_token = req("GET", &format!("/v1/profiles/{encoded}"), "");
    no_token.headers_mut().remove(TOKEN_HEADER);
    assert_eq!(code(&app, no_token).await.0, 401);
}

#[tokio::test]
async fn oversized_targets_and_headers_get_json_414_and_431() {
    let long = format!("/v1/resolve?tag:k={}", "v".repeat(guard::MAX_URI));
    assert_eq!(code(&app(), req("GET", &long, "")).await, (414, "UriTooLong".into()));
    let mut many = req("GET", "/v1/resolve?tag:k=v", "");
    for i in 0..guard::MAX_HEADERS {
        many.headers_mut().insert(
            header::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
            HeaderValue::from_static("v"),
        );
    }
    assert_eq!(code(&app(), many).await, (431, "HeadersTooLarge".into()));
    let mut big = req("GET", "/v1/resolve?tag:k=v", "");
    let value = "a".repeat(guard::MAX_HEADER_BYTES);
    big.headers_mut()
        .insert("x-big", HeaderValue::from_str(&value).unwrap());
    assert_eq!(code(&app(), big).await, (431, "HeadersTooLarge".into()));
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_arrives_is_408_after_the_body_deadline() {
    let started = tokio::time::Instant::now();
    let mut stalled = req("POST", "/v1/resolve", "");
    let never = futures::stream::pending::<Result<Bytes, std::io::Error>>();
    *stalled.body_mut() = Body::from_stream(never);
    stalled
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("100"));
    let (status, body) = send(&app(), stalled).await;
    assert_eq!((status, body["error"]["code"].as_str()), (408, Some("RequestTimeout")));
    assert_eq!(started.elapsed(), BODY_TIMEOUT);
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let app = app();
    assert_eq!(code(&app, req("GET", "/nope", "")).await, (404, "NotFound".into()));
    assert_eq!(code(&app, req("GET", "/v1/nope", "")).await, (404, "NotFound".into()));
    assert_eq!(
        code(&app, req("DELETE", "/v1/resolve", "")).await,
        (405, "MethodNotAllowed".into())
    );
    assert_eq!(
        code(&app, req("GET", "/v1/resolve/batch", "")).await,
        (405, "MethodNotAllowed".into())
    );
    assert_eq!(
        code(&app, req("GET", "/v1/refresh", "")).await,
        (405, "MethodNotAllowed".into())
    );
    assert_eq!(
        code(&app, req("POST", "/health", "")).await,
        (405, "MethodNotAllowed".into())
    );
}

#[tokio::test]
async fn refresh_is_accepted_once_per_five_seconds() {
    let app = app();
    let (status, body) = send(&app, req("POST", "/v1/refresh", r#"{"region": "eu-west-1"}"#)).await;
    assert_eq!((status, body["regions"][0].as_str()), (202, Some("eu-west-1")));
    assert_eq!(
        code(&app, req("POST", "/v1/refresh", "")).await,
        (429, "TooManyRequests".into())
    );
}

#[tokio::test]
async fn refresh_rejects_regions_outside_the_allow_list() {
    let (status, body) = send(&app(), req("POST", "/v1/refresh", r#"{"region": "ap-south-1"}"#)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("region")));
}

#[tokio::test]
async fn stats_count_hits_misses_and_upstream_calls() {
    let app = app();
    for _ in 0..3 {
        send(&app, req("POST", "/v1/resolve", r#"{"tags": {"tenant": "globex"}}"#)).await;
    }
    let (status, body) = send(&app, req("GET", "/v1/stats", "")).await;
    assert_eq!(status, 200);
    assert_eq!((body["misses"].as_u64(), body["hits"].as_u64()), (Some(1), Some(2)));
    assert_eq!(body["refreshes"], 1);
    assert_eq!(body["regions"]["us-east-1"]["profiles"], 3);
    assert!(body["upstreamCalls"].is_object());
}

#[tokio::test]
async fn an_unavailable_upstream_is_503_naming_the_operation() {
    let source = Arc::new(MemorySource::default());
    let app = app_with(source.clone());
    source.fail(Operation::GetResources, Some(FailureKind::Throttled));
    let (status, body) = send(&app, req("POST", "/v1/resolve", r#"{"tags": {"tenant": "globex"}}"#)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("UpstreamUnavailable"))
    );
    assert_eq!(body["error"]["operation"], "GetResources");
}

/// Status, content type, `Retry-After` and body.
async fn parts<B>(resp: http::Response<B>) -> (u16, Option<HeaderValue>, Option<HeaderValue>, Bytes)
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let status = resp.status().as_u16();
    let kind = resp.headers().get(header::CONTENT_TYPE).cloned();
    let retry = resp.headers().get(header::RETRY_AFTER).cloned();
    let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap();
    (status, kind, retry, body.to_bytes())
}

#[tokio::test]
async fn answers_worth_retrying_say_when_on_both_paths_and_no_other_answer_does() {
    let healthy = Arc::new(Api::new(state_with(Arc::new(MemorySource::default()))));
    let not_found = parts(healthy.call(req("GET", "/v1/resolve?tag:tenant=nobody", "")).await).await;
    assert_eq!((not_found.0, not_found.2), (404, None));

    let source = Arc::new(MemorySource::default());
    let api = Arc::new(Api::new(state_with(source.clone())));
    source.fail(Operation::GetResources, Some(FailureKind::Throttled));
    let get = || req("GET", "/v1/resolve?tag:tenant=globex", "");
    let direct = parts(api.call(get()).await).await;
    let routed = parts(api.router.clone().oneshot(get()).await.unwrap()).await;
    assert_eq!((direct.0, direct.2.clone()), (503, Some(HeaderValue::from(1))));
    assert_eq!(direct, routed);

    // A refresh refused by the rate limit says how long is left of its 5 s.
    let refresh = || req("POST", "/v1/refresh", "");
    assert_eq!(parts(api.call(refresh()).await).await.0, 202);
    let (status, _, retry, _) = parts(api.call(refresh()).await).await;
    let seconds: u64 = retry.unwrap().to_str().unwrap().parse().unwrap();
    assert_eq!(status, 429);
    assert!((1..=5).contains(&seconds), "{seconds}");
}

#[tokio::test]
async fn the_direct_path_answers_byte_for_byte_as_the_router_does() {
    let api = Arc::new(Api::new(state_with(Arc::new(MemorySource::default()))));
    let long = format!("/v1/resolve?tag:tenant={}", "a".repeat(MAX_URI));
    let requests: Vec<Box<dyn Fn() -> HttpRequest<Body>>> = vec![
        Box::new(|| req("GET", "/v1/resolve?tag:tenant=acme&tag:app=chat", "")),
        Box::new(|| req("GET", "/v1/resolve?tag:tenant=acme&match=all", "")),
        Box::new(|| req("GET", "/v1/resolve?tag:tenant=acme", "")),
        Box::new(|| req("GET", "/v1/resolve?tag:tenant=nobody", "")),
        Box::new(|| req("GET", "/v1/resolve?tag:tenant=a%20b+c&region=eu-west-1", "")),
        Box::new(|| req("GET", "/v1/resolve?bogus=1", "")),
        Box::new(|| req("GET", "/v1/resolve?tag:tenant=%FF", "")),
        Box::new(|| req("GET", "/v1/resolve?tag:tenant=acme&region=mars-1", "")),
        Box::new(|| req("POST", "/v1/resolve", r#"{"tags": {"tenant": "globex"}}"#)),
        Box::new(|| req("POST", "/v1/resolve", r#"{"tags": {"tenant": "acme"}, "match": "all"}"#)),
        Box::new(|| req("POST", "/v1/resolve", r#"{"tags": {"tenant": 7}}"#)),
        Box::new(|| req("POST", "/v1/resolve", "not json")),
        Box::new(|| req("POST", "/v1/resolve", &" ".repeat(MAX_BODY + 1))),
        Box::new(|| {
            let mut r = req("GET", "/v1/resolve?tag:tenant=acme&tag:app=chat", "");
            r.headers_mut().remove(TOKEN_HEADER);
            r
        }),
        Box::new(|| {
            let mut r = req("POST", "/v1/resolve", r#"{"tags": {"tenant": "globex"}}"#);
            r.headers_mut().insert(TOKEN_HEADER, HeaderValue::from_static("wrong"));
            r
        }),
        Box::new(|| {
            let mut r = req("GET", "/v1/resolve?tag:tenant=acme&tag:app=chat", "");
            r.headers_mut()
                .insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
            r
        }),
        Box::new(move || req("GET", &long, "")),
        Box::new(|| req("DELETE", "/v1/resolve", "")),
        Box::new(|| req("GET", "/health", "")),
    ];
    // Loaded first, so that both paths answer from the same snapshot (`hit`).
    assert_eq!(
        parts(api.call(req("GET", "/v1/resolve?tag:tenant=acme", "")).await)
            .await
            .0,
        409
    );
    // Twice: the second round's repeated answers come from what the thread remembers.
    for round in 0..2 {
        let mut statuses = Vec::new();
        for make in &requests {
            let direct = parts(api.call(make()).await).await;
            let routed = parts(api.router.clone().oneshot(make()).await.unwrap()).await;
            assert_eq!(direct, routed, "round {round}: {:?}", make().uri());
            statuses.push(direct.0);
        }
        assert_eq!(
            statuses,
            [
                200, 200, 409, 404, 404, 400, 400, 400, 200, 200, 400, 400, 413, 401, 403, 400, 414, 405, 200
            ],
            "the cases cover answers and every guard"
        );
    }
}

#[tokio::test]
async fn a_repeated_get_hit_and_a_refusal_are_answered_without_a_future() {
    let api = Arc::new(Api::new(state_with(Arc::new(MemorySource::default()))));
    let hit = || req("GET", "/v1/resolve?tag:tenant=acme&tag:app=chat", "");
    // The first answer is computed (and remembered), the next one is ready at once.
    let first = api.call(hit());
    assert!(
        matches!(first, future::Either::Right(_)),
        "the first answer needs the resolver"
    );
    assert_eq!(parts(first.await).await.0, 200);
    let again = api.call(hit());
    assert!(matches!(again, future::Either::Left(_)), "a remembered hit is ready");
    let routed = parts(api.router.clone().oneshot(hit()).await.unwrap()).await;
    assert_eq!(parts(again.await).await, routed);

    let mut unauthorized = hit();
    unauthorized.headers_mut().remove(TOKEN_HEADER);
    let refused = api.call(unauthorized);
    assert!(matches!(refused, future::Either::Left(_)), "a refusal is ready");
    assert_eq!(parts(refused.await).await.0, 401);
    // A POST reads its body first, and a miss needs the resolver.
    let post = api.call(req(
        "POST",
        "/v1/resolve",
        r#"{"tags": {"tenant": "acme"}, "match": "all"}"#,
    ));
    assert!(matches!(post, future::Either::Right(_)));
    assert_eq!(parts(post.await).await.0, 200);
    let miss = api.call(req("GET", "/v1/resolve?tag:tenant=nobody", ""));
    assert!(matches!(miss, future::Either::Right(_)));
    assert_eq!(parts(miss.await).await.0, 404);
}
