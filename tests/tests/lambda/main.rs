//! End to end on a local Lambda: both real binaries under `cargo lambda watch`, driven by
//! `cargo lambda invoke`, boto3 and a standard-library Python client, against AWS emulated over
//! real HTTP (the emulator for Bedrock and tagging, moto for SSM).

// A test that cannot set up its world should fail loudly, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bounds;
mod helpers;
mod isolation;
mod managed;

use harness::harness::fixtures;
use harness::harness::lambda::{eventually, python};
use helpers::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ACME_CHAT: &str = r#"{"tags": {"tenant": "acme", "app": "chat"}}"#;

fn acme_chat() -> Value {
    serde_json::from_str(ACME_CHAT).unwrap()
}

#[test]
fn the_extension_registers_serves_before_any_invoke_and_the_function_asks_it() {
    let stack = Stack::start("lifecycle", "60", 0, |_| {});
    assert!(
        eventually(Duration::from_secs(10), || stack
            .ext
            .logs()
            .contains("registered")
            .then_some(()))
        .is_some(),
        "{}",
        stack.ext.logs()
    );
    let reply = stack.resolve(&acme_chat());
    assert_eq!(
        reply.status, 200,
        "answered before the function was ever invoked: {}",
        reply.body
    );
    assert_eq!(reply.json()["profile"]["arn"], arn("acmechat0001"));

    let answer = stack.invoke(&acme_chat()).expect("the function answers");
    assert_eq!(answer["profile"]["arn"], arn("acmechat0001"));
    assert!(
        stack.watch.output().contains(r#""Via":"extension""#),
        "the function asked the extension: {}",
        stack.watch.output()
    );

    // After the invoke, the extension is back in /next. (SHUTDOWN and its 2 s budget are the
    // freeze-cycle suite's: `cargo lambda watch --only-lambda-apis` sends none when stopped.)
    let parked = || stack.ext.logs().matches("waiting for the next event").count() >= 2;
    assert!(eventually(Duration::from_secs(10), || parked().then_some(())).is_some());
}

#[test]
fn the_blog_example_profile_resolves_after_a_refresh_and_changes_show_within_one_ttl() {
    let stack = Stack::start("blog", "2", 0, |_| {});
    let created = python(
        "blog_example.py",
        &[
            &stack.emu.url,
            "ClaimsSummarizationProfile",
            "dept=claims",
            "tenant=initrode",
        ],
        &stack.env,
    )
    .unwrap();
    let created_arn = created.trim().to_owned();
    stack.force_refresh();
    let query = json!({"tags": {"dept": "claims", "tenant": "initrode"}});
    let found = eventually(Duration::from_secs(5), || stack.invoke(&query).ok()).expect("resolved after the refresh");
    assert_eq!(found["profile"]["arn"], created_arn.as_str());
    assert_eq!(found["profile"]["name"], "ClaimsSummarizationProfile");

    // Retag it and delete another profile in the emulator, through boto3's wire format.
    let bedrock = |body: Value, path: &str| {
        harness::harness::http::request(
            &stack.emu.url,
            "POST",
            path,
            &[(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, Signature=0",
            )],
            body.to_string().as_bytes(),
        )
        .unwrap()
    };
    assert_eq!(
        bedrock(
            json!({"resourceARN": created_arn, "tags": [{"key": "tenant", "value": "hooli"}]}),
            "/tagResource"
        )
        .status,
        200
    );
    let deleted = harness::harness::http::request(
        &stack.emu.url,
        "DELETE",
        &format!("/inference-profiles/{}", "globexchat01"),
        &[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, Signature=0",
        )],
        b"",
    )
    .unwrap();
    assert_eq!(deleted.status, 200);
    let changed_at = Instant::now();
    let retagged = json!({"tags": {"dept": "claims", "tenant": "hooli"}});
    let seen =
        eventually(Duration::from_secs(8), || stack.invoke(&retagged).ok()).expect("the new tag becomes visible");
    assert_eq!(seen["profile"]["arn"], created_arn.as_str());
    assert!(
        changed_at.elapsed() < Duration::from_secs(5),
        "visible within one TTL plus a refresh: {:?}",
        changed_at.elapsed()
    );
    let gone = stack
        .invoke(&json!({"tags": {"tenant": "globex"}, "match": "all"}))
        .unwrap();
    assert_eq!(
        gone["profiles"],
        json!([]),
        "the deleted profile is never returned again"
    );
    let old = stack.invoke(&json!({"tags": {"tenant": "initrode"}})).unwrap_err();
    assert_eq!(old.error_type, "NoMatch");
}

