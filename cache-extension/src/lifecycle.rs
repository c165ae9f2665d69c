//! The Lambda Extensions API: register for INVOKE and SHUTDOWN, then wait for events. Requests
//! are built by small pure functions so they can be tested without a runtime.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// `AWS_LAMBDA_RUNTIME_API`
pub const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
const VERSION: &str = "2020-01-01";

/// The base URL of the API. Lambda gives `host:port`; some emulators give a full URL with a
/// path prefix (`http://127.0.0.1:9000/.rt`), which is taken as it is.
fn base(api: &str) -> String {
    let api = api.trim_end_matches('/');
    if api.starts_with("http://") || api.starts_with("https://") {
        api.to_owned()
    } else {
        format!("http://{api}")
    }
}
const NAME_HEADER: &str = "Lambda-Extension-Name";
const ID_HEADER: &str = "Lambda-Extension-Identifier";
const ERROR_TYPE_HEADER: &str = "Lambda-Extension-Function-Error-Type";

/// A failure talking to the Extensions API.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The request could not be built (a bad `AWS_LAMBDA_RUNTIME_API`).
    #[error("bad extensions API request: {0}")]
    Request(#[from] hyper::http::Error),
    /// The API did not answer.
    #[error("extensions API unreachable: {0}")]
    Transport(#[from] hyper_util::client::legacy::Error),
    /// The body could not be read.
    #[error("extensions API body: {0}")]
    Body(#[from] hyper::Error),
    /// The API answered with an error or something unexpected.
    #[error("extensions API answered {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Body.
        body: String,
    },
}

/// An event from `event/next`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "eventType", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Event {
    /// The function is being invoked: the sandbox is thawed.
    Invoke {
        /// Epoch milliseconds by which the invoke must end.
        #[serde(rename = "deadlineMs")]
        deadline_ms: u64,
    },
    /// The sandbox is shutting down.
    Shutdown {
        /// Why (`spindown`, `timeout`, `failure`).
        #[serde(rename = "shutdownReason")]
        shutdown_reason: String,
    },
}

/// The events of a classic sandbox, which freezes between invokes.
pub const CLASSIC_EVENTS: &[&str] = &["INVOKE", "SHUTDOWN"];

/// The only event Lambda Managed Instances accept a registration for.
pub const MANAGED_INSTANCES_EVENTS: &[&str] = &["SHUTDOWN"];

/// `POST /2020-01-01/extension/register` for `events`.
///
/// # Errors
/// A bad API address.
pub fn register_request(api: &str, name: &str, events: &[&str]) -> Result<Request<Full<Bytes>>, hyper::http::Error> {
    let body = serde_json::json!({ "events": events }).to_string();
    Request::builder()
        .method(Method::POST)
        .uri(format!("{}/{VERSION}/extension/register", base(api)))
        .header(NAME_HEADER, name)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
}

/// `GET /2020-01-01/extension/event/next`
///
/// # Errors
/// A bad API address.
pub fn next_request(api: &str, id: &str) -> Result<Request<Full<Bytes>>, hyper::http::Error> {
    Request::builder()
        .method(Method::GET)
        .uri(format!("{}/{VERSION}/extension/event/next", base(api)))
        .header(ID_HEADER, id)
        .body(Full::default())
}

/// `POST /2020-01-01/extension/init/error`
///
/// # Errors
/// A bad API address.
pub fn init_error_request(
    api: &str,
    id: &str,
    error_type: &str,
    message: &str,
) -> Result<Request<Full<Bytes>>, hyper::http::Error> {
    let body = serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string();
    Request::builder()
        .method(Method::POST)
        .uri(format!("{}/{VERSION}/extension/init/error", base(api)))
        .header(ID_HEADER, id)
        .header(ERROR_TYPE_HEADER, error_type)
        .body(Full::new(Bytes::from(body)))
}

