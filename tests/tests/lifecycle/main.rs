//! The extension under Lambda's real lifecycle: a fake Extensions API freezes it with SIGSTOP
//! as soon as it is back in `/next` and thaws it with SIGCONT at the next invoke. TTL 2 s,
//! upstream calls of 150 ms, 2.5 s frozen between invokes: refreshes must finish while the
//! sandbox is awake, and no answer may claim to be younger than its data.

// A test that cannot set up its world should fail loudly, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod unfrozen;

use harness::harness::freeze::FakeLambda;
use harness::harness::lambda::{Extension, Scratch};
use harness::harness::{Emulator, aws_env, http};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

const TOKEN: &str = "freeze-token";
const FROZEN: Duration = Duration::from_millis(2500);
const BACK_IN_NEXT: Duration = Duration::from_secs(10);
const A: &str = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/acmechat0001";
const MODEL: &str = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";

/// acme's chat profile and 150 others: two `GetResources` pages.
fn org() -> Value {
    let mut profiles = vec![json!({"region": "us-east-1", "name": "acme-chat", "id": "acmechat0001",
                                   "model": MODEL, "tags": {"tenant": "acme", "app": "chat"}})];
    for i in 0..150 {
        profiles.push(
            json!({"region": "us-east-1", "name": format!("filler-{i}"), "model": MODEL,
                             "tags": {"filler": i.to_string()}}),
        );
    }
    json!({ "profiles": profiles })
}

struct Sandbox {
    _scratch: Scratch,
    emu: Emulator,
    lambda: FakeLambda,
    ext: Extension,
}

