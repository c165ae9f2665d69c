//! Where answers come from: the extension over loopback (keep-alive, short timeout, the token),
//! or, when it is unreachable, the same engine in-process with its own cache across warm
//! invokes. Errors the extension reports pass through unchanged.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use shared::query::Query;
use shared::{ApiError, BatchAnswer, Resolver};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The header that carries the token.
pub const TOKEN_HEADER: &str = "x-profile-resolver-token";

/// What to resolve.
#[derive(Debug, Clone)]
pub enum Call {
    /// One query.
    One(Query),
    /// A batch; queries that failed to parse or were refused keep their error in place.
    Batch(Vec<Result<Query, ApiError>>),
}

/// Which path answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The extension.
    Extension,
    /// The in-process engine.
    InProcess,
}

/// An answer: the status and JSON body, exactly as the extension gives them.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
    /// Which path answered.
    pub via: Via,
}

/// A loopback client of the extension.
#[derive(Debug, Clone)]
pub struct ExtensionClient {
    base: String,
    token: Option<String>,
    timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl ExtensionClient {
    /// A keep-alive client. Idle connections are dropped well before the extension's own idle
    /// timeout, so a request never lands on a connection the server is closing.
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self {
            base: base.to_owned(),
            token,
            timeout,
            client,
        }
    }

    /// POSTs a JSON body and returns the status and body, or `None` when the extension could not
    /// be reached in time.
    pub async fn post(&self, path: &str, body: String) -> Option<(u16, Bytes)> {
        let mut req = Request::post(format!("{}{path}", self.base)).header("content-type", "application/json");
        if let Some(token) = &self.token {
            req = req.header(TOKEN_HEADER, token);
        }
        let req = req.body(Full::new(Bytes::from(body))).ok()?;
        let call = async {
            let resp = self.client.request(req).await.ok()?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.ok()?.to_bytes();
            Some((status, body))
        };
        tokio::time::timeout(self.timeout, call).await.ok().flatten()
    }
}

/// The extension with the in-process fallback.
pub struct Backend {
    extension: ExtensionClient,
    local: Resolver,
    warned: AtomicBool,
}

impl Backend {
    /// A backend that tries `extension` first and falls back to `local`.
    pub fn new(extension: ExtensionClient, local: Resolver) -> Self {
        Self {
            extension,
            local,
            warned: AtomicBool::new(false),
        }
    }

    /// Answers a call.
    pub async fn answer(&self, call: &Call) -> Reply {
        if let Call::Batch(items) = call {
            if items.iter().all(Result::is_err) {
                // Nothing to resolve: the errors are the answer, no engine needed.
                return self.in_process(call).await;
            }
        }
        if let Some(reply) = self.through_extension(call).await {
            return reply;
        }
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(url = %self.extension.base, "the extension is unreachable; resolving in-process");
        }
        self.in_process(call).await
    }

    async fn through_extension(&self, call: &Call) -> Option<Reply> {
        let reply = |status: u16, body: String| {
            Some(Reply {
                status,
                body,
                via: Via::Extension,
            })
        };
        match call {
            Call::One(query) => {
                let (status, body) = self.extension.post("/v1/resolve", query.to_string()).await?;
                usable(status)?;
                reply(status, String::from_utf8_lossy(&body).into_owned())
            }
            Call::Batch(items) => {
                let valid: Vec<&Query> = items.iter().filter_map(|q| q.as_ref().ok()).collect();
                let body = serde_json::json!({ "queries": valid }).to_string();
                let (status, bytes) = self.extension.post("/v1/resolve/batch", body).await?;
                usable(status)?;
                if status != 200 {
                    return reply(status, String::from_utf8_lossy(&bytes).into_owned());
                }
                let parsed: Value = serde_json::from_slice(&bytes).ok()?;
                let mut answered = parsed.get("results")?.as_array()?.iter();
                let merged: Vec<Value> = items
                    .iter()
                    .map(|item| match item {
                        Ok(_) => answered.next().cloned(),
                        Err(e) => Some(serde_json::json!({"status": e.status(), "error": e.body().error})),
                    })
                    .collect::<Option<_>>()?;
                reply(200, serde_json::json!({ "results": merged }).to_string())
            }
        }
    }

    async fn in_process(&self, call: &Call) -> Reply {
        let (status, body) = match call {
            Call::One(query) => match self.local.resolve(query).await {
                Ok(answer) => (200, answer.to_json()),
                Err(e) => (e.status(), e.to_json()),
            },
            Call::Batch(items) => (
                200,
                BatchAnswer(self.local.resolve_batch(items.clone()).await).to_json(),
            ),
        };
        Reply {
            status,
            body,
            via: Via::InProcess,
        }
    }
}

/// Statuses that mean "the extension cannot serve us" rather than an answer: a token mismatch
/// (401/403 from a misconfigured pair) or its connection limit (429).
fn usable(status: u16) -> Option<()> {
    if matches!(status, 401 | 403 | 429) {
        tracing::warn!(status, "the extension refused the call; resolving in-process");
        None
    } else {
        Some(())
    }
}
