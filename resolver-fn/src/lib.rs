//! # resolver-fn
//!
//! A Lambda function that answers "which profile ARN serves these tags?" for clients that are
//! not Lambda functions themselves: SDK invokes, Step Functions, and HTTP through API Gateway
//! (REST and HTTP APIs), Function URLs and ALB.
//!
//! - A direct invoke's payload is a query (`{"tags": ..., "region": ..., "match": ...}`) or a
//!   batch (`{"queries": [...]}`). Success returns the extension's 200 answer; failure is a
//!   function error whose `errorType` is the stable code (`NoMatch`, `AmbiguousMatch`, ...).
//! - HTTP events are routed to `GET`/`POST /v1/resolve` and `POST /v1/resolve/batch` (behind any
//!   stage or base path) and answered in their own format with the extension's status and body.
//! - Answers come from the `cache-extension` on loopback, or from the same engine in-process
//!   when the extension is unreachable.
//! - With `PROFILE_RESOLVER_TENANT_TAG` and `PROFILE_RESOLVER_TENANT_CLAIM`, HTTP queries are
//!   pinned to the caller's tenant claim. Direct invokes are trusted: IAM decides who invokes.
//!
//! ## Environment
//! The engine's variables (see `cache-extension`), plus:
//! | variable | default | meaning |
//! |---|---|---|
//! | `PROFILE_RESOLVER_EXTENSION_URL` | `http://127.0.0.1:9797` | the extension |
//! | `PROFILE_RESOLVER_EXTENSION_TIMEOUT_MS` | upstream timeout + 1000 | then resolve in-process |
//! | `PROFILE_RESOLVER_TENANT_TAG` / `PROFILE_RESOLVER_TENANT_CLAIM` | unset | tenant isolation |

pub mod backend;
pub mod config;
pub mod event;
pub mod metrics;
pub mod tenant;

use backend::{Backend, Call, Reply, Via};
use config::{Config, Tenancy};
use event::{Flavor, Kind, Route};
use lambda_runtime::{Diagnostic, LambdaEvent};
use metrics::{Metrics, Outcome};
use serde_json::Value;
use serde_json::value::RawValue;
use shared::query::json::Json;
use shared::query::reverse::ProfileKey;
use shared::query::{self, Query};
use shared::{ApiError, ErrorCode};
use std::time::{Duration, Instant, SystemTime};

/// Refreshes of the in-process engine stop this long before the invocation's deadline.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// A failed direct invoke: `errorType` is the contract's stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct FnError {
    /// The stable code.
    pub error_type: String,
    /// A readable message.
    pub message: String,
}

impl From<ApiError> for FnError {
    fn from(e: ApiError) -> Self {
        Self {
            error_type: e.code.as_str().to_owned(),
            message: e.message,
        }
    }
}

impl From<FnError> for Diagnostic {
    fn from(e: FnError) -> Self {
        Diagnostic {
            error_type: e.error_type,
            error_message: e.message,
        }
    }
}

/// The function: a backend, tenant isolation and metrics.
pub struct App {
    backend: Backend,
    tenancy: Option<Tenancy>,
    tenant_tag: String,
    metrics: Metrics,
}

impl App {
    /// An app over its parts.
    pub fn new(backend: Backend, config: &Config, metrics: Metrics) -> Self {
        Self {
            backend,
            tenancy: config.tenancy.clone(),
            tenant_tag: config.tenant_tag.clone(),
            metrics,
        }
    }

    /// Handles one invocation of any shape.
    ///
    /// # Errors
    /// For direct invokes, the error of the query with its stable code. HTTP events always
    /// succeed: their errors are in the status code.
    pub async fn handle(&self, event: LambdaEvent<Box<RawValue>>) -> Result<Box<RawValue>, FnError> {
        let started = Instant::now();
        self.backend.thawed();
        self.backend.pin_account(&event.context.invoked_function_arn);
        let until = tokio::time::Instant::now() + invoke_budget(event.context.deadline, SystemTime::now());
        let raw = event.payload.get();
        let value: Value = serde_json::from_str(raw).map_err(|e| FnError::from(ApiError::invalid("body", e)))?;
        // Lambda's tenant isolation mode: set by the invoker, never by the event.
        let tenant_id = event.context.tenant_id.as_deref().filter(|t| !t.is_empty());
        let (result, outcome) = match event::classify(&value) {
            Kind::Direct => self.direct(raw, until, tenant_id).await,
            Kind::Http(flavor) => self.http(&value, flavor, until, tenant_id).await,
        };
        self.metrics.emit(&outcome, started.elapsed());
        self.backend.parked();
        result
    }

