//! A closed-loop load generator: N keep-alive HTTP/1.1 connections on loopback, each sending
//! one request at a time, bounded by a request count and a deadline. It also serves the bare
//! baseline: a hyper server answering a fixed 200 JSON.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// What to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// `127.0.0.1:PORT`
    pub addr: SocketAddr,
    /// Method.
    pub method: &'static str,
    /// Path and query.
    pub path: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Bodies, sent round-robin.
    pub bodies: Vec<Bytes>,
}

/// The outcome of one run.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Latencies in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Responses that were not 2xx/4xx, or transport errors.
    pub errors: u64,
}

impl Run {
    /// The `q` quantile (0 to 1) in microseconds.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        f64::from(self.latencies_us[i])
    }

    /// Requests per second.
    pub fn throughput(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `connections` closed loops until `total` requests or `limit` time.
///
/// # Errors
/// When a connection cannot be opened.
pub async fn run(target: &Target, connections: usize, total: usize, limit: Duration) -> anyhow::Result<Run> {
    let per_conn = total.div_ceil(connections.max(1));
    let started = Instant::now();
    let deadline = started + limit;
    let mut tasks = Vec::with_capacity(connections);
    for c in 0..connections {
        let target = target.clone();
        let stream = TcpStream::connect(target.addr).await?;
        stream.set_nodelay(true)?;
        let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_conn);
            let mut errors = 0u64;
            for i in 0..per_conn {
                if Instant::now() > deadline {
                    break;
                }
                let mut req = Request::builder()
                    .method(target.method)
                    .uri(&target.path)
                    .header("host", "127.0.0.1");
                for (k, v) in &target.headers {
                    req = req.header(k, v);
                }
                let body = target
                    .bodies
                    .get((c * per_conn + i) % target.bodies.len().max(1))
                    .cloned()
                    .unwrap_or_default();
                let Ok(req) = req.body(Full::new(body)) else { break };
                let t = Instant::now();
                match sender.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let ok = resp.into_body().collect().await.is_ok();
                        lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        if !ok || status >= 500 {
                            errors += 1;
                        }
                    }
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut run = Run::default();
    for t in tasks {
        let (lat, errors) = t.await?;
        run.latencies_us.extend(lat);
        run.errors += errors;
    }
    run.elapsed = started.elapsed();
    run.latencies_us.sort_unstable();
    Ok(run)
}

/// Serves a fixed 200 JSON body on `listener` forever: the bare baseline.
pub async fn bare_server(listener: TcpListener, body: Bytes) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |_req| {
                let body = body.clone();
                async move {
                    let mut resp = Response::new(Full::new(body));
                    resp.headers_mut().insert(
                        "content-type",
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(resp)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
