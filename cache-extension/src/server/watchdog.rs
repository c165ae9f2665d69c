//! One connection's driver: its idle watchdog and its share of the graceful stop.
//!
//! The watchdog looks at the connection's request counter four times per idle timeout and
//! closes the connection after four looks in a row with no request started and none running:
//! between one and one and a quarter idle timeouts of silence. One timer per connection, never
//! one per request, so the hot path pays only two uncontended counter bumps.
//!
//! Closing means dropping the connection, which closes the socket. hyper's own graceful
//! shutdown cannot close a connection that has not finished its first request (its keep-alive
//! state starts busy), and that is exactly the connection a silent or trickling client holds.

use hyper::server::conn::http1::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until};

/// Looks per idle timeout.
const LOOKS: u32 = 4;

/// Drives `conn` until it ends, stays silent for `idle`, or the server stops. `activity` is
/// bumped as each request starts and as its answer is ready, so it is odd while one runs.
pub(super) async fn drive<I, S, B>(
    conn: Connection<I, S>,
    activity: &AtomicU64,
    idle: Duration,
    mut stop: oneshot::Receiver<()>,
) where
    Connection<I, S>: Future,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(conn);
    let look = idle / LOOKS;
    let mut next_look = Instant::now() + look;
    let mut last = activity.load(Ordering::Relaxed);
    let mut quiet = 0;
    let mut stopping = false;
    loop {
        tokio::select! {
            biased;
            _ = conn.as_mut() => return,
            () = sleep_until(next_look) => {
                let now = activity.load(Ordering::Relaxed);
                let running = now % 2 == 1;
                quiet = if now == last && !running { quiet + 1 } else { 0 };
                last = now;
                if quiet >= LOOKS {
                    tracing::debug!("closing a connection that started no request within the idle timeout");
                    return;
                }
                next_look += look;
            }
            // A sender dropped without a word means the server is gone: a stop too.
            _ = &mut stop, if !stopping => {
                // A connection that never started a request has nothing to finish.
                if activity.load(Ordering::Relaxed) == 0 {
                    return;
                }
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