    /// A direct invoke: trusted (IAM decides who may invoke), except under Lambda's tenant
    /// isolation mode, where the invoke's tenant id pins every query.
    async fn direct(
        &self,
        raw: &str,
        until: tokio::time::Instant,
        tenant_id: Option<&str>,
    ) -> (Result<Box<RawValue>, FnError>, Outcome) {
        let pin = tenant_id.map(|id| tenant::Pin {
            tag: self.tenancy.as_ref().map_or(&self.tenant_tag, |t| &t.tag).clone(),
            tenant: id.to_owned(),
        });
        let call = match direct_call(raw).and_then(|call| pinned(call, pin.as_ref())) {
            Ok(call) => call,
            Err(e) => return (Err(e.clone().into()), refused(&e)),
        };
        let reply = self.backend.answer(&call, until).await;
        let outcome = outcome_of(&reply, &call);
        // The answer is returned as the engine wrote it: never parsed into a second copy.
        let result = if reply.status == 200 {
            RawValue::from_string(reply.body).map_err(|e| FnError {
                error_type: "InternalError".into(),
                message: e.to_string(),
            })
        } else {
            Err(error_of(&reply))
        };
        (result, outcome)
    }

    async fn http(
        &self,
        value: &Value,
        flavor: Flavor,
        until: tokio::time::Instant,
        tenant_id: Option<&str>,
    ) -> (Result<Box<RawValue>, FnError>, Outcome) {
        let call = match self.http_call(value, flavor, tenant_id) {
            Ok(call) => call,
            Err(e) => return (http_response(flavor, e.status(), e.to_json()), refused(&e)),
        };
        let reply = self.backend.answer(&call, until).await;
        let outcome = outcome_of(&reply, &call);
        (http_response(flavor, reply.status, reply.body), outcome)
    }

    fn http_call(&self, value: &Value, flavor: Flavor, tenant_id: Option<&str>) -> Result<Call, ApiError> {
        let request = event::http_request(value, flavor)?;
        let route = event::route(&request.method, &request.path)?;
        let tenant = tenant::http_pin(value, tenant_id, self.tenancy.as_ref(), &self.tenant_tag)?;
        let pin = |q: Query| -> Result<Query, ApiError> {
            match &tenant {
                Some(p) => p.enforce(q),
                None => Ok(q),
            }
        };
        Ok(match route {
            Route::ResolveGet if flavor == (Flavor::Alb { multi_value: false }) => {
                return Err(ApiError::invalid(
                    "queryStringParameters",
                    "an ALB target group without multi-value headers keeps only the last of repeated \
                     parameters and cannot tell tag:k from tag:k=, so this GET could mean another query; \
                     use POST /v1/resolve, or turn on multi-value headers for the target group",
                ));
            }
            Route::ResolveGet if matches!(flavor, Flavor::Alb { .. }) && event::alb_valueless_tag(value).is_some() => {
                let key = event::alb_valueless_tag(value).unwrap_or_default();
                return Err(ApiError::invalid(
                    key.clone(),
                    format!(
                        "an ALB sends {key} and {key}= alike, so this GET could mean any value or the empty value; \
                         use POST /v1/resolve with \"tags\": {{\"{}\": []}} or {{\"{}\": \"\"}}",
                        &key[4..],
                        &key[4..]
                    ),
                ));
            }
            Route::ResolveGet => Call::One(pin(match &request.params {
                event::Params::Raw(raw) => Query::from_query_string(raw)?,
                event::Params::Decoded(pairs) => Query::from_params(pairs.iter().map(|(k, v)| (k, v.as_ref())))?,
            })?),
            Route::ResolvePost => Call::One(pin(Query::from_json_bytes(&request.body)?)?),
            Route::Profile(encoded) => {
                let query = match &request.params {
                    event::Params::Raw(raw) => raw.clone(),
                    event::Params::Decoded(pairs) => event::encode_params(pairs),
                };
                let key = ProfileKey::from_path(&encoded, Some(&query))?;
                Call::Profile(key, tenant.map(|p| (p.tag, p.tenant)))
            }
            Route::Batch => Call::Batch(
                query::parse_batch(&request.body)?
                    .into_iter()
                    .map(|q| q.and_then(pin))
                    .collect(),
            ),
        })
    }
}

/// `call` pinned to the caller's tenant, if any: each query, each query of a batch (in place),
/// and a reverse lookup.
///
/// # Errors
/// `Forbidden` for a single query that names another tenant.
fn pinned(call: Call, pin: Option<&tenant::Pin>) -> Result<Call, ApiError> {
    let Some(pin) = pin else {
        return Ok(call);
    };
    Ok(match call {
        Call::One(q) => Call::One(pin.enforce(q)?),
        Call::Batch(items) => Call::Batch(items.into_iter().map(|q| q.and_then(|q| pin.enforce(q))).collect()),
        Call::Profile(key, _) => Call::Profile(key, Some((pin.tag.clone(), pin.tenant.clone()))),
    })
}

