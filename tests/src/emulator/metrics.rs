//! What Bedrock publishes to CloudWatch for a runtime call, sent to a CloudWatch endpoint
//! (moto's, in the tests and the demo): `AWS/Bedrock` `Invocations` (1), `InputTokenCount` and
//! `OutputTokenCount`, by `ModelId`, which for an application inference profile is the
//! profile's id (docs/costs.md). `PutMetricData` in CloudWatch's query protocol, unsigned but
//! for the credential scope that names the region the data belongs to.

use crate::harness::http;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// Publishes one call's metrics for profile `id` in `region` to `endpoint`.
///
/// # Errors
/// The endpoint could not be reached, or refused the data.
pub async fn publish(endpoint: String, region: String, id: String, input: u64, output: u64) -> Result<(), String> {
    let mut params = vec![
        ("Action".to_owned(), "PutMetricData".to_owned()),
        ("Version".to_owned(), "2010-08-01".to_owned()),
        ("Namespace".to_owned(), "AWS/Bedrock".to_owned()),
    ];
    for (i, (name, value)) in [
        ("Invocations", 1),
        ("InputTokenCount", input),
        ("OutputTokenCount", output),
    ]
    .into_iter()
    .enumerate()
    {
        let m = format!("MetricData.member.{}", i + 1);
        params.push((format!("{m}.MetricName"), name.to_owned()));
        params.push((format!("{m}.Value"), value.to_string()));
        params.push((format!("{m}.Unit"), "Count".to_owned()));
        params.push((format!("{m}.Dimensions.member.1.Name"), "ModelId".to_owned()));
        params.push((format!("{m}.Dimensions.member.1.Value"), id.clone()));
    }
    let body: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect();
    let body = body.join("&");
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/monitoring/aws4_request, SignedHeaders=host, Signature=0"
    );
    let reply = tokio::task::spawn_blocking(move || {
        http::request(
            &endpoint,
            "POST",
            "/",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &authorization),
            ],
            body.as_bytes(),
        )
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    if reply.status / 100 == 2 {
        Ok(())
    } else {
        Err(format!("PutMetricData answered {}", reply.status))
    }
}
