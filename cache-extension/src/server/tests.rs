//! The accept loop over real loopback sockets: the connection bound, and its 429 path.

use super::*;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

async fn start(max_connections: usize) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/health", get(|| async { "ok" }));
    tokio::spawn(serve(
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
        max_connections,
        std::future::pending(),
        Duration::ZERO,
    ));
    addr
}

async fn alive_tasks_settle() -> usize {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
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
