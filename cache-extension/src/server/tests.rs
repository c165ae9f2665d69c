//! The accept loop over real loopback sockets: the connection bound and its 429 path, the idle
//! watchdog, and the graceful stop.

use super::*;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tower::ServiceExt;

/// The idle timeout of these tests: short, so that they wait for it in real time.
const IDLE: Duration = Duration::from_millis(400);

/// A server with `/health` and `/slow` (answers after 300 ms); the sender stops it, and the
/// handle ends when it has drained.
async fn start_with(
    max_connections: usize,
    drain: Duration,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/health", get(|| async { "ok" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "slow"
        }),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = Limits {
        max_connections,
        idle_timeout: IDLE,
        drain,
    };
    let server = tokio::spawn(serve(
        listener,
        move |req| {
            let app = app.clone();
            async move {
                match app.oneshot(req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                }
            }
        },
        limits,
        async { drop(stopped.await) },
    ));
    (addr, stop, server)
}

async fn start(max_connections: usize) -> std::net::SocketAddr {
    let (addr, stop, _server) = start_with(max_connections, Duration::ZERO).await;
    // Never stopped: the server lives as long as the test's runtime.
    std::mem::forget(stop);
    addr
}

async fn alive_tasks_settle() -> usize {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// Sends one keep-alive GET and reads its whole answer (`content-length` bodies only).
async fn get_on(conn: &mut TcpStream, path: &str) -> String {
    conn.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = tokio::time::timeout_at(deadline, conn.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed mid-answer: {}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= len {
                return text.into_owned();
            }
        }
    }
}

/// How long until the server closes `conn` (reads return 0), failing after `limit`.
async fn closed_after(conn: &mut TcpStream, limit: Duration) -> Duration {
    let t0 = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(limit, conn.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return t0.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("still open after {limit:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_the_bound_gets_a_json_429() {
    let addr = start(1).await;
    let _held = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut over = TcpStream::connect(addr).await.unwrap();
    over.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(5), over.read_to_string(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 429"), "{reply}");
    assert!(reply.contains(r#""code":"TooManyRequests""#), "{reply}");
    assert!(reply.to_ascii_lowercase().contains("retry-after: 1\r\n"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_silent_connections_over_the_bound_spawns_a_bounded_number_of_tasks() {
    let addr = start(1).await;
    let _held = TcpStream::connect(addr).await.unwrap();
    let before = alive_tasks_settle().await;
    let mut flood = Vec::new();
    for _ in 0..(BUSY_RESPONDERS * 4) {
        flood.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = alive_tasks_settle().await;
    assert!(
        during <= before + BUSY_RESPONDERS + 2,
        "{during} tasks alive for {} silent connections (before: {before})",
        flood.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_sends_a_request_is_closed_after_the_idle_timeout() {
    let addr = start(4).await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let waited = closed_after(&mut silent, IDLE * 3).await;
    assert!(waited >= IDLE - Duration::from_millis(50), "closed after {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_is_closed_once_idle_for_the_timeout_after_its_last_request() {
    let addr = start(4).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    assert!(get_on(&mut conn, "/health").await.starts_with("HTTP/1.1 200"));
    let waited = closed_after(&mut conn, IDLE * 3).await;
    assert!(waited >= IDLE - Duration::from_millis(50), "closed after {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_closed_after_the_idle_timeout() {
    let addr = start(4).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let t0 = Instant::now();
    // One header byte every 50 ms: progress, but never a whole request.
    for _ in 0..(IDLE * 4).as_millis() / 50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if conn.write_all(b"x").await.is_err() {
            break;
        }
    }
    let waited = t0.elapsed() + closed_after(&mut conn, IDLE).await;
    assert!(waited < IDLE * 2, "closed after {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_keeps_asking_stays_open_past_the_idle_timeout() {
    let addr = start(4).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    // A request every third of the timeout, for three timeouts, on the one connection.
    for _ in 0..9 {
        assert!(get_on(&mut conn, "/health").await.starts_with("HTTP/1.1 200"));
        tokio::time::sleep(IDLE / 3).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_lets_a_running_request_finish_and_closes_silent_connections_at_once() {
    let (addr, stop, server) = start_with(4, Duration::from_secs(2)).await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut busy = TcpStream::connect(addr).await.unwrap();
    let asking = tokio::spawn(async move { get_on(&mut busy, "/slow").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    stop.send(()).unwrap();
    assert!(closed_after(&mut silent, Duration::from_secs(1)).await < IDLE);
    let answer = asking.await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("slow"),
        "{answer}"
    );
    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .unwrap()
        .unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "the drain took {:?}",
        t0.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_shuts_its_write_side_after_its_request_still_gets_the_answer() {
    let addr = start(4).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    // `/slow` answers after 300 ms: the EOF arrives while the request is in flight.
    conn.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    conn.shutdown().await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut reply))
        .await
        .expect("the server closes once it has answered")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(reply.ends_with("slow"), "{reply}");
}
