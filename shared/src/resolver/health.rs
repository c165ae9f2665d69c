//! Readiness per region, for `/health` and the stats.

use super::Resolver;
use super::cell::View;
use serde::Serialize;
use std::collections::BTreeMap;

/// Readiness of one region for `/health`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionHealth {
    /// Whether a usable snapshot exists.
    pub ready: bool,
    /// `fresh`, `stale`, `loading` or `unavailable`.
    pub state: &'static str,
    /// Profiles in the current snapshot.
    pub profiles: usize,
    /// Age of the current snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<f64>,
    /// Snapshot builds that ended so far, successful or not.
    pub builds: u64,
    /// The operation of the last failed refresh, until one succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Resolver {
    /// Readiness per region.
    pub fn health(&self) -> BTreeMap<String, RegionHealth> {
        let now = self.now();
        self.inner
            .regions
            .iter()
            .map(|(region, cell)| {
                let view = cell.view(&now, self.inner.config.max_stale);
                let current = cell.current();
                let state = match (&view, cell.is_loading()) {
                    (View::Fresh(_), _) => "fresh",
                    (View::Stale(_), _) => "stale",
                    (View::Unusable, true) => "loading",
                    (View::Unusable, false) => "unavailable",
                };
                let health = RegionHealth {
                    ready: !matches!(view, View::Unusable),
                    state,
                    profiles: current.as_ref().map_or(0, |e| e.value.len()),
                    age_seconds: current.as_ref().map(|e| e.age(&now).as_secs_f64()),
                    builds: cell.attempts(),
                    last_error: cell.last_error().map(|e| e.operation.to_string()),
                };
                (region.clone(), health)
            })
            .collect()
    }
}