/// A client of the Extensions API.
#[derive(Debug, Clone)]
pub struct ExtensionsApi {
    api: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl ExtensionsApi {
    /// A client of the API at `host:port`.
    pub fn new(api: impl Into<String>) -> Self {
        Self {
            api: api.into(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> Result<(hyper::http::response::Parts, Bytes), LifecycleError> {
        let resp = self.client.request(req).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        if !parts.status.is_success() {
            return Err(LifecycleError::Status {
                status: parts.status.as_u16(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        Ok((parts, body))
    }

    /// Registers under `name` (the executable's file name) and returns the extension id.
    ///
    /// # Errors
    /// Transport failures, or an answer without an id.
    pub async fn register(&self, name: &str, events: &[&str]) -> Result<String, LifecycleError> {
        let (parts, body) = self.send(register_request(&self.api, name, events)?).await?;
        parts
            .headers
            .get(ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| LifecycleError::Status {
                status: parts.status.as_u16(),
                body: format!("no {ID_HEADER} header: {}", String::from_utf8_lossy(&body)),
            })
    }

    /// Blocks until the next event.
    ///
    /// # Errors
    /// Transport failures, or an event that does not parse.
    pub async fn next_event(&self, id: &str) -> Result<Event, LifecycleError> {
        let (parts, body) = self.send(next_request(&self.api, id)?).await?;
        serde_json::from_slice(&body).map_err(|e| LifecycleError::Status {
            status: parts.status.as_u16(),
            body: e.to_string(),
        })
    }

    /// Reports an init failure, so that Lambda shows it as the cause.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn init_error(&self, id: &str, error_type: &str, message: &str) -> Result<(), LifecycleError> {
        self.send(init_error_request(&self.api, id, error_type, message)?)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_names_the_extension_and_asks_for_its_events() {
        let req = register_request("127.0.0.1:9001", "cache-extension", CLASSIC_EVENTS).unwrap();
        assert_eq!(req.uri(), "http://127.0.0.1:9001/2020-01-01/extension/register");
        assert_eq!(req.headers()[NAME_HEADER], "cache-extension");
        assert_eq!(req.method(), Method::POST);
    }

    #[tokio::test]
    async fn managed_instances_registration_asks_for_shutdown_alone() {
        use http_body_util::BodyExt;
        for (events, body) in [
            (CLASSIC_EVENTS, r#"{"events":["INVOKE","SHUTDOWN"]}"#),
            (MANAGED_INSTANCES_EVENTS, r#"{"events":["SHUTDOWN"]}"#),
        ] {
            let req = register_request("127.0.0.1:9001", "x", events).unwrap();
            let bytes = req.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(bytes, body.as_bytes());
        }
    }

    #[test]
    fn a_full_url_with_a_path_prefix_is_kept() {
        let req = register_request("http://127.0.0.1:9000/.rt", "x", CLASSIC_EVENTS).unwrap();
        assert_eq!(req.uri(), "http://127.0.0.1:9000/.rt/2020-01-01/extension/register");
    }

    #[test]
    fn next_carries_the_extension_id() {
        let req = next_request("127.0.0.1:9001", "abc-123").unwrap();
        assert_eq!(req.uri(), "http://127.0.0.1:9001/2020-01-01/extension/event/next");
        assert_eq!(req.headers()[ID_HEADER], "abc-123");
    }

    #[test]
    fn events_parse_from_the_lambda_shapes() {
        let invoke: Event = serde_json::from_str(
            r#"{"eventType":"INVOKE","deadlineMs":1700000000000,"requestId":"r","invokedFunctionArn":"a","tracing":{}}"#,
        )
        .unwrap();
        assert_eq!(
            invoke,
            Event::Invoke {
                deadline_ms: 1_700_000_000_000
            }
        );
        let shutdown: Event =
            serde_json::from_str(r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":1}"#).unwrap();
        assert_eq!(
            shutdown,
            Event::Shutdown {
                shutdown_reason: "spindown".into()
            }
        );
    }

    #[test]
    fn init_errors_carry_their_type_header() {
        let req = init_error_request(
            "h:1",
            "id",
            "Extension.ConfigInvalid",
            "PROFILE_RESOLVER_PORT is invalid",
        )
        .unwrap();
        assert_eq!(req.headers()[ERROR_TYPE_HEADER], "Extension.ConfigInvalid");
    }
}
