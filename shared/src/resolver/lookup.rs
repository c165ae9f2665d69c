//! The reverse lookup: one profile's record by ARN or id, found in the snapshot by binary
//! search (never a scan), then among the routes. No upstream call but a cold region's load.

use super::Resolver;
use super::routes::RouteOutcome;
use crate::answer::Resolution;
use crate::error::{ApiError, ErrorCode};
use crate::query::MatchMode;
use crate::query::reverse::ProfileKey;

impl Resolver {
    /// The record of the profile `key` names, answered as a `match=one` resolution.
    ///
    /// # Errors
    /// `InvalidQuery` (region not allowed), `NoMatch` (unknown profile), or
    /// `UpstreamUnavailable` when neither the snapshot nor the routes could be read.
    pub async fn profile(&self, key: &ProfileKey) -> Result<Resolution, ApiError> {
        let super::Found {
            region,
            cell,
            deadline,
            entry,
            cache,
            now,
        } = self.find(key.region.as_deref()).await?;
        if let Some(entry) = &entry
            && let Some(pos) = entry.value.position_of_key(key)
        {
            let age = entry.age(&now);
            return Ok(Resolution::new(
                entry.value.clone(),
                vec![pos],
                MatchMode::One,
                cache,
                age,
            ));
        }
        let tags_failure = entry.is_none().then(|| self.region_failure(region, cell));
        match (self.route_lookup(key, region, deadline).await, tags_failure) {
            (RouteOutcome::Answer(answered), _) => answered,
            (RouteOutcome::Failed(routes), tags) => Err(self.unavailable(region, tags.as_ref(), Some(&routes))),
            (RouteOutcome::NoMatch, Some(tags)) => Err(self.unavailable(region, Some(&tags), None)),
            (RouteOutcome::NoMatch, None) => Err(ApiError::new(
                ErrorCode::NoMatch,
                format!("no profile {} in {region}", key.asked),
            )),
        }
    }
}