impl Sandbox {
    /// The emulator with 150 ms per call, and the extension initialised under the fake API and
    /// frozen at the end of init.
    fn start(name: &str) -> Self {
        let scratch = Scratch::new(name).unwrap();
        let emu = Emulator::start(None).unwrap();
        emu.seed(&org()).unwrap();
        emu.set_fault(json!({"operation": "*", "latencyMs": 150})).unwrap();
        let mut lambda = FakeLambda::start().unwrap();
        let mut env = aws_env(&emu.url, None, "us-east-1");
        env.extend(
            [
                ("AWS_LAMBDA_RUNTIME_API", lambda.runtime_api.as_str()),
                ("PROFILE_RESOLVER_TOKEN", TOKEN),
                ("PROFILE_RESOLVER_TTL_SECONDS", "2"),
                ("PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS", "1000"),
                ("PROFILE_RESOLVER_SSM_PREFIX", ""),
                ("AWS_LAMBDA_LOG_LEVEL", "debug"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let ext = Extension::start_free(&scratch, &env).unwrap();
        lambda.freeze(ext.proc.pid(), BACK_IN_NEXT).unwrap();
        assert_eq!(lambda.registered(), (true, None));
        Self {
            _scratch: scratch,
            emu,
            lambda,
            ext,
        }
    }

    /// Bedrock `TagResource`, through the emulator.
    fn tag(&self, arn: &str, key: &str, value: &str) {
        tag(&self.emu, arn, key, value);
    }
}

/// Bedrock `TagResource`, through the emulator.
fn tag(emu: &Emulator, arn: &str, key: &str, value: &str) {
    {
        let body = json!({"resourceARN": arn, "tags": [{"key": key, "value": value}]});
        let reply = http::request(
            &emu.url,
            "POST",
            "/tagResource",
            &[
                ("content-type", "application/json"),
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, Signature=0",
                ),
            ],
            body.to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}

/// One answer as the function saw it.
#[derive(Debug)]
struct Seen {
    invoke: usize,
    status: u16,
    arn: Option<String>,
    /// When the request was sent, less the answer's age: no later than the read time the
    /// answer claims.
    claimed_read: Option<SystemTime>,
}

fn ask(ext: &Extension, invoke: usize, tags: Value) -> Seen {
    let sent = SystemTime::now();
    let reply = ext.resolve(TOKEN, &json!({ "tags": tags })).unwrap();
    let body = reply.json();
    let age = body["ageSeconds"].as_f64();
    Seen {
        invoke,
        status: reply.status,
        arn: body["profile"]["arn"].as_str().map(str::to_owned),
        claimed_read: age.map(|a| sent - Duration::from_secs_f64(a)),
    }
}

#[test]
fn under_the_freeze_cycle_a_retag_is_seen_within_a_few_invokes_and_no_answer_claims_to_be_newer_than_its_data() {
    let mut sb = Sandbox::start("freeze-retag");
    let (old, new) = (
        json!({"tenant": "acme", "app": "chat"}),
        json!({"tenant": "hooli", "app": "chat"}),
    );
    let mut seen = Vec::new();
    let mut changed = None;
    for invoke in 0..10 {
        std::thread::sleep(FROZEN);
        sb.lambda.invoke(Duration::from_secs(30)).unwrap();
        seen.push((ask(&sb.ext, invoke, old.clone()), ask(&sb.ext, invoke, new.clone())));
        sb.lambda.freeze(sb.ext.proc.pid(), BACK_IN_NEXT).unwrap();
        if invoke == 2 {
            // The retag lands while the sandbox is frozen.
            sb.tag(A, "tenant", "hooli");
            changed = Some((invoke, SystemTime::now()));
        }
    }
    let (changed_after, changed_at) = changed.unwrap();
    let logs = sb.ext.logs();

    for (o, n) in &seen {
        for s in [o, n] {
            assert!(s.status < 500, "no answer is a 5xx: {s:?}\n{logs}");
        }
    }
    let visible = seen
        .iter()
        .find(|(_, n)| n.invoke > changed_after && n.arn.as_deref() == Some(A))
        .map(|(_, n)| n.invoke - changed_after);
    assert!(
        visible.is_some_and(|k| k <= 4),
        "the retag is visible within 4 invokes (after {visible:?}): {seen:#?}\n{logs}"
    );
    let gone = seen
        .iter()
        .find(|(o, _)| o.invoke > changed_after && o.status == 404)
        .map(|(o, _)| o.invoke - changed_after);
    assert!(
        gone.is_some_and(|k| k <= 5),
        "the old mapping is gone within 5 invokes (after {gone:?}): {seen:#?}"
    );
    assert!(
        seen.iter()
            .filter(|(o, _)| o.invoke > changed_after + 5)
            .all(|(o, n)| o.status == 404 && n.arn.as_deref() == Some(A)),
        "and stays gone: {seen:#?}"
    );
    let margin = Duration::from_millis(5);
    for (o, _) in &seen {
        if let (200, Some(read)) = (o.status, o.claimed_read) {
            assert!(
                read <= changed_at + margin,
                "invoke {} served the old mapping claiming a read after the change ({:?} after): {seen:#?}",
                o.invoke,
                read.duration_since(changed_at).unwrap_or_default()
            );
        }
    }
    assert!(
        !logs.contains("refresh failed"),
        "no refresh failed under the freeze cycle:\n{logs}"
    );
}

#[test]
fn the_first_invoke_after_init_is_answered_from_the_load_finished_during_init_and_shutdown_takes_under_2_s() {
    let mut sb = Sandbox::start("freeze-init");
    std::thread::sleep(FROZEN);
    sb.lambda.invoke(Duration::from_secs(30)).unwrap();
    let first = ask(&sb.ext, 0, json!({"tenant": "acme", "app": "chat"}));
    assert_eq!(
        (first.status, first.arn.as_deref()),
        (200, Some(A)),
        "{}",
        sb.ext.logs()
    );
    sb.lambda.freeze(sb.ext.proc.pid(), BACK_IN_NEXT).unwrap();
    sb.lambda.shutdown().unwrap();
    let (took, ok) = sb
        .ext
        .wait_exit(Duration::from_secs(5))
        .expect("it exits after SHUTDOWN");
    assert!(ok, "{}", sb.ext.logs());
    assert!(
        took < Duration::from_secs(2),
        "SHUTDOWN took {took:?}, over its 2 s budget"
    );
    // Metrics: one EMF line at the first invoke (none emitted yet) and one at SHUTDOWN.
    let emf: Vec<Value> = sb
        .ext
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["_aws"]["CloudWatchMetrics"].is_array())
        .collect();
    assert_eq!(emf.len(), 2, "{}", sb.ext.logs());
    let last = &emf[1];
    assert_eq!(last["Region"], "us-east-1");
    assert_eq!(last["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ProfileResolver");
    // The invoke found the snapshot past its TTL and refreshed it before going back to /next.
    assert!(last["SnapshotAgeSeconds"].as_f64().is_some_and(|a| a < 2.0), "{last}");
    let calls = emf[0]["GetResourcesCalls"].as_u64().unwrap() + last["GetResourcesCalls"].as_u64().unwrap();
    assert!(calls >= 2, "the init load's pages were counted: {emf:?}");
    let hits = emf
        .iter()
        .map(|d| d["Hits"].as_u64().unwrap() + d["StaleHits"].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(hits, 1, "the one answered query: {emf:?}");
}
