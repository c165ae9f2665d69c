//! [`ObjectStore`] on Amazon S3: `GetObject` and `PutObject` as signed HTTP requests (SigV4,
//! with the SDK's signer) over the HTTPS client the SDK also uses ([`crate::https`]), to the
//! endpoint the SDK's rules give ([`Endpoint`]).
//!
//! Fleet mode needs two calls, so they are written here rather than linking the S3 SDK, which
//! added about 1.3 MB to every binary (its checksum and endpoint-rule code) for them. What the
//! SDK did for these calls is kept: the configuration's credentials (cached until near their
//! expiry), region, endpoint override (`AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`, then the
//! config's `endpoint_url`; path-style then, as for moto), FIPS and dual-stack hosts, the
//! operation and connect timeouts, and up to three attempts with jittered backoff for
//! throttling, 5xx answers and transport failures, all within the operation timeout.

mod endpoint;

pub use endpoint::{Endpoint, Options, dns_suffix};

use super::{Fetched, MAX_OBJECT_BYTES, ObjectStore};
use crate::retry::{Failure, failure_of_transport, failure_of_xml_error, with_retries};
use crate::sigv4::Signer;
use crate::source::{FailureKind, Operation, SourceError};
use async_trait::async_trait;
use aws_config::SdkConfig;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The operation timeout when the configuration sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an error answer is read for its code and message.
const MAX_ERROR_BODY: usize = 64 * 1024;

type HttpsClient = crate::https::Https<Full<Bytes>>;

/// The S3 endpoint the environment sets, if any (then path-style addressing is used).
fn endpoint_override(lookup: &impl Fn(&str) -> Option<String>) -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|k| lookup(k).filter(|v| !v.is_empty()))
}

/// One bucket, made once at init. The HTTPS client (and the system's root certificates) is
/// loaded at the first call.
#[derive(Debug)]
pub struct S3Store {
    bucket: String,
    endpoint: Endpoint,
    signer: Signer,
    timeout: Duration,
    connect_timeout: Option<Duration>,
    client: OnceLock<Result<HttpsClient, String>>,
}

impl S3Store {
    /// A store for `bucket` in the SDK config's region, with the endpoint `lookup` (the
    /// environment) or the config overrides.
    pub fn new(sdk: &SdkConfig, bucket: &str, lookup: &impl Fn(&str) -> Option<String>) -> Self {
        let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
        let options = Options {
            endpoint_url: endpoint_override(lookup).or_else(|| sdk.endpoint_url().map(str::to_owned)),
            fips: sdk.use_fips().unwrap_or(false),
            dual_stack: sdk.use_dual_stack().unwrap_or(false),
        };
        let timeouts = sdk.timeout_config();
        Self {
            bucket: bucket.to_owned(),
            endpoint: Endpoint::new(bucket, region, &options),
            signer: Signer::new(sdk.credentials_provider(), region, "s3"),
            timeout: timeouts.and_then(|t| t.operation_timeout()).unwrap_or(DEFAULT_TIMEOUT),
            connect_timeout: timeouts.and_then(|t| t.connect_timeout()),
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&HttpsClient, String> {
        self.client
            .get_or_init(|| crate::https::client(self.connect_timeout))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Sends one call, retried as the SDK would, within the operation timeout.
    async fn call(&self, op: Operation, req: Template<'_>) -> Result<Answer, SourceError> {
        let timed_out = || {
            format!(
                "{op} s3://{}/{}: no answer within {} ms",
                self.bucket,
                req.key,
                self.timeout.as_millis()
            )
        };
        with_retries(op.as_str(), self.timeout, timed_out, || self.attempt(op, &req))
            .await
            .map_err(|f| SourceError::new(op, f.kind, f.message))
    }

    async fn attempt(&self, op: Operation, t: &Template<'_>) -> Result<Answer, Failure> {
        let client = self.client().map_err(|e| Failure::fatal(FailureKind::Unavailable, e))?;
        let url = self
            .endpoint
            .object_url(t.key)
            .map_err(|e| Failure::fatal(FailureKind::Unavailable, e))?;
        let uri: http::Uri = url
            .parse()
            .map_err(|e| Failure::fatal(FailureKind::Unavailable, format!("bad URL {url}: {e}")))?;
        let host = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        let mut builder = Request::builder()
            .method(t.method.clone())
            .uri(uri)
            .header(header::HOST, host);
        for (name, value) in &t.headers {
            builder = builder.header(*name, value.as_str());
        }
        if !t.body.is_empty() || t.method == Method::PUT {
            builder = builder.header(header::CONTENT_LENGTH, t.body.len());
        }
        let mut req = builder
            .body(Full::new(t.body.clone()))
            .map_err(|e| Failure::fatal(FailureKind::Unavailable, e.to_string()))?;
        self.signer
            .sign(&mut req, &t.body, SystemTime::now())
            .await
            // As the SDK reports it: a failed credentials provider is a dispatch failure.
            .map_err(|e| Failure::fatal(FailureKind::Unavailable, e.to_string()))?;
        let resp = client
            .request(req)
            .await
            .map_err(|e| failure_of_transport(&format!("{} s3://{}/{}", op, self.bucket, t.key), &e))?;
        let (parts, body) = resp.into_parts();
        if parts.status.is_success()
            || parts.status == StatusCode::NOT_MODIFIED
            || parts.status == StatusCode::NOT_FOUND
        {
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|n| n > MAX_OBJECT_BYTES) {
                return Err(Failure::fatal(
                    FailureKind::Unavailable,
                    format!(
                        "s3://{}/{} is {} bytes, over the {MAX_OBJECT_BYTES}-byte limit",
                        self.bucket,
                        t.key,
                        declared.unwrap_or(0)
                    ),
                ));
            }
            let limit = usize::try_from(MAX_OBJECT_BYTES).unwrap_or(usize::MAX);
            let body = Limited::new(body, limit).collect().await.map_err(|e| {
                Failure::transient(
                    FailureKind::Unavailable,
                    format!("reading s3://{}/{}: {e}", self.bucket, t.key),
                )
            })?;
            return Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body: body.to_bytes(),
            });
        }
        let body = Limited::new(body, MAX_ERROR_BODY)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Err(failure_of_xml_error(parts.status, &body))
    }
}

/// A request, as each attempt sends it again.
struct Template<'a> {
    method: Method,
    key: &'a str,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

/// A successful (or `304`/`404`) answer, read whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn etag(&self) -> String {
        self.headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Fetched, SourceError> {
        let headers = if_none_match
            .map(|etag| vec![("if-none-match", etag.to_owned())])
            .unwrap_or_default();
        let template = Template {
            method: Method::GET,
            key,
            headers,
            body: Bytes::new(),
        };
        let answer = self.call(Operation::GetObject, template).await?;
        Ok(match answer.status {
            StatusCode::NOT_MODIFIED => Fetched::NotModified,
            StatusCode::NOT_FOUND => Fetched::Missing,
            _ => Fetched::Found {
                etag: answer.etag(),
                body: answer.body,
            },
        })
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<String, SourceError> {
        let template = Template {
            method: Method::PUT,
            key,
            headers: vec![("content-type", "application/json".to_owned())],
            body,
        };
        let answer = self.call(Operation::PutObject, template).await?;
        if !answer.status.is_success() {
            let f = failure_of_xml_error(answer.status, &answer.body);
            return Err(SourceError::new(
                Operation::PutObject,
                f.kind,
                format!("s3://{}/{key}: {}", self.bucket, f.message),
            ));
        }
        Ok(answer.etag())
    }
}

#[cfg(test)]
mod tests;
