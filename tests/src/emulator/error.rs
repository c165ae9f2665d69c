//! AWS error shapes, as each protocol sends them. The Tagging API (awsJson1.1) answers
//! `{"__type": "ThrottledException", "Message": "..."}`; Bedrock (REST-JSON) answers the status of
//! the error with `{"message": "..."}`. Both set `x-amzn-ErrorType`, which the SDKs read first.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Which wire protocol an error goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// awsJson1.1
    Tagging,
    /// REST-JSON
    Bedrock,
}

/// An error as AWS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The protocol.
    pub api: Api,
    /// The error code (`__type`).
    pub code: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// The message.
    pub message: String,
}

impl AwsError {
    fn new(api: Api, code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self {
            api,
            code,
            status,
            message: message.into(),
        }
    }

    /// The API an operation belongs to.
    pub fn api_of(operation: &str) -> Api {
        if operation == "GetResources" {
            Api::Tagging
        } else {
            Api::Bedrock
        }
    }

    /// A bad parameter: `InvalidParameterException` (tagging) or `ValidationException` (Bedrock).
    pub fn validation(api: Api, message: impl Into<String>) -> Self {
        match api {
            Api::Tagging => Self::new(api, "InvalidParameterException", 400, message),
            Api::Bedrock => Self::new(api, "ValidationException", 400, message),
        }
    }

    /// Throttling: tagging's `ThrottledException` is a 400; Bedrock's `ThrottlingException` a 429.
    pub fn throttled(operation: &str) -> Self {
        match Self::api_of(operation) {
            Api::Tagging => Self::new(Api::Tagging, "ThrottledException", 400, "Rate exceeded"),
            Api::Bedrock => Self::new(
                Api::Bedrock,
                "ThrottlingException",
                429,
                "Too many requests, please wait before trying again.",
            ),
        }
    }

    /// An internal failure.
    pub fn internal(operation: &str) -> Self {
        match Self::api_of(operation) {
            Api::Tagging => Self::new(Api::Tagging, "InternalServiceException", 500, "Internal service error"),
            Api::Bedrock => Self::new(Api::Bedrock, "InternalServerException", 500, "Internal server error"),
        }
    }

    /// The service is down.
    pub fn unavailable(operation: &str) -> Self {
        Self::new(
            Self::api_of(operation),
            "ServiceUnavailableException",
            503,
            "Service unavailable",
        )
    }

    /// Access denied.
    pub fn denied(operation: &str) -> Self {
        let status = if Self::api_of(operation) == Api::Tagging {
            400
        } else {
            403
        };
        Self::new(
            Self::api_of(operation),
            "AccessDeniedException",
            status,
            format!("User is not authorized to perform: {operation}"),
        )
    }

    /// An expired pagination token.
    pub fn token_expired(operation: &str) -> Self {
        match Self::api_of(operation) {
            Api::Tagging => Self::new(
                Api::Tagging,
                "PaginationTokenExpiredException",
                400,
                "The pagination token has expired",
            ),
            Api::Bedrock => Self::validation(Api::Bedrock, "The pagination token has expired"),
        }
    }

    /// An unknown pagination token.
    pub fn invalid_token(operation: &str, message: &str) -> Self {
        Self::validation(Self::api_of(operation), message)
    }

    /// An unknown resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Api::Bedrock, "ResourceNotFoundException", 404, message)
    }

    /// A name clash.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(Api::Bedrock, "ConflictException", 409, message)
    }

    /// Over the tag limit.
    pub fn too_many_tags(resource: &str) -> Self {
        Self::new(
            Api::Bedrock,
            "TooManyTagsException",
            400,
            format!("{resource} would have more than 50 tags"),
        )
    }

    /// No or bad SigV4 credential scope.
    pub fn unsigned(api: Api) -> Self {
        Self::new(
            api,
            "MissingAuthenticationTokenException",
            403,
            "Missing Authentication Token",
        )
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let body = match self.api {
            Api::Tagging => serde_json::json!({"__type": self.code, "Message": self.message}),
            Api::Bedrock => serde_json::json!({"message": self.message}),
        };
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, body.to_string()).into_response();
        let content_type = match self.api {
            Api::Tagging => "application/x-amz-json-1.1",
            Api::Bedrock => "application/json",
        };
        let headers = resp.headers_mut();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        headers.insert(
            "x-amzn-requestid",
            HeaderValue::from_static("00000000-0000-4000-8000-000000000000"),
        );
        resp
    }
}