#[test]
fn api_gateway_v1_v2_and_function_url_events_go_through_cargo_lambda_invoke() {
    let stack = Stack::start("events", "60", 0, |_| {});
    let mut v1 = fixtures::event("example-apigw-request.json");
    v1["httpMethod"] = json!("GET");
    v1["path"] = json!("/prod/v1/resolve");
    v1["queryStringParameters"] = Value::Null;
    v1["multiValueQueryStringParameters"] = json!({"tag:tenant": ["acme"], "tag:app": ["chat"]});
    v1["body"] = Value::Null;
    let mut v2 = fixtures::event("example-apigw-v2-request-jwt-authorizer.json");
    v2["rawPath"] = json!("/v1/resolve");
    v2["rawQueryString"] = json!("");
    v2["requestContext"]["http"]["method"] = json!("POST");
    v2["body"] = json!(ACME_CHAT);
    v2["isBase64Encoded"] = json!(false);
    let mut url = fixtures::event("example-apigw-v2-request-no-authorizer.json");
    url["rawPath"] = json!("/v1/resolve");
    url["rawQueryString"] = json!("tag:tenant=globex");
    url["requestContext"]["http"]["method"] = json!("GET");
    url["requestContext"]["domainName"] = json!("abcdefghij.lambda-url.us-east-1.on.aws");
    url["body"] = Value::Null;
    for (event, want) in [
        (v1, arn("acmechat0001")),
        (v2, arn("acmechat0001")),
        (url, arn("globexchat01")),
    ] {
        let resp = stack.invoke(&event).expect("HTTP events succeed");
        assert_eq!(resp["statusCode"], 200, "{resp}");
        let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["profile"]["arn"], want.as_str());
    }
    let mut missing = fixtures::event("example-apigw-v2-request-no-authorizer.json");
    missing["rawPath"] = json!("/v1/resolve");
    missing["rawQueryString"] = json!("tag:tenant=nobody");
    missing["requestContext"]["http"]["method"] = json!("GET");
    let resp = stack.invoke(&missing).unwrap();
    assert_eq!(resp["statusCode"], 404);
}

#[test]
fn a_percent_encoded_arn_reaches_the_function_intact_through_an_http_api_event() {
    let stack = Stack::start("profile-lookup", "60", 0, |_| {});
    let direct = stack.invoke(&json!({"profile": arn("globexchat01")})).unwrap();
    assert_eq!(direct["profile"]["arn"], arn("globexchat01").as_str());
    let unknown = stack.invoke(&json!({"profile": "nosuchprofile"})).unwrap_err();
    assert_eq!(unknown.error_type, "NoMatch");
    // API Gateway's HTTP API hands over the greedy {key+} still percent-encoded in rawPath.
    let encoded = arn("acmechat0001").replace(':', "%3A").replace('/', "%2F");
    for (path, query) in [
        (format!("/v1/profiles/{encoded}"), ""),
        ("/prod/v1/profiles/acmechat0001".to_owned(), "region=us-east-1"),
    ] {
        let mut event = fixtures::event("example-apigw-v2-request-jwt-authorizer.json");
        event["rawPath"] = json!(path);
        event["rawQueryString"] = json!(query);
        event["requestContext"]["http"]["method"] = json!("GET");
        event["body"] = Value::Null;
        let resp = stack.invoke(&event).expect("HTTP events succeed");
        assert_eq!(resp["statusCode"], 200, "{path}: {resp}");
        let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["profile"]["arn"], arn("acmechat0001").as_str(), "{path}");
        assert_eq!(body["profile"]["tags"]["tenant"], "acme");
    }
}

