//! Event shapes: a direct invoke (a query or a batch) or an HTTP event from API Gateway REST
//! (v1), HTTP API (v2), a Function URL (v2 format) or an ALB target group; HTTP requests
//! normalised to one form, and answers written back in each event's own response format.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use shared::{ApiError, ErrorCode};

pub use shared::query::MAX_BODY;

/// Which HTTP integration sent the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// API Gateway REST API (payload 1.0).
    RestApi,
    /// API Gateway HTTP API (payload 2.0).
    HttpApi,
    /// A Lambda Function URL (payload 2.0).
    FunctionUrl,
    /// An ALB target group; `multi_value` when the target group sends multi-value headers.
    Alb {
        /// Answer with `multiValueHeaders`.
        multi_value: bool,
    },
}

/// What kind of event this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A direct invoke: the payload is a query or a batch.
    Direct,
    /// An HTTP event.
    Http(Flavor),
}

/// Tells the event shapes apart by their markers.
pub fn classify(event: &Value) -> Kind {
    let ctx = event.get("requestContext");
    if ctx.and_then(|c| c.get("elb")).is_some() {
        return Kind::Http(Flavor::Alb {
            multi_value: event.get("multiValueHeaders").is_some_and(Value::is_object),
        });
    }
    if event.get("version").and_then(Value::as_str) == Some("2.0") && event.get("rawPath").is_some() {
        let domain = ctx
            .and_then(|c| c.get("domainName"))
            .and_then(Value::as_str)
            .unwrap_or("");
        return Kind::Http(if domain.contains(".lambda-url.") {
            Flavor::FunctionUrl
        } else {
            Flavor::HttpApi
        });
    }
    if event.get("httpMethod").is_some() && ctx.is_some() {
        return Kind::Http(Flavor::RestApi);
    }
    Kind::Direct
}

/// Query parameters, raw or already decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Params {
    /// Percent-encoded, as in a URL (v2's `rawQueryString`, ALB's parameters).
    Raw(String),
    /// Decoded pairs (API Gateway REST).
    Decoded(Vec<(String, Option<String>)>),
}

/// An HTTP request, whatever the integration.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, stage or base path included.
    pub path: String,
    /// The query parameters.
    pub params: Params,
    /// The decoded body.
    pub body: Vec<u8>,
}

/// The API's routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /v1/resolve`
    ResolveGet,
    /// `POST /v1/resolve`
    ResolvePost,
    /// `POST /v1/resolve/batch`
    Batch,
    /// `GET /v1/profiles/{id-or-arn}`: the part after `/v1/profiles/`, as it came.
    Profile(String),
}

fn str_at<'a>(event: &'a Value, pointer: &str) -> Option<&'a str> {
    event.pointer(pointer).and_then(Value::as_str)
}

/// Reads an HTTP event into an [`HttpRequest`].
///
/// # Errors
/// `InvalidQuery` for a body that is not valid base64, `PayloadTooLarge` over 64 KiB.
pub fn http_request(event: &Value, flavor: Flavor) -> Result<HttpRequest, ApiError> {
    let (method, path) = match flavor {
        Flavor::HttpApi | Flavor::FunctionUrl => {
            (str_at(event, "/requestContext/http/method"), str_at(event, "/rawPath"))
        }
        Flavor::RestApi | Flavor::Alb { .. } => (str_at(event, "/httpMethod"), str_at(event, "/path")),
    };
    let params = match flavor {
        Flavor::HttpApi | Flavor::FunctionUrl => Params::Raw(str_at(event, "/rawQueryString").unwrap_or("").to_owned()),
        Flavor::RestApi => Params::Decoded(pairs(event)),
        // ALB passes parameters as the client sent them, still percent-encoded.
        Flavor::Alb { .. } => Params::Raw(
            pairs(event)
                .into_iter()
                .map(|(k, v)| v.map_or_else(|| k.clone(), |v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join("&"),
        ),
    };
    let body = str_at(event, "/body").unwrap_or("");
    if body.len() > MAX_BODY * 4 / 3 + 4 {
        return Err(too_large());
    }
    let body = if event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| ApiError::invalid("body", "isBase64Encoded is true but the body is not valid base64"))?
    } else {
        body.as_bytes().to_vec()
    };
    if body.len() > MAX_BODY {
        return Err(too_large());
    }
    Ok(HttpRequest {
        method: method.unwrap_or("GET").to_ascii_uppercase(),
        path: path.unwrap_or("/").to_owned(),
        params,
        body,
    })
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the body is over {} KiB", MAX_BODY / 1024),
    )
}

