//! Request guards: the token on `/v1/`, and no proxied requests.

use super::{AppState, Problem};
use crate::config::Auth;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shared::{ApiError, ErrorCode};
use subtle::ConstantTimeEq;

/// The header that carries the token.
pub const TOKEN_HEADER: &str = "x-profile-resolver-token";
/// The longest request target answered; longer is `UriTooLong` (414).
pub const MAX_URI: usize = 16 * 1024;
/// At most this many request headers; more is `HeadersTooLarge` (431).
pub const MAX_HEADERS: usize = 64;
/// At most this many bytes of header names and values; more is `HeadersTooLarge` (431).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses any request that came through a proxy (the API is for the sandbox's own
/// processes), then wants the token on every `/v1/` path, known or not: 401 without it, 403
/// with a wrong one. The comparison takes the same time whatever the first differing byte.
pub(crate) async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(problem) = oversized(&req) {
        return problem.into_response();
    }
    if req.headers().contains_key("x-forwarded-for") {
        return Problem(ApiError::invalid(
            "X-Forwarded-For",
            "requests through a proxy are refused",
        ))
        .into_response();
    }
    if let (Auth::Token(expected), true) = (s.auth.as_ref(), req.uri().path().starts_with("/v1/")) {
        let mut given = req.headers().get_all(TOKEN_HEADER).iter();
        match (given.next(), given.next()) {
            (None, _) => {
                return Problem(ApiError::new(
                    ErrorCode::Unauthorized,
                    "the X-Profile-Resolver-Token header is missing",
                ))
                .into_response();
            }
            (Some(one), None) if bool::from(one.as_bytes().ct_eq(expected.as_bytes())) => {}
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

/// The request-size limits, answered in JSON. hyper keeps its own, higher limits (see
/// `server`) and answers beyond them with an empty body: the request cannot be read then.
fn oversized(req: &Request) -> Option<Problem> {
    let uri = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri > MAX_URI {
        return Some(Problem(ApiError::new(
            ErrorCode::UriTooLong,
            format!("the request target is over {} KiB", MAX_URI / 1024),
        )));
    }
    let headers = req.headers();
    let bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(Problem(ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!(
                "at most {MAX_HEADERS} headers of {} KiB in all",
                MAX_HEADER_BYTES / 1024
            ),
        )));
    }
    None
}
