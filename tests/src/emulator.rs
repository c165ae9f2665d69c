//! A local AWS for tests and the demo: the Bedrock inference-profile control plane (REST-JSON)
//! and the Resource Groups Tagging API `GetResources` (awsJson1.1) on one endpoint, with Bedrock
//! Runtime `Converse` metered per profile (see `runtime`), for any
//! number of regions (read from each request's SigV4 credential scope), with an admin interface
//! under `/_emulator/` to inject faults and read call counts. See `tests/EMULATOR.md`.

// Handlers return `Result<_, Response>` as axum handlers do; the size of `Response` is fine here.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod bedrock;
pub mod error;
pub mod metrics;
pub mod runtime;
pub mod seed;
pub mod state;
pub mod tagging;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use error::{Api, AwsError};
use parking_lot::Mutex;
use state::{State, Verdict};
use std::sync::Arc;

/// Shared emulator state.
pub type Shared = Arc<Mutex<State>>;

/// The emulator's routes.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", post(tagging::dispatch))
        .route("/inference-profiles", post(bedrock::create).get(bedrock::list))
        .route(
            "/inference-profiles/{*identifier}",
            get(bedrock::get).delete(bedrock::delete),
        )
        .route("/tagResource", post(bedrock::tag))
        .route("/untagResource", post(bedrock::untag))
        .route("/listTagsForResource", post(bedrock::list_tags))
        .route("/model/{model_id}/converse", post(runtime::converse))
        .nest("/_emulator", admin::router())
        .fallback(unknown)
        .with_state(state)
}

async fn unknown() -> Response {
    (StatusCode::NOT_FOUND, r#"{"message":"UnknownOperationException"}"#).into_response()
}

/// The region of a SigV4-signed request: `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
pub fn region_of(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    let mut parts = scope.split('/');
    let region = parts.nth(2)?;
    let valid = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then(|| region.to_owned())
}

/// Admits one call of `operation`: reads its region, counts it, applies latency and faults.
///
/// # Errors
/// The response to send instead of serving: an AWS error, or a malformed body.
pub async fn admit(state: &Shared, headers: &HeaderMap, operation: &'static str) -> Result<String, Response> {
    let api = AwsError::api_of(operation);
    let region = region_of(headers).ok_or_else(|| AwsError::unsigned(api).into_response())?;
    let (verdict, latency) = state.lock().admit(operation, &region);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let err = match verdict {
        Verdict::Serve => return Ok(region),
        Verdict::Throttle => AwsError::throttled(operation),
        Verdict::Fail => AwsError::internal(operation),
        Verdict::Down => AwsError::unavailable(operation),
        Verdict::Deny => AwsError::denied(operation),
        Verdict::Malformed => {
            let mut resp = (StatusCode::OK, "{\"ResourceTagMappingList\": [{\"ResourceARN\": ").into_response();
            let ct = if api == Api::Tagging {
                "application/x-amz-json-1.1"
            } else {
                "application/json"
            };
            resp.headers_mut().insert("content-type", HeaderValue::from_static(ct));
            return Err(resp);
        }
    };
    Err(err.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_the_credential_scope() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/eu-central-1/tagging/aws4_request, SignedHeaders=host, Signature=abc",
            ),
        );
        assert_eq!(region_of(&h).as_deref(), Some("eu-central-1"));
        h.insert("authorization", HeaderValue::from_static("Bearer token"));
        assert_eq!(region_of(&h), None);
    }
}
