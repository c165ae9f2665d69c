//! Where answers come from: the extension over loopback (keep-alive, short timeout, the token),
//! or, when it is unreachable, the same engine in-process with its own cache across warm
//! invokes. Errors the extension reports pass through unchanged.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;
use shared::answer::{BatchItem, MAX_ANSWER_BYTES, too_many_results};
use shared::query::reverse::ProfileKey;
use shared::query::{MAX_BATCH, MAX_BODY, MAX_KEYS, Query};
use shared::source::Operation;
use shared::{ApiError, ErrorCode, Resolver};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// The header that carries the token.
pub const TOKEN_HEADER: &str = "x-profile-resolver-token";

/// What to resolve.
#[derive(Debug, Clone)]
pub enum Call {
    /// One query.
    One(Query),
    /// A batch; queries that failed to parse or were refused keep their error in place.
    Batch(Vec<Result<Query, ApiError>>),
    /// A reverse lookup; under tenant isolation, the (tag, tenant) the profile must carry.
    Profile(ProfileKey, Option<(String, String)>),
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
    /// be reached in time: within its timeout, and never past `until` (the invoke's deadline).
    pub async fn post(&self, path: &str, body: String, until: Instant) -> Option<(u16, Bytes)> {
        let req = Request::post(format!("{}{path}", self.base)).header("content-type", "application/json");
        self.send(req, Bytes::from(body), until).await
    }

    /// GETs a path, as [`ExtensionClient::post`] does.
    pub async fn get(&self, path: &str, until: Instant) -> Option<(u16, Bytes)> {
        self.send(Request::get(format!("{}{path}", self.base)), Bytes::new(), until)
            .await
    }

    async fn send(&self, mut req: hyper::http::request::Builder, body: Bytes, until: Instant) -> Option<(u16, Bytes)> {
        if let Some(token) = &self.token {
            req = req.header(TOKEN_HEADER, token);
        }
        let req = req.body(Full::new(body)).ok()?;
        let call = async {
            let resp = self.client.request(req).await.ok()?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.ok()?.to_bytes();
            Some((status, body))
        };
        let deadline = (Instant::now() + self.timeout).min(until);
        tokio::time::timeout_at(deadline, call).await.ok().flatten()
    }
}

/// The extension with the in-process fallback.
pub struct Backend {
    extension: ExtensionClient,
    local: Resolver,
    warned: AtomicBool,
    /// Lambda Managed Instances: the environment never freezes, and invokes overlap.
    unfrozen: bool,
}

impl Backend {
    /// A backend that tries `extension` first and falls back to `local`.
    pub fn new(extension: ExtensionClient, local: Resolver) -> Self {
        Self {
            extension,
            local,
            warned: AtomicBool::new(false),
            unfrozen: false,
        }
    }

    /// On Lambda Managed Instances nothing freezes and invokes overlap: an invoke neither marks
    /// a thaw nor waits for in-process refreshes before it returns (one invoke's end is not the
    /// sandbox's pause, and a refresh left running is not cut).
    #[must_use]
    pub fn unfrozen(mut self, unfrozen: bool) -> Self {
        self.unfrozen = unfrozen;
        self
    }

    /// Answers a call. Any refresh the in-process engine started for it ends before this
    /// returns, bounded by `until`: the sandbox may freeze as soon as the invoke ends, and a
    /// refresh cut by the freeze would be wasted.
    pub async fn answer(&self, call: &Call, until: Instant) -> Reply {
        let reply = match call {
            Call::One(query) => self.one(call, query, until).await,
            Call::Batch(items) => self.batch(call, items, until).await,
            Call::Profile(key, tenant) => self.profile(call, key, tenant.as_ref(), until).await,
        };
        if !self.unfrozen {
            self.local.settle(until).await;
        }
        reply
    }

    /// The function's account, from its ARN: published snapshots for another are refused.
    pub fn pin_account(&self, function_arn: &str) {
        if let Some(account) = shared::config::account_of(function_arn) {
            self.local.pin_account(account);
        }
    }

    /// The sandbox thawed: an invoke began.
    pub fn thawed(&self) {
        if !self.unfrozen {
            self.local.thawed();
        }
    }

    /// The invoke is over: the runtime parks in `/next`, and the sandbox may freeze.
    pub fn parked(&self) {
        if !self.unfrozen {
            self.local.parked();
        }
    }

    async fn one(&self, call: &Call, query: &Query, until: Instant) -> Reply {
        let body = query.to_string();
        if !forwardable(query, &body) {
            // Tenant pinning or the canonical form took the query past the extension's limits,
            // though the client's own request was within them: the engine here answers it.
            return self.in_process(call).await;
        }
        match self.extension.post("/v1/resolve", body, until).await {
            Some((status, body)) if usable(status, &body) => Reply {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
                via: Via::Extension,
            },
            _ => self.fallback(call).await,
        }
    }

