//! The admin interface under `/_emulator/`, unsigned, for tests and the demo:
//!
//! | method and path | body | effect |
//! |---|---|---|
//! | `GET /health` | | `{"status": "ok"}` |
//! | `GET /calls` | | calls by operation, then region |
//! | `DELETE /calls` | | zero the counts |
//! | `POST /faults` | `{"operation": "GetResources", "throttleRate": 0.25, "errorRate": 0, "latencyMs": 0, "down": false, "malformed": false, "deny": false, "repeatToken": false, "regions": []}` | set the fault of one operation (`*` for all) |
//! | `DELETE /faults` | | clear every fault |
//! | `GET`/`POST /settings` | `{"ghostSeconds": 60, "tokenTtlSeconds": 900}` | read or change tunables |
//! | `POST /seed` | a seed document | add profiles |
//! | `DELETE /seed` | | remove every profile and ghost |
//! | `POST /reset` | | all of the above back to start |
//! | `GET /usage` | | metered `Converse` calls, and totals per profile ARN |
//! | `DELETE /usage` | | forget them |

use super::Shared;
use super::seed::{self, Seed};
use super::state::{Fault, Settings};
use axum::Json;
use axum::Router;
use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::json;

/// The admin routes, nested under `/_emulator`.
pub fn router() -> Router<Shared> {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/calls", get(calls).delete(clear_calls))
        .route("/faults", post(set_fault).delete(clear_faults).get(faults))
        .route("/settings", get(settings).post(set_settings))
        .route("/seed", post(add_seed).delete(clear_seed))
        .route("/reset", post(reset))
        .route("/usage", get(super::runtime::usage).delete(super::runtime::clear_usage))
}

fn bad(message: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"message": message.to_string()}))).into_response()
}

async fn calls(AxState(s): AxState<Shared>) -> Response {
    Json(json!(s.lock().calls)).into_response()
}

async fn clear_calls(AxState(s): AxState<Shared>) -> StatusCode {
    s.lock().calls.clear();
    StatusCode::NO_CONTENT
}

async fn faults(AxState(s): AxState<Shared>) -> Response {
    Json(json!(s.lock().faults.values().cloned().collect::<Vec<_>>())).into_response()
}

async fn set_fault(AxState(s): AxState<Shared>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return bad(e),
    };
    let rate_ok = |r: f64| (0.0..=1.0).contains(&r);
    if fault.operation.is_empty() || !rate_ok(fault.throttle_rate) || !rate_ok(fault.error_rate) {
        return bad("operation is required and rates are between 0 and 1");
    }
    s.lock().faults.insert(fault.operation.clone(), fault);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(AxState(s): AxState<Shared>) -> StatusCode {
    s.lock().faults.clear();
    StatusCode::NO_CONTENT
}

async fn settings(AxState(s): AxState<Shared>) -> Response {
    Json(json!(s.lock().settings)).into_response()
}

async fn set_settings(AxState(s): AxState<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Settings>(&body) {
        Ok(new) if new.ghost_seconds >= 0.0 && new.token_ttl_seconds >= 0.0 => {
            s.lock().settings = new;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => bad("durations are 0 or more"),
        Err(e) => bad(e),
    }
}

async fn add_seed(AxState(s): AxState<Shared>, body: Bytes) -> Response {
    let parsed: Seed = match serde_json::from_slice(&body) {
        Ok(seed) => seed,
        Err(e) => return bad(e),
    };
    match seed::load(&mut s.lock(), parsed) {
        Ok(n) => Json(json!({"loaded": n})).into_response(),
        Err(e) => bad(e),
    }
}

async fn clear_seed(AxState(s): AxState<Shared>) -> StatusCode {
    let mut st = s.lock();
    st.profiles.clear();
    st.names.clear();
    st.ghosts.clear();
    StatusCode::NO_CONTENT
}

async fn reset(AxState(s): AxState<Shared>) -> StatusCode {
    *s.lock() = Default::default();
    StatusCode::NO_CONTENT
}
