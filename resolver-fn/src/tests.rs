//! Handler tests on the real example events of the `aws_lambda_events` crate, modified per case.
//! The extension URL points at a closed port, so answers come from the in-process engine over
//! an in-memory source.

use super::*;
use crate::backend::ExtensionClient;
use crate::config::Tenancy;
use lambda_runtime::Context;
use parking_lot::Mutex;
use serde_json::json;
use shared::Sources;
use shared::clock::MockClock;
use shared::config::EngineConfig;
use shared::resolver::Resolver;
use shared::source::memory::MemorySource;
use shared::source::{CatalogEntry, FailureKind, Operation, TaggedResource};
use std::sync::Arc;
use std::time::Duration;

fn arn(id: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/{id}")
}

fn fixture(name: &str) -> Value {
    harness::harness::fixtures::event(name)
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct World {
    app: App,
    emf: Buffer,
}

fn world(tenancy: Option<Tenancy>) -> World {
    world_with(tenancy, false)
}

/// As [`world`]; with `failing_routes`, routes are on and every read of them fails.
fn world_with(tenancy: Option<Tenancy>, failing_routes: bool) -> World {
    let source = Arc::new(MemorySource::default());
    let rows = [
        ("p1", "acme", "chat"),
        ("p2", "acme", "batch"),
        ("p3", "globex", "chat"),
    ];
    let tagged = rows
        .map(|(id, t, a)| TaggedResource {
            arn: arn(id),
            tags: vec![("tenant".into(), t.into()), ("app".into(), a.into())],
        })
        .to_vec();
    let catalog = rows
        .map(|(id, _, _)| CatalogEntry {
            arn: arn(id),
            name: id.into(),
            status: Some("ACTIVE".into()),
            models: vec![],
        })
        .to_vec();
    source.set_region("us-east-1", tagged, catalog);
    let engine = EngineConfig {
        home_region: "us-east-1".into(),
        regions: vec!["us-east-1".into()],
        ttl: Duration::from_secs(60),
        max_stale: Duration::from_secs(3600),
        ssm_prefix: failing_routes.then(|| "/routes/".to_owned()),
        upstream_timeout: Duration::from_millis(500),
        snapshot_url: None,
        snapshot_fallback: shared::config::Fallback::Direct,
        account: None,
    };
    if failing_routes {
        source.fail(Operation::GetParametersByPath, Some(FailureKind::Unavailable));
    }
    let sources = Sources {
        tags: source.clone(),
        catalog: source.clone(),
        routes: failing_routes.then_some(source as Arc<dyn shared::source::RouteSource>),
        published: None,
    };
    let local = Resolver::new(engine.clone(), sources, Arc::new(MockClock::default()), Arc::default());
    let extension = ExtensionClient::new("http://127.0.0.1:1", None, Duration::from_millis(200));
    let config = Config::from_lookup(|k| (k == "AWS_REGION").then(|| "us-east-1".to_owned())).unwrap();
    let config = Config { tenancy, ..config };
    let emf = Buffer::default();
    let app = App::new(
        Backend::new(extension, local),
        &config,
        Metrics::new("resolver-fn", Box::new(emf.clone())),
    );
    World { app, emf }
}

fn tenancy() -> Option<Tenancy> {
    Some(Tenancy {
        tag: "tenant".into(),
        claim: "custom:tenant".into(),
    })
}

async fn invoke(app: &App, payload: &Value) -> Result<Value, FnError> {
    invoke_within(app, payload, Duration::from_secs(30)).await
}

/// An invoke whose deadline is `left` from now.
async fn invoke_within(app: &App, payload: &Value, left: Duration) -> Result<Value, FnError> {
    invoke_as(app, payload, left, None).await
}

/// An invoke whose deadline is `left` from now, carrying Lambda's tenant id when given (tenant
/// isolation mode).
async fn invoke_as(app: &App, payload: &Value, left: Duration, tenant_id: Option<&str>) -> Result<Value, FnError> {
    let raw = RawValue::from_string(payload.to_string()).unwrap();
    let mut context = Context::default();
    context.tenant_id = tenant_id.map(str::to_owned);
    context.deadline = (std::time::SystemTime::now() + left)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    app.handle(LambdaEvent::new(raw, context))
        .await
        .map(|r| serde_json::from_str(r.get()).unwrap())
}

/// An HTTP event's status and parsed body.
async fn http(app: &App, event: &Value) -> (u16, Value, Value) {
    let resp = invoke(app, event).await.expect("HTTP events always succeed");
    let status = resp["statusCode"].as_u64().unwrap() as u16;
    let body = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    (status, body, resp)
}

fn v2(method: &str, path: &str, query: &str, body: Option<&str>) -> Value {
    let mut e = fixture("example-apigw-v2-request-no-authorizer.json");
    e["rawPath"] = json!(path);
    e["rawQueryString"] = json!(query);
    e["requestContext"]["http"]["method"] = json!(method);
    e["requestContext"]["http"]["path"] = json!(path);
    e["body"] = body.map_or(Value::Null, |b| json!(b));
    e["isBase64Encoded"] = json!(false);
    e
}

fn v2_jwt(body: &str, claims: Value) -> Value {
    let mut e = fixture("example-apigw-v2-request-jwt-authorizer.json");
    e["rawPath"] = json!("/v1/resolve");
    e["rawQueryString"] = json!("");
    e["requestContext"]["http"]["method"] = json!("POST");
    e["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
    e["body"] = json!(body);
    e["isBase64Encoded"] = json!(false);
    e
}

fn v1(method: &str, path: &str, params: Value, body: Option<&str>) -> Value {
    let mut e = fixture("example-apigw-request.json");
    e["httpMethod"] = json!(method);
    e["path"] = json!(path);
    e["multiValueQueryStringParameters"] = params;
    e["queryStringParameters"] = Value::Null;
    e["body"] = body.map_or(Value::Null, |b| json!(b));
    e
}

#[tokio::test]
async fn a_direct_invoke_returns_the_answer() {
    let w = world(None);
    let answer = invoke(&w.app, &json!({"tags": {"tenant": "acme", "app": "chat"}}))
        .await
        .unwrap();
    assert_eq!(answer["profile"]["arn"], arn("p1"));
    assert_eq!(answer["source"], "tagging-api");
}

#[tokio::test]
async fn direct_invoke_failures_carry_the_stable_error_type() {
    let w = world(None);
    let cases = [
        (json!({"tags": {"tenant": "nobody"}}), "NoMatch"),
        (json!({"tags": {"tenant": "acme"}}), "AmbiguousMatch"),
        (json!({"tags": {"tenant": 1}}), "InvalidQuery"),
        (json!({"tags": {"a": "b"}, "region": "mars-1"}), "InvalidQuery"),
        (json!("just a string"), "InvalidQuery"),
        (json!({"queries": []}), "InvalidQuery"),
    ];
    for (payload, error_type) in cases {
        let err = invoke(&w.app, &payload).await.unwrap_err();
        assert_eq!(err.error_type, error_type, "{payload}");
        let diagnostic: Diagnostic = err.into();
        assert_eq!(diagnostic.error_type, error_type);
    }
}

#[tokio::test]
async fn an_ambiguous_direct_invoke_names_the_candidates_in_its_message() {
    let w = world(None);
    let err = invoke(&w.app, &json!({"tags": {"tenant": "acme"}})).await.unwrap_err();
    assert!(
        err.message.contains(&arn("p1")) && err.message.contains(&arn("p2")),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn an_unknown_event_shape_is_invalid_query() {
    let w = world(None);
    let err = invoke(&w.app, &fixture("example-s3-event.json")).await.unwrap_err();
    assert_eq!(err.error_type, "InvalidQuery");
    assert!(err.message.contains("Records"), "{}", err.message);
}

#[tokio::test]
async fn a_direct_batch_answers_each_query() {
    let w = world(None);
    let answer = invoke(
        &w.app,
        &json!({"queries": [{"tags": {"tenant": "globex"}}, {"tags": {"tenant": "x"}}]}),
    )
    .await
    .unwrap();
    assert_eq!(answer["results"][0]["status"], 200);
    assert_eq!(answer["results"][1]["error"]["code"], "NoMatch");
}

#[tokio::test]
async fn http_api_v2_get_and_post_resolve() {
    let w = world(None);
    let (status, body, resp) = http(&w.app, &v2("GET", "/v1/resolve", "tag:tenant=acme&tag:app=chat", None)).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p1").as_str()))
    );
    assert_eq!(resp["headers"]["content-type"], "application/json");
    let (status, body, _) = http(
        &w.app,
        &v2(
            "POST",
            "/prod/v1/resolve",
            "",
            Some(r#"{"tags": {"tenant": "globex"}}"#),
        ),
    )
    .await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p3").as_str()))
    );
}

#[tokio::test]
async fn http_errors_keep_their_status_and_json_body() {
    let w = world(None);
    let cases = [
        (
            v2("POST", "/v1/resolve", "", Some(r#"{"tags": {"tenant": "acme"}}"#)),
            409,
            "AmbiguousMatch",
        ),
        (
            v2("POST", "/v1/resolve", "", Some(r#"{"tags": {"tenant": "zz"}}"#)),
            404,
            "NoMatch",
        ),
        (v2("POST", "/v1/resolve", "", Some("{")), 400, "InvalidQuery"),
        (v2("GET", "/v1/resolve", "colour=red", None), 400, "InvalidQuery"),
        (v2("GET", "/v1/other", "", None), 404, "NotFound"),
        (v2("PUT", "/v1/resolve", "", None), 405, "MethodNotAllowed"),
        (v2("GET", "/v1/resolve/batch", "", None), 405, "MethodNotAllowed"),
        (
            v2("POST", "/v1/resolve", "", Some(&"x".repeat(70_000))),
            413,
            "PayloadTooLarge",
        ),
    ];
    for (event, want_status, code) in cases {
        let (status, body, _) = http(&w.app, &event).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (want_status, Some(code)),
            "{}",
            event["rawPath"]
        );
    }
}

#[tokio::test]
async fn http_batch_answers_each_query_with_its_own_status() {
    let w = world(None);
    let body = r#"{"queries": [{"tags": {"tenant": "globex"}}, {"tags": {"tenant": "acme"}}]}"#;
    let (status, answer, _) = http(&w.app, &v2("POST", "/v1/resolve/batch", "", Some(body))).await;
    assert_eq!(status, 200);
    assert_eq!(answer["results"][0]["status"], 200);
    assert_eq!(answer["results"][1]["status"], 409);
}

#[tokio::test]
async fn base64_bodies_are_decoded() {
    use base64::Engine as _;
    let w = world(None);
    let mut event = v2("POST", "/v1/resolve", "", None);
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(r#"{"tags": {"tenant": "globex"}}"#));
    event["isBase64Encoded"] = json!(true);
    let (status, body, _) = http(&w.app, &event).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p3").as_str()))
    );
    event["body"] = json!("not base64!!");
    let (status, body, _) = http(&w.app, &event).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("body")));
}

#[tokio::test]
async fn rest_api_v1_reads_multi_value_parameters_behind_a_stage() {
    let w = world(None);
    let event = v1(
        "GET",
        "/prod/v1/resolve",
        json!({"tag:tenant": ["acme"], "tag:app": ["chat", "batch"], "match": ["all"]}),
        None,
    );
    let (status, body, resp) = http(&w.app, &event).await;
    assert_eq!(status, 200);
    assert_eq!(body["profiles"].as_array().unwrap().len(), 2);
    assert_eq!(resp["statusCode"], 200);
    assert!(resp.get("multiValueHeaders").is_some());
}

#[tokio::test]
async fn a_function_url_event_is_answered_in_its_format() {
    let w = world(None);
    let mut event = v2("POST", "/v1/resolve", "", Some(r#"{"tags": {"tenant": "globex"}}"#));
    event["requestContext"]["domainName"] = json!("abcdefg.lambda-url.us-east-1.on.aws");
    assert_eq!(event::classify(&event), Kind::Http(Flavor::FunctionUrl));
    let (status, body, _) = http(&w.app, &event).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p3").as_str()))
    );
}

#[tokio::test]
async fn alb_events_get_a_status_description_and_their_header_style() {
    let w = world(None);
    let mut event = fixture("example-alb-lambda-target-request-multivalue-headers.json");
    event["path"] = json!("/v1/resolve");
    event["httpMethod"] = json!("GET");
    event["multiValueQueryStringParameters"] = json!({"tag%3Atenant": ["globex"], "tag:app": ["chat"]});
    let (status, body, resp) = http(&w.app, &event).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p3").as_str()))
    );
    assert_eq!(resp["statusDescription"], "200 OK");
    assert_eq!(resp["multiValueHeaders"]["content-type"][0], "application/json");
}

#[tokio::test]
async fn a_get_from_an_alb_without_multi_value_headers_is_refused_but_post_works() {
    let w = world(None);
    let mut event = fixture("example-alb-lambda-target-request-headers-only.json");
    event["path"] = json!("/v1/resolve");
    event["httpMethod"] = json!("GET");
    event["queryStringParameters"] = json!({"tag%3Atenant": "globex", "tag:app": "chat"});
    let (status, body, _) = http(&w.app, &event).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("InvalidQuery")));
    assert_eq!(body["error"]["field"], "queryStringParameters");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("POST") && message.contains("multi-value"), "{message}");

    event["httpMethod"] = json!("POST");
    event["queryStringParameters"] = json!({});
    event["body"] = json!(r#"{"tags": {"tenant": "globex", "app": "chat"}}"#);
    event["isBase64Encoded"] = json!(false);
    let (status, body, resp) = http(&w.app, &event).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p3").as_str()))
    );
    assert_eq!(resp["headers"]["content-type"], "application/json");
}

#[tokio::test]
async fn the_reverse_lookup_answers_direct_invokes_and_http_with_a_percent_encoded_arn() {
    let w = world(None);
    let answer = invoke(&w.app, &json!({"profile": arn("p2")})).await.unwrap();
    assert_eq!(answer["profile"]["arn"], arn("p2"));
    assert_eq!(answer["profile"]["tags"]["app"], "batch");
    let by_id = invoke(&w.app, &json!({"profile": "p3", "region": "us-east-1"}))
        .await
        .unwrap();
    assert_eq!(by_id["profile"]["arn"], arn("p3"));
    let unknown = invoke(&w.app, &json!({"profile": "nosuch"})).await.unwrap_err();
    assert_eq!(unknown.error_type, "NoMatch");
    assert!(unknown.message.contains("nosuch"), "{}", unknown.message);
    let bad = invoke(&w.app, &json!({"profile": "arn:aws:s3:::bucket"}))
        .await
        .unwrap_err();
    assert_eq!(bad.error_type, "InvalidQuery");

    let encoded = arn("p1").replace(':', "%3A").replace('/', "%2F");
    let (status, body, _) = http(&w.app, &v2("GET", &format!("/prod/v1/profiles/{encoded}"), "", None)).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p1").as_str()))
    );
    let (status, body, _) = http(
        &w.app,
        &v1("GET", "/v1/profiles/p1", json!({"region": ["us-east-1"]}), None),
    )
    .await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p1").as_str()))
    );
    let (status, body, _) = http(&w.app, &v2("GET", "/v1/profiles/p1", "region=ap-south-1", None)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("region")));
}

