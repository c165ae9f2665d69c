//! Hostile input against the real extension binary: malformed requests always get a 4xx, JSON
//! with the right code where the application sees them; never a 5xx, a panic or a hang.

use crate::helpers::*;
use harness::harness::http;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends raw bytes and reads the status and body; `None` when the server closed without a
/// response. Bounded by a 5 s read timeout.
fn raw(url: &str, request: &[u8]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = stream.write_all(request);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                panic!(
                    "the server hung on {:?}",
                    String::from_utf8_lossy(&request[..request.len().min(120)])
                )
            }
            Err(_) => break,
        }
        if buf.windows(4).any(|w| w == b"\r\n\r\n") && response_complete(&buf) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

fn response_complete(buf: &[u8]) -> bool {
    let text = String::from_utf8_lossy(buf);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let len = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
    });
    len.is_some_and(|n| body.len() >= n)
}

fn post(rig: &Rig, body: &[u8]) -> (u16, Value) {
    let reply = http::request(
        &rig.ext.url,
        "POST",
        "/v1/resolve",
        &[("x-profile-resolver-token", TOKEN)],
        body,
    )
    .unwrap();
    (reply.status, reply.json())
}

#[test]
fn malformed_bodies_get_400_naming_the_field_or_the_right_code() {
    let rig = Rig::start(
        "hostile-body",
        RigOptions {
            ttl: "600",
            ..RigOptions::default()
        },
        |_| {},
    );
    rig.warm();
    let keys = |n: usize| {
        json!({"tags": (0..n).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}).to_string()
    };
    let values = |n: usize| json!({"tags": {"k": (0..n).map(|i| i.to_string()).collect::<Vec<_>>()}}).to_string();
    // (case, body, status, code, field)
    type Case<'a> = (&'a str, Vec<u8>, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case<'_>> = vec![
        ("empty body", b"".to_vec(), 400, "InvalidQuery", Some("body")),
        ("bad JSON", b"{\"tags\": {".to_vec(), 400, "InvalidQuery", Some("body")),
        (
            "trailing garbage",
            b"{\"tags\": {\"a\": \"b\"}} trailing".to_vec(),
            400,
            "InvalidQuery",
            Some("body"),
        ),
        (
            "deep nesting",
            format!("{}{}", "[".repeat(60_000), "]".repeat(60_000)).into_bytes(),
            413,
            "PayloadTooLarge",
            None,
        ),
        (
            "deep nesting under the limit",
            "[".repeat(30_000).into_bytes(),
            400,
            "InvalidQuery",
            Some("body"),
        ),
        (
            "invalid UTF-8",
            b"{\"tags\": {\"a\": \"\xff\xfe\"}}".to_vec(),
            400,
            "InvalidQuery",
            Some("body"),
        ),
        ("51 keys", keys(51).into_bytes(), 400, "InvalidQuery", Some("tags")),
        (
            "21 values",
            values(21).into_bytes(),
            400,
            "InvalidQuery",
            Some("tags.k"),
        ),
        (
            "129-character key",
            json!({"tags": {"k".repeat(129): "v"}}).to_string().into_bytes(),
            400,
            "InvalidQuery",
            None,
        ),
        (
            "257-character value",
            json!({"tags": {"k": "v".repeat(257)}}).to_string().into_bytes(),
            400,
            "InvalidQuery",
            Some("tags.k"),
        ),
        (
            "raw control character",
            b"{\"tags\": {\"a\": \"x\x01y\"}}".to_vec(),
            400,
            "InvalidQuery",
            Some("body"),
        ),
        (
            "escaped control characters",
            br#"{"tags": {"a\u0000": "\u0007\u001b"}}"#.to_vec(),
            404,
            "NoMatch",
            None,
        ),
        (
            "duplicate keys",
            br#"{"tags": {"a": "1", "a": "2"}}"#.to_vec(),
            400,
            "InvalidQuery",
            Some("tags.a"),
        ),
        (
            "duplicate top-level field",
            br#"{"tags": {"a": "1"}, "tags": {"b": "2"}}"#.to_vec(),
            400,
            "InvalidQuery",
            Some("tags"),
        ),
        (
            "wrong type of tags",
            br#"{"tags": "tenant=acme"}"#.to_vec(),
            400,
            "InvalidQuery",
            Some("tags"),
        ),
        (
            "wrong type of a value",
            br#"{"tags": {"a": {"b": 1}}}"#.to_vec(),
            400,
            "InvalidQuery",
            Some("tags.a"),
        ),
        (
            "number in a value list",
            br#"{"tags": {"a": ["x", 1]}}"#.to_vec(),
            400,
            "InvalidQuery",
            Some("tags.a[1]"),
        ),
        (
            "unknown field",
            br#"{"tags": {"a": "1"}, "limit": 5}"#.to_vec(),
            400,
            "InvalidQuery",
            Some("limit"),
        ),
        (
            "unknown match",
            br#"{"tags": {"a": "1"}, "match": "ALL"}"#.to_vec(),
            400,
            "InvalidQuery",
            Some("match"),
        ),
        (
            "region not allowed",
            br#"{"tags": {"a": "1"}, "region": "cn-north-1"}"#.to_vec(),
            400,
            "InvalidQuery",
            Some("region"),
        ),
        (
            "region traversal",
            br#"{"tags": {"a": "1"}, "region": "../../etc"}"#.to_vec(),
            400,
            "InvalidQuery",
            Some("region"),
        ),
        (
            "body is an array",
            b"[1, 2]".to_vec(),
            400,
            "InvalidQuery",
            Some("body"),
        ),
        ("body is null", b"null".to_vec(), 400, "InvalidQuery", Some("body")),
        ("over 64 KiB", vec![b' '; 64 * 1024 + 1], 413, "PayloadTooLarge", None),
    ];
    for (name, body, status, code, field) in cases {
        let (got, json) = post(&rig, &body);
        assert_eq!(
            (got, json["error"]["code"].as_str()),
            (status, Some(code)),
            "{name}: {json}"
        );
        if let Some(field) = field {
            assert_eq!(json["error"]["field"], field, "{name}: {json}");
        }
    }
    assert_eq!(rig.acme("us-east-1").0, 200, "still serving");
}

