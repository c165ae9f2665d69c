//! A hostile batch against the real function and extension: 100 copies of a query that matches
//! every profile of a 2,000-profile region, under 3 KB of request. It gets `TooManyResults`,
//! whole, and neither process's peak memory grows with the answer it refused.

use crate::helpers::*;
use harness::harness::fixtures;
use serde_json::{Value, json};

/// The most either process may reach, in KiB: these are debug builds, which idle at about
/// 20 MiB with 2,000 profiles; the refused answer would have been about 70 MB.
const PEAK_LIMIT_KB: u64 = 64 * 1024;

fn peak_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The function's process under `cargo lambda watch`: the `resolver-fn` whose environment
/// points at this stack's extension.
fn function_pid(extension_url: &str) -> Option<u32> {
    let wanted = format!("PROFILE_RESOLVER_EXTENSION_URL={extension_url}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        if !exe.to_string_lossy().ends_with("/resolver-fn") {
            return None;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        environ
            .split(|b| *b == 0)
            .any(|var| var == wanted.as_bytes())
            .then_some(pid)
    })
}

#[test]
fn a_hostile_batch_gets_too_many_results_and_memory_stays_bounded() {
    let stack = Stack::start("hostile-batch", "60", 2000, |_| {});
    let every = json!({"tags": {}, "match": "all"});
    let batch = json!({"queries": vec![every.clone(); 100]});
    assert!(batch.to_string().len() < 3072);

    let one = stack
        .invoke(&json!({"tags": {}, "match": "all", "region": "us-east-1"}))
        .unwrap();
    assert_eq!(
        one["profiles"].as_array().unwrap().len(),
        2003,
        "one such query alone fits"
    );

    let err = stack.invoke(&batch).expect_err("refused");
    assert_eq!(err.error_type, "TooManyResults", "{}", err.output);
    let mut http = fixtures::event("example-apigw-v2-request-no-authorizer.json");
    http["rawPath"] = json!("/v1/resolve/batch");
    http["rawQueryString"] = json!("");
    http["requestContext"]["http"]["method"] = json!("POST");
    http["body"] = json!(batch.to_string());
    http["isBase64Encoded"] = json!(false);
    let resp = stack.invoke(&http).expect("HTTP events succeed");
    assert_eq!(resp["statusCode"], 413, "{resp}");
    let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "TooManyResults");
    assert_eq!(body["error"]["count"], 200_300);

    let ext_peak = peak_kb(stack.ext.proc.pid());
    let fn_pid = function_pid(&stack.ext.url).expect("the function's process");
    let fn_peak = peak_kb(fn_pid);
    eprintln!("peak RSS: extension {ext_peak} KiB, function {fn_peak} KiB");
    assert!(
        ext_peak > 0 && ext_peak < PEAK_LIMIT_KB,
        "extension peak {ext_peak} KiB"
    );
    assert!(fn_peak > 0 && fn_peak < PEAK_LIMIT_KB, "function peak {fn_peak} KiB");
}
