//! Request guards: the token on `/v1/`, and no proxied requests.

use super::{AppState, Problem};
use crate::config::Auth;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Uri};
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
    match check(&s.auth, req.uri(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(problem) => problem.into_response(),
    }
}

/// The guard's checks, shared by the router and the direct path.
pub(crate) fn check(auth: &Auth, uri: &Uri, headers: &HeaderMap) -> Result<(), Problem> {
    if let Some(problem) = oversized(uri, headers) {
        return Err(problem);
    }
    if headers.contains_key("x-forwarded-for") {
        return Err(Problem(ApiError::invalid(
            "X-Forwarded-For",
            "requests through a proxy are refused",
        )));
    }
    if let (Auth::Token(expected), true) = (auth, uri.path().starts_with("/v1/")) {
        let mut given = headers.get_all(TOKEN_HEADER).iter();
        match (given.next(), given.next()) {
            (None, _) => {
                return Err(Problem(ApiError::new(
                    ErrorCode::Unauthorized,
                    "the X-Profile-Resolver-Token header is missing",
                )));
            }
            (Some(one), None) if bool::from(one.as_bytes().ct_eq(expected.as_bytes())) => {}
            _ => {
                return Err(Problem(ApiError::new(
                    ErrorCode::Forbidden,
                    "the X-Profile-Resolver-Token header is wrong",
                )));
            }
        }
    }
    Ok(())
}

/// The request-size limits, answered in JSON. hyper keeps its own, higher limits (see
/// `server`) and answers beyond them with an empty body: the request cannot be read then.
fn oversized(uri: &Uri, headers: &HeaderMap) -> Option<Problem> {
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI {
        return Some(Problem(ApiError::new(
            ErrorCode::UriTooLong,
            format!("the request target is over {} KiB", MAX_URI / 1024),
        )));
    }
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
