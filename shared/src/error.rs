//! Errors with the contract's stable codes, and their JSON body.

use serde::Serialize;
use std::fmt;

/// The stable error codes of the contract. Clients and Step Functions `Catch` on these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ErrorCode {
    /// Bad JSON, a broken limit, an unknown `match`, a region not allowed.
    InvalidQuery,
    /// The token or the tenant claim is missing.
    Unauthorized,
    /// The token is wrong, or the query names another tenant.
    Forbidden,
    /// Nothing matched.
    NoMatch,
    /// `match=one` and several profiles matched.
    AmbiguousMatch,
    /// The body did not arrive in time.
    RequestTimeout,
    /// The body is over 64 KiB.
    PayloadTooLarge,
    /// The answer (a `match=all` or a whole batch) would be over the answer limit.
    TooManyResults,
    /// The request line's target is too long.
    UriTooLong,
    /// Too many request headers, or too large.
    HeadersTooLarge,
    /// A connection or refresh limit was hit.
    TooManyRequests,
    /// No usable snapshot and no route.
    UpstreamUnavailable,
    /// Unknown path.
    NotFound,
    /// Known path, wrong method.
    MethodNotAllowed,
}

impl ErrorCode {
    /// The code as clients see it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidQuery => "InvalidQuery",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NoMatch => "NoMatch",
            Self::AmbiguousMatch => "AmbiguousMatch",
            Self::RequestTimeout => "RequestTimeout",
            Self::PayloadTooLarge => "PayloadTooLarge",
            Self::TooManyResults => "TooManyResults",
            Self::UriTooLong => "UriTooLong",
            Self::HeadersTooLarge => "HeadersTooLarge",
            Self::TooManyRequests => "TooManyRequests",
            Self::UpstreamUnavailable => "UpstreamUnavailable",
            Self::NotFound => "NotFound",
            Self::MethodNotAllowed => "MethodNotAllowed",
        }
    }

    /// The HTTP status the contract gives this code.
    pub const fn status(self) -> u16 {
        match self {
            Self::InvalidQuery => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NoMatch | Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout => 408,
            Self::AmbiguousMatch => 409,
            Self::PayloadTooLarge | Self::TooManyResults => 413,
            Self::UriTooLong => 414,
            Self::HeadersTooLarge => 431,
            Self::TooManyRequests => 429,
            Self::UpstreamUnavailable => 503,
        }
    }
}

impl ErrorCode {
    /// The `Retry-After` seconds an HTTP answer with this code carries: 429 and 503 are worth
    /// retrying shortly (a connection slot frees up, a load or an upstream recovers); nothing
    /// else is.
    pub const fn retry_after_seconds(self) -> Option<u32> {
        match self {
            Self::TooManyRequests | Self::UpstreamUnavailable => Some(1),
            _ => None,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a client sees: a stable code, a readable message and optional details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// A readable message. Never contains a secret.
    pub message: String,
    /// The request field at fault, for `InvalidQuery`.
    pub field: Option<String>,
    /// The first matching ARNs, sorted, for `AmbiguousMatch` (at most
    /// [`crate::resolver::MAX_CANDIDATES`]).
    pub candidates: Option<Vec<String>>,
    /// How many profiles matched, for `AmbiguousMatch` and `TooManyResults`.
    pub count: Option<usize>,
    /// The failing upstream operation, for `UpstreamUnavailable`.
    pub operation: Option<String>,
}

impl ApiError {
    /// An error with a code and message only.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            candidates: None,
            count: None,
            operation: None,
        }
    }

    /// An `InvalidQuery` that names the field at fault.
    pub fn invalid(field: impl Into<String>, message: impl fmt::Display) -> Self {
        let field = field.into();
        let mut err = Self::new(ErrorCode::InvalidQuery, format!("{field}: {message}"));
        err.field = Some(field);
        err
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The JSON body `{"error": {...}}`.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str(),
                message: &self.message,
                field: self.field.as_deref(),
                candidates: self.candidates.as_deref(),
                count: self.count,
                operation: self.operation.as_deref(),
            },
        }
    }

    /// The JSON body as a string.
    pub fn to_json(&self) -> String {
        // Serialising plain strings cannot fail; the fallback keeps this path panic-free.
        serde_json::to_string(&self.body())
            .unwrap_or_else(|_| format!(r#"{{"error":{{"code":"{}","message":"error"}}}}"#, self.code))
    }
}

/// The wire form of an error.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// The error itself.
    pub error: ErrorDetail<'a>,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Serialize)]
pub struct ErrorDetail<'a> {
    /// Stable code.
    pub code: &'static str,
    /// Readable message.
    pub message: &'a str,
    /// Field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    /// Candidates of an ambiguous match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<&'a [String]>,
    /// How many matched, for an ambiguous match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// Failing upstream operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_query_names_its_field_in_message_and_body() {
        let err = ApiError::invalid("tags.dept", "at most 20 values");
        assert_eq!(err.status(), 400);
        let body: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(body["error"]["code"], "InvalidQuery");
        assert_eq!(body["error"]["field"], "tags.dept");
        assert!(body["error"]["message"].as_str().unwrap().contains("tags.dept"));
    }

    #[test]
    fn every_code_maps_to_the_contract_status() {
        let table = [
            (ErrorCode::InvalidQuery, 400),
            (ErrorCode::Unauthorized, 401),
            (ErrorCode::Forbidden, 403),
            (ErrorCode::NoMatch, 404),
            (ErrorCode::NotFound, 404),
            (ErrorCode::MethodNotAllowed, 405),
            (ErrorCode::RequestTimeout, 408),
            (ErrorCode::AmbiguousMatch, 409),
            (ErrorCode::PayloadTooLarge, 413),
            (ErrorCode::TooManyResults, 413),
            (ErrorCode::UriTooLong, 414),
            (ErrorCode::HeadersTooLarge, 431),
            (ErrorCode::TooManyRequests, 429),
            (ErrorCode::UpstreamUnavailable, 503),
        ];
        for (code, status) in table {
            assert_eq!(code.status(), status, "{code}");
        }
    }
}