/// The first `tag:` parameter of an ALB event without a value: an ALB sends `tag:k` (any value)
/// and `tag:k=` (the empty value) alike, so such a GET could mean either query.
pub fn alb_valueless_tag(event: &Value) -> Option<String> {
    pairs(event).into_iter().find_map(|(k, v)| {
        let key = percent_encoding::percent_decode_str(&k)
            .decode_utf8_lossy()
            .into_owned();
        (key.starts_with("tag:") && v.is_none_or(|v| v.is_empty())).then_some(key)
    })
}

/// Decoded pairs (API Gateway REST) back in their percent-encoded form.
pub fn encode_params(pairs: &[(String, Option<String>)]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    pairs
        .iter()
        .map(|(k, v)| {
            let k = utf8_percent_encode(k, NON_ALPHANUMERIC);
            match v {
                Some(v) => format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)),
                None => k.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Query parameters as (name, value) pairs, preferring the multi-value form.
fn pairs(event: &Value) -> Vec<(String, Option<String>)> {
    let as_pairs = |map: &Map<String, Value>, multi: bool| -> Vec<(String, Option<String>)> {
        map.iter()
            .flat_map(|(k, v)| {
                let values: Vec<Option<String>> = match (multi, v) {
                    (true, Value::Array(items)) => items.iter().map(|i| i.as_str().map(str::to_owned)).collect(),
                    (_, Value::String(s)) => vec![Some(s.clone())],
                    _ => vec![None],
                };
                values.into_iter().map(move |v| (k.clone(), v))
            })
            .collect()
    };
    match (
        event.get("multiValueQueryStringParameters"),
        event.get("queryStringParameters"),
    ) {
        (Some(Value::Object(m)), _) => as_pairs(m, true),
        (_, Some(Value::Object(m))) => as_pairs(m, false),
        _ => Vec::new(),
    }
}

/// Finds the route, tolerating any stage or base path in front of `/v1/`.
///
/// # Errors
/// `NotFound` for another path, `MethodNotAllowed` for a wrong method.
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    let path = path.trim_end_matches('/');
    let wrong = || {
        ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{method} is not allowed on {path}"),
        )
    };
    if let Some((_, key)) = path.split_once("/v1/profiles/").filter(|(_, k)| !k.is_empty()) {
        return if method == "GET" {
            Ok(Route::Profile(key.to_owned()))
        } else {
            Err(wrong())
        };
    }
    if path.ends_with("/v1/resolve/batch") {
        return if method == "POST" {
            Ok(Route::Batch)
        } else {
            Err(wrong())
        };
    }
    if path.ends_with("/v1/resolve") {
        return match method {
            "GET" => Ok(Route::ResolveGet),
            "POST" => Ok(Route::ResolvePost),
            _ => Err(wrong()),
        };
    }
    Err(ApiError::new(ErrorCode::NotFound, format!("no route for {path}")))
}

