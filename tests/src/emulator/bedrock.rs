//! The Bedrock inference-profile control plane over REST-JSON, at the paths of the Bedrock API
//! model: create (with `copyFrom` and tags), get, list, delete, and the tagging operations.

use super::error::{Api, AwsError};
use super::state::{Cursor, DEFAULT_ACCOUNT, MAX_TAGS, State, StoredProfile, epoch_seconds, iso8601, new_id};
use super::{Shared, admit};
use axum::Json;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::SystemTime;

/// Geography prefixes of system-defined (cross-region) profiles.
const SYSTEM_PROFILE_MODELS: [&str; 2] = ["anthropic.claude-3-haiku-20240307-v1:0", "amazon.nova-lite-v1:0"];

fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(bytes)
        .map_err(|e| AwsError::validation(Api::Bedrock, format!("malformed request body: {e}")).into_response())
}

fn ok(status: StatusCode, v: Value) -> Response {
    (status, Json(v)).into_response()
}

#[derive(Deserialize)]
struct TagIn {
    key: String,
    value: String,
}

fn validate_tags(tags: &[TagIn], on_create: bool) -> Result<(), AwsError> {
    let allowed = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c.is_whitespace() || "._:/=+@-".contains(c))
    };
    for (i, t) in tags.iter().enumerate() {
        let kn = t.key.chars().count();
        if !(1..=128).contains(&kn) || t.value.chars().count() > 256 || !allowed(&t.key) || !allowed(&t.value) {
            return Err(AwsError::validation(
                Api::Bedrock,
                format!(
                    "1 validation error detected: Value at 'tags.{}' failed to satisfy constraint",
                    i + 1
                ),
            ));
        }
        if on_create && t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(AwsError::validation(
                Api::Bedrock,
                "Tag keys cannot start with the reserved prefix aws:",
            ));
        }
        if tags[..i].iter().any(|o| o.key == t.key) {
            return Err(AwsError::validation(
                Api::Bedrock,
                format!("Duplicate tag key {}", t.key),
            ));
        }
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    // ([0-9a-zA-Z][ _-]?)+ : alphanumerics, each optionally followed by one of " _-".
    let mut prev_sep = true;
    let mut any = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            prev_sep = false;
            any = true;
        } else if " _-".contains(c) && !prev_sep {
            prev_sep = true;
        } else {
            return false;
        }
    }
    any && (1..=64).contains(&name.len())
}

