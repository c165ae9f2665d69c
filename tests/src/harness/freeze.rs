//! A Lambda Extensions API that freezes as Lambda does: the extension is stopped with SIGSTOP
//! as soon as it is back in `/next` and the invoke is over, and continued with SIGCONT when the
//! next event is delivered. The test process plays the runtime and the function, and keeps
//! running while the extension is frozen, like the world outside a sandbox.

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

#[derive(Default)]
struct Inner {
    /// Lambda Managed Instances: registrations for anything but `SHUTDOWN` are refused.
    managed: bool,
    /// Registrations refused so far.
    refused: u32,
    registered: Option<String>,
    init_error: Option<String>,
    /// The extension's parked `/next`, waiting for an event.
    parked: Option<oneshot::Sender<Value>>,
    /// `/next` calls so far.
    nexts: u64,
    /// When the last event was delivered, and when the extension next came back to `/next`.
    delivered_at: Option<Instant>,
    returned_after: Vec<Duration>,
}

type Shared = Arc<Mutex<Inner>>;

/// The fake Extensions API on a free 127.0.0.1 port, served from its own thread.
pub struct FakeLambda {
    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub runtime_api: String,
    state: Shared,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    frozen: Option<u32>,
}

impl FakeLambda {
    /// Starts the API.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_as(false)
    }

    /// As Lambda Managed Instances' Extensions API: a registration for any event but
    /// `SHUTDOWN` is refused with 400, and nothing here freezes unless a test asks.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start_managed() -> anyhow::Result<Self> {
        Self::start_as(true)
    }

    fn start_as(managed: bool) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let runtime_api = listener.local_addr()?.to_string();
        let state = Shared::default();
        state.lock().managed = managed;
        let app = Router::new()
            .route("/2020-01-01/extension/register", post(register))
            .route("/2020-01-01/extension/event/next", get(next))
            .route("/2020-01-01/extension/init/error", post(init_error))
            .with_state(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Ok(Self {
            runtime_api,
            state,
            stop: Some(stop),
            thread: Some(thread),
            frozen: None,
        })
    }

    /// Registrations refused so far (Lambda Managed Instances).
    pub fn refused(&self) -> u32 {
        self.state.lock().refused
    }

    /// Whether the extension has registered; an init error it reported, if any.
    pub fn registered(&self) -> (bool, Option<String>) {
        let s = self.state.lock();
        (s.registered.is_some(), s.init_error.clone())
    }

    /// Waits, at most `limit`, until the extension is parked in `/next`.
    ///
    /// # Errors
    /// When it does not come back in time.
    pub fn wait_parked(&self, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        while self.state.lock().parked.is_none() {
            if start.elapsed() > limit {
                bail!("the extension did not come back to /next within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Ends the invoke (or init) as Lambda does: once the extension is back in `/next` (waiting
    /// at most `limit`), the sandbox is frozen with SIGSTOP.
    ///
    /// # Errors
    /// When the extension does not come back, or cannot be stopped.
    pub fn freeze(&mut self, pid: u32, limit: Duration) -> anyhow::Result<()> {
        self.wait_parked(limit)?;
        signal("STOP", pid)?;
        self.frozen = Some(pid);
        Ok(())
    }

    /// Thaws the sandbox with SIGCONT and delivers an INVOKE whose deadline is `timeout` away.
    ///
    /// # Errors
    /// When the extension is not parked in `/next`.
    pub fn invoke(&mut self, timeout: Duration) -> anyhow::Result<()> {
        if let Some(pid) = self.frozen.take() {
            signal("CONT", pid)?;
        }
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(timeout)
            .as_millis() as u64;
        let event = json!({"eventType": "INVOKE", "deadlineMs": deadline,
                           "requestId": format!("req-{}", fastrand::u64(..)),
                           "invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:freeze",
                           "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-0-0"}});
        self.deliver(event)
    }

    /// Delivers SHUTDOWN (thawing first).
    ///
    /// # Errors
    /// When the extension is not parked in `/next`.
    pub fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.frozen.take() {
            signal("CONT", pid)?;
        }
        self.deliver(json!({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 0}))
    }

    fn deliver(&self, event: Value) -> anyhow::Result<()> {
        let mut s = self.state.lock();
        let parked = s.parked.take().context("the extension is not waiting in /next")?;
        s.delivered_at = Some(Instant::now());
        parked
            .send(event)
            .map_err(|_| anyhow::anyhow!("the extension hung up on /next"))
    }

    /// For each delivered event, how long the extension took to come back to `/next`.
    pub fn returned_after(&self) -> Vec<Duration> {
        self.state.lock().returned_after.clone()
    }

    /// `/next` calls so far.
    pub fn nexts(&self) -> u64 {
        self.state.lock().nexts
    }
}

impl Drop for FakeLambda {
    fn drop(&mut self) {
        if let Some(pid) = self.frozen.take() {
            let _ = signal("CONT", pid);
        }
        // A parked `/next` would hold the graceful stop for ever: answer it first.
        drop(self.state.lock().parked.take());
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn signal(name: &str, pid: u32) -> anyhow::Result<()> {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()?
        .success();
    if !ok {
        bail!("kill -{name} {pid} failed");
    }
    Ok(())
}

async fn register(State(s): State<Shared>, headers: HeaderMap, body: bytes::Bytes) -> Response {
    let name = headers
        .get("lambda-extension-name")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if name.is_empty() {
        return (StatusCode::BAD_REQUEST, "Lambda-Extension-Name is required").into_response();
    }
    let events: Vec<String> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| serde_json::from_value(b["events"].clone()).ok())
        .unwrap_or_default();
    if s.lock().managed && events.iter().any(|e| e != "SHUTDOWN") {
        s.lock().refused += 1;
        let error = json!({"errorType": "Extension.InvalidEventType",
                           "errorMessage": "Lambda Managed Instances accept SHUTDOWN registrations only"});
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    s.lock().registered = Some(name);
    let body = json!({"functionName": "freeze", "functionVersion": "$LATEST", "handler": "bootstrap"});
    ([("lambda-extension-identifier", "ext-0001")], axum::Json(body)).into_response()
}

async fn init_error(State(s): State<Shared>, headers: HeaderMap) -> StatusCode {
    let kind = headers
        .get("lambda-extension-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    s.lock().init_error = Some(kind);
    StatusCode::ACCEPTED
}

async fn next(State(s): State<Shared>) -> Response {
    let (tx, rx) = oneshot::channel();
    {
        let mut s = s.lock();
        s.nexts += 1;
        if let Some(at) = s.delivered_at.take() {
            s.returned_after.push(at.elapsed());
        }
        s.parked = Some(tx);
    }
    match rx.await {
        Ok(event) => ([("lambda-extension-event-identifier", "evt")], axum::Json(event)).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
