//! Upstream sources, each behind a small trait: tag discovery (Resource Groups Tagging API),
//! the Bedrock catalogue (`ListInferenceProfiles`) and static routes (SSM Parameter Store). Each
//! has an SDK-backed implementation and an in-memory one for tests.

pub mod bedrock;
pub mod memory;
pub mod routes;
pub mod sdk;
pub mod tagging;

use async_trait::async_trait;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::Clock;

/// The upstream operations, as named in errors, logs and stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `tag:GetResources`
    GetResources,
    /// `bedrock:ListInferenceProfiles`
    ListInferenceProfiles,
    /// `ssm:GetParametersByPath`
    GetParametersByPath,
    /// `s3:GetObject` (fleet mode readers)
    GetObject,
    /// `s3:PutObject` (the publisher)
    PutObject,
}

impl Operation {
    /// Every operation, for stats.
    pub const ALL: [Self; 5] = [
        Self::GetResources,
        Self::ListInferenceProfiles,
        Self::GetParametersByPath,
        Self::GetObject,
        Self::PutObject,
    ];

    /// The API operation name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::GetResources => "GetResources",
            Self::ListInferenceProfiles => "ListInferenceProfiles",
            Self::GetParametersByPath => "GetParametersByPath",
            Self::GetObject => "GetObject",
            Self::PutObject => "PutObject",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an upstream call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Throttled (after the SDK's retries).
    Throttled,
    /// Access denied.
    Denied,
    /// Timed out.
    Timeout,
    /// The pagination token expired mid-listing.
    PaginationTokenExpired,
    /// Anything else: 5xx, connection refused, malformed response.
    Unavailable,
}

/// A failed upstream call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed ({kind:?}): {message}")]
pub struct SourceError {
    /// The failing operation.
    pub operation: Operation,
    /// What kind of failure.
    pub kind: FailureKind,
    /// Details for logs. Never contains credentials.
    pub message: String,
}

impl SourceError {
    /// A new error.
    pub fn new(operation: Operation, kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            operation,
            kind,
            message: message.into(),
        }
    }
}

/// A resource as the Tagging API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedResource {
    /// The ARN.
    pub arn: String,
    /// Its tags; empty for a recently deleted resource.
    pub tags: Vec<(String, String)>,
}

/// A profile as Bedrock lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The ARN.
    pub arn: String,
    /// The name.
    pub name: String,
    /// The status, e.g. `ACTIVE`.
    pub status: Option<String>,
    /// The underlying model ARNs.
    pub models: Vec<String>,
}

/// A static route from Parameter Store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The parameter name, for logs.
    pub parameter: String,
    /// The tags the route answers for.
    pub tags: Vec<(String, String)>,
    /// The profile ARN it points at.
    pub arn: String,
}

/// Progress of a long listing, on the resolver's wall and monotonic clocks. The resolver uses it
/// to tell a slow build that still makes progress from one wedged by a sandbox freeze (which
/// stops the monotonic clock, not the wall clock) or by anything else (a wall clock stepped back
/// does not stop the monotonic one).
#[derive(Debug, Clone)]
pub struct Heartbeat {
    last_ms: Arc<AtomicU64>,
    last_mono_ms: Arc<AtomicU64>,
    operation: Arc<AtomicU8>,
    clock: Arc<dyn Clock>,
}

