//! The route fallback: the route table is a refresh cell like a region's snapshot (same TTL,
//! single flight, stale serving), loaded at start and alongside a cold region, so a miss never
//! calls SSM.

use super::cell::View;
use super::{Resolver, RouteTable, answer};
use crate::answer::{CacheState, Resolution};
use crate::error::ApiError;
use crate::query::Query;
use crate::source::routes::snapshots_by_region;
use crate::source::{Operation, SourceError};
use std::sync::Arc;
use tokio::time::Instant;

impl Resolver {
    pub(super) fn start_routes_refresh(&self, force: bool) {
        let Some(source) = self.inner.sources.routes.clone() else {
            return;
        };
        let cell = &self.inner.routes;
        let Some(permit) = cell.try_start(self.inner.clock.now(), self.stuck_after(), force, self.heartbeat()) else {
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            permit.heartbeat.calling(Operation::GetParametersByPath);
            let result = source.routes(&permit.heartbeat).await.map(|routes| {
                snapshots_by_region(routes)
                    .into_iter()
                    .map(|(r, s)| (r, Arc::new(s)))
                    .collect::<RouteTable>()
            });
            if let Err(e) = &result {
                tracing::warn!(error = %e, "route refresh failed");
            }
            let inner = &this.inner;
            inner
                .routes
                .finish(&permit, result, inner.clock.now(), inner.config.ttl, this.max_backoff());
        });
    }

    /// Routes' answer for a query the tags did not answer.
    pub(super) async fn route_answer(&self, query: &Query, region: &str, deadline: Instant) -> RouteOutcome {
        if self.inner.sources.routes.is_none() {
            return RouteOutcome::NoMatch;
        }
        let cell = &self.inner.routes;
        let (entry, cache) = match cell.view(self.inner.clock.now(), self.inner.config.max_stale) {
            View::Fresh(e) => (Some(e), CacheState::Hit),
            View::Stale(e) => {
                self.start_routes_refresh(false);
                (Some(e), CacheState::Stale)
            }
            View::Unusable => {
                let mut done = cell.subscribe();
                self.start_routes_refresh(false);
                (self.wait(cell, &mut done, deadline).await, CacheState::Miss)
            }
        };
        let Some(entry) = entry else {
            let failure = cell
                .last_error()
                .unwrap_or_else(|| self.loading_error("the routes", cell, Operation::GetParametersByPath));
            return RouteOutcome::Failed(failure);
        };
        let Some(snapshot) = entry.value.get(region) else {
            return RouteOutcome::NoMatch;
        };
        let hits = snapshot.matches(query);
        if hits.is_empty() {
            return RouteOutcome::NoMatch;
        }
        RouteOutcome::Answer(answer(
            query,
            snapshot,
            entry.built_at,
            hits,
            cache,
            self.inner.clock.now(),
        ))
    }
}

/// What the routes say about a query.
pub(super) enum RouteOutcome {
    /// Routes are disabled, or none matches.
    NoMatch,
    /// A match, or an ambiguity among routes.
    Answer(Result<Resolution, ApiError>),
    /// Routes could not be loaded.
    Failed(SourceError),
}
