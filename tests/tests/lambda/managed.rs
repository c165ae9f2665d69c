//! Lambda Managed Instances: the prebuilt `resolver-fn` serves `AWS_LAMBDA_MAX_CONCURRENCY`
//! invokes at once. A fake Runtime API hands out four invokes together, and a fake extension
//! answers none of them until all four have arrived: a request still waiting after 5 s is
//! answered anyway and counted as proof that they were not in flight together.

use crate::helpers::*;
use harness::harness::fleet::FakeRuntime;
use harness::harness::lambda::Scratch;
use harness::harness::{aws_env, binary};
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 4;

/// Serves `/v1/resolve` on a free port; no request is answered until `CONCURRENCY` have
/// arrived, or 5 s pass. Returns the URL, and how many requests waited past the 5 s.
fn holding_extension() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (arrived, timed_out) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = Arc::clone(&timed_out);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64).flatten() {
            let (arrived, timed_out) = (Arc::clone(&arrived), Arc::clone(&timed_out));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                arrived.fetch_add(1, Ordering::SeqCst);
                let started = Instant::now();
                while arrived.load(Ordering::SeqCst) < CONCURRENCY {
                    if started.elapsed() > Duration::from_secs(5) {
                        timed_out.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                let answer = json!({"profile": {"arn": arn("acmechat0001")}, "source": "tagging-api",
                                    "cache": "hit", "ageSeconds": 0.0})
                .to_string();
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            });
        }
    });
    (url, seen)
}

#[test]
fn on_managed_instances_the_function_serves_max_concurrency_invokes_at_once() {
    let (extension, timed_out) = holding_extension();
    let runtime = FakeRuntime::start().unwrap();
    let mut env = aws_env("http://127.0.0.1:1", None, "us-east-1");
    env.push(("PROFILE_RESOLVER_SSM_PREFIX".into(), String::new()));
    env.push(("PROFILE_RESOLVER_EXTENSION_URL".into(), extension));
    env.push(("PROFILE_RESOLVER_EXTENSION_TIMEOUT_MS".into(), "10000".into()));
    env.push((
        "AWS_LAMBDA_INITIALIZATION_TYPE".into(),
        "lambda-managed-instances".into(),
    ));
    env.push(("AWS_LAMBDA_MAX_CONCURRENCY".into(), CONCURRENCY.to_string()));
    env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "2048".into()));
    let scratch = Scratch::new("managed-function").unwrap();
    // Declared last, so stopped first: before its Runtime API goes away.
    let _function = runtime
        .start_function(&binary("resolver-fn"), &env, &scratch.path("function.log"))
        .unwrap();
    let answers: Vec<_> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..CONCURRENCY)
            .map(|i| {
                let runtime = &runtime;
                s.spawn(move || {
                    runtime.invoke(
                        json!({"tags": {"tenant": "acme", "app": format!("chat-{i}")}}),
                        Duration::from_secs(30),
                    )
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap().unwrap()).collect()
    });
    for answer in &answers {
        let answer = answer.as_ref().expect("answered");
        assert_eq!(answer["profile"]["arn"], arn("acmechat0001"), "{answer}");
    }
    assert_eq!(
        timed_out.load(Ordering::SeqCst),
        0,
        "all {CONCURRENCY} invokes were in flight together: none waited for another to end"
    );
}
