//! The HTTP API on 127.0.0.1, as the contract gives it. Every answer, errors included, is JSON
//! with a stable code; every `/v1/` route needs the token; a proxied request is refused.

mod guard;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::BytesMut;
use futures::future;
use http_body_util::{Either, Full};
use parking_lot::Mutex;
use serde_json::json;
use shared::query;
use shared::query::reverse::ProfileKey;
use shared::resolver::RawQuery;
use shared::{ApiError, ErrorCode, Resolver};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tower::ServiceExt;

pub use guard::{MAX_HEADER_BYTES, MAX_HEADERS, MAX_URI, TOKEN_HEADER};

pub use shared::query::MAX_BODY;
/// A declared body must arrive within this long, or the request is `RequestTimeout` and the
/// connection is closed: a client that never sends its body must not hold a slot.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// At most one forced refresh per this interval.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    resolver: Resolver,
    auth: Arc<crate::config::Auth>,
    last_refresh: Arc<Mutex<Option<Instant>>>,
}

impl AppState {
    /// State over a resolver with a token check.
    pub fn new(resolver: Resolver, auth: crate::config::Auth) -> Self {
        Self {
            resolver,
            auth: Arc::new(auth),
            last_refresh: Arc::default(),
        }
    }
}

/// A response: `/v1/resolve`'s bytes as they are, or the router's boxed body.
pub type Reply = http::Response<Either<Full<Bytes>, Body>>;

/// A request's answer: ready at once, or a boxed future for the rest.
pub type Answer = future::Either<future::Ready<Reply>, Pin<Box<dyn Future<Output = Reply> + Send>>>;

/// What hyper calls for each request. `/v1/resolve`, the hot path, is matched directly: the
/// router's guard and handlers, without its matching, middleware, boxed futures and boxed body
/// (measured in docs/performance.md). Every other request goes through the router.
#[derive(Clone)]
pub struct Api {
    state: AppState,
    router: Router,
}

impl Api {
    /// The API over `state`.
    pub fn new(state: AppState) -> Self {
        Self {
            router: router(state.clone()),
            state,
        }
    }

    /// Answers one request.
    ///
    /// A GET that this thread has answered from the region's current, fresh snapshot (the
    /// common case, `shared::resolver::Resolver::remembered`) is answered here, before any
    /// future exists, and so are the guard's refusals. The request is dropped at once, and
    /// nothing the size of the resolve's future is moved into hyper's. Everything else is a
    /// boxed future (docs/performance.md).
    pub fn call<B>(self: &Arc<Self>, req: http::Request<B>) -> Answer
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let direct = req.uri().path() == "/v1/resolve" && matches!(*req.method(), Method::GET | Method::POST);
        if !direct {
            let router = self.router.clone();
            return future::Either::Right(Box::pin(async move {
                match router.oneshot(req).await {
                    Ok(resp) => resp.map(Either::Right),
                    Err(never) => match never {},
                }
            }));
        }
        if let Err(problem) = guard::check(&self.state.auth, req.uri(), req.headers()) {
            return future::Either::Left(future::ready(problem.into_reply()));
        }
        if req.method() == Method::GET {
            let raw = RawQuery::QueryString(req.uri().query().unwrap_or(""));
            if let Some(body) = self.state.resolver.remembered(raw) {
                return future::Either::Left(future::ready(json_reply(200, body)));
            }
        }
        let api = Arc::clone(self);
        future::Either::Right(Box::pin(async move { api.resolve(req).await }))
    }

    /// `/v1/resolve` past its guard.
    async fn resolve<B>(&self, req: http::Request<B>) -> Reply
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let answered = if req.method() == Method::GET {
            answer_get(&self.state, req.uri()).await
        } else {
            let (parts, body) = req.into_parts();
            match read_limited(&parts.headers, body).await {
                Ok(body) => answer_post(&self.state, &body).await,
                Err(problem) => Err(problem),
            }
        };
        match answered {
            Ok(body) => json_reply(200, body),
            Err(problem) => problem.into_reply(),
        }
    }
}

