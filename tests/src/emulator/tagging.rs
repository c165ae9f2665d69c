//! `ResourceGroupsTaggingAPI_20170126.GetResources` over awsJson1.1, with AWS's paging (an empty
//! `PaginationToken` ends a listing), limits, tag-filter semantics and ghosts.

use super::error::{Api, AwsError};
use super::state::{Cursor, State};
use super::{Shared, admit};
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::ops::Bound;
use std::time::SystemTime;

const TARGET_PREFIX: &str = "ResourceGroupsTaggingAPI_20170126.";
const OPERATION: &str = "GetResources";
/// Used when the request gives no `ResourcesPerPage`.
pub const DEFAULT_PER_PAGE: usize = 50;

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct TagFilter {
    key: Option<String>,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct GetResourcesInput {
    pagination_token: Option<String>,
    tag_filters: Vec<TagFilter>,
    resources_per_page: Option<i64>,
    tags_per_page: Option<i64>,
    resource_type_filters: Vec<String>,
    #[serde(rename = "ResourceARNList")]
    resource_arn_list: Option<Vec<String>>,
    include_compliance_details: Option<bool>,
    exclude_compliant_resources: Option<bool>,
}

/// Dispatches on `X-Amz-Target`.
pub async fn dispatch(AxState(state): AxState<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    match target.strip_prefix(TARGET_PREFIX) {
        Some("GetResources") => get_resources(&state, &headers, &body).await.unwrap_or_else(|r| r),
        _ => {
            let mut e = AwsError::validation(Api::Tagging, format!("unknown operation {target}"));
            e.code = "UnknownOperationException";
            e.into_response()
        }
    }
}

async fn get_resources(state: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<Response, Response> {
    let region = admit(state, headers, OPERATION).await?;
    let input: GetResourcesInput = serde_json::from_slice(if body.is_empty() { b"{}" } else { body }).map_err(|e| {
        let mut err = AwsError::validation(Api::Tagging, format!("malformed request: {e}"));
        err.code = "SerializationException";
        err.into_response()
    })?;
    let mut s = state.lock();
    let out = list(&mut s, &region, &input, SystemTime::now()).map_err(IntoResponse::into_response)?;
    let mut resp = out.to_string().into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
    Ok(resp)
}

fn validate(input: &GetResourcesInput) -> Result<usize, AwsError> {
    let bad = |m: &str| AwsError::validation(Api::Tagging, m);
    let per_page = match input.resources_per_page {
        None => DEFAULT_PER_PAGE,
        Some(n @ 1..=100) => n as usize,
        Some(_) => return Err(bad("ResourcesPerPage must be between 1 and 100")),
    };
    if input.tags_per_page.is_some_and(|n| !(100..=500).contains(&n)) {
        return Err(bad("TagsPerPage must be between 100 and 500"));
    }
    if input.tags_per_page.is_some() && input.resources_per_page.is_some() {
        return Err(bad("ResourcesPerPage and TagsPerPage cannot be used together"));
    }
    if input.include_compliance_details == Some(true) || input.exclude_compliant_resources == Some(true) {
        return Err(bad("compliance details are not supported by this emulator"));
    }
    if input.tag_filters.len() > 50 {
        return Err(bad("TagFilters can have at most 50 items"));
    }
    for f in &input.tag_filters {
        let key = f.key.as_deref().unwrap_or("");
        let n = key.chars().count();
        if !(1..=128).contains(&n) {
            return Err(bad("TagFilter Key must be 1 to 128 characters"));
        }
        if f.values.len() > 20 {
            return Err(bad("TagFilter Values can have at most 20 items"));
        }
        if f.values.iter().any(|v| v.chars().count() > 256) {
            return Err(bad("TagFilter Value must be at most 256 characters"));
        }
    }
    if let Some(arns) = &input.resource_arn_list {
        if arns.is_empty() || arns.len() > 100 {
            return Err(bad("ResourceARNList must have 1 to 100 items"));
        }
        if !input.tag_filters.is_empty() || !input.resource_type_filters.is_empty() {
            return Err(bad(
                "ResourceARNList cannot be combined with TagFilters or ResourceTypeFilters",
            ));
        }
    }
    Ok(per_page)
}

/// Whether a type filter (`bedrock` or `bedrock:application-inference-profile`) covers profiles.
fn type_matches(filters: &[String]) -> bool {
    filters.is_empty()
        || filters
            .iter()
            .any(|f| f == "bedrock" || f == "bedrock:application-inference-profile")
}

fn tags_match(tags: &[(String, String)], filters: &[TagFilter]) -> bool {
    filters.iter().all(|f| {
        let key = f.key.as_deref().unwrap_or("");
        tags.iter()
            .any(|(k, v)| k == key && (f.values.is_empty() || f.values.iter().any(|x| x == v)))
    })
}

fn list(s: &mut State, region: &str, input: &GetResourcesInput, now: SystemTime) -> Result<Value, AwsError> {
    let per_page = validate(input)?;
    let fingerprint = format!(
        "{:?}|{:?}|{:?}|{:?}",
        input
            .tag_filters
            .iter()
            .map(|f| (&f.key, &f.values))
            .collect::<Vec<_>>(),
        input.resource_type_filters,
        input.resource_arn_list,
        per_page
    );
    let after = match input.pagination_token.as_deref() {
        None | Some("") => None,
        Some(token) => Some(s.redeem(token, OPERATION, region, &fingerprint, now)?),
    };
    s.expire_ghosts(now);
    let keep = |arn: &String, tags: &[(String, String)]| {
        type_matches(&input.resource_type_filters)
            && tags_match(tags, &input.tag_filters)
            && input.resource_arn_list.as_ref().is_none_or(|l| l.contains(arn))
    };
    // Profiles are kept sorted by ARN: resume after the cursor and stop one past the page.
    let start = after.clone().map_or(Bound::Unbounded, Bound::Excluded);
    let mut rows: Vec<(String, Vec<(String, String)>)> = s
        .profiles
        .range((start, Bound::Unbounded))
        .filter(|(_, p)| p.region == region && p.ever_tagged)
        .map(|(arn, p)| (arn.clone(), p.tags.clone()))
        .filter(|(arn, tags)| keep(arn, tags))
        .take(per_page + 1)
        .collect();
    rows.extend(
        s.ghosts
            .iter()
            .filter(|g| g.region == region && after.as_ref().is_none_or(|a| g.arn > *a))
            .map(|g| (g.arn.clone(), Vec::new()))
            .filter(|(arn, tags)| keep(arn, tags)),
    );
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let more = rows.len() > per_page;
    rows.truncate(per_page);
    let looping = s
        .faults
        .get(OPERATION)
        .or_else(|| s.faults.get("*"))
        .is_some_and(|f| f.repeat_token && (f.regions.is_empty() || f.regions.iter().any(|r| r == region)));
    let token = match (more, rows.last(), input.pagination_token.as_deref()) {
        (true, _, Some(given)) if looping && !given.is_empty() => given.to_owned(),
        (true, Some((last, _)), _) => s.issue_cursor(Cursor {
            operation: OPERATION,
            region: region.to_owned(),
            fingerprint,
            after: last.clone(),
            issued: now,
        }),
        _ => String::new(),
    };
    let list: Vec<Value> = rows
        .into_iter()
        .map(|(arn, tags)| {
            json!({"ResourceARN": arn, "Tags": tags.into_iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()})
        })
        .collect();
    Ok(json!({"PaginationToken": token, "ResourceTagMappingList": list}))
}
