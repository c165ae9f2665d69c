//! ALB events with multi-value parameters: a key-only `tag:` parameter arrives as an empty
//! value, so a GET cannot tell "any value" from "the empty value".

use super::*;

#[tokio::test]
async fn an_alb_get_with_a_valueless_tag_parameter_is_refused_naming_it_not_read_as_the_empty_value() {
    let w = world(None);
    let mut event = fixture("example-alb-lambda-target-request-multivalue-headers.json");
    event["path"] = json!("/v1/resolve");
    event["httpMethod"] = json!("GET");
    // `?tag:tenant=acme&tag:app` as an ALB sends it.
    event["multiValueQueryStringParameters"] = json!({"tag%3Atenant": ["acme"], "tag:app": [""]});
    let (status, body, _) = http(&w.app, &event).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("InvalidQuery")),
        "{body}"
    );
    assert_eq!(body["error"]["field"], "tag:app");
    assert!(body["error"]["message"].as_str().unwrap().contains("POST"));

    // With values, the same event resolves.
    event["multiValueQueryStringParameters"] = json!({"tag%3Atenant": ["acme"], "tag:app": ["chat"]});
    let (status, body, _) = http(&w.app, &event).await;
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("p1").as_str()))
    );
}
