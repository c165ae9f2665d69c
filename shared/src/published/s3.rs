//! [`ObjectStore`] on Amazon S3 through the SDK. With an endpoint override
//! (`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, as for moto), requests use path-style
//! addressing, which such endpoints need; against AWS they use virtual-hosted style.

use super::{Fetched, MAX_OBJECT_BYTES, ObjectStore};
use crate::source::sdk::classify;
use crate::source::{FailureKind, Operation, SourceError};
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

/// Whether the environment overrides the S3 endpoint (then path-style addressing is used).
pub fn endpoint_overridden(lookup: &impl Fn(&str) -> Option<String>) -> bool {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|k| lookup(k).is_some_and(|v| !v.is_empty()))
}

/// One bucket through one client, made once.
#[derive(Debug, Clone)]
pub struct SdkStore {
    client: Client,
    bucket: String,
}

impl SdkStore {
    /// A store for `bucket`, in the SDK config's region.
    pub fn new(sdk: &SdkConfig, bucket: &str, path_style: bool) -> Self {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(path_style)
            .build();
        Self {
            client: Client::from_conf(config),
            bucket: bucket.to_owned(),
        }
    }
}

#[async_trait]
impl ObjectStore for SdkStore {
    async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Fetched, SourceError> {
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_if_none_match(if_none_match.map(str::to_owned))
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) => {
                return match e.raw_response().map(|r| r.status().as_u16()) {
                    Some(304) => Ok(Fetched::NotModified),
                    Some(404) => Ok(Fetched::Missing),
                    _ => Err(classify(Operation::GetObject, &e)),
                };
            }
        };
        let size = out.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        if size > MAX_OBJECT_BYTES {
            return Err(SourceError::new(
                Operation::GetObject,
                FailureKind::Unavailable,
                format!(
                    "s3://{}/{key} is {size} bytes, over the {MAX_OBJECT_BYTES}-byte limit",
                    self.bucket
                ),
            ));
        }
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let body = out.body.collect().await.map_err(|e| {
            SourceError::new(
                Operation::GetObject,
                FailureKind::Unavailable,
                format!("reading s3://{}/{key}: {e}", self.bucket),
            )
        })?;
        Ok(Fetched::Found {
            etag,
            body: body.into_bytes(),
        })
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<String, SourceError> {
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify(Operation::PutObject, &e))?;
        Ok(out.e_tag().unwrap_or_default().to_owned())
    }
}
