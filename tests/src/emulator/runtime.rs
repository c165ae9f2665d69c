//! Bedrock Runtime `Converse`, enough to bill: `POST /model/{modelId}/converse` with `modelId` an
//! application inference profile ARN answers a fixed reply with token usage, and the emulator
//! meters every call per ARN, with the tags the profile carried at that moment and the call's
//! `requestMetadata`. `GET /_emulator/usage` then groups spend as Cost Explorer would group it by
//! cost-allocation tag.
//!
//! Tokens: one input token per whitespace-separated word of the messages' text (at least one),
//! and [`OUTPUT_TOKENS`] out. With a CloudWatch endpoint set (`--cloudwatch URL`), each call
//! also publishes its `AWS/Bedrock` runtime metrics there before it answers ([`super::metrics`]).

use super::error::AwsError;
use super::{Shared, admit};
use axum::Json;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Output tokens of every reply.
pub const OUTPUT_TOKENS: u64 = 12;

/// One metered call.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metered {
    /// The profile ARN called.
    pub arn: String,
    /// Its tags at the time of the call.
    pub tags: BTreeMap<String, String>,
    /// The caller's `requestMetadata`.
    pub request_metadata: BTreeMap<String, String>,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// When, epoch seconds.
    pub at: f64,
}

/// `Converse`.
pub async fn converse(
    AxState(state): AxState<Shared>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit(&state, &headers, "Converse").await {
        return r;
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return AwsError::validation(super::error::Api::Bedrock, format!("malformed request: {e}")).into_response();
        }
    };
    let words: u64 = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["content"].as_array().into_iter().flatten())
        .filter_map(|c| c["text"].as_str())
        .map(|t| t.split_whitespace().count() as u64)
        .sum();
    let metadata: BTreeMap<String, String> = request["requestMetadata"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    let input_tokens = words.max(1);
    let metered = {
        let mut s = state.lock();
        match s.profiles.get(&model_id) {
            None => None,
            Some(profile) => {
                let found = (profile.name.clone(), profile.region.clone(), profile.id.clone());
                let tags = profile.tags.iter().cloned().collect();
                let cloudwatch = s.settings.cloudwatch.clone();
                s.usage.push(Metered {
                    arn: model_id.clone(),
                    tags,
                    request_metadata: metadata,
                    input_tokens,
                    output_tokens: OUTPUT_TOKENS,
                    at: super::state::epoch_seconds(std::time::SystemTime::now()),
                });
                Some((found, cloudwatch))
            }
        }
    };
    let Some(((name, region, id), cloudwatch)) = metered else {
        return AwsError::not_found(format!(
            "The model {model_id} was not found; only application inference profile ARNs are served here"
        ))
        .into_response();
    };
    if let Some(endpoint) = cloudwatch {
        let sent = super::metrics::publish(endpoint, region, id, input_tokens, OUTPUT_TOKENS).await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "publishing the call's metrics to CloudWatch failed");
        }
    }
    let reply = json!({
        "output": {"message": {"role": "assistant", "content": [{"text": format!("Hello from {name}.")}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": input_tokens, "outputTokens": OUTPUT_TOKENS, "totalTokens": input_tokens + OUTPUT_TOKENS},
        "metrics": {"latencyMs": 1}
    });
    (StatusCode::OK, Json(reply)).into_response()
}

/// `GET /_emulator/usage`: every metered call, and totals per ARN.
pub async fn usage(AxState(state): AxState<Shared>) -> Response {
    let s = state.lock();
    let mut by_arn: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for m in &s.usage {
        let e = by_arn.entry(&m.arn).or_default();
        *e = (e.0 + 1, e.1 + m.input_tokens, e.2 + m.output_tokens);
    }
    let by_arn: BTreeMap<&str, Value> = by_arn
        .into_iter()
        .map(|(arn, (calls, i, o))| (arn, json!({"calls": calls, "inputTokens": i, "outputTokens": o})))
        .collect();
    Json(json!({"byArn": by_arn, "calls": s.usage})).into_response()
}

/// `DELETE /_emulator/usage`.
pub async fn clear_usage(AxState(state): AxState<Shared>) -> StatusCode {
    state.lock().usage.clear();
    StatusCode::NO_CONTENT
}