#[tokio::test]
async fn under_tenant_isolation_another_tenants_profile_looks_unknown() {
    let w = world(tenancy());
    let lookup = |id: &str| {
        let mut e = fixture("example-apigw-v2-request-jwt-authorizer.json");
        e["rawPath"] = json!(format!(
            "/v1/profiles/{}",
            arn(id).replace(':', "%3A").replace('/', "%2F")
        ));
        e["rawQueryString"] = json!("");
        e["requestContext"]["http"]["method"] = json!("GET");
        e["requestContext"]["authorizer"]["jwt"]["claims"] = json!({"custom:tenant": "globex"});
        e["body"] = Value::Null;
        e
    };
    let (status, own, _) = http(&w.app, &lookup("p3")).await;
    assert_eq!(
        (status, own["profile"]["arn"].as_str()),
        (200, Some(arn("p3").as_str()))
    );
    let (status, other, _) = http(&w.app, &lookup("p1")).await;
    let (_, unknown, _) = http(&w.app, &lookup("nope")).await;
    assert_eq!((status, other["error"]["code"].as_str()), (404, Some("NoMatch")));
    assert_eq!(
        other["error"]["message"].as_str().unwrap().replace(&arn("p1"), "X"),
        unknown["error"]["message"].as_str().unwrap().replace(&arn("nope"), "X"),
        "another tenant's profile and an unknown one cannot be told apart"
    );
    // Not even while the routes, which an unknown profile falls through to, cannot be read.
    let w = world_with(tenancy(), true);
    let (other, _, _) = http(&w.app, &lookup("p1")).await;
    let (unknown, body, _) = http(&w.app, &lookup("nope")).await;
    assert_eq!((other, unknown), (404, 404), "{body}");
}

