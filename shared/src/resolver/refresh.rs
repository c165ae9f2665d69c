//! Running one refresh: claiming a cell, building a region's snapshot from the sources, and
//! recording the outcome, as an abortable task whose panics are failed refreshes.

use super::cell::{Cell, Loaded, Permit, Recorded};
use super::{Inner, Resolver};
use crate::source::{FailureKind, Heartbeat, SourceError};
use crate::stats::Event;
use futures::FutureExt;
use futures::future::{AbortRegistration, Abortable};
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// Which cell a refresh belongs to, for logs and counters.
#[derive(Debug, Clone)]
pub(super) enum Target {
    Region(String),
    Routes,
}

impl Target {
    pub(super) fn name(&self) -> &str {
        match self {
            Self::Region(r) => r,
            Self::Routes => "routes",
        }
    }
}

/// Finds a refresh's cell again when it ends.
pub(super) type CellOf<T> = for<'a> fn(&'a Inner, &Target) -> Option<&'a Cell<T>>;

impl Resolver {
    /// Claims the right to refresh `cell`, if no live refresh holds it (see [`Cell::try_start`]).
    pub(super) fn try_start<T>(&self, cell: &Cell<T>, force: bool) -> Option<(Permit, AbortRegistration)> {
        cell.try_start(self.now(), self.stuck_after(), force, self.epoch(), || {
            Heartbeat::new(self.inner.clock.clone())
        })
    }

    pub(super) fn start_region_refresh(&self, region: &str, force: bool) {
        let Some(cell) = self.inner.regions.get(region) else {
            return;
        };
        let Some((permit, registration)) = self.try_start(cell, force) else {
            return;
        };
        let (this, beat, name) = (self.clone(), permit.heartbeat.clone(), region.to_owned());
        let work = async move { this.load_region(&name, &beat).await };
        self.spawn_refresh(
            Target::Region(region.to_owned()),
            |inner, t| match t {
                Target::Region(r) => inner.regions.get(r),
                Target::Routes => None,
            },
            permit,
            registration,
            work,
        );
    }

    /// Runs a refresh as an abortable task. A panic inside it is recorded as a failed refresh,
    /// so that the cell never stays "loading".
    pub(super) fn spawn_refresh<T, F>(
        &self,
        target: Target,
        cell_of: CellOf<T>,
        permit: Permit,
        registration: AbortRegistration,
        work: F,
    ) where
        T: Sized + Send + Sync + 'static,
        F: Future<Output = Result<Loaded<T>, SourceError>> + Send + 'static,
    {
        let this = self.clone();
        let task = async move {
            let result = match AssertUnwindSafe(work).catch_unwind().await {
                Ok(result) => result,
                Err(panic) => Err(SourceError::new(
                    permit.heartbeat.operation(),
                    FailureKind::Unavailable,
                    format!("the refresh panicked: {}", panic_message(panic.as_ref())),
                )),
            };
            this.finish(&target, cell_of, &permit, result);
        };
        tokio::spawn(Abortable::new(task, registration));
    }

    pub(super) fn finish<T>(
        &self,
        target: &Target,
        cell_of: CellOf<T>,
        permit: &Permit,
        result: Result<Loaded<T>, SourceError>,
    ) {
        let Some(cell) = cell_of(&self.inner, target) else {
            return;
        };
        let failure = result.as_ref().err().cloned();
        let inner = &self.inner;
        let recorded = cell.finish(
            permit,
            result,
            inner.clock.now(),
            self.epoch(),
            inner.config.ttl,
            self.max_backoff(),
        );
        let name = target.name();
        let counted = matches!(target, Target::Region(_));
        match (recorded, failure) {
            (Recorded::Published, _) => {
                if counted {
                    inner.stats.record(name, Event::Refresh);
                }
                tracing::info!(target = name, "refreshed");
            }
            (Recorded::Failed, Some(e)) => {
                if counted {
                    inner.stats.record(name, Event::RefreshFailure);
                }
                tracing::warn!(target = name, operation = %e.operation, error = %e, "refresh failed");
            }
            (Recorded::Interrupted, Some(e)) => {
                tracing::info!(target = name, error = %e, "a refresh timed out across a freeze; not held against the upstream");
            }
            (Recorded::Fenced, _) => {
                tracing::debug!(
                    target = name,
                    generation = permit.generation,
                    "a superseded refresh ended; ignored"
                );
            }
            (Recorded::Failed | Recorded::Interrupted, None) => {}
        }
    }
}

impl Resolver {
    /// A region's next snapshot: read from the publisher in fleet mode (see `fleet`), else built
    /// here from the sources.
    pub(super) async fn load_region(
        &self,
        region: &str,
        beat: &Heartbeat,
    ) -> Result<Loaded<crate::snapshot::Snapshot>, SourceError> {
        if self.inner.sources.published.is_some() {
            return self.read_published(region, beat).await;
        }
        crate::build::build_region(&self.inner.sources, region, beat)
            .await
            .map(Loaded::from)
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