/// A direct invoke's payload as a call: a batch when it has `queries`, a reverse lookup when it
/// has `profile`, else one query.
fn direct_call(raw: &str) -> Result<Call, ApiError> {
    let doc = Json::parse(raw.as_bytes()).map_err(|e| ApiError::invalid("body", e))?;
    let has = |field: &str| matches!(&doc, Json::Object(m) if m.iter().any(|(k, _)| k == field));
    if has("queries") {
        Ok(Call::Batch(query::batch_from_json(&doc)?))
    } else if has("profile") {
        Ok(Call::Profile(ProfileKey::from_json(&doc)?, None))
    } else {
        Ok(Call::One(Query::from_json(&doc, "")?))
    }
}

/// Lambda's longest function timeout: the budget of an invoke whose deadline is not a time at
/// all.
const NO_DEADLINE_BUDGET: Duration = Duration::from_secs(900);

/// Epoch milliseconds of 2020-01-01: no real deadline is earlier.
const PLAUSIBLE_DEADLINE_MS: u64 = 1_577_836_800_000;

/// The time an invoke has left, less [`DEADLINE_MARGIN`]. A deadline that is no epoch time
/// (Lambda always sends one; `cargo lambda watch --only-lambda-apis` sends a relative 600000)
/// bounds nothing: the extension's own timeout still bounds every call to it.
fn invoke_budget(deadline_ms: u64, now: SystemTime) -> Duration {
    if deadline_ms < PLAUSIBLE_DEADLINE_MS {
        return NO_DEADLINE_BUDGET;
    }
    shared::clock::time_left(deadline_ms, now, DEADLINE_MARGIN)
}

/// An HTTP event's response, serialised once.
fn http_response(flavor: Flavor, status: u16, body: String) -> Result<Box<RawValue>, FnError> {
    serde_json::value::to_raw_value(&event::http_response(flavor, status, body)).map_err(|e| FnError {
        error_type: "InternalError".into(),
        message: e.to_string(),
    })
}

/// The error a non-200 reply carries.
fn error_of(reply: &Reply) -> FnError {
    let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    let code = body.pointer("/error/code").and_then(Value::as_str);
    let message = body.pointer("/error/message").and_then(Value::as_str);
    let mut message = message.map_or_else(|| format!("the resolver answered {}", reply.status), str::to_owned);
    // A function error has no room for details, so the candidates go into the message.
    if let Some(candidates) = body.pointer("/error/candidates").and_then(Value::as_array) {
        let arns: Vec<&str> = candidates.iter().filter_map(Value::as_str).collect();
        message.push_str(&format!(" (candidates: {})", arns.join(", ")));
    }
    FnError {
        error_type: code.unwrap_or("UpstreamUnavailable").to_owned(),
        message,
    }
}

fn via(v: Via) -> &'static str {
    match v {
        Via::Extension => "extension",
        Via::InProcess => "in-process",
    }
}

/// The few fields of an answer the metrics need, read without building the answer's tree (a
/// `match=all` answer may be megabytes).
#[derive(Debug, Default, serde::Deserialize)]
struct Summary {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    cache: Option<String>,
    #[serde(default)]
    error: Option<ErrorSummary>,
}

#[derive(Debug, serde::Deserialize)]
struct ErrorSummary {
    #[serde(default)]
    code: Option<String>,
}

fn outcome_of(reply: &Reply, call: &Call) -> Outcome {
    let summary: Summary = if matches!(call, Call::One(_) | Call::Profile(..)) || reply.status != 200 {
        serde_json::from_str(&reply.body).unwrap_or_default()
    } else {
        Summary::default()
    };
    let outcome = match (reply.status, call) {
        (200, Call::Batch(_)) => "Batch".to_owned(),
        (200, Call::One(_) | Call::Profile(..)) => "OK".to_owned(),
        _ => summary
            .error
            .and_then(|e| e.code)
            .unwrap_or_else(|| ErrorCode::UpstreamUnavailable.as_str().to_owned()),
    };
    Outcome {
        outcome,
        source: summary.source,
        cache: summary.cache,
        via: via(reply.via),
    }
}

fn refused(e: &ApiError) -> Outcome {
    Outcome {
        outcome: e.code.as_str().to_owned(),
        source: None,
        cache: None,
        via: "none",
    }
}

#[cfg(test)]
mod tests;