#[tokio::test]
async fn tenant_isolation_pins_the_query_to_the_claim() {
    let w = world(tenancy());
    let claims = json!({"custom:tenant": "globex"});
    let (status, body, _) = http(&w.app, &v2_jwt(r#"{"tags": {"app": "chat"}}"#, claims.clone())).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p3").as_str())),
        "forced to globex, not ambiguous"
    );
    let (status, _, _) = http(
        &w.app,
        &v2_jwt(r#"{"tags": {"tenant": "globex", "app": "chat"}}"#, claims.clone()),
    )
    .await;
    assert_eq!(status, 200, "naming one's own tenant is fine");
    let (status, body, _) = http(
        &w.app,
        &v2_jwt(r#"{"tags": {"tenant": "acme", "app": "chat"}}"#, claims.clone()),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("Forbidden")));
    let (status, _, _) = http(&w.app, &v2_jwt(r#"{"tags": {"tenant": [], "app": "chat"}}"#, claims)).await;
    assert_eq!(status, 403, "any tenant is another tenant");
}

#[tokio::test]
async fn tenant_isolation_without_the_claim_is_401() {
    let w = world(tenancy());
    let (status, body, _) = http(&w.app, &v2_jwt(r#"{"tags": {"app": "chat"}}"#, json!({"sub": "x"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("Unauthorized")));
    let (status, _, _) = http(
        &w.app,
        &v2("POST", "/v1/resolve", "", Some(r#"{"tags": {"app": "chat"}}"#)),
    )
    .await;
    assert_eq!(status, 401, "no authorizer at all");
}

#[tokio::test]
async fn tenant_isolation_checks_each_query_of_a_batch() {
    let w = world(tenancy());
    let mut event = v2_jwt(
        r#"{"queries": [{"tags": {"app": "chat"}}, {"tags": {"tenant": "acme", "app": "chat"}}]}"#,
        json!({"custom:tenant": "globex"}),
    );
    event["rawPath"] = json!("/v1/resolve/batch");
    let (status, body, _) = http(&w.app, &event).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"][0]["profile"]["arn"], arn("p3"));
    assert_eq!(body["results"][1]["status"], 403);
    assert_eq!(body["results"][1]["error"]["code"], "Forbidden");
}

#[tokio::test]
async fn tenant_claims_come_from_v1_cognito_and_lambda_authorizers() {
    let w = world(tenancy());
    let mut cognito = v1("POST", "/v1/resolve", Value::Null, Some(r#"{"tags": {"app": "chat"}}"#));
    cognito["requestContext"]["authorizer"] = json!({"claims": {"custom:tenant": "globex"}});
    let (status, body, _) = http(&w.app, &cognito).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p3").as_str()))
    );
    let mut lambda_auth = fixture("example-apigw-request.json");
    lambda_auth["path"] = json!("/v1/resolve");
    lambda_auth["httpMethod"] = json!("POST");
    lambda_auth["body"] = json!(r#"{"tags": {"tenant": "globex", "app": "chat"}}"#);
    lambda_auth["requestContext"]["authorizer"]["custom:tenant"] = json!("acme");
    let (status, _, _) = http(&w.app, &lambda_auth).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn direct_invokes_are_trusted_even_under_tenant_isolation() {
    let w = world(tenancy());
    let answer = invoke(&w.app, &json!({"tags": {"tenant": "acme", "app": "batch"}}))
        .await
        .unwrap();
    assert_eq!(answer["profile"]["arn"], arn("p2"));
}

#[tokio::test]
async fn each_invocation_writes_one_emf_line() {
    let w = world(None);
    invoke(&w.app, &json!({"tags": {"tenant": "globex"}})).await.unwrap();
    invoke(&w.app, &json!({"tags": {"tenant": "nobody"}}))
        .await
        .unwrap_err();
    let text = String::from_utf8(w.emf.0.lock().clone()).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["Outcome"].as_str(), lines[0]["Source"].as_str()),
        (Some("OK"), Some("tagging-api"))
    );
    assert_eq!(lines[0]["Via"], "in-process", "the extension URL is a closed port");
    assert_eq!(lines[1]["Outcome"], "NoMatch");
    assert!(lines[1]["ResolveLatency"].as_f64().unwrap() >= 0.0);
}

mod alb;
mod bounds;
mod hop;
mod isolation;
