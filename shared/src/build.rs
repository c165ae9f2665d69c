//! Building one region's snapshot from the sources: every page of `GetResources`, joined with
//! every page of `ListInferenceProfiles`. The resolver runs it in direct mode (and as the fleet
//! readers' fallback); the publisher runs it once for a whole fleet. It needs the sources only,
//! never the resolver. [`Sources`] bundles them here, so that neither `source` nor `published`
//! imports the other's users: `config` → `published` → `source`, and `build` above them.

use crate::published::Published;
use crate::snapshot::Snapshot;
use crate::source::{CatalogSource, FailureKind, Heartbeat, Operation, RouteSource, SourceError, TagSource};
use std::sync::Arc;

/// The upstreams a snapshot is built from, and the routes: what the resolver reads in direct
/// mode, and what the publisher builds from.
#[derive(Clone)]
pub struct Sources {
    /// Tag discovery.
    pub tags: Arc<dyn TagSource>,
    /// The Bedrock catalogue.
    pub catalog: Arc<dyn CatalogSource>,
    /// Static routes; `None` disables them.
    pub routes: Option<Arc<dyn RouteSource>>,
    /// Published snapshots (fleet mode); `None` in direct mode.
    pub published: Option<Published>,
}

/// Snapshots built from at least this many resources are built on the blocking pool.
pub const BLOCKING_BUILD_THRESHOLD: usize = 10_000;

/// Builds `region`'s snapshot. A failed or denied Bedrock listing leaves a snapshot from tags
/// alone, with a warning (the contract's rule); a failed tag listing fails the build.
///
/// # Errors
/// The failing tagging call.
pub async fn build_region(sources: &Sources, region: &str, beat: &Heartbeat) -> Result<Snapshot, SourceError> {
    beat.calling(Operation::GetResources);
    let tagged = sources.tags.tagged_resources(region, beat).await?;
    beat.calling(Operation::ListInferenceProfiles);
    let catalog = match sources.catalog.application_profiles(region, beat).await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(region, error = %e, "Bedrock catalogue unavailable; building the snapshot from tags alone");
            None
        }
    };
    let (snapshot, dropped) = off_the_request_threads(tagged.len(), move || Snapshot::join(tagged, catalog)).await?;
    if dropped > 0 {
        tracing::debug!(region, dropped, "dropped untagged or unlisted resources");
    }
    Ok(snapshot)
}

/// Runs CPU work over `items` records: inline when small (2,000 profiles take about 2 ms), on a
/// thread of its own when large (100,000 take tens of milliseconds), so that requests keep
/// flowing. The thread ends with the work, and the allocator takes back the thread's memory
/// then: the garbage of a large build does not stay resident until a pool thread times out
/// (which, in a frozen Lambda sandbox, can be never).
///
/// # Errors
/// When the thread cannot start or the work panicked.
pub async fn off_the_request_threads<T, F>(items: usize, work: F) -> Result<T, SourceError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if items < BLOCKING_BUILD_THRESHOLD {
        return Ok(work());
    }
    let failed = |why: String| {
        SourceError::new(
            Operation::GetResources,
            FailureKind::Unavailable,
            format!("snapshot build did not complete: {why}"),
        )
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("snapshot-build".into())
        .spawn(move || drop(tx.send(work())))
        .map_err(|e| failed(e.to_string()))?;
    rx.await.map_err(|_| failed("the build panicked".into()))
}