impl Heartbeat {
    /// A heartbeat that has beaten once, now.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let beat = Self {
            last_ms: Arc::new(AtomicU64::new(0)),
            last_mono_ms: Arc::new(AtomicU64::new(0)),
            operation: Arc::new(AtomicU8::new(Operation::GetResources as u8)),
            clock,
        };
        beat.beat();
        beat
    }

    /// Records progress now. Sources call it after each page.
    pub fn beat(&self) {
        let ms = self
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_ms.store(ms, Ordering::Relaxed);
        self.last_mono_ms
            .store(self.clock.monotonic().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long it has been silent at `now`: the longer of the wall and monotonic clocks' spans
    /// (see [`crate::clock::Stamp::since`]).
    pub fn silent(&self, now: &crate::clock::Stamp) -> Duration {
        let last = crate::clock::Stamp {
            wall: self.last(),
            mono: Duration::from_millis(self.last_mono_ms.load(Ordering::Relaxed)),
        };
        now.since(&last)
    }

    /// The last progress.
    pub fn last(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Records which operation the build is waiting on, so a timeout can name it.
    pub fn calling(&self, op: Operation) {
        self.operation.store(op as u8, Ordering::Relaxed);
        self.beat();
    }

    /// The operation the build is waiting on.
    pub fn operation(&self) -> Operation {
        Operation::ALL
            .into_iter()
            .find(|op| *op as u8 == self.operation.load(Ordering::Relaxed))
            .unwrap_or(Operation::GetResources)
    }
}

/// The most pages one listing may take (10 million resources at 100 a page).
pub const MAX_PAGES: usize = 100_000;

/// Follows one listing's pagination tokens. A token the listing already returned would make it
/// loop for ever: the build fails instead, naming the operation. The SDK's paginators stop
/// silently on a repeated token, which would publish a partial listing as a whole one.
#[derive(Debug, Default)]
pub(crate) struct Pages {
    seen: HashSet<String>,
}

impl Pages {
    /// The token for the next page, `None` at the end (AWS ends a listing with an empty token,
    /// not an absent one).
    ///
    /// # Errors
    /// A repeated token, or more than [`MAX_PAGES`] pages.
    pub(crate) fn next(&mut self, op: Operation, token: Option<&str>) -> Result<Option<String>, SourceError> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let fail = |why: String| Err(SourceError::new(op, FailureKind::Unavailable, why));
        if self.seen.len() + 1 >= MAX_PAGES {
            return fail(format!("{op} returned more than {MAX_PAGES} pages"));
        }
        if !self.seen.insert(token.to_owned()) {
            return fail(format!(
                "{op} returned a pagination token it had already returned (page {}); the listing would never end",
                self.seen.len() + 1
            ));
        }
        Ok(Some(token.to_owned()))
    }
}

/// Tag discovery: every tagged application inference profile of a region, every page.
#[async_trait]
pub trait TagSource: Send + Sync {
    /// Lists the region's application inference profiles with their tags.
    ///
    /// # Errors
    /// The failing call, after the SDK's retries and one restart on token expiry.
    async fn tagged_resources(&self, region: &str, progress: &Heartbeat) -> Result<Vec<TaggedResource>, SourceError>;
}

/// The Bedrock catalogue: every application inference profile of a region, every page.
#[async_trait]
pub trait CatalogSource: Send + Sync {
    /// Lists the region's application inference profiles.
    ///
    /// # Errors
    /// The failing call.
    async fn application_profiles(&self, region: &str, progress: &Heartbeat) -> Result<Vec<CatalogEntry>, SourceError>;
}

/// Static routes.
#[async_trait]
pub trait RouteSource: Send + Sync {
    /// Loads every route under the prefix. Malformed routes are skipped with a warning.
    ///
    /// # Errors
    /// The failing call.
    async fn routes(&self, progress: &Heartbeat) -> Result<Vec<Route>, SourceError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_that_repeats_a_token_fails_instead_of_looping() {
        let mut pages = Pages::default();
        let op = Operation::GetResources;
        assert_eq!(pages.next(op, Some("a")).unwrap().as_deref(), Some("a"));
        assert_eq!(pages.next(op, Some("b")).unwrap().as_deref(), Some("b"));
        let err = pages.next(op, Some("a")).unwrap_err();
        assert_eq!((err.operation, err.kind), (op, FailureKind::Unavailable));
        assert!(err.message.contains("already returned"), "{}", err.message);
    }

    #[test]
    fn an_empty_or_absent_token_ends_the_listing() {
        let mut pages = Pages::default();
        assert_eq!(pages.next(Operation::ListInferenceProfiles, Some("")).unwrap(), None);
        assert_eq!(pages.next(Operation::ListInferenceProfiles, None).unwrap(), None);
    }
}
