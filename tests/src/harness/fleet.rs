//! Fleet-mode plumbing for tests: a counting proxy in front of moto's S3 (so that tests count
//! the GETs and 304s readers really send), a fake Lambda Runtime API that invokes the real
//! `snapshot-publisher` binary with real event payloads, and a few raw S3 calls.

use super::lambda::Scratch;
use super::{Proc, binary, http};
use anyhow::{Context, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::fs;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A signed-looking header: moto reads the region from it and checks no signature.
pub fn s3_auth(region: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential=test/20260101/{region}/s3/aws4_request, SignedHeaders=host, Signature=0")
}

/// Creates a bucket in moto.
///
/// # Errors
/// When moto refuses it.
pub fn create_bucket(s3: &str, bucket: &str) -> anyhow::Result<()> {
    let reply = http::request(
        s3,
        "PUT",
        &format!("/{bucket}"),
        &[("authorization", &s3_auth("us-east-1"))],
        b"",
    )?;
    if reply.status != 200 {
        bail!("CreateBucket {bucket}: {} {}", reply.status, reply.body);
    }
    Ok(())
}

/// Writes an object, as another writer (or a broken one) would.
///
/// # Errors
/// When S3 refuses it.
pub fn put_object(s3: &str, bucket: &str, key: &str, body: &[u8]) -> anyhow::Result<String> {
    let reply = http::request(
        s3,
        "PUT",
        &format!("/{bucket}/{key}"),
        &[
            ("authorization", &s3_auth("us-east-1")),
            ("content-type", "application/json"),
        ],
        body,
    )?;
    if reply.status != 200 {
        bail!("PutObject {key}: {} {}", reply.status, reply.body);
    }
    Ok(reply.header("etag").unwrap_or_default().to_owned())
}

/// Reads an object: status, ETag and body.
///
/// # Errors
/// Connection failures.
pub fn get_object(s3: &str, bucket: &str, key: &str) -> anyhow::Result<http::Reply> {
    Ok(http::request(
        s3,
        "GET",
        &format!("/{bucket}/{key}"),
        &[("authorization", &s3_auth("us-east-1"))],
        b"",
    )?)
}

/// One request the proxy forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The path, `/bucket/key`.
    pub path: String,
    /// The upstream's status.
    pub status: u16,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A reverse proxy on a free 127.0.0.1 port that forwards to `upstream` and records every
/// request, served from its own thread.
pub struct CountingProxy {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    log: Log,
    failing: Failing,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The path suffix whose PUTs fail, if any.
type Failing = Arc<Mutex<Option<String>>>;

#[derive(Clone)]
struct Forward {
    upstream: String,
    client: Client<HttpConnector, Body>,
    log: Log,
    failing: Failing,
}

impl CountingProxy {
    /// Starts forwarding to `upstream` (`http://127.0.0.1:PORT`).
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start(upstream: &str) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let log = Log::default();
        let failing = Failing::default();
        let forward = Forward {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            log: log.clone(),
            failing: failing.clone(),
        };
        let app = Router::new().fallback(proxy).with_state(forward);
        let (stop, thread) = serve(listener, app);
        Ok(Self {
            url,
            log,
            failing,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().clone()
    }

    /// GETs of paths ending in `suffix`: (200s, 304s).
    pub fn gets(&self, suffix: &str) -> (usize, usize) {
        let log = self.log.lock();
        let of = |status| {
            log.iter()
                .filter(|s| s.method == "GET" && s.path.ends_with(suffix) && s.status == status)
                .count()
        };
        (of(200), of(304))
    }

    /// Answers every PUT of a path ending in `suffix` with S3's `503 SlowDown`, without
    /// forwarding it (`None`: forward everything again).
    pub fn fail_puts(&self, suffix: Option<&str>) {
        *self.failing.lock() = suffix.map(str::to_owned);
    }

    /// Forgets what it saw.
    pub fn clear(&self) {
        self.log.lock().clear();
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn proxy(State(f): State<Forward>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let Ok(uri) = format!("{}{path}", f.upstream).parse() else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    parts.uri = uri;
    let method = parts.method.to_string();
    let failing = f.failing.lock().clone();
    if method == "PUT" && failing.is_some_and(|suffix| path.split('?').next().unwrap_or("").ends_with(&suffix)) {
        f.log.lock().push(Seen {
            method,
            path: path.split('?').next().unwrap_or("").to_owned(),
            status: 503,
        });
        let body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    }
    match f.client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => {
            f.log.lock().push(Seen {
                method,
                path: path.split('?').next().unwrap_or("").to_owned(),
                status: resp.status().as_u16(),
            });
            resp.map(Body::new).into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

fn serve(listener: std::net::TcpListener, app: Router) -> (oneshot::Sender<()>, std::thread::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        else {
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
    (stop, thread)
}

/// An invocation's outcome: the response, or the error the function reported.
pub type Outcome = Result<Value, Value>;

#[derive(Default)]
struct Runtime {
    closing: bool,
    /// Request id, payload and Lambda's tenant id (tenant isolation mode), if any.
    queue: VecDeque<(String, Value, Option<String>)>,
    outcomes: Vec<(String, Outcome)>,
}

type SharedRuntime = Arc<Mutex<Runtime>>;

/// A Lambda Runtime API for one function process: it hands queued payloads to
/// `/invocation/next` and records `/response` and `/error`.
pub struct FakeRuntime {
    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub runtime_api: String,
    state: SharedRuntime,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeRuntime {
    /// Starts the API on a free port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start() -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let runtime_api = listener.local_addr()?.to_string();
        let state = SharedRuntime::default();
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone());
        let (stop, thread) = serve(listener, app);
        Ok(Self {
            runtime_api,
            state,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Starts `exe` as the function this API serves: Lambda's own variables (the function's
    /// name is the file's), then `env`, which may override them; its output goes to `log`.
    ///
    /// # Errors
    /// When it cannot be spawned.
    pub fn start_function(
        &self,
        exe: &std::path::Path,
        env: &[(String, String)],
        log: &std::path::Path,
    ) -> anyhow::Result<Proc> {
        let name = exe
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("function")
            .to_owned();
        let out = fs::File::create(log)?;
        let child = Command::new(exe)
            .env("AWS_LAMBDA_RUNTIME_API", &self.runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(out.try_clone()?)
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {}", exe.display()))?;
        Ok(Proc::new(child, &name))
    }

    /// Invokes the function with `payload` and waits, at most `timeout`, for its outcome.
    ///
    /// # Errors
    /// When it does not answer in time.
    pub fn invoke(&self, payload: Value, timeout: Duration) -> anyhow::Result<Outcome> {
        self.invoke_as(payload, None, timeout)
    }

    /// As [`FakeRuntime::invoke`], with `tenant` as Lambda's tenant isolation mode sends it
    /// (`Lambda-Runtime-Aws-Tenant-Id`).
    ///
    /// # Errors
    /// When it does not answer in time.
    pub fn invoke_as(&self, payload: Value, tenant: Option<&str>, timeout: Duration) -> anyhow::Result<Outcome> {
        let id = format!("req-{}", fastrand::u64(..));
        self.state
            .lock()
            .queue
            .push_back((id.clone(), payload, tenant.map(str::to_owned)));
        let start = Instant::now();
        while start.elapsed() < timeout {
            {
                let mut s = self.state.lock();
                if let Some(pos) = s.outcomes.iter().position(|(i, _)| *i == id) {
                    return Ok(s.outcomes.remove(pos).1);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        bail!("the function did not answer {id} within {timeout:?}")
    }
}

impl Drop for FakeRuntime {
    fn drop(&mut self) {
        self.state.lock().closing = true;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn next(State(s): State<SharedRuntime>) -> Response {
    // A long poll, as Lambda's: bounded so that a stopped test never leaves it hanging.
    for _ in 0..60_000 {
        let item = {
            let mut s = s.lock();
            if s.closing {
                break;
            }
            s.queue.pop_front()
        };
        if let Some((id, payload, tenant)) = item {
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                + 60_000;
            let mut headers = vec![
                ("lambda-runtime-aws-request-id", id),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:snapshot-publisher".to_owned(),
                ),
                ("lambda-runtime-trace-id", "Root=1-0-0".to_owned()),
                ("content-type", "application/json".to_owned()),
            ];
            if let Some(tenant) = tenant {
                headers.push(("lambda-runtime-aws-tenant-id", tenant));
            }
            let mut response = payload.to_string().into_response();
            for (name, value) in headers {
                if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                    response.headers_mut().insert(name, value);
                }
            }
            return response;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    StatusCode::GATEWAY_TIMEOUT.into_response()
}

async fn response(
    State(s): State<SharedRuntime>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: bytes::Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.lock().outcomes.push((id, Ok(value)));
    StatusCode::ACCEPTED
}

async fn error(
    State(s): State<SharedRuntime>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: bytes::Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&body)}));
    s.lock().outcomes.push((id, Err(value)));
    StatusCode::ACCEPTED
}

async fn init_error(body: bytes::Bytes) -> StatusCode {
    tracing::error!(body = %String::from_utf8_lossy(&body), "the function reported an init error");
    StatusCode::ACCEPTED
}

/// The real `snapshot-publisher` binary under a [`FakeRuntime`].
pub struct Publisher {
    /// Its process (first: dropped, so killed, before its Runtime API stops).
    pub proc: Proc,
    /// Its Runtime API.
    pub runtime: FakeRuntime,
    log: std::path::PathBuf,
}

impl Publisher {
    /// Starts the publisher with `env` (see [`super::aws_env`]).
    ///
    /// # Errors
    /// When it cannot be spawned.
    pub fn start(scratch: &Scratch, env: &[(String, String)]) -> anyhow::Result<Self> {
        let runtime = FakeRuntime::start()?;
        let log = scratch.path(&format!("publisher-{}.log", fastrand::u32(..)));
        let out = fs::File::create(&log)?;
        let child = Command::new(binary("snapshot-publisher"))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", "snapshot-publisher")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdout(out.try_clone()?)
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .context("spawning snapshot-publisher (cargo build --workspace first)")?;
        Ok(Self {
            runtime,
            proc: Proc::new(child, "snapshot-publisher"),
            log,
        })
    }

    /// Invokes it with `payload`, waiting at most 30 s.
    ///
    /// # Errors
    /// When it does not answer.
    pub fn invoke(&self, payload: Value) -> anyhow::Result<Outcome> {
        self.runtime
            .invoke(payload, Duration::from_secs(30))
            .with_context(|| self.logs())
    }

    /// Its logs so far.
    pub fn logs(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}