/// The API as a connection holds it: a clone is a copy of the API in an allocation of its own,
/// not another reference to a shared one. A request that needs a future takes a reference for
/// it; with one shared `Arc` every worker thread would write its count, and that line would
/// move between cores each time (docs/performance.md). A copy per connection is counted on a
/// line only that connection's thread writes.
pub struct PerConnection(Arc<Api>);

impl PerConnection {
    /// Wraps `api`.
    pub fn new(api: Api) -> Self {
        Self(Arc::new(api))
    }

    /// Answers one request, as [`Api::call`].
    pub fn call<B>(&self, req: http::Request<B>) -> Answer
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        self.0.call(req)
    }
}

impl Clone for PerConnection {
    fn clone(&self) -> Self {
        Self::new(Api::clone(&self.0))
    }
}

/// The routes with their guards.
pub fn router(state: AppState) -> Router {
    // One flat router and one guard layer (proxy check, then the token on /v1/): this is the
    // hot path, and every layer or nested router costs each request.
    Router::new()
        .route("/health", get(health))
        .route("/v1/resolve", get(resolve_get).post(resolve_post))
        .route("/v1/resolve/batch", post(resolve_batch))
        .route("/v1/profiles/{*key}", get(profile))
        .route("/v1/refresh", post(refresh))
        .route("/v1/stats", get(stats))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}

/// An [`ApiError`] as a response.
#[derive(Debug)]
pub struct Problem(pub ApiError);

impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let retry = self.0.code.retry_after_seconds();
        with_retry_after(json_response(self.0.status(), self.0.to_json()), retry)
    }
}

impl Problem {
    fn into_reply(self) -> Reply {
        let retry = self.0.code.retry_after_seconds();
        with_retry_after(json_reply(self.0.status(), self.0.to_json()), retry)
    }
}