    /// A batch: refused items keep their error in place; the rest go to the extension in as
    /// many requests as its limits need (each bounded by the invoke's deadline), except queries
    /// it would refuse, which the engine here answers. Any failure of the extension sends the
    /// whole batch to the engine here. Results are kept as the extension wrote them (never
    /// parsed into a `serde_json::Value`), and the whole answer is held to the same limit as
    /// the extension's (`TooManyResults`).
    async fn batch(&self, call: &Call, items: &[Result<Query, ApiError>], until: Instant) -> Reply {
        if items.iter().all(Result::is_err) {
            // Nothing to resolve: the errors are the answer, no engine needed.
            return self.in_process(call).await;
        }
        let mut results: Vec<Option<String>> = items
            .iter()
            .map(|i| i.as_ref().err().and_then(|e| item_json(&Err(e.clone()))))
            .collect();
        let mut local = Vec::new();
        let mut chunks = Chunks::default();
        for (i, item) in items.iter().enumerate() {
            if let Ok(query) = item {
                let body = query.to_string();
                if forwardable(query, &body) {
                    chunks.push(i, body);
                } else {
                    local.push((i, query));
                }
            }
        }
        // A request refused as TooManyResults refuses the whole batch; its count and bytes are
        // added to the rest's, so that the count is the whole batch's, as the engine here gives.
        let mut refused = (0usize, 0usize);
        for (indices, body) in chunks.done() {
            let Some((status, bytes)) = self.extension.post("/v1/resolve/batch", body, until).await else {
                return self.fallback(call).await;
            };
            if status == 413 && is_too_many_results(&bytes) {
                let (count, size) = refusal_size(&bytes);
                refused = (refused.0 + count, refused.1 + size);
                for i in indices {
                    results[i] = Some(String::new());
                }
                continue;
            }
            let Some(answered) = batch_results(status, &bytes) else {
                return self.fallback(call).await;
            };
            if answered.len() != indices.len() {
                return self.fallback(call).await;
            }
            for (i, result) in indices.into_iter().zip(answered) {
                results[i] = Some(result.get().to_owned());
            }
        }
        for (i, query) in local {
            results[i] = item_json(&self.local.resolve(query).await);
        }
        let Some(results) = results.into_iter().collect::<Option<Vec<String>>>() else {
            return self.fallback(call).await;
        };
        // `{"results":[`, the items with a comma between each, `]}`.
        let bytes = results.iter().map(|r| r.len() + 1).sum::<usize>() + 13 + refused.1;
        if bytes > MAX_ANSWER_BYTES {
            let count = results.iter().map(|r| profiles_in(r)).sum::<usize>() + refused.0;
            let err = too_many_results("the batch's answer", count, bytes);
            return Reply {
                status: err.status(),
                body: err.to_json(),
                via: Via::Extension,
            };
        }
        let mut body = String::with_capacity(bytes);
        body.push_str(r#"{"results":["#);
        for (i, r) in results.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(r);
        }
        body.push_str("]}");
        Reply {
            status: 200,
            body,
            via: Via::Extension,
        }
    }

    /// A reverse lookup. Under tenant isolation, a profile without the caller's tenant tag is
    /// answered exactly as an unknown one, so another tenant's ARN cannot be probed.
    async fn profile(&self, call: &Call, key: &ProfileKey, tenant: Option<&(String, String)>, until: Instant) -> Reply {
        let reply = match self.extension.get(&key.to_path(), until).await {
            Some((status, body)) if usable(status, &body) => Reply {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
                via: Via::Extension,
            },
            _ => self.fallback(call).await,
        };
        let Some((tag, id)) = tenant else {
            return reply;
        };
        let carries = || {
            serde_json::from_str::<Value>(&reply.body)
                .ok()
                .is_some_and(|b| b["profile"]["tags"][tag.as_str()].as_str() == Some(id.as_str()))
        };
        // An unknown profile falls through to the routes; when only they failed, the answer
        // (503) would tell it apart from another tenant's profile (404): both are 404.
        if (reply.status != 200 || carries()) && !only_routes_failed(&reply) {
            return reply;
        }
        let region = key.region.as_deref().unwrap_or(&self.local.config().home_region);
        let hidden = ApiError::new(ErrorCode::NoMatch, format!("no profile {} in {region}", key.asked));
        Reply {
            status: hidden.status(),
            body: hidden.to_json(),
            via: reply.via,
        }
    }

    async fn fallback(&self, call: &Call) -> Reply {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(url = %self.extension.base, "the extension is unreachable or refused the call; resolving in-process");
        }
        self.in_process(call).await
    }

    async fn in_process(&self, call: &Call) -> Reply {
        let (status, body) = match call {
            Call::One(query) => match self.local.resolve(query).await {
                Ok(answer) => (200, answer.to_json()),
                Err(e) => (e.status(), e.to_json()),
            },
            Call::Batch(items) => match self.local.resolve_batch(items.clone()).await {
                Ok(answer) => (200, answer.to_json()),
                Err(e) => (e.status(), e.to_json()),
            },
            Call::Profile(key, _) => match self.local.profile(key).await {
                Ok(answer) => (200, answer.to_json()),
                Err(e) => (e.status(), e.to_json()),
            },
        };
        Reply {
            status,
            body,
            via: Via::InProcess,
        }
    }
}