#[test]
fn hostile_paths_methods_and_query_strings_get_json_4xx() {
    let rig = Rig::start(
        "hostile-path",
        RigOptions {
            ttl: "600",
            ..RigOptions::default()
        },
        |_| {},
    );
    rig.warm();
    let token = [("x-profile-resolver-token", TOKEN)];
    let cases: Vec<(&str, &str, u16, &str)> = vec![
        ("GET", "/v1/../v1/resolve?tag:tenant=acme", 404, "NotFound"),
        ("GET", "/v1/resolve/../../etc/passwd", 404, "NotFound"),
        ("GET", "/%2e%2e/%2e%2e/etc/passwd", 404, "NotFound"),
        ("GET", "/v1/resolve?tag:tenant=%FF", 400, "InvalidQuery"),
        ("GET", "/v1/resolve?tag:tenant=acme&tag:tenant", 400, "InvalidQuery"),
        ("GET", "/v1/resolve?region=us-east-1", 400, "InvalidQuery"),
        ("GET", "/v1/resolve?tag:a=1&match=one&match=all", 400, "InvalidQuery"),
        ("PUT", "/v1/resolve", 405, "MethodNotAllowed"),
        ("PATCH", "/v1/resolve/batch", 405, "MethodNotAllowed"),
        ("DELETE", "/health", 405, "MethodNotAllowed"),
        ("GET", "/v2/resolve", 404, "NotFound"),
    ];
    for (method, path, status, code) in cases {
        let reply = http::request(&rig.ext.url, method, path, &token, b"").unwrap();
        assert_eq!(
            (reply.status, reply.json()["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {}",
            reply.body
        );
    }
    let many = (0..51).map(|i| format!("tag:k{i}=v")).collect::<Vec<_>>().join("&");
    let reply = http::request(&rig.ext.url, "GET", &format!("/v1/resolve?{many}"), &token, b"").unwrap();
    assert_eq!(reply.status, 400);
}

#[test]
fn protocol_level_abuse_is_refused_without_a_5xx_or_a_hang() {
    let rig = Rig::start(
        "hostile-http",
        RigOptions {
            ttl: "600",
            ..RigOptions::default()
        },
        |_| {},
    );
    rig.warm();
    let big_header = format!(
        "GET /v1/stats HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let many_headers = format!(
        "GET /v1/stats HTTP/1.1\r\nhost: x\r\n{}\r\n",
        (0..300).map(|i| format!("x-h{i}: v\r\n")).collect::<String>()
    );
    let token_line = format!("x-profile-resolver-token: {TOKEN}\r\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("huge header", big_header.into_bytes()),
        ("300 headers", many_headers.into_bytes()),
        ("bad content-length", format!("POST /v1/resolve HTTP/1.1\r\nhost: x\r\n{token_line}content-length: abc\r\n\r\n").into_bytes()),
        ("negative content-length", format!("POST /v1/resolve HTTP/1.1\r\nhost: x\r\n{token_line}content-length: -1\r\n\r\n").into_bytes()),
        (
            "content-length and chunked",
            format!("POST /v1/resolve HTTP/1.1\r\nhost: x\r\n{token_line}content-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n").into_bytes(),
        ),
        ("bad chunk", format!("POST /v1/resolve HTTP/1.1\r\nhost: x\r\n{token_line}transfer-encoding: chunked\r\n\r\nzz\r\n").into_bytes()),
        ("garbage request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n".to_vec()),
        ("10 MB declared body", format!("POST /v1/resolve HTTP/1.1\r\nhost: x\r\n{token_line}content-length: 10485760\r\n\r\n{{").into_bytes()),
        ("non-ASCII token", b"GET /v1/stats HTTP/1.1\r\nhost: x\r\nx-profile-resolver-token: \xff\xfe\r\n\r\n".to_vec()),
    ];
    for (name, request) in cases {
        if let Some((status, body)) = raw(&rig.ext.url, &request) {
            assert!((400..500).contains(&status), "{name}: {status} {body}");
            if !body.is_empty() && body.starts_with('{') {
                assert!(serde_json::from_str::<Value>(&body).is_ok(), "{name}: {body}");
            }
        }
        assert_eq!(rig.acme("us-east-1").0, 200, "{name}: the server survives");
    }
    for (name, request) in [
        (
            "200 KB header",
            format!(
                "GET /v1/stats HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
                "a".repeat(200_000)
            ),
        ),
        (
            "300 headers",
            format!(
                "GET /v1/stats HTTP/1.1\r\nhost: x\r\n{}\r\n",
                (0..300).map(|i| format!("x-h{i}: v\r\n")).collect::<String>()
            ),
        ),
        (
            "40 KB target",
            format!(
                "GET /v1/resolve?tag:k={} HTTP/1.1\r\nhost: x\r\n\r\n",
                "v".repeat(40_000)
            ),
        ),
    ] {
        let (status, body) = raw(&rig.ext.url, request.as_bytes()).expect("answered");
        let json: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{name}: JSON, not {body:?}"));
        assert!(matches!(status, 414 | 431), "{name}: {status} {body}");
        assert!(json["error"]["code"].is_string(), "{name}: {body}");
    }
    let (status, body) = raw(
        &rig.ext.url,
        format!("POST /v1/resolve HTTP/1.1\r\nhost: x\r\n{token_line}content-length: 10485760\r\n\r\n").as_bytes(),
    )
    .expect("an oversized declared body is answered");
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("PayloadTooLarge"), "{body}");
}

/// Reads one whole answer (a `content-length` body) from a kept-alive connection.
fn read_answer(stream: &mut TcpStream) -> (u16, Value) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while !response_complete(&buf) {
        match stream.read(&mut chunk) {
            Ok(0) => panic!("closed mid-answer: {}", String::from_utf8_lossy(&buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("no answer ({e}): {}", String::from_utf8_lossy(&buf)),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn bodies_back_to_back_in_pieces_or_late_on_one_connection_are_answered_as_they_should() {
    let rig = Rig::start(
        "hostile-bodies",
        RigOptions {
            ttl: "600",
            ..RigOptions::default()
        },
        |_| {},
    );
    rig.warm();
    let expected = rig.acme("us-east-1").1["profile"]["arn"].clone();
    assert!(expected.is_string(), "{expected}");
    let body = json!({"tags": {"tenant": "acme", "app": "chat"}}).to_string();
    let head = format!("POST /v1/resolve HTTP/1.1\r\nhost: x\r\nx-profile-resolver-token: {TOKEN}\r\n");
    let mut stream = TcpStream::connect(rig.ext.url.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Back to back on one connection: the first is computed, the others remembered.
    for i in 0..3 {
        let request = format!("{head}content-length: {}\r\n\r\n{body}", body.len());
        stream.write_all(request.as_bytes()).unwrap();
        let (status, answer) = read_answer(&mut stream);
        assert_eq!(
            (status, &answer["profile"]["arn"]),
            (200, &expected),
            "request {i}: {answer}"
        );
    }
    // Chunked, in two pieces 200 ms apart, on the same connection.
    let (a, b) = body.split_at(body.len() / 2);
    stream
        .write_all(format!("{head}transfer-encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n", a.len()).as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stream
        .write_all(format!("{:x}\r\n{b}\r\n0\r\n\r\n", b.len()).as_bytes())
        .unwrap();
    let (status, answer) = read_answer(&mut stream);
    assert_eq!(
        (status, &answer["profile"]["arn"]),
        (200, &expected),
        "chunked: {answer}"
    );
    // A declared length, half of it sent 200 ms later, still on the same connection.
    stream
        .write_all(format!("{head}content-length: {}\r\n\r\n{a}", body.len()).as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stream.write_all(b.as_bytes()).unwrap();
    let (status, answer) = read_answer(&mut stream);
    assert_eq!(
        (status, &answer["profile"]["arn"]),
        (200, &expected),
        "late half: {answer}"
    );
    // A body that never comes is 408 once the body timeout (5 s) has passed.
    let started = std::time::Instant::now();
    stream
        .write_all(format!("{head}content-length: {}\r\n\r\n{a}", body.len()).as_bytes())
        .unwrap();
    let (status, answer) = read_answer(&mut stream);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (408, Some("RequestTimeout")),
        "{answer}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(4900) && waited < Duration::from_secs(9),
        "{waited:?}"
    );
}
