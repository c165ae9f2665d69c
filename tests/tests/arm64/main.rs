//! arm64 (Graviton), the template's default architecture: the layer's extension and the function
//! as `sam build` builds them with the template's defaults (`make test-sam-build`: release
//! builds, cargo lambda with zig) run under `qemu-aarch64` against the x86_64 emulator. The extension registers with a fake Extensions API, loads, answers
//! a resolve, a batch and a reverse lookup, and exits on SHUTDOWN within 2 s; the function
//! answers a direct invoke and an HTTP API event under a fake Runtime API. Emulated code is slow
//! to make its first SDK calls, so the upstream timeout is long here.
//!
//! Not part of a plain `cargo test` (`test = false`): it needs SAM's build.

// A test that cannot set up its world should fail loudly, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use harness::harness::fixtures;
use harness::harness::fleet::FakeRuntime;
use harness::harness::freeze::FakeLambda;
use harness::harness::lambda::{Extension, Scratch};
use harness::harness::{Emulator, aws_env, http, workspace_root};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

const TOKEN: &str = "arm64-token";
const MODEL: &str = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";

fn arn(id: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/{id}")
}

/// Where SAM's build of the template's defaults (`.aws-sam/build`) put `resource`'s code: its
/// `CodeUri` (a layer's `ContentUri`) in the built template. Functions of one build share a directory
/// (`ResolverFunction` and `ManagedResolverFunction` do).
fn built_code_dir(resource: &str) -> PathBuf {
    let build = workspace_root().join(".aws-sam/build");
    let template = std::fs::read_to_string(build.join("template.yaml"))
        .expect("`make test-sam-build` writes .aws-sam/build/template.yaml (sam build, arm64)");
    let header = format!("  {resource}:");
    let code_uri = template
        .lines()
        .skip_while(|line| *line != header)
        .skip(1)
        .take_while(|line| line.starts_with("    ") || line.is_empty())
        .find_map(|line| {
            let line = line.trim();
            line.strip_prefix("CodeUri:")
                .or_else(|| line.strip_prefix("ContentUri:"))
        })
        .unwrap_or_else(|| panic!("no CodeUri or ContentUri for {resource} in the built template"));
    build.join(code_uri.trim())
}

/// An executable named `name` in `scratch` that runs `built` (a path in SAM's build of the
/// template's defaults, `.aws-sam/build`) under qemu.
fn under_qemu(scratch: &Scratch, name: &str, binary: PathBuf) -> PathBuf {
    assert!(
        binary.exists(),
        "{} is missing: `make test-sam-build` builds it (sam build, arm64)",
        binary.display()
    );
    let dir = scratch.path("arm64");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join(name);
    let text = format!(
        "#!/bin/sh\nexec qemu-aarch64 -L /usr/aarch64-linux-gnu {} \"$@\"\n",
        binary.display()
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn post(ext: &Extension, path: &str, body: &Value) -> http::Reply {
    http::request(
        &ext.url,
        "POST",
        path,
        &[
            ("x-profile-resolver-token", TOKEN),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
    .unwrap()
}

#[test]
fn the_aarch64_extension_and_function_serve_under_qemu() {
    let scratch = Scratch::new("arm64").unwrap();
    let emu = Emulator::start(None).unwrap();
    emu.seed(&json!({"profiles": [
        {"region": "us-east-1", "name": "acme-chat", "id": "acmechat0001", "model": MODEL,
         "tags": {"tenant": "acme", "app": "chat"}},
        {"region": "us-east-1", "name": "globex-chat", "id": "globexchat01", "model": MODEL,
         "tags": {"tenant": "globex", "app": "chat"}}]}))
        .unwrap();
    let mut env = aws_env(&emu.url, None, "us-east-1");
    env.push(("PROFILE_RESOLVER_TOKEN".into(), TOKEN.into()));
    env.push(("PROFILE_RESOLVER_SSM_PREFIX".into(), String::new()));
    // Emulated code on a shared machine: the first SDK calls can take seconds.
    env.push(("PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS".into(), "20000".into()));

    // The extension, registered with a fake Extensions API.
    let mut lambda = FakeLambda::start().unwrap();
    let mut ext_env = env.clone();
    ext_env.push(("AWS_LAMBDA_RUNTIME_API".into(), lambda.runtime_api.clone()));
    let mut ext = Extension::start_free_binary(
        &scratch,
        &ext_env,
        &under_qemu(
            &scratch,
            "cache-extension",
            built_code_dir("CacheExtensionLayer").join("extensions/cache-extension"),
        ),
    )
    .unwrap();
    lambda.wait_parked(Duration::from_secs(30)).unwrap();
    assert_eq!(lambda.registered(), (true, None), "{}", ext.logs());

    let one = post(&ext, "/v1/resolve", &json!({"tags": {"tenant": "acme", "app": "chat"}}));
    assert_eq!(
        (one.status, one.json()["profile"]["arn"].clone()),
        (200, json!(arn("acmechat0001"))),
        "{}",
        one.body
    );
    let batch = post(
        &ext,
        "/v1/resolve/batch",
        &json!({"queries": [{"tags": {"tenant": "globex"}}, {"tags": {"tenant": "nobody"}}]}),
    );
    let results = batch.json()["results"].clone();
    assert_eq!(
        (results[0]["profile"]["arn"].clone(), results[1]["status"].clone()),
        (json!(arn("globexchat01")), json!(404)),
        "{}",
        batch.body
    );
    let lookup = http::request(
        &ext.url,
        "GET",
        &format!(
            "/v1/profiles/{}",
            arn("globexchat01").replace(':', "%3A").replace('/', "%2F")
        ),
        &[("x-profile-resolver-token", TOKEN)],
        b"",
    )
    .unwrap();
    assert_eq!(lookup.json()["profile"]["models"][0], MODEL, "{}", lookup.body);

    // The function, asking that extension, under a fake Runtime API.
    let runtime = FakeRuntime::start().unwrap();
    env.push(("PROFILE_RESOLVER_EXTENSION_URL".into(), ext.url.clone()));
    let function = runtime
        .start_function(
            &under_qemu(
                &scratch,
                "resolver-fn",
                built_code_dir("ResolverFunction").join("bootstrap"),
            ),
            &env,
            &scratch.path("function.log"),
        )
        .unwrap();
    let direct = runtime
        .invoke(
            json!({"tags": {"tenant": "acme", "app": "chat"}}),
            Duration::from_secs(60),
        )
        .unwrap()
        .expect("answered");
    assert_eq!(direct["profile"]["arn"], arn("acmechat0001"), "{direct}");
    let mut event = fixtures::event("example-apigw-v2-request-no-authorizer.json");
    event["rawPath"] = json!("/v1/resolve");
    event["rawQueryString"] = json!("tag:tenant=globex");
    event["requestContext"]["http"]["method"] = json!("GET");
    event["body"] = Value::Null;
    let resp = runtime
        .invoke(event, Duration::from_secs(60))
        .unwrap()
        .expect("answered");
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["profile"]["arn"], arn("globexchat01"));
    drop(function);

    lambda.shutdown().unwrap();
    let (took, ok) = ext.wait_exit(Duration::from_secs(30)).expect("it exits after SHUTDOWN");
    // A fraction of a second under qemu, even unoptimised as make test builds it (the whole
    // test takes about 2.3 s): the 2 s budget holds with room even emulated.
    assert!(ok && took < Duration::from_secs(2), "{took:?}\n{}", ext.logs());
}