/// Adds `Retry-After: SECONDS` (429 and 503 answers, RFC 9110 section 10.2.3).
fn with_retry_after<B>(mut resp: http::Response<B>, seconds: Option<u32>) -> http::Response<B> {
    if let Some(s) = seconds {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    resp
}

/// A JSON body with a status, as the direct path sends it: the same status, headers and bytes
/// as [`json_response`], without the box.
fn json_reply(status: u16, body: String) -> Reply {
    with_json_headers(status, Either::Left(Full::new(Bytes::from(body))))
}

/// A JSON body with a status.
pub fn json_response(status: u16, body: String) -> Response {
    with_json_headers(status, Body::from(body))
}

fn with_json_headers<B>(status: u16, body: B) -> http::Response<B> {
    let mut resp = http::Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A body of at most [`MAX_BODY`] bytes; more is `PayloadTooLarge`.
pub struct Limited(Bytes);

impl<S: Send + Sync> FromRequest<S> for Limited {
    type Rejection = Problem;

    async fn from_request(req: Request, _: &S) -> Result<Self, Problem> {
        let (parts, body) = req.into_parts();
        read_limited(&parts.headers, body).await.map(Limited)
    }
}

/// Reads a body of at most [`MAX_BODY`] bytes within [`BODY_TIMEOUT`]; more is
/// `PayloadTooLarge`. A body that came with its head is read at the first poll, and no timer is
/// armed for it; otherwise the timeout counts from that first poll.
async fn read_limited<B>(headers: &HeaderMap, body: B) -> Result<Bytes, Problem>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    let too_large = || {
        Problem(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is over {} KiB", MAX_BODY / 1024),
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let mut read = pin!(read_to_end(http_body_util::Limited::new(body, MAX_BODY)));
    let once = poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
    let read = match once {
        Poll::Ready(read) => read,
        Poll::Pending => tokio::time::timeout(BODY_TIMEOUT, read).await.map_err(|_| {
            Problem(ApiError::new(
                ErrorCode::RequestTimeout,
                format!("the body did not arrive within {} s", BODY_TIMEOUT.as_secs()),
            ))
        })?,
    };
    read.map_err(|_| too_large())
}

/// A body's data, read until the body says it has ended: for a `content-length` body, as soon
/// as that many bytes have come. (hyper closes the body's channel only on its next pass, so
/// waiting for the close costs each request a second poll and a wake-up.) Trailers are ignored.
async fn read_to_end<B: hyper::body::Body<Data = Bytes>>(body: B) -> Result<Bytes, B::Error> {
    let mut body = pin!(body);
    let mut first = Bytes::new();
    let mut more: Option<BytesMut> = None;
    while !body.is_end_stream() {
        let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await else {
            break;
        };
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        match &mut more {
            Some(more) => more.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut joined = BytesMut::with_capacity(first.len() + data.len());
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&data);
                more = Some(joined);
            }
        }
    }
    Ok(more.map_or(first, BytesMut::freeze))
}

async fn resolve_get(State(s): State<AppState>, req: Request) -> Result<Response, Problem> {
    Ok(json_response(200, answer_get(&s, req.uri()).await?))
}

/// A GET resolve's 200 body. Repeated queries are answered from the resolver's memo
/// (`shared::resolver::RawQuery`).
async fn answer_get(s: &AppState, uri: &Uri) -> Result<String, Problem> {
    let raw = RawQuery::QueryString(uri.query().unwrap_or(""));
    Ok(s.resolver.resolve_raw(raw).await?)
}

async fn resolve_post(State(s): State<AppState>, Limited(body): Limited) -> Result<Response, Problem> {
    Ok(json_response(200, answer_post(&s, &body).await?))
}

/// A POST resolve's 200 body, as for GET.
async fn answer_post(s: &AppState, body: &[u8]) -> Result<String, Problem> {
    Ok(s.resolver.resolve_raw(RawQuery::Json(body)).await?)
}

async fn profile(State(s): State<AppState>, req: Request) -> Result<Response, Problem> {
    let encoded = req.uri().path().strip_prefix("/v1/profiles/").unwrap_or("");
    let key = ProfileKey::from_path(encoded, req.uri().query())?;
    let answer = s.resolver.profile(&key).await?;
    Ok(json_response(200, answer.to_json()))
}

async fn resolve_batch(State(s): State<AppState>, Limited(body): Limited) -> Result<Response, Problem> {
    let queries = query::parse_batch(&body)?;
    let answer = s.resolver.resolve_batch(queries).await?;
    Ok(json_response(200, answer.to_json()))
}

async fn refresh(State(s): State<AppState>, Limited(body): Limited) -> Result<Response, Problem> {
    let region = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match query::json::Json::parse(&body).map_err(|e| ApiError::invalid("body", e))? {
            query::json::Json::Object(members) => {
                let mut region = None;
                for (k, v) in members {
                    match (k.as_str(), v) {
                        ("region", query::json::Json::String(r)) if region.is_none() => region = Some(r),
                        ("region", _) => return Err(ApiError::invalid("region", "must be one string").into()),
                        (other, _) => return Err(ApiError::invalid(other, "unknown field").into()),
                    }
                }
                region
            }
            other => return Err(ApiError::invalid("body", format!("must be an object, not {}", other.kind())).into()),
        }
    };
    {
        let mut last = s.last_refresh.lock();
        if let Some(wait) = last.and_then(|t| REFRESH_INTERVAL.checked_sub(t.elapsed())) {
            let err = ApiError::new(ErrorCode::TooManyRequests, "at most one refresh every 5 seconds");
            // The seconds until the next refresh is allowed, rounded up.
            let seconds = u32::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(5).max(1);
            return Ok(with_retry_after(json_response(429, err.to_json()), Some(seconds)));
        }
        s.resolver.force_refresh(region.as_deref())?;
        *last = Some(Instant::now());
    }
    let regions = region.map_or_else(|| s.resolver.config().regions.clone(), |r| vec![r]);
    Ok(json_response(
        202,
        json!({"status": "accepted", "regions": regions}).to_string(),
    ))
}

async fn stats(State(s): State<AppState>) -> Response {
    let mut body = json!(s.resolver.stats().counters());
    body["regions"] = json!(s.resolver.health());
    json_response(200, body.to_string())
}

async fn health(State(s): State<AppState>) -> Response {
    json_response(200, json!({"status": "ok", "regions": s.resolver.health()}).to_string())
}

async fn not_found(req: Request) -> Problem {
    Problem(ApiError::new(
        ErrorCode::NotFound,
        format!("no route for {}", req.uri().path()),
    ))
}

async fn method_not_allowed(req: Request) -> Problem {
    Problem(ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    ))
}

#[cfg(test)]
mod tests;