/// The model ARNs behind a `copyFrom` source in `region`.
fn models_of(copy_from: &str, region: &str) -> Result<Vec<String>, AwsError> {
    let bad = || {
        AwsError::validation(
            Api::Bedrock,
            format!("copyFrom {copy_from} is not a foundation model or inference profile ARN"),
        )
    };
    let rest = copy_from.strip_prefix("arn:aws:bedrock:").ok_or_else(bad)?;
    let (arn_region, rest) = rest.split_once(':').ok_or_else(bad)?;
    let (_account, resource) = rest.split_once(':').ok_or_else(bad)?;
    if arn_region != region {
        return Err(AwsError::validation(
            Api::Bedrock,
            format!("copyFrom must be in {region}"),
        ));
    }
    if let Some(model) = resource.strip_prefix("foundation-model/") {
        if model.is_empty() {
            return Err(bad());
        }
        return Ok(vec![copy_from.to_owned()]);
    }
    if let Some(profile) = resource.strip_prefix("inference-profile/") {
        let model = profile
            .split_once('.')
            .map(|(_, m)| m)
            .filter(|m| SYSTEM_PROFILE_MODELS.contains(m));
        let model = model.ok_or_else(|| AwsError::not_found(format!("inference profile {profile} not found")))?;
        return Ok(vec![format!("arn:aws:bedrock:{region}::foundation-model/{model}")]);
    }
    Err(bad())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateIn {
    inference_profile_name: String,
    description: Option<String>,
    #[allow(dead_code)]
    client_request_token: Option<String>,
    model_source: ModelSource,
    #[serde(default)]
    tags: Vec<TagIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelSource {
    copy_from: String,
}

/// `CreateInferenceProfile`
pub async fn create(AxState(state): AxState<Shared>, headers: HeaderMap, bytes: Bytes) -> Response {
    let region = match admit(&state, &headers, "CreateInferenceProfile").await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let input: CreateIn = match body(&bytes) {
        Ok(i) => i,
        Err(resp) => return resp,
    };
    let result = (|| {
        if !valid_name(&input.inference_profile_name) {
            return Err(AwsError::validation(
                Api::Bedrock,
                "inferenceProfileName failed to satisfy constraint",
            ));
        }
        if input
            .description
            .as_ref()
            .is_some_and(|d| d.is_empty() || d.chars().count() > 200)
        {
            return Err(AwsError::validation(
                Api::Bedrock,
                "description must be 1 to 200 characters",
            ));
        }
        validate_tags(&input.tags, true)?;
        if input.tags.len() > MAX_TAGS {
            return Err(AwsError::too_many_tags(&input.inference_profile_name));
        }
        let models = models_of(&input.model_source.copy_from, &region)?;
        let profile = StoredProfile {
            region: region.clone(),
            account: DEFAULT_ACCOUNT.to_owned(),
            id: new_id(),
            name: input.inference_profile_name.clone(),
            description: input.description.clone(),
            models,
            ever_tagged: !input.tags.is_empty(),
            tags: input.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
            created_at: epoch_seconds(SystemTime::now()),
        };
        state.lock().insert(profile)
    })();
    match result {
        Ok(arn) => ok(
            StatusCode::CREATED,
            json!({"inferenceProfileArn": arn, "status": "ACTIVE"}),
        ),
        Err(e) => e.into_response(),
    }
}

fn summary(p: &StoredProfile) -> Value {
    let mut v = json!({
        "inferenceProfileName": p.name,
        "createdAt": iso8601(p.created_at),
        "updatedAt": iso8601(p.created_at),
        "inferenceProfileArn": p.arn(),
        "models": p.models.iter().map(|m| json!({"modelArn": m})).collect::<Vec<_>>(),
        "inferenceProfileId": p.id,
        "status": "ACTIVE",
        "type": "APPLICATION",
    });
    if let (Some(d), Some(obj)) = (&p.description, v.as_object_mut()) {
        obj.insert("description".into(), json!(d));
    }
    v
}

fn system_profiles(region: &str) -> Vec<(String, Value)> {
    let geo = region.split('-').next().unwrap_or("us");
    SYSTEM_PROFILE_MODELS
        .iter()
        .map(|m| {
            let id = format!("{geo}.{m}");
            let arn = format!("arn:aws:bedrock:{region}:{DEFAULT_ACCOUNT}:inference-profile/{id}");
            let v = json!({
                "inferenceProfileName": format!("{geo} {m}"), "createdAt": iso8601(1_700_000_000.0), "updatedAt": iso8601(1_700_000_000.0),
                "inferenceProfileArn": arn, "inferenceProfileId": id, "status": "ACTIVE", "type": "SYSTEM_DEFINED",
                "models": [{"modelArn": format!("arn:aws:bedrock:{region}::foundation-model/{m}")}],
            });
            (arn, v)
        })
        .collect()
}

/// Finds a profile of `region` by id or ARN.
fn find<'a>(s: &'a State, region: &str, identifier: &str) -> Result<&'a StoredProfile, AwsError> {
    s.profiles
        .values()
        .find(|p| p.region == region && (p.id == identifier || p.arn() == identifier))
        .ok_or_else(|| AwsError::not_found(format!("Inference profile {identifier} not found")))
}

fn decode(identifier: &str) -> String {
    percent_encoding::percent_decode_str(identifier)
        .decode_utf8_lossy()
        .into_owned()
}

/// `GetInferenceProfile`
pub async fn get(AxState(state): AxState<Shared>, headers: HeaderMap, Path(identifier): Path<String>) -> Response {
    let region = match admit(&state, &headers, "GetInferenceProfile").await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let identifier = decode(&identifier);
    if let Some((_, v)) = system_profiles(&region)
        .into_iter()
        .find(|(arn, v)| *arn == identifier || v["inferenceProfileId"] == identifier.as_str())
    {
        return ok(StatusCode::OK, v);
    }
    match find(&state.lock(), &region, &identifier) {
        Ok(p) => ok(StatusCode::OK, summary(p)),
        Err(e) => e.into_response(),
    }
}

/// `DeleteInferenceProfile`
pub async fn delete(AxState(state): AxState<Shared>, headers: HeaderMap, Path(identifier): Path<String>) -> Response {
    let region = match admit(&state, &headers, "DeleteInferenceProfile").await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let identifier = decode(&identifier);
    let mut s = state.lock();
    let arn = match find(&s, &region, &identifier) {
        Ok(p) => p.arn(),
        Err(e) => return e.into_response(),
    };
    s.delete(&arn, SystemTime::now());
    ok(StatusCode::OK, json!({}))
}

