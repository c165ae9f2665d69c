//! The accept loop: HTTP/1.1 with keep-alive, a bound on concurrent connections (a connection
//! over the bound is answered 429 and closed), an idle watchdog per connection, and a graceful
//! stop with a deadline.

mod watchdog;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use shared::{ApiError, ErrorCode};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};

/// A connection is closed once it has started no request for this long (at most a quarter
/// more: see `watchdog`), whether it is idle between requests or trickling a request's headers.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// hyper's own bound on request headers, above the router's (64), so that the router answers
/// in JSON between the two. Above its default of 100, hyper allocates its two header arrays on
/// the heap for every request (32 KiB at 512): glibc's malloc served that slowly, mimalloc
/// (`main.rs`) does not (docs/performance.md).
pub const HYPER_MAX_HEADERS: usize = 512;
/// At most this many connections over the bound are answered 429 at once; beyond, they are
/// closed at once, so a flood of connections cannot grow the number of tasks without bound.
pub const BUSY_RESPONDERS: usize = 64;
/// How long a 429 responder waits for its connection's request.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// The accept loop's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Concurrent connections; more are answered 429.
    pub max_connections: usize,
    /// See [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// How long in-flight requests may run once the server stops.
    pub drain: Duration,
}

/// Serves `handler` on `listener` until `stop` resolves, then lets in-flight requests finish
/// for at most `limits.drain`.
///
/// hyper's own header-read timeout is not used: it arms a timer for every request, which the
/// hot path paid for (docs/performance.md). The watchdog arms one per connection instead.
pub async fn serve<H, F, B>(listener: TcpListener, handler: H, limits: Limits, stop: impl Future<Output = ()>)
where
    H: Fn(hyper::Request<hyper::body::Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<B>> + Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let responders = Arc::new(Semaphore::new(BUSY_RESPONDERS));
    // One stop signal per connection, not one shared watch: a connection's task polls its
    // signal at every request, and polling a shared watch locks a mutex every connection shares
    // (docs/performance.md). Senders of ended connections are pruned as the list grows.
    let mut stops: Vec<oneshot::Sender<()>> = Vec::new();
    let mut builder = http1::Builder::new();
    // hyper answers requests past its own limits with an empty body; this is set above the
    // router's limits (`http::guard`), so that most oversized requests get a JSON error.
    //
    // Half-closes are allowed: a client that shuts its write side after its request still gets
    // the answer (RFC 9112, section 9.6). Without it hyper also reads ahead, to look for that
    // EOF, while the request is in flight. The request still holds parts of hyper's read
    // buffer then, so that read cannot reuse the buffer and takes a new one, on every request:
    // an allocation, and a page fault once the allocator has returned the old one
    // (docs/performance.md).
    builder.keep_alive(true).half_close(true).max_headers(HYPER_MAX_HEADERS);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off, never exit.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let handler = handler.clone();
                let activity = Arc::new(AtomicU64::new(0));
                let seen = Arc::clone(&activity);
                // Bumped as a request starts and as its answer is ready: odd while one runs.
                let service = hyper::service::service_fn(move |req| {
                    seen.fetch_add(1, Ordering::Relaxed);
                    let answer = handler(req);
                    let seen = Arc::clone(&seen);
                    async move {
                        let answer = answer.await;
                        seen.fetch_add(1, Ordering::Relaxed);
                        Ok::<_, Infallible>(answer)
                    }
                });
                let conn = builder.serve_connection(io, service);
                if stops.len() == stops.capacity() {
                    stops.retain(|s| !s.is_closed());
                }
                let (stop_one, stopped) = oneshot::channel();
                stops.push(stop_one);
                tokio::spawn(async move {
                    watchdog::drive(conn, &activity, limits.idle_timeout, stopped).await;
                    drop(permit);
                });
            }
            Err(_) => match responders.clone().try_acquire_owned() {
                Ok(responder) => {
                    let conn = http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(io, hyper::service::service_fn(busy));
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(BUSY_TIMEOUT, conn).await;
                        drop(responder);
                    });
                }
                Err(_) => {
                    tracing::debug!("over the connection bound with every 429 responder busy; closing");
                    drop(io);
                }
            },
        }
    }
    drop(listener);
    for stop_one in stops {
        let _ = stop_one.send(());
    }
    // Every connection holds a permit until it ends: all of them back means all drained.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.drain, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the drain deadline");
    }
}

async fn busy<B>(_: hyper::Request<B>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let err = ApiError::new(ErrorCode::TooManyRequests, "too many connections; retry shortly");
    let mut resp = hyper::Response::new(Full::new(Bytes::from(err.to_json())));
    *resp.status_mut() = hyper::StatusCode::TOO_MANY_REQUESTS;
    let headers = resp.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    if let Some(s) = err.code.retry_after_seconds() {
        headers.insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from(s));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests;
