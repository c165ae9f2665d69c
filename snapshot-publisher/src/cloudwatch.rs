//! The three CloudWatch calls the cost views make, `PutDashboard`, `PutMetricAlarm` and
//! `DeleteAlarms`, as signed requests of CloudWatch's query protocol (a form-encoded `POST /`)
//! over the HTTPS client, signer and retries the S3 client uses (`shared::https`,
//! `shared::sigv4`, `shared::retry`). Linking the CloudWatch SDK for three write calls would
//! add its compile time to every build of the publisher (docs/design.md, "Hand-written calls").
//!
//! Each call goes to the region it concerns: alarms live in the region of their metrics, and a
//! dashboard (global) is written through its region's endpoint. The endpoint is
//! `AWS_ENDPOINT_URL_CLOUDWATCH`, else `AWS_ENDPOINT_URL`, else the SDK config's override, else
//! `https://monitoring.REGION.amazonaws.com` (`.com.cn` in China); a partition whose hosts this
//! client does not know fails with a message naming the variable to set.

use crate::cost_views::alarms::AlarmSpec;
use async_trait::async_trait;
use aws_config::SdkConfig;
use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use shared::retry::{Failure, failure_of_transport, failure_of_xml_error, with_retries};
use shared::sigv4::Signer;
use shared::source::FailureKind;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// The query protocol's API version.
const VERSION: &str = "2010-08-01";
/// The operation timeout when the configuration sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an answer is read.
const MAX_ANSWER_BODY: usize = 64 * 1024;

/// A failed CloudWatch call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} in {region}: {message}")]
pub struct MonitoringError {
    /// The call.
    pub operation: &'static str,
    /// Its region.
    pub region: String,
    /// What happened.
    pub message: String,
}

/// The CloudWatch calls of the cost views. [`CloudWatch`] makes them; tests record them.
#[async_trait]
pub trait Monitoring: Send + Sync {
    /// `PutDashboard`: creates or replaces the dashboard.
    async fn put_dashboard(&self, region: &str, name: &str, body: &str) -> Result<(), MonitoringError>;
    /// `PutMetricAlarm`: creates or replaces the alarm.
    async fn put_alarm(&self, region: &str, alarm: &AlarmSpec) -> Result<(), MonitoringError>;
    /// `DeleteAlarms` (at most 100 names a call).
    async fn delete_alarms(&self, region: &str, names: &[String]) -> Result<(), MonitoringError>;
}

type HttpsClient = shared::https::Https<Full<Bytes>>;

/// CloudWatch over HTTPS, one signer per region.
pub struct CloudWatch {
    sdk: SdkConfig,
    endpoint_override: Option<String>,
    timeout: Duration,
    signers: Mutex<HashMap<String, Arc<Signer>>>,
    client: OnceLock<Result<HttpsClient, String>>,
}

impl CloudWatch {
    /// A client with the SDK config's credentials and timeouts, and the endpoint `lookup` (the
    /// environment) or the config overrides.
    pub fn new(sdk: &SdkConfig, lookup: &impl Fn(&str) -> Option<String>) -> Self {
        let endpoint_override = ["AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|k| lookup(k).filter(|v| !v.is_empty()))
            .or_else(|| sdk.endpoint_url().map(str::to_owned));
        let timeout = sdk
            .timeout_config()
            .and_then(|t| t.operation_timeout())
            .unwrap_or(DEFAULT_TIMEOUT);
        Self {
            sdk: sdk.clone(),
            endpoint_override,
            timeout,
            signers: Mutex::new(HashMap::new()),
            client: OnceLock::new(),
        }
    }

    fn url(&self, region: &str) -> Result<String, String> {
        if let Some(url) = &self.endpoint_override {
            return Ok(format!("{}/", url.trim_end_matches('/')));
        }
        match shared::published::s3::dns_suffix(region) {
            Some(domain) => Ok(format!("https://monitoring.{region}.{domain}/")),
            None => Err(format!(
                "CloudWatch in {region} is in a partition this client does not know the hosts of; \
                 set AWS_ENDPOINT_URL_CLOUDWATCH to its endpoint"
            )),
        }
    }

    fn signer(&self, region: &str) -> Arc<Signer> {
        let mut signers = self.signers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            signers
                .entry(region.to_owned())
                .or_insert_with(|| Arc::new(Signer::new(self.sdk.credentials_provider(), region, "monitoring"))),
        )
    }

    /// Sends one call (`params` after `Action` and `Version`), retried as the SDK would.
    async fn call(
        &self,
        region: &str,
        action: &'static str,
        params: &[(String, String)],
    ) -> Result<(), MonitoringError> {
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action).append_pair("Version", VERSION);
            for (k, v) in params {
                form.append_pair(k, v);
            }
            Bytes::from(form.finish())
        };
        let timed_out = || format!("no answer within {} ms", self.timeout.as_millis());
        with_retries(action, self.timeout, timed_out, || self.attempt(region, &body))
            .await
            .map_err(|f| MonitoringError {
                operation: action,
                region: region.to_owned(),
                message: f.message,
            })
    }

    async fn attempt(&self, region: &str, body: &Bytes) -> Result<(), Failure> {
        let fatal = |e: String| Failure::fatal(FailureKind::Unavailable, e);
        let connect_timeout = self.sdk.timeout_config().and_then(|t| t.connect_timeout());
        let client = self
            .client
            .get_or_init(|| shared::https::client(connect_timeout))
            .as_ref()
            .map_err(|e| fatal(e.clone()))?;
        let url = self.url(region).map_err(fatal)?;
        let uri: http::Uri = url.parse().map_err(|e| fatal(format!("bad URL {url}: {e}")))?;
        let host = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::HOST, host)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8")
            .header(header::CONTENT_LENGTH, body.len())
            .body(Full::new(body.clone()))
            .map_err(|e| fatal(e.to_string()))?;
        self.signer(region)
            .sign(&mut req, body, SystemTime::now())
            .await
            .map_err(|e| fatal(e.to_string()))?;
        let resp = client.request(req).await.map_err(|e| failure_of_transport(&url, &e))?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, MAX_ANSWER_BODY)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if parts.status.is_success() {
            return Ok(());
        }
        Err(failure_of_xml_error(parts.status, &body))
    }
}

#[async_trait]
impl Monitoring for CloudWatch {
    async fn put_dashboard(&self, region: &str, name: &str, body: &str) -> Result<(), MonitoringError> {
        let params = [("DashboardName", name), ("DashboardBody", body)].map(|(k, v)| (k.to_owned(), v.to_owned()));
        self.call(region, "PutDashboard", &params).await
    }

    async fn put_alarm(&self, region: &str, alarm: &AlarmSpec) -> Result<(), MonitoringError> {
        self.call(region, "PutMetricAlarm", &alarm.query_params()).await
    }

    async fn delete_alarms(&self, region: &str, names: &[String]) -> Result<(), MonitoringError> {
        for batch in names.chunks(100) {
            let params: Vec<(String, String)> = batch
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("AlarmNames.member.{}", i + 1), n.clone()))
                .collect();
            match self.call(region, "DeleteAlarms", &params).await {
                // Names that are gone already (deleted by hand) are what was wanted.
                Err(e) if e.message.contains("ResourceNotFound") => {}
                other => other?,
            }
        }
        Ok(())
    }
}
