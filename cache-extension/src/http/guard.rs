//! Request guards: the token on `/v1/`, and no proxied requests.

use super::{AppState, Problem};
use crate::config::Auth;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shared::{ApiError, ErrorCode};

/// The header that carries the token.
pub const TOKEN_HEADER: &str = "x-profile-resolver-token";

/// Refuses any request that came through a proxy: the API is for the sandbox's own processes.
pub(crate) async fn refuse_proxied(req: Request, next: Next) -> Response {
    if req.headers().contains_key("x-forwarded-for") {
        return Problem(ApiError::invalid(
            "X-Forwarded-For",
            "requests through a proxy are refused",
        ))
        .into_response();
    }
    next.run(req).await
}

/// 401 without the token, 403 with a wrong one. The comparison takes the same time whatever
/// the first differing byte.
pub(crate) async fn require_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if let Auth::Token(expected) = s.auth.as_ref() {
        let given = req.headers().get_all(TOKEN_HEADER).iter().collect::<Vec<_>>();
        match given.as_slice() {
            [] => {
                return Problem(ApiError::new(
                    ErrorCode::Unauthorized,
                    "the X-Profile-Resolver-Token header is missing",
                ))
                .into_response();
            }
            [one] if constant_time_eq(one.as_bytes(), expected.as_bytes()) => {}
            _ => {
                return Problem(ApiError::new(
                    ErrorCode::Forbidden,
                    "the X-Profile-Resolver-Token header is wrong",
                ))
                .into_response();
            }
        }
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
