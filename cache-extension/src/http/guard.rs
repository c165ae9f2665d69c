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

/// The guard's checks, shared by the router and the direct path, in one pass over the
/// headers: looking each name up by a string would parse and hash it, per request.
pub(crate) fn check(auth: &Auth, uri: &Uri, headers: &HeaderMap) -> Result<(), Problem> {
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI {
        return Err(Problem(ApiError::new(
            ErrorCode::UriTooLong,
            format!("the request target is over {} KiB", MAX_URI / 1024),
        )));
    }
    let (mut bytes, mut forwarded, mut tokens) = (0, false, (None, 0));
    if headers.len() <= MAX_HEADERS {
        for (name, value) in headers {
            bytes += name.as_str().len() + value.len();
            match name.as_str() {
                "x-forwarded-for" => forwarded = true,
                TOKEN_HEADER => tokens = (Some(value), tokens.1 + 1),
                _ => {}
            }
        }
    }
    // hyper keeps its own, higher limits (see `server`) and answers beyond them with an empty
    // body: the request cannot be read then.
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Err(Problem(ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!(
                "at most {MAX_HEADERS} headers of {} KiB in all",
                MAX_HEADER_BYTES / 1024
            ),
        )));
    }
    if forwarded {
        return Err(Problem(ApiError::invalid(
            "X-Forwarded-For",
            "requests through a proxy are refused",
        )));
    }
    if let (Auth::Token(expected), true) = (auth, uri.path().starts_with("/v1/")) {
        match tokens {
            (None, _) => {
                return Err(Problem(ApiError::new(
                    ErrorCode::Unauthorized,
                    "the X-Profile-Resolver-Token header is missing",
                )));
            }
            (Some(one), 1) if bool::from(one.as_bytes().ct_eq(expected.as_bytes())) => {}
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