/// `ListInferenceProfiles`
pub async fn list(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let op = "ListInferenceProfiles";
    let region = match admit(&state, &headers, op).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let max: usize = match q.get("maxResults").map(|m| m.parse::<usize>()) {
        None => 1000,
        Some(Ok(n @ 1..=1000)) => n,
        Some(_) => return AwsError::validation(Api::Bedrock, "maxResults must be between 1 and 1000").into_response(),
    };
    let kind = q.get("type").map(String::as_str);
    if kind.is_some_and(|k| k != "APPLICATION" && k != "SYSTEM_DEFINED") {
        return AwsError::validation(Api::Bedrock, "type must be SYSTEM_DEFINED or APPLICATION").into_response();
    }
    let fingerprint = format!("{kind:?}|{max}");
    let now = SystemTime::now();
    let mut s = state.lock();
    let after = match q.get("nextToken") {
        None => None,
        Some(t) => match s.redeem(t, op, &region, &fingerprint, now) {
            Ok(a) => Some(a),
            Err(e) => return e.into_response(),
        },
    };
    let mut rows: Vec<(String, Value)> = Vec::new();
    if kind != Some("APPLICATION") {
        rows.extend(system_profiles(&region));
    }
    if kind != Some("SYSTEM_DEFINED") {
        // Profiles are kept sorted by ARN: resume after the cursor and stop one past the page.
        let start = after
            .clone()
            .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        rows.extend(
            s.profiles
                .range((start, std::ops::Bound::Unbounded))
                .filter(|(_, p)| p.region == region)
                .take(max + 1)
                .map(|(arn, p)| (arn.clone(), summary(p))),
        );
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.retain(|(arn, _)| after.as_ref().is_none_or(|a| arn > a));
    let more = rows.len() > max;
    rows.truncate(max);
    let mut out = json!({"inferenceProfileSummaries": rows.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()});
    if let (true, Some((last, _))) = (more, rows.last()) {
        let token = s.issue_cursor(Cursor {
            operation: op,
            region,
            fingerprint,
            after: last.clone(),
            issued: now,
        });
        out["nextToken"] = json!(token);
    }
    ok(StatusCode::OK, out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagResourceIn {
    #[serde(rename = "resourceARN")]
    resource_arn: String,
    #[serde(default)]
    tags: Vec<TagIn>,
    #[serde(default)]
    tag_keys: Vec<String>,
}

async fn tagging_op(state: &Shared, headers: &HeaderMap, bytes: &[u8], op: &'static str) -> Result<Value, Response> {
    let region = admit(state, headers, op).await?;
    let input: TagResourceIn = body(bytes)?;
    let mut s = state.lock();
    let arn = find(&s, &region, &input.resource_arn)
        .map_err(IntoResponse::into_response)?
        .arn();
    let Some(p) = s.profiles.get_mut(&arn) else {
        return Err(AwsError::not_found(format!("{arn} not found")).into_response());
    };
    match op {
        "TagResource" => {
            validate_tags(&input.tags, true).map_err(IntoResponse::into_response)?;
            let mut tags = p.tags.clone();
            for t in input.tags {
                match tags.iter_mut().find(|(k, _)| *k == t.key) {
                    Some(slot) => slot.1 = t.value,
                    None => tags.push((t.key, t.value)),
                }
            }
            if tags.len() > MAX_TAGS {
                return Err(AwsError::too_many_tags(&arn).into_response());
            }
            p.ever_tagged |= !tags.is_empty();
            p.tags = tags;
            Ok(json!({}))
        }
        "UntagResource" => {
            p.tags.retain(|(k, _)| !input.tag_keys.contains(k));
            Ok(json!({}))
        }
        _ => Ok(json!({"tags": p.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()})),
    }
}

/// `TagResource`
pub async fn tag(AxState(state): AxState<Shared>, headers: HeaderMap, bytes: Bytes) -> Response {
    tagging_op(&state, &headers, &bytes, "TagResource")
        .await
        .map_or_else(|r| r, |v| ok(StatusCode::OK, v))
}

/// `UntagResource`
pub async fn untag(AxState(state): AxState<Shared>, headers: HeaderMap, bytes: Bytes) -> Response {
    tagging_op(&state, &headers, &bytes, "UntagResource")
        .await
        .map_or_else(|r| r, |v| ok(StatusCode::OK, v))
}

/// `ListTagsForResource`
pub async fn list_tags(AxState(state): AxState<Shared>, headers: HeaderMap, bytes: Bytes) -> Response {
    tagging_op(&state, &headers, &bytes, "ListTagsForResource")
        .await
        .map_or_else(|r| r, |v| ok(StatusCode::OK, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_bedrock_pattern() {
        for good in ["claims", "claims-chat", "a b_c-d", "A1", "a b "] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "-x", "a--b", "a  b", "é", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn copy_from_a_foundation_model_keeps_its_arn_and_a_system_profile_maps_to_its_model() {
        let fm = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
        assert_eq!(models_of(fm, "us-east-1").unwrap(), [fm]);
        let sp = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0";
        assert_eq!(
            models_of(sp, "us-east-1").unwrap(),
            ["arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"]
        );
        assert!(models_of(fm, "eu-west-1").is_err());
        assert!(models_of("arn:aws:s3:::b", "us-east-1").is_err());
    }
}