#[test]
fn the_function_answers_in_process_when_the_extension_is_killed() {
    let mut stack = Stack::start_with("killed", "60", 0, false, |_| {});
    assert_eq!(
        stack.invoke(&acme_chat()).unwrap()["profile"]["arn"],
        arn("acmechat0001")
    );
    stack.ext.proc.kill();
    let answer = stack
        .invoke(&acme_chat())
        .unwrap_or_else(|e| panic!("answered in-process: {e:?}\n{}", stack.watch.output()));
    assert_eq!(answer["profile"]["arn"], arn("acmechat0001"));
    let routed = stack
        .invoke(&json!({"tags": {"tenant": "initech"}}))
        .expect("routes work in-process too");
    assert_eq!(routed["profile"]["arn"], ROUTE_ARN);
    assert_eq!(routed["source"], "parameter-store");
    let out = stack.watch.output();
    assert!(out.contains(r#""Via":"in-process""#), "{out}");
    assert_eq!(
        out.matches("the extension is unreachable").count(),
        1,
        "warned once per cold start"
    );
}

#[test]
fn cached_answers_keep_flowing_while_every_call_is_throttled_and_new_regions_fail_clearly() {
    let stack = Stack::start("throttled", "1", 0, |emu| {
        emu.set_fault(json!({"operation": "GetResources", "throttleRate": 1.0, "regions": ["eu-west-1"]}))
            .unwrap();
    });
    // Warm-up: the function's first start may take longer than the 1 s TTL, so any cache state.
    assert_eq!(
        stack.invoke(&acme_chat()).unwrap()["profile"]["arn"],
        arn("acmechat0001")
    );
    stack
        .emu
        .set_fault(json!({"operation": "GetResources", "throttleRate": 1.0}))
        .unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    for _ in 0..5 {
        let answer = stack.invoke(&acme_chat()).expect("stale answers flow");
        assert_eq!(answer["profile"]["arn"], arn("acmechat0001"));
        assert_eq!(answer["cache"], "stale");
    }
    let started = Instant::now();
    let err = stack
        .invoke(&json!({"tags": {"tenant": "acme", "app": "chat"}, "region": "eu-west-1"}))
        .unwrap_err();
    assert_eq!(err.error_type, "UpstreamUnavailable", "{}", err.output);
    assert!(err.output.contains("GetResources"), "{}", err.output);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "within the timeout budget, plus cargo lambda invoke's own start"
    );

    stack.emu.clear_faults().unwrap();
    let recovered = eventually(Duration::from_secs(40), || {
        let a = stack.resolve(&json!({"tags": {"tenant": "acme", "app": "chat"}, "region": "eu-west-1"}));
        (a.status == 200).then_some(a.json())
    })
    .expect("the cold region recovers once the faults clear");
    assert_eq!(
        recovered["profile"]["arn"],
        "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/acmeeuchat01"
    );
    assert!(
        eventually(Duration::from_secs(40), || (stack.resolve(&acme_chat()).json()["cache"]
            == "hit")
            .then_some(()))
        .is_some()
    );
}

#[test]
fn a_python_function_calls_the_extension_with_the_standard_library() {
    let stack = Stack::start("python", "60", 0, |_| {});
    let out = python(
        "stdlib_client.py",
        &[&stack.ext.url, "tenant=acme", "app=chat"],
        &stack.env,
    )
    .unwrap();
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"]["profile"]["arn"], arn("acmechat0001"));
    let mut wrong = stack.env.clone();
    wrong.retain(|(k, _)| k != "PROFILE_RESOLVER_TOKEN");
    wrong.push(("PROFILE_RESOLVER_TOKEN".into(), "not-the-token".into()));
    let out = python("stdlib_client.py", &[&stack.ext.url, "tenant=acme"], &wrong).unwrap();
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["status"].as_u64(), v["body"]["error"]["code"].as_str()),
        (Some(403), Some("Forbidden"))
    );
}

#[test]
fn get_resources_calls_are_snapshot_builds_times_pages_never_one_per_request() {
    // 250 fillers make us-east-1 three pages of 100.
    let stack = Stack::start("calls", "2", 250, |_| {});
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut requests = 0u32;
    while Instant::now() < deadline && requests < 3000 {
        let q = match requests % 3 {
            0 => acme_chat(),
            1 => json!({"tags": {"filler": (requests % 250).to_string()}}),
            _ => json!({"tags": {"tenant": format!("unknown-{requests}")}}),
        };
        let reply = stack.resolve(&q);
        assert!(matches!(reply.status, 200 | 404), "{}", reply.body);
        requests += 1;
    }
    for _ in 0..3 {
        stack.invoke(&acme_chat()).unwrap();
    }
    for (region, pages) in [("us-east-1", 3), ("eu-west-1", 1)] {
        // A refresh an invoke started may still be between its pages: wait for it to end (the
        // emulator then counts only whole builds), bounded. Calls from aborted or repeated
        // builds never balance.
        let reading = || {
            let builds = stack.health()["regions"][region]["builds"].as_u64().unwrap();
            (builds, stack.emu.calls("GetResources", region).unwrap())
        };
        let balanced = eventually(Duration::from_secs(5), || {
            let (builds, calls) = reading();
            (calls == builds * pages).then_some(builds)
        });
        let (builds, calls) = reading();
        assert!(
            balanced.is_some(),
            "{region}: {calls} calls for {builds} builds of {pages} pages\n{}",
            stack.ext.logs()
        );
        assert!(
            builds <= 6,
            "{region}: about one build per 2 s TTL window, not per request ({builds})"
        );
    }
    assert!(requests > 200, "the load really ran ({requests} requests)");
}
