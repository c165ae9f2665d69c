//! The route fallback: the route table is a refresh cell like a region's snapshot (same TTL,
//! single flight, stale serving), loaded at start and alongside a cold region, so a miss never
//! calls SSM.

use super::cell::View;
use super::outcome::answer;
use super::refresh::Target;
use super::{Resolver, RouteTable};
use crate::answer::{CacheState, Resolution};
use crate::error::ApiError;
use crate::query::reverse::ProfileKey;
use crate::query::{MatchMode, Query};
use crate::snapshot::Snapshot;
use crate::source::routes::snapshots_by_region;
use crate::source::{Operation, SourceError};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

impl Resolver {
    pub(super) fn start_routes_refresh(&self, force: bool) {
        let Some(source) = self.inner.sources.routes.clone() else {
            return;
        };
        let Some((permit, registration)) = self.try_start(&self.inner.routes, force) else {
            return;
        };
        let beat = permit.heartbeat.clone();
        let work = async move {
            beat.calling(Operation::GetParametersByPath);
            source.routes(&beat).await.map(|routes| {
                snapshots_by_region(routes)
                    .into_iter()
                    .map(|(r, s)| (r, Arc::new(s)))
                    .collect::<RouteTable>()
                    .into()
            })
        };
        self.spawn_refresh(
            Target::Routes,
            |inner, _| Some(&inner.routes),
            permit,
            registration,
            work,
        );
    }

    /// The routes of `region` (loading them, until `deadline`, if none are usable), with their
    /// age and cache state; `Ok(None)` when routes are disabled or none is in the region.
    async fn region_routes(
        &self,
        region: &str,
        deadline: Instant,
    ) -> Result<Option<(Arc<Snapshot>, Duration, CacheState)>, SourceError> {
        if self.inner.sources.routes.is_none() {
            return Ok(None);
        }
        let cell = &self.inner.routes;
        let (entry, cache) = match cell.view(&self.now(), self.inner.config.max_stale) {
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
            return Err(cell
                .last_error()
                .unwrap_or_else(|| self.loading_error("the routes", cell, Operation::GetParametersByPath)));
        };
        let age = entry.age(&self.now());
        Ok(entry.value.get(region).map(|s| (s.clone(), age, cache)))
    }

    /// Routes' answer for a query the tags did not answer.
    pub(super) async fn route_answer(&self, query: &Query, region: &str, deadline: Instant) -> RouteOutcome {
        match self.region_routes(region, deadline).await {
            Err(failure) => RouteOutcome::Failed(failure),
            Ok(None) => RouteOutcome::NoMatch,
            Ok(Some((snapshot, age, cache))) => {
                let hits = snapshot.matches(query);
                if hits.is_empty() {
                    RouteOutcome::NoMatch
                } else {
                    RouteOutcome::Answer(answer(query, &snapshot, age, hits, cache))
                }
            }
        }
    }

    /// Routes' record of one profile the snapshot does not hold.
    pub(super) async fn route_lookup(&self, key: &ProfileKey, region: &str, deadline: Instant) -> RouteOutcome {
        match self.region_routes(region, deadline).await {
            Err(failure) => RouteOutcome::Failed(failure),
            Ok(None) => RouteOutcome::NoMatch,
            Ok(Some((snapshot, age, cache))) => match snapshot.position_of_key(key) {
                Some(pos) => RouteOutcome::Answer(Ok(Resolution::new(snapshot, vec![pos], MatchMode::One, cache, age))),
                None => RouteOutcome::NoMatch,
            },
        }
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
