//! Security: loopback only (checked in the OS's socket table), the token rules, proxies refused,
//! and tokens never written to logs.

use crate::helpers::*;
use harness::harness::lambda::Scratch;
use harness::harness::{aws_env, free_port, http};
use serde_json::json;
use std::process::Command;

/// Listening TCP sockets of a process, as `(ip, port, v6)` read from `/proc`.
fn listening_sockets(pid: u32) -> Vec<(String, u16, bool)> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            l.to_string_lossy()
                .strip_prefix("socket:[")
                .map(|s| s.trim_end_matches(']').to_owned())
        })
        .collect();
    let mut out = Vec::new();
    for (file, v6) in [("tcp", false), ("tcp6", true)] {
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")).unwrap_or_default();
        for line in table.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (cols.get(1), cols.get(3), cols.get(9)) else {
                continue;
            };
            if *state != "0A" || !inodes.iter().any(|i| i == inode) {
                continue;
            }
            let (ip_hex, port_hex) = local.split_once(':').unwrap();
            let port = u16::from_str_radix(port_hex, 16).unwrap();
            let ip = if v6 {
                ip_hex.to_owned()
            } else {
                let n = u32::from_str_radix(ip_hex, 16).unwrap();
                std::net::Ipv4Addr::from(n.swap_bytes()).to_string()
            };
            out.push((ip, port, v6));
        }
    }
    out
}

#[test]
fn the_extension_listens_on_127_0_0_1_only() {
    let rig = Rig::start("bind", RigOptions::default(), |_| {});
    let port: u16 = rig.ext.url.rsplit(':').next().unwrap().parse().unwrap();
    let sockets = listening_sockets(rig.ext.proc.pid());
    assert_eq!(
        sockets,
        vec![("127.0.0.1".to_owned(), port, false)],
        "exactly one listener, on loopback"
    );
}

#[test]
fn token_rules_hold_on_the_real_binary() {
    let rig = Rig::start("token-rules", RigOptions::default(), |_| {});
    let stats = |headers: &[(&str, &str)]| http::request(&rig.ext.url, "GET", "/v1/stats", headers, b"").unwrap();
    assert_eq!(stats(&[]).json()["error"]["code"], "Unauthorized");
    assert_eq!(stats(&[]).status, 401);
    assert_eq!(stats(&[("x-profile-resolver-token", "wrong")]).status, 403);
    assert_eq!(stats(&[("x-profile-resolver-token", "")]).status, 403);
    assert_eq!(stats(&[("x-profile-resolver-token", TOKEN)]).status, 200);
    let proxied = stats(&[("x-profile-resolver-token", TOKEN), ("x-forwarded-for", "203.0.113.7")]);
    assert_eq!(
        (proxied.status, proxied.json()["error"]["field"].as_str()),
        (400, Some("X-Forwarded-For"))
    );
    assert_eq!(
        http::get(&rig.ext.url, "/health").unwrap().status,
        200,
        "health needs no token"
    );
}

#[test]
fn tokens_never_appear_in_logs() {
    let secret = "tok-9f8e7d6c5b4a-secret";
    let wrong = "wrong-1a2b3c4d5e6f-guess";
    let rig = Rig::start(
        "no-token-logs",
        RigOptions {
            extra_env: vec![
                ("PROFILE_RESOLVER_TOKEN".into(), secret.into()),
                ("AWS_SESSION_TOKEN".into(), "session-0a1b2c3d4e5f".into()),
                ("AWS_LAMBDA_LOG_LEVEL".into(), "trace".into()),
                ("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()),
            ],
            ..RigOptions::default()
        },
        |_| {},
    );
    for token in [secret, wrong, ""] {
        let _ = http::request(
            &rig.ext.url,
            "POST",
            "/v1/resolve",
            &[("x-profile-resolver-token", token)],
            br#"{"tags": {"tenant": "acme"}}"#,
        );
    }
    let _ = rig
        .ext
        .resolve(secret, &json!({"tags": {"x": "y"}, "region": "mars-1"}));
    let logs = rig.ext.logs();
    assert!(!logs.is_empty(), "trace logging produced output");
    for t in [secret, wrong, "session-0a1b2c3d4e5f"] {
        assert!(!logs.contains(t), "a token reached the logs: {t}");
    }

    // A configuration error must not echo a secret either.
    let scratch = Scratch::new("no-token-config").unwrap();
    let mut env = aws_env("http://127.0.0.1:1", None, "us-east-1");
    env.push(("PROFILE_RESOLVER_TOKEN".into(), secret.into()));
    env.push(("PROFILE_RESOLVER_TTL_SECONDS".into(), secret.into()));
    let out = Command::new(harness::harness::binary("cache-extension"))
        .env_clear()
        .envs(env)
        .env("PROFILE_RESOLVER_PORT", free_port().unwrap().to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("PROFILE_RESOLVER_TTL_SECONDS"),
        "the error names the variable: {text}"
    );
    assert!(!text.contains(secret), "{text}");
    drop(scratch);
}
