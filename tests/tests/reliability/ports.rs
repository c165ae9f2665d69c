//! The harness itself: a test must never take another process's answer for the extension's.
//! The kernel can hand a port `free_port` let go to any listener, and an extension that
//! cannot bind exits while the other listener answers; its tests would then talk to the wrong
//! server, or wait a minute for an extension that is gone.

use harness::harness::aws_env;
use harness::harness::lambda::{Extension, Scratch};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn env() -> Vec<(String, String)> {
    let mut env = aws_env("http://127.0.0.1:1", None, "us-east-1");
    env.push(("PROFILE_RESOLVER_TOKEN".into(), "port-check-token".into()));
    env
}

/// A listener that answers every request 404, as another test's fake Lambda API would.
fn squatter() -> (u16, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        let start = Instant::now();
        while !stopped.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(30) {
            match listener.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                    let mut buf = [0u8; 1024];
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (port, stop, thread)
}

#[test]
fn an_extension_whose_port_another_server_answers_on_is_reported_as_not_started() {
    let scratch = Scratch::new("port-squatted").unwrap();
    let (port, stop, thread) = squatter();
    let started = Instant::now();
    let outcome = Extension::start(&scratch, &env(), port);
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
    let err = format!(
        "{:#}",
        outcome.expect_err("the squatter's 404 was taken for the extension")
    );
    assert!(
        err.contains("cannot bind"),
        "the error carries the extension's log: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it failed fast, not at the timeout"
    );
}
