//! The S3 store against a scripted HTTP server on 127.0.0.1: what it sends, and how it reads
//! each kind of answer. (moto's S3 serves the end-to-end fleet suites.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::retry::MAX_ATTEMPTS;
use aws_config::Region;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

/// One scripted answer: status, headers, body, and a delay before it.
#[derive(Clone)]
struct Scripted(u16, Vec<(&'static str, &'static str)>, &'static str, Duration);

fn ok(status: u16, headers: Vec<(&'static str, &'static str)>, body: &'static str) -> Scripted {
    Scripted(status, headers, body, Duration::ZERO)
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

struct FakeS3 {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Serves `script` in order (the last answer repeats).
async fn fake_s3(script: Vec<Scripted>) -> FakeS3 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (log, script) = (log.clone(), script.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (log, script) = (log.clone(), script.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        log.lock().push(Seen {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_owned(),
                            headers: parts.headers,
                            body,
                        });
                        let Scripted(status, headers, text, delay) = {
                            let mut s = script.lock();
                            if s.len() > 1 {
                                s.pop_front().unwrap()
                            } else {
                                s[0].clone()
                            }
                        };
                        tokio::time::sleep(delay).await;
                        let mut resp = hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
                        *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                        for (k, v) in headers {
                            resp.headers_mut().insert(k, v.parse().unwrap());
                        }
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    FakeS3 { url, seen }
}

fn store(url: &str, timeout: Duration) -> S3Store {
    let sdk = SdkConfig::builder()
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("session".to_owned()),
            None,
            "test",
        )))
        .timeout_config(TimeoutConfig::builder().operation_timeout(timeout).build())
        .build();
    let url = url.to_owned();
    S3Store::new(&sdk, "fleet", &move |k: &str| {
        (k == "AWS_ENDPOINT_URL_S3").then(|| url.clone())
    })
}

#[tokio::test]
async fn a_get_is_signed_path_style_and_returns_the_body_and_etag() {
    let s3 = fake_s3(vec![ok(200, vec![("etag", "\"abc\"")], "{\"v\":1}")]).await;
    let got = store(&s3.url, Duration::from_secs(5))
        .get("p/us-east-1.json", None)
        .await
        .unwrap();
    assert_eq!(
        got,
        Fetched::Found {
            etag: "\"abc\"".to_owned(),
            body: Bytes::from_static(b"{\"v\":1}")
        }
    );
    let seen = s3.seen.lock()[0].clone();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/fleet/p/us-east-1.json")
    );
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), "{auth}");
    assert!(auth.contains("/eu-west-1/s3/aws4_request"), "{auth}");
    assert_eq!(seen.headers["x-amz-security-token"], "session");
    assert!(seen.headers.contains_key("x-amz-content-sha256"));
    assert!(!seen.headers.contains_key("if-none-match"));
}

#[tokio::test]
async fn a_conditional_get_sends_the_etag_and_reads_304_as_not_modified() {
    let s3 = fake_s3(vec![ok(304, vec![("etag", "\"abc\"")], "")]).await;
    let got = store(&s3.url, Duration::from_secs(5))
        .get("k.json", Some("\"abc\""))
        .await
        .unwrap();
    assert_eq!(got, Fetched::NotModified);
    assert_eq!(s3.seen.lock()[0].headers["if-none-match"], "\"abc\"");
}

#[tokio::test]
async fn a_missing_object_is_missing_and_not_an_error() {
    let body = "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
    let s3 = fake_s3(vec![ok(404, vec![], body)]).await;
    let got = store(&s3.url, Duration::from_secs(5))
        .get("k.json", None)
        .await
        .unwrap();
    assert_eq!(got, Fetched::Missing);
}

#[tokio::test]
async fn access_denied_is_denied_at_once_with_the_code_and_message() {
    let body = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
    let s3 = fake_s3(vec![ok(403, vec![], body)]).await;
    let err = store(&s3.url, Duration::from_secs(5))
        .get("k.json", None)
        .await
        .unwrap_err();
    assert_eq!((err.operation, err.kind), (Operation::GetObject, FailureKind::Denied));
    assert_eq!(err.message, "HTTP 403 AccessDenied Access Denied");
    assert_eq!(s3.seen.lock().len(), 1, "a 403 is not retried");
}

