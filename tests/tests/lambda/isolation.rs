//! Lambda's tenant isolation mode over real processes: the prebuilt `resolver-fn` under a fake
//! Runtime API that sends `Lambda-Runtime-Aws-Tenant-Id` (set by the invoker, never by the
//! event), the real extension standalone on loopback, and the emulator.

use crate::helpers::*;
use harness::harness::fixtures;
use harness::harness::fleet::FakeRuntime;
use harness::harness::lambda::{Extension, Scratch};
use harness::harness::{Emulator, aws_env, binary};
use serde_json::{Value, json};
use std::time::Duration;

#[test]
fn an_invoke_carrying_a_tenant_id_is_pinned_to_that_tenant_for_every_kind_of_event() {
    let scratch = Scratch::new("tenant-isolation").unwrap();
    let emu = Emulator::start(None).unwrap();
    emu.seed(&org(0)).unwrap();
    let mut env = aws_env(&emu.url, None, "us-east-1");
    env.push(("PROFILE_RESOLVER_TOKEN".into(), TOKEN.into()));
    env.push(("PROFILE_RESOLVER_SSM_PREFIX".into(), String::new()));
    let ext = Extension::start_free(&scratch, &env).unwrap();
    let runtime = FakeRuntime::start().unwrap();
    env.push(("PROFILE_RESOLVER_EXTENSION_URL".into(), ext.url.clone()));
    // Declared last, so stopped first: before its Runtime API goes away.
    let _function = runtime
        .start_function(&binary("resolver-fn"), &env, &scratch.path("function.log"))
        .unwrap();
    let ask =
        |payload: Value, tenant: Option<&str>| runtime.invoke_as(payload, tenant, Duration::from_secs(30)).unwrap();

    // Two chat profiles in us-east-1: ambiguous for a trusted invoke, one for each tenant.
    let chat = json!({"tags": {"app": "chat"}});
    let trusted = ask(chat.clone(), None).expect_err("ambiguous without a tenant");
    assert_eq!(trusted["errorType"], "AmbiguousMatch", "{trusted}");
    let globex = ask(chat.clone(), Some("globex")).unwrap();
    assert_eq!(globex["profile"]["arn"], arn("globexchat01"), "{globex}");
    let other = ask(json!({"tags": {"tenant": "acme", "app": "chat"}}), Some("globex")).expect_err("another tenant");
    assert_eq!(other["errorType"], "Forbidden", "{other}");

    let mut http = fixtures::event("example-apigw-request.json");
    http["httpMethod"] = json!("POST");
    http["path"] = json!("/v1/resolve");
    http["queryStringParameters"] = Value::Null;
    http["multiValueQueryStringParameters"] = Value::Null;
    http["body"] = json!(chat.to_string());
    http["isBase64Encoded"] = json!(false);
    let resp = ask(http, Some("acme")).unwrap();
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["profile"]["arn"], arn("acmechat0001"));

    let lookup = ask(json!({"profile": arn("acmechat0001")}), Some("globex")).expect_err("hidden");
    assert_eq!(lookup["errorType"], "NoMatch", "{lookup}");
}
