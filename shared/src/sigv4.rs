//! SigV4 for the hand-written AWS calls (S3 objects, CloudWatch dashboards and alarms), with the
//! SDK's signer (`aws-sigv4`) and the SDK configuration's credentials provider. Credentials are kept until five minutes before they expire, as the
//! SDK's identity cache does: a provider behind IMDS, the container endpoint or STS is asked
//! once per credential lifetime, not once per request.

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;

/// Credentials closer than this to their expiry are fetched again.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The configuration has no credentials provider.
    #[error("no AWS credentials are configured")]
    NoProvider,
    /// The provider failed.
    #[error("loading AWS credentials: {0}")]
    Credentials(String),
    /// The signer refused the request.
    #[error("signing the request: {0}")]
    Signing(String),
}

/// Signs one service's requests in one region.
#[derive(Debug)]
pub struct Signer {
    provider: Option<SharedCredentialsProvider>,
    region: String,
    service: &'static str,
    cached: Mutex<Option<Credentials>>,
}

impl Signer {
    /// A signer for `service` (its signing name: `s3`, `monitoring`) in `region` over `provider`.
    pub fn new(provider: Option<SharedCredentialsProvider>, region: &str, service: &'static str) -> Self {
        Self {
            provider,
            region: region.to_owned(),
            service,
            cached: Mutex::new(None),
        }
    }

    /// Credentials that are valid for a while yet, from the cache or the provider.
    async fn credentials(&self, now: SystemTime) -> Result<Credentials, SignError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && c.expiry().is_none_or(|e| e > now + REFRESH_BEFORE_EXPIRY)
        {
            return Ok(c.clone());
        }
        let provider = self.provider.as_ref().ok_or(SignError::NoProvider)?;
        let fresh = provider.provide_credentials().await.map_err(|e| {
            SignError::Credentials(aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())
        })?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// Signs `req` (all its headers, `host` included, and `body`) at `now`, adding
    /// `x-amz-date`, the session token if any, `authorization`, and for S3
    /// `x-amz-content-sha256`.
    ///
    /// # Errors
    /// No credentials, or a request the signer refuses.
    pub async fn sign<B>(&self, req: &mut http::Request<B>, body: &[u8], now: SystemTime) -> Result<(), SignError> {
        let credentials = self.credentials(now).await?;
        sign_with(req, body, credentials, (&self.region, self.service), now)
    }
}

/// Signs `req` with `credentials` for `(region, service)` at `now`.
pub(crate) fn sign_with<B>(
    req: &mut http::Request<B>,
    body: &[u8],
    credentials: Credentials,
    (region, service): (&str, &str),
    now: SystemTime,
) -> Result<(), SignError> {
    let identity = credentials.into();
    let mut settings = SigningSettings::default();
    if service == "s3" {
        // S3 signs the path as sent, escaped once and never normalised, and the payload's hash
        // goes in a header.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| SignError::Signing(e.to_string()))?
        .into();
    let mut headers = Vec::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        let value = value
            .to_str()
            .map_err(|_| SignError::Signing(format!("header {name} is not ASCII")))?;
        headers.push((name.as_str(), value));
    }
    let uri = req.uri().to_string();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| SignError::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SignError::Signing(e.to_string()))?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The example keys of the AWS documentation.
    fn documented_keys() -> Credentials {
        Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        )
    }

    /// 2013-05-24T00:00:00Z, the examples' time.
    fn documented_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600)
    }

    /// The "GET Object" example of the S3 SigV4 documentation ("Signature Calculations for the
    /// Authorization Header: Transferring Payload in a Single Chunk").
    #[test]
    fn the_documented_get_object_example_gets_the_documented_signature() {
        let mut req = http::Request::get("https://examplebucket.s3.amazonaws.com/test.txt")
            .header("host", "examplebucket.s3.amazonaws.com")
            .header("range", "bytes=0-9")
            .body(())
            .unwrap();
        sign_with(&mut req, &[], documented_keys(), ("us-east-1", "s3"), documented_time()).unwrap();
        let h = req.headers();
        assert_eq!(h["x-amz-date"], "20130524T000000Z");
        assert_eq!(
            h["x-amz-content-sha256"],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            h["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// The "PUT Object" example of the same page.
    #[test]
    fn the_documented_put_object_example_gets_the_documented_signature() {
        let body = b"Welcome to Amazon S3.";
        let mut req = http::Request::put("https://examplebucket.s3.amazonaws.com/test%24file.text")
            .header("host", "examplebucket.s3.amazonaws.com")
            .header("date", "Fri, 24 May 2013 00:00:00 GMT")
            .header("x-amz-storage-class", "REDUCED_REDUNDANCY")
            .body(())
            .unwrap();
        sign_with(
            &mut req,
            body,
            documented_keys(),
            ("us-east-1", "s3"),
            documented_time(),
        )
        .unwrap();
        assert_eq!(
            req.headers()["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, \
             Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let mut req = http::Request::get("https://b.s3.us-east-1.amazonaws.com/k")
            .body(())
            .unwrap();
        let credentials = Credentials::new("AKID", "SECRET", Some("TOKEN".to_owned()), None, "test");
        sign_with(&mut req, &[], credentials, ("us-east-1", "s3"), SystemTime::now()).unwrap();
        assert_eq!(req.headers()["x-amz-security-token"], "TOKEN");
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(auth.contains("x-amz-security-token"), "{auth}");
    }

    #[test]
    fn another_service_is_signed_under_its_own_name_without_the_payload_header() {
        let body = b"Action=PutDashboard&Version=2010-08-01";
        let mut req = http::Request::post("https://monitoring.eu-west-1.amazonaws.com/")
            .header("host", "monitoring.eu-west-1.amazonaws.com")
            .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
            .body(())
            .unwrap();
        sign_with(
            &mut req,
            body,
            documented_keys(),
            ("eu-west-1", "monitoring"),
            documented_time(),
        )
        .unwrap();
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/eu-west-1/monitoring/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, Signature="
            ),
            "{auth}"
        );
        assert!(!req.headers().contains_key("x-amz-content-sha256"));
    }

    #[tokio::test]
    async fn credentials_are_asked_once_while_they_stay_valid() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        #[derive(Debug)]
        struct Counting(Arc<AtomicUsize>, Option<SystemTime>);
        impl ProvideCredentials for Counting {
            fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
            where
                Self: 'a,
            {
                self.0.fetch_add(1, Ordering::SeqCst);
                aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                    "AKID", "SECRET", None, self.1, "test",
                )))
            }
        }
        let now = SystemTime::now();
        let lasting = Arc::new(AtomicUsize::new(0));
        let signer = Signer::new(
            Some(SharedCredentialsProvider::new(Counting(
                lasting.clone(),
                Some(now + Duration::from_secs(3600)),
            ))),
            "us-east-1",
            "s3",
        );
        for _ in 0..3 {
            signer.credentials(now).await.unwrap();
        }
        assert_eq!(lasting.load(Ordering::SeqCst), 1);
        // Within five minutes of the expiry, they are asked again.
        signer.credentials(now + Duration::from_secs(3400)).await.unwrap();
        assert_eq!(lasting.load(Ordering::SeqCst), 2);
        let none = Signer::new(None, "us-east-1", "s3");
        assert!(matches!(none.credentials(now).await, Err(SignError::NoProvider)));
    }
}