#[tokio::test]
async fn a_5xx_is_retried_and_the_next_answer_counts() {
    let s3 = fake_s3(vec![
        ok(500, vec![], "<Error><Code>InternalError</Code></Error>"),
        ok(503, vec![], "<Error><Code>SlowDown</Code></Error>"),
        ok(200, vec![("etag", "\"e\"")], "x"),
    ])
    .await;
    let got = store(&s3.url, Duration::from_secs(5))
        .get("k.json", None)
        .await
        .unwrap();
    assert!(matches!(got, Fetched::Found { .. }));
    assert_eq!(s3.seen.lock().len(), 3);
}

#[tokio::test]
async fn throttling_past_the_attempts_is_throttled() {
    let s3 = fake_s3(vec![ok(
        503,
        vec![],
        "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>",
    )])
    .await;
    let err = store(&s3.url, Duration::from_secs(5))
        .get("k.json", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Throttled);
    assert_eq!(s3.seen.lock().len(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn a_slow_answer_times_out_within_the_operation_timeout() {
    let s3 = fake_s3(vec![Scripted(200, vec![], "late", Duration::from_secs(3))]).await;
    let started = std::time::Instant::now();
    let err = store(&s3.url, Duration::from_millis(300))
        .get("k.json", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = store(&url, Duration::from_secs(2))
        .get("k.json", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Unavailable);
    assert!(err.message.contains("s3://fleet/k.json"), "{}", err.message);
}

#[tokio::test]
async fn an_object_over_the_limit_is_refused_from_its_declared_length() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // hyper would correct a false length, so this answer is written by hand.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        for _ in 0..MAX_ATTEMPTS {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", MAX_OBJECT_BYTES + 1);
            let _ = stream.write_all(head.as_bytes()).await;
        }
    });
    let err = store(&url, Duration::from_secs(5))
        .get("k.json", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Unavailable);
    assert!(err.message.contains("over the 268435456-byte limit"), "{}", err.message);
}

#[tokio::test]
async fn a_put_sends_json_with_its_length_and_hash_and_returns_the_etag() {
    let s3 = fake_s3(vec![ok(200, vec![("etag", "\"new\"")], "")]).await;
    let etag = store(&s3.url, Duration::from_secs(5))
        .put("p/us-east-1.json", Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert_eq!(etag, "\"new\"");
    let seen = s3.seen.lock()[0].clone();
    assert_eq!((seen.method.as_str(), seen.body.as_ref()), ("PUT", b"{}".as_ref()));
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["content-length"], "2");
    assert_eq!(
        seen.headers["x-amz-content-sha256"],
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
}

#[tokio::test]
async fn a_put_to_a_missing_bucket_is_an_error_with_its_code() {
    let body = "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
    let s3 = fake_s3(vec![ok(404, vec![], body)]).await;
    let err = store(&s3.url, Duration::from_secs(5))
        .put("k.json", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(
        (err.operation, err.kind),
        (Operation::PutObject, FailureKind::Unavailable)
    );
    assert!(err.message.contains("NoSuchBucket"), "{}", err.message);
}

#[test]
fn an_error_body_gives_its_code_and_message() {
    let f = failure_of_xml_error(StatusCode::BAD_REQUEST, b"<?xml version=\"1.0\"?><Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message></Error>");
    assert_eq!(f.kind, FailureKind::Unavailable);
    assert!(!f.retry);
    assert_eq!(
        f.message,
        "HTTP 400 AuthorizationHeaderMalformed the region 'us-east-1' is wrong; expecting 'eu-west-1'"
    );
    let empty = failure_of_xml_error(StatusCode::BAD_GATEWAY, b"");
    assert_eq!((empty.message.as_str(), empty.retry), ("HTTP 502", true));
}
