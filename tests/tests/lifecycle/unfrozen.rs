//! Where nothing freezes: Lambda Managed Instances (an Extensions API that accepts `SHUTDOWN`
//! registrations only and never freezes) and an agent outside Lambda (a plain process). The
//! extension keeps its data fresh on its own schedule: a retag is served as a hit within one
//! TTL plus one upstream timeout, with no invoke and no request in between.

use super::*;
use std::time::Instant;

const TTL: Duration = Duration::from_secs(2);
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(1);

fn env(emu: &Emulator, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = aws_env(&emu.url, None, "us-east-1");
    env.extend(
        [
            ("PROFILE_RESOLVER_TOKEN", TOKEN),
            ("PROFILE_RESOLVER_TTL_SECONDS", "2"),
            ("PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS", "1000"),
            ("PROFILE_RESOLVER_SSM_PREFIX", ""),
            ("AWS_LAMBDA_LOG_LEVEL", "debug"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

/// Retags acme's chat profile and, touching nothing for one TTL plus one upstream timeout,
/// asks once: the answer must already be the new tenant's, as a hit.
fn a_retag_is_a_hit_within_one_ttl_and_one_upstream_timeout(emu: &Emulator, ext: &Extension) {
    let before = ask(ext, 0, json!({"tenant": "acme", "app": "chat"}));
    assert_eq!((before.status, before.arn.as_deref()), (200, Some(A)));
    tag(emu, A, "tenant", "initech");
    let retagged = Instant::now();
    std::thread::sleep(TTL + UPSTREAM_TIMEOUT);
    let reply = ext
        .resolve(TOKEN, &json!({"tags": {"tenant": "initech", "app": "chat"}}))
        .unwrap();
    let body = reply.json();
    assert_eq!(
        (reply.status, body["profile"]["arn"].as_str(), body["cache"].as_str()),
        (200, Some(A), Some("hit")),
        "asked {:?} after the retag: {}\n{}",
        retagged.elapsed(),
        reply.body,
        ext.logs()
    );
}

#[test]
fn on_managed_instances_the_extension_registers_for_shutdown_alone_and_refreshes_on_its_own() {
    let scratch = Scratch::new("managed-instances").unwrap();
    let emu = Emulator::start(None).unwrap();
    emu.seed(&org()).unwrap();

    // Registered as in a classic sandbox, it would be refused, and the environment with it.
    let lambda = FakeLambda::start_managed().unwrap();
    let api = [("AWS_LAMBDA_RUNTIME_API", lambda.runtime_api.as_str())];
    let log = scratch.path("classic.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = std::process::Command::new(harness::harness::binary("cache-extension"))
        .envs(env(&emu, &api))
        .env(
            "PROFILE_RESOLVER_PORT",
            harness::harness::free_port().unwrap().to_string(),
        )
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut classic = harness::harness::Proc::new(child, "cache-extension");
    let exited = harness::harness::lambda::eventually(Duration::from_secs(10), || {
        classic.child_mut().try_wait().ok().flatten()
    });
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(exited.is_some_and(|s| !s.success()), "{logged}");
    // The fake refused exactly one registration, for INVOKE. The log names the refusal by its
    // status: the `lambda-extension` crate keeps the status of a refused registration, not
    // Lambda's error body (docs/design.md, "Dependencies").
    assert!(
        logged.contains("unable to register the extension: 400") && lambda.refused() == 1,
        "{logged}"
    );

    let mut managed = api.to_vec();
    managed.push(("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances"));
    let mut ext = Extension::start_free(&scratch, &env(&emu, &managed)).unwrap();
    lambda.wait_parked(BACK_IN_NEXT).unwrap();
    assert_eq!((lambda.registered(), lambda.refused()), ((true, None), 1));
    a_retag_is_a_hit_within_one_ttl_and_one_upstream_timeout(&emu, &ext);
    assert_eq!(
        lambda.nexts(),
        1,
        "no event was delivered: the schedule alone refreshed"
    );

    let mut lambda = lambda;
    lambda.shutdown().unwrap();
    let (took, ok) = ext.wait_exit(Duration::from_secs(5)).expect("it exits after SHUTDOWN");
    assert!(ok && took < Duration::from_secs(2), "{took:?}\n{}", ext.logs());
}

#[test]
fn as_an_agent_outside_lambda_it_refreshes_on_its_own_and_sigterm_stops_it_within_2_s() {
    let scratch = Scratch::new("agent").unwrap();
    let emu = Emulator::start(None).unwrap();
    emu.seed(&org()).unwrap();
    let mut ext = Extension::start_free(&scratch, &env(&emu, &[])).unwrap();
    let health = http::get(&ext.url, "/health").unwrap();
    assert_eq!(health.status, 200, "a container health check: {}", health.body);
    a_retag_is_a_hit_within_one_ttl_and_one_upstream_timeout(&emu, &ext);

    let term = std::process::Command::new("kill")
        .args(["-TERM", &ext.proc.pid().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let (took, ok) = ext.wait_exit(Duration::from_secs(5)).expect("it exits on SIGTERM");
    assert!(ok && took < Duration::from_secs(2), "{took:?}\n{}", ext.logs());
}

#[test]
fn an_agent_listens_on_the_loopback_address_it_is_given_and_refuses_any_other() {
    let emu = Emulator::start(None).unwrap();
    emu.seed(&org()).unwrap();
    let port = harness::harness::free_port().unwrap();
    let start = |address: &str| {
        let mut vars = env(&emu, &[("PROFILE_RESOLVER_LISTEN_ADDRESS", address)]);
        vars.push(("PROFILE_RESOLVER_PORT".into(), port.to_string()));
        std::process::Command::new(harness::harness::binary("cache-extension"))
            .env_clear()
            .envs(vars)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // 127.0.0.2 is loopback too: it answers there, and nothing answers on 127.0.0.1.
    let mut child = harness::harness::Proc::new(start("127.0.0.2"), "cache-extension");
    let there = format!("http://127.0.0.2:{port}");
    let health = harness::harness::lambda::eventually(Duration::from_secs(30), || {
        http::get(&there, "/health").ok().filter(|r| r.status == 200)
    });
    assert!(health.is_some(), "no answer on {there}");
    assert!(http::get(&format!("http://127.0.0.1:{port}"), "/health").is_err());
    child.kill();

    // An address other hosts could reach is refused at start, naming the variable.
    for address in ["0.0.0.0", "10.1.2.3"] {
        let out = start(address).wait_with_output().unwrap();
        assert!(!out.status.success(), "{address} was accepted");
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("PROFILE_RESOLVER_LISTEN_ADDRESS"), "{address}: {text}");
    }
}
