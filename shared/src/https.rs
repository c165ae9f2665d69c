//! The one HTTPS client: hyper with rustls on ring and the system's root certificates, for the
//! SDK's calls (as its [`SharedHttpClient`]) and for fleet mode's S3 calls
//! ([`crate::published::s3`]).
//!
//! The SDK's own client (`aws-smithy-http-client`) links an HTTP/2 stack and a connection pool
//! of its own for services that all answer HTTP/1.1: replacing it (and the log filter's regex
//! engine, in the same change) took the extension from 10.33 to 8.68 MB. This one keeps what the
//! SDK relies on from a client: the connect and read timeouts of its settings, TCP_NODELAY, idle
//! pooled connections closed after 90 s, and errors classified the way the SDK's retry strategy
//! reads them (a refused or reset connection is retryable I/O, a timeout is a timeout).

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::body::SdkBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parking_lot::Mutex;
use std::error::Error;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The most a connection's read buffer holds: hyper's minimum.
const READ_BUFFER_MAX: usize = 8 * 1024;

/// A hyper client over TLS (or plain HTTP, for endpoint overrides such as the local emulator).
pub type Https<B> = Client<HttpsConnector<TcpConnector>, B>;

/// A client with `connect_timeout`; the root certificates are read once per process (none
/// found is logged, and leaves plain HTTP working).
///
/// # Errors
/// rustls refuses its own default protocol versions (not expected).
pub fn client<B>(connect_timeout: Option<Duration>) -> Result<Https<B>, String>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    let mut tcp = TcpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(connect_timeout);
    let tls = tls_config()?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    // With a timer, idle pooled connections are closed after hyper's 90 s, as the SDK's client
    // does; without one they would be kept until the server drops them.
    // A connection's read buffer is capped at hyper's smallest, 8 KiB (its default grows to
    // about 400 KiB for large bodies, and a pooled connection keeps it): the idle extension at
    // 2,000 profiles is 1.2 MiB smaller, and a page of tens of KB takes a few reads. AWS response
    // heads are far below 8 KiB, the limit this also puts on them (docs/performance.md).
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .http1_max_buf_size(READ_BUFFER_MAX)
        .build(https))
}

/// rustls on ring with the system's roots, built once.
fn tls_config() -> Result<rustls::ClientConfig, String> {
    static CONFIG: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                // Plain HTTP (an endpoint override) still works; HTTPS will fail to verify, and
                // says so on each call.
                tracing::warn!(
                    errors = found.errors.len(),
                    "no root certificates found on this system; HTTPS calls will fail"
                );
            }
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())
                .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        })
        .clone()
}

/// The SDK's HTTP client: one connector per distinct timeout settings, made at first use.
pub fn sdk_client() -> SharedHttpClient {
    SharedHttpClient::new(SdkClient::default())
}

#[derive(Debug, Default)]
struct SdkClient {
    connectors: Mutex<Vec<(HttpConnectorSettings, SharedHttpConnector)>>,
}

impl HttpClient for SdkClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let mut connectors = self.connectors.lock();
        let same = |s: &HttpConnectorSettings| {
            s.connect_timeout() == settings.connect_timeout() && s.read_timeout() == settings.read_timeout()
        };
        if let Some((_, c)) = connectors.iter().find(|(s, _)| same(s)) {
            return c.clone();
        }
        let connector = SharedHttpConnector::new(SdkConnector {
            client: client(settings.connect_timeout()),
            read_timeout: settings.read_timeout(),
        });
        connectors.push((settings.clone(), connector.clone()));
        connector
    }
}

#[derive(Debug)]
struct SdkConnector {
    client: Result<Https<SdkBody>, String>,
    read_timeout: Option<Duration>,
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::other(e.clone().into(), None))),
        };
        let request = match request.try_into_http1x() {
            Ok(r) => r,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let sent = client.request(request);
            let answered = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, sent).await {
                    Ok(answered) => answered,
                    Err(elapsed) => return Err(ConnectorError::timeout(elapsed.into())),
                },
                None => sent.await,
            };
            match answered {
                Ok(resp) => Response::try_from(resp.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(classify(e)),
            }
        })
    }
}

/// How the SDK's retry strategy should read a failed request.
fn classify(err: hyper_util::client::legacy::Error) -> ConnectorError {
    let io_kind = find::<std::io::Error>(&err).map(std::io::Error::kind);
    if io_kind == Some(std::io::ErrorKind::TimedOut) || find::<hyper::Error>(&err).is_some_and(hyper::Error::is_timeout)
    {
        return ConnectorError::timeout(err.into());
    }
    let hyper_err = find::<hyper::Error>(&err);
    if hyper_err.is_some_and(hyper::Error::is_user) {
        return ConnectorError::user(err.into());
    }
    if err.is_connect() || io_kind.is_some() || hyper_err.is_some_and(|h| h.is_closed() || h.is_canceled()) {
        return ConnectorError::io(err.into());
    }
    if hyper_err.is_some_and(hyper::Error::is_incomplete_message) {
        return ConnectorError::other(err.into(), Some(aws_smithy_types::retry::ErrorKind::TransientError));
    }
    ConnectorError::other(err.into(), None)
}

/// The first error of type `E` in `err`'s chain.
pub fn find<'a, E: Error + 'static>(err: &'a (dyn Error + 'static)) -> Option<&'a E> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}
