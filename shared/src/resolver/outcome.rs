//! How a resolve ends: an answer within its limits, an ambiguity, or the failure that names
//! the sources that did not answer.

use super::MAX_CANDIDATES;
use crate::answer::{CacheState, Resolution};
use crate::error::{ApiError, ErrorCode};
use crate::query::{MatchMode, Query};
use crate::snapshot::Snapshot;
use crate::source::SourceError;
use crate::stats::Event;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn answer(
    query: &Query,
    snapshot: &Arc<Snapshot>,
    age: Duration,
    hits: Vec<u32>,
    cache: CacheState,
) -> Result<Resolution, ApiError> {
    if query.mode == MatchMode::One && hits.len() > 1 {
        // Hits are in ARN order; a broad query lists only the first few, with the total.
        let candidates: Vec<String> = hits
            .iter()
            .take(MAX_CANDIDATES)
            .filter_map(|&i| snapshot.get(i))
            .map(|p| p.arn.to_string())
            .collect();
        let mut err = ApiError::new(
            ErrorCode::AmbiguousMatch,
            format!(
                "{} profiles match {}; add tags to narrow the query, or use match=all",
                hits.len(),
                tags_text(query)
            ),
        );
        err.candidates = Some(candidates);
        err.count = Some(hits.len());
        return Err(err);
    }
    Resolution::new(snapshot.clone(), hits, query.mode, cache, age).bounded()
}

pub(super) fn tags_text(query: &Query) -> String {
    serde_json::to_string(&query.tags).unwrap_or_default()
}

impl super::Resolver {
    /// [`unavailable`], counted for `region` (the extension's `Unavailable` metric).
    pub(super) fn unavailable(
        &self,
        region: &str,
        tags: Option<&SourceError>,
        routes: Option<&SourceError>,
    ) -> ApiError {
        self.inner.stats.record(region, Event::Unavailable);
        unavailable(region, tags, routes)
    }
}

fn unavailable(region: &str, tags: Option<&SourceError>, routes: Option<&SourceError>) -> ApiError {
    let failures: Vec<&SourceError> = tags.into_iter().chain(routes).collect();
    let operations: Vec<&str> = failures.iter().map(|f| f.operation.as_str()).collect();
    let detail: Vec<String> = failures
        .iter()
        .map(|f| format!("{} ({:?})", f.operation, f.kind))
        .collect();
    let mut err = ApiError::new(
        ErrorCode::UpstreamUnavailable,
        format!(
            "no usable snapshot of {region} and no route: {} failed",
            detail.join(" and ")
        ),
    );
    err.operation = Some(operations.join(","));
    err
}