/// Statuses that mean "the extension cannot serve us" rather than an answer: a token mismatch
/// (401/403 from a misconfigured pair), its connection limit (429), or a request it could not
/// take (413 `PayloadTooLarge`). A 413 `TooManyResults` is an answer: the engine here would give
/// the same one.
fn usable(status: u16, body: &[u8]) -> bool {
    let refused = matches!(status, 401 | 403 | 429) || (status == 413 && !is_too_many_results(body));
    if refused {
        tracing::warn!(status, "the extension refused the call; resolving in-process");
    }
    !refused
}

/// Whether the extension accepts this query in its canonical form: tenant pinning can add a
/// key, and the canonical form is longer than a compact client body.
fn forwardable(query: &Query, body: &str) -> bool {
    query.tags.len() <= MAX_KEYS && body.len() + BATCH_OVERHEAD <= MAX_BODY
}

/// `{"queries":[` and `]}`.
const BATCH_OVERHEAD: usize = 14;

/// Queries grouped into batch requests within the extension's limits.
#[derive(Default)]
struct Chunks {
    done: Vec<(Vec<usize>, String)>,
    indices: Vec<usize>,
    body: String,
}

impl Chunks {
    fn push(&mut self, index: usize, query: String) {
        let full = self.indices.len() == MAX_BATCH || self.body.len() + query.len() + 1 + BATCH_OVERHEAD > MAX_BODY;
        if full && !self.indices.is_empty() {
            self.flush();
        }
        if !self.indices.is_empty() {
            self.body.push(',');
        }
        self.body.push_str(&query);
        self.indices.push(index);
    }

    fn flush(&mut self) {
        let body = format!(r#"{{"queries":[{}]}}"#, std::mem::take(&mut self.body));
        self.done.push((std::mem::take(&mut self.indices), body));
    }

    fn done(mut self) -> Vec<(Vec<usize>, String)> {
        if !self.indices.is_empty() {
            self.flush();
        }
        self.done
    }
}

/// The results of a 200 batch answer, each as the extension wrote it.
fn batch_results(status: u16, body: &[u8]) -> Option<Vec<&RawValue>> {
    #[derive(Deserialize)]
    struct Results<'a> {
        #[serde(borrow)]
        results: Vec<&'a RawValue>,
    }
    if status != 200 {
        tracing::warn!(status, "the extension refused a batch; resolving in-process");
        return None;
    }
    serde_json::from_slice::<Results<'_>>(body).ok().map(|r| r.results)
}

/// An error body's code and failing operation, read without building a `serde_json::Value`.
fn error_code(body: &[u8]) -> Option<(String, Option<String>)> {
    #[derive(Deserialize)]
    struct Body {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        code: String,
        #[serde(default)]
        operation: Option<String>,
    }
    let b: Body = serde_json::from_slice(body).ok()?;
    Some((b.error.code, b.error.operation))
}

fn is_too_many_results(body: &[u8]) -> bool {
    error_code(body).is_some_and(|(code, _)| code == ErrorCode::TooManyResults.as_str())
}

/// The profile count of a `TooManyResults` refusal, and the answer size it reports (at least
/// the limit: it was over it).
fn refusal_size(body: &[u8]) -> (usize, usize) {
    #[derive(Deserialize)]
    struct Body {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        #[serde(default)]
        count: usize,
    }
    let count = serde_json::from_slice::<Body>(body).map_or(0, |b| b.error.count);
    (count, MAX_ANSWER_BYTES + 1)
}

/// A 503 that only the routes' call caused: the tag snapshot answered "no such profile".
fn only_routes_failed(reply: &Reply) -> bool {
    reply.status == 503
        && error_code(reply.body.as_bytes()).is_some_and(|(code, op)| {
            code == ErrorCode::UpstreamUnavailable.as_str()
                && op.as_deref() == Some(Operation::GetParametersByPath.as_str())
        })
}

/// One batch item in its wire form.
fn item_json(result: &Result<shared::Resolution, ApiError>) -> Option<String> {
    serde_json::to_string(&BatchItem(result)).ok()
}

/// How many profiles a batch item's answer holds.
fn profiles_in(item: &str) -> usize {
    #[derive(Deserialize)]
    struct Counted {
        #[serde(default)]
        profiles: Option<Vec<IgnoredAny>>,
        #[serde(default)]
        profile: Option<IgnoredAny>,
    }
    serde_json::from_str::<Counted>(item)
        .map(|c| c.profiles.map_or(usize::from(c.profile.is_some()), |p| p.len()))
        .unwrap_or(0)
}
