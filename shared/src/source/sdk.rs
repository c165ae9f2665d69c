//! What the SDK-backed sources share: one `SdkConfig` loaded at init with the upstream timeout,
//! and the mapping of SDK errors onto [`FailureKind`].

use super::{FailureKind, Operation, SourceError};
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_bedrock::error::{ProvideErrorMetadata, SdkError};
use std::collections::HashMap;
use std::time::Duration;

/// Loads the SDK configuration once: credentials, `AWS_ENDPOINT_URL*` and the upstream timeout
/// per call (retries included).
pub async fn load_sdk_config(upstream_timeout: Duration) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .operation_timeout(upstream_timeout)
        .operation_attempt_timeout(upstream_timeout)
        .connect_timeout(upstream_timeout.min(Duration::from_secs(1)))
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(timeouts)
        .load()
        .await
}

/// The SDK's HTTPS client: hyper with rustls on ring and the system's root certificates
/// ([`crate::https`]).
pub fn https_client() -> aws_sdk_bedrock::config::SharedHttpClient {
    crate::https::sdk_client()
}

/// One client per allowed region, made once at init from the shared configuration.
pub(crate) fn per_region<C>(
    sdk: &SdkConfig,
    regions: &[String],
    client: impl Fn(&SdkConfig) -> C,
) -> HashMap<String, C> {
    regions
        .iter()
        .map(|r| {
            (
                r.clone(),
                client(&sdk.to_builder().region(aws_config::Region::new(r.clone())).build()),
            )
        })
        .collect()
}

/// Classifies an SDK error by its AWS error code or its transport failure.
pub(crate) fn classify<E, R>(op: Operation, err: &SdkError<E, R>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let kind = match err {
        SdkError::TimeoutError(_) => FailureKind::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => FailureKind::Timeout,
        SdkError::ServiceError(s) => kind_of_code(s.err().code()),
        _ => FailureKind::Unavailable,
    };
    let code = err.code().unwrap_or("");
    let detail = match err.message() {
        Some(m) => m.to_owned(),
        None => aws_sdk_bedrock::error::DisplayErrorContext(err).to_string(),
    };
    SourceError::new(op, kind, format!("{code} {detail}").trim().to_owned())
}

/// The failure kind of an AWS error code (S3's included).
pub(crate) fn kind_of_code(code: Option<&str>) -> FailureKind {
    match code {
        Some("ThrottledException" | "ThrottlingException" | "TooManyRequestsException" | "Throttling" | "SlowDown") => {
            FailureKind::Throttled
        }
        Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedException" | "UnrecognizedClientException") => {
            FailureKind::Denied
        }
        Some("PaginationTokenExpiredException") => FailureKind::PaginationTokenExpired,
        _ => FailureKind::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_error_codes_map_to_failure_kinds() {
        assert_eq!(kind_of_code(Some("ThrottledException")), FailureKind::Throttled);
        assert_eq!(kind_of_code(Some("AccessDeniedException")), FailureKind::Denied);
        assert_eq!(
            kind_of_code(Some("PaginationTokenExpiredException")),
            FailureKind::PaginationTokenExpired
        );
        assert_eq!(kind_of_code(Some("InternalServiceException")), FailureKind::Unavailable);
        assert_eq!(kind_of_code(None), FailureKind::Unavailable);
    }
}