/// The HTTP answer in the event's own response format.
pub fn http_response(flavor: Flavor, status: u16, body: String) -> Value {
    let content_type = "application/json";
    let mut v = match flavor {
        Flavor::RestApi => json!({
            "statusCode": status, "headers": {"content-type": content_type}, "multiValueHeaders": {},
            "isBase64Encoded": false,
        }),
        Flavor::HttpApi | Flavor::FunctionUrl => json!({
            "statusCode": status, "headers": {"content-type": content_type}, "isBase64Encoded": false,
        }),
        Flavor::Alb { multi_value } => {
            let reason = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            let mut v = json!({"statusCode": status, "statusDescription": format!("{status} {reason}"),
                               "isBase64Encoded": false});
            if multi_value {
                v["multiValueHeaders"] = json!({"content-type": [content_type]});
            } else {
                v["headers"] = json!({"content-type": content_type});
            }
            v
        }
    };
    // 429 and 503 are worth retrying shortly, and say so (RFC 9110 section 10.2.3).
    if matches!(status, 429 | 503) {
        // Beside the content type, in whichever form the response carries it.
        for (headers, one) in [("headers", json!("1")), ("multiValueHeaders", json!(["1"]))] {
            if let Some(map) = v.get_mut(headers).and_then(Value::as_object_mut)
                && map.contains_key("content-type")
            {
                map.insert("retry-after".into(), one);
            }
        }
    }
    // Moved in, not copied: `json!` would serialise a copy of a body that may be megabytes.
    v["body"] = Value::String(body);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_worth_retrying_carry_retry_after_in_the_response_form_of_the_event() {
        for flavor in [
            Flavor::RestApi,
            Flavor::HttpApi,
            Flavor::FunctionUrl,
            Flavor::Alb { multi_value: false },
            Flavor::Alb { multi_value: true },
        ] {
            for status in [429, 503] {
                let v = http_response(flavor, status, String::new());
                let single = &v["headers"]["retry-after"];
                let multi = &v["multiValueHeaders"]["retry-after"];
                let once = (single == "1") != (multi == &json!(["1"]));
                assert!(once, "{flavor:?} {status}: {v}");
            }
            let v = http_response(flavor, 404, String::new());
            assert!(v["headers"].get("retry-after").is_none() && v["multiValueHeaders"].get("retry-after").is_none());
        }
    }

    #[test]
    fn a_stage_or_base_path_in_front_is_tolerated() {
        assert_eq!(route("GET", "/v1/resolve").unwrap(), Route::ResolveGet);
        assert_eq!(route("POST", "/prod/v1/resolve").unwrap(), Route::ResolvePost);
        assert_eq!(route("POST", "/api/prod/v1/resolve/batch/").unwrap(), Route::Batch);
    }

    #[test]
    fn a_profile_path_keeps_its_key_as_it_came() {
        let arn = "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc";
        assert_eq!(
            route("GET", &format!("/prod/v1/profiles/{arn}")).unwrap(),
            Route::Profile(arn.to_owned())
        );
        assert_eq!(
            route(
                "GET",
                "/v1/profiles/arn:aws:bedrock:us-east-1:1:application-inference-profile/abc"
            )
            .unwrap(),
            Route::Profile("arn:aws:bedrock:us-east-1:1:application-inference-profile/abc".to_owned())
        );
        assert_eq!(
            route("POST", "/v1/profiles/abc").unwrap_err().code,
            ErrorCode::MethodNotAllowed
        );
        assert_eq!(route("GET", "/v1/profiles/").unwrap_err().code, ErrorCode::NotFound);
    }

    #[test]
    fn other_paths_are_404_and_other_methods_405() {
        assert_eq!(route("GET", "/v1/resolvex").unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(route("GET", "/v2/resolve").unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(
            route("DELETE", "/v1/resolve").unwrap_err().code,
            ErrorCode::MethodNotAllowed
        );
        assert_eq!(
            route("GET", "/v1/resolve/batch").unwrap_err().code,
            ErrorCode::MethodNotAllowed
        );
    }

    /// The function serves every route of docs/openapi.yaml but the extension-only ones.
    #[test]
    fn the_function_routes_are_the_specs() {
        let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml")).unwrap();
        let mut path = None;
        let mut served = Vec::new();
        for line in spec.lines() {
            if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
                path = Some(format!("/{p}"));
            } else if let (Some(p), Some(method)) = (&path, line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')))
                && matches!(method, "get" | "post")
            {
                served.push((method.to_ascii_uppercase(), p.replace("{key}", "abc123")));
            }
        }
        assert!(served.len() >= 7, "{served:?}");
        for (method, path) in served {
            let extension_only = ["/health", "/v1/refresh", "/v1/stats"].contains(&path.as_str());
            let routed = route(&method, &path);
            assert_eq!(routed.is_ok(), !extension_only, "{method} {path}: {routed:?}");
        }
    }

    #[test]
    fn a_plain_object_is_a_direct_invoke() {
        assert_eq!(classify(&json!({"tags": {"a": "b"}})), Kind::Direct);
        assert_eq!(classify(&json!({"queries": []})), Kind::Direct);
        assert_eq!(classify(&json!("x")), Kind::Direct);
    }
}
