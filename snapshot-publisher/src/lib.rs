//! # snapshot-publisher
//!
//! Builds each region's snapshot once, for a whole fleet, and publishes it to S3 (see
//! `shared::published` for the objects and their format). Readers (the extension and the
//! function, with `PROFILE_RESOLVER_SNAPSHOT_URL` set) then poll one small object per TTL
//! instead of paging `GetResources` each.
//!
//! One publish of a region:
//! 1. note when the listing starts, and build the snapshot from the same sources and join as
//!    direct mode (`shared::build`);
//! 2. if the build fails, stop: nothing is written, so the last good snapshot stays, and readers
//!    see its age grow;
//! 3. write the snapshot object unless the current heartbeat names the same content and the
//!    object is still the one that heartbeat's publish wrote (a conditional GET with the ETag
//!    the heartbeat records answers `304`). An unchanged region writes no new content, and
//!    readers keep getting `304`; an object that a publish whose heartbeat was lost replaced is
//!    rewritten;
//! 4. write the heartbeat: the listing start, the hash, the object's ETag and the publish
//!    interval.
//!
//! With `PROFILE_RESOLVER_DASHBOARD` set, each publish then brings the region's usage
//! dashboard and per-tenant alarms in step with the new mapping ([`cost_views`]).
//!
//! At most one build runs at a time: the function has a reserved concurrency of 1 (see
//! `template.yaml`), and one invoke publishes its regions one after the other.

pub mod cloudwatch;
pub mod config;
pub mod cost_views;
pub mod handler;
pub mod trigger;

use bytes::Bytes;
use cost_views::{CostViews, ViewsReport};
use serde::Serialize;
use shared::Sources;
use shared::build::build_region;
use shared::clock::Clock;
use shared::published::format::{Beat, encode, format_time};
use shared::published::{Fetched, Published, SCHEMA_VERSION};
use shared::snapshot::Snapshot;
use shared::source::{Heartbeat, SourceError};
use std::sync::Arc;
use std::time::Duration;

/// How one region's publish ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Outcome {
    /// New content was written, and the heartbeat.
    Changed {
        /// The content hash.
        content_hash: String,
        /// Profiles in it.
        profiles: usize,
    },
    /// The content was as published, and the object still held it: only the heartbeat was
    /// written.
    Unchanged {
        /// The content hash.
        content_hash: String,
        /// Profiles in it.
        profiles: usize,
    },
    /// The build or a write failed; the published objects are as they were (a failed heartbeat
    /// write after new content leaves readers on the new content with its own listing time).
    Failed {
        /// The failing operation.
        operation: String,
        /// What happened.
        error: String,
    },
}

/// One region's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The region.
    pub region: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What the publish did to the region's cost views, when they are on.
    #[serde(rename = "costViews", skip_serializing_if = "Option::is_none")]
    pub cost_views: Option<ViewsReport>,
}

/// Publishes snapshots.
pub struct Publisher {
    sources: Sources,
    published: Published,
    interval: Duration,
    clock: Arc<dyn Clock>,
    cost_views: Option<CostViews>,
}

impl Publisher {
    /// A publisher building from `sources` (tags and catalogue; routes are not published) into
    /// `published`, declaring `interval` in its heartbeats.
    pub fn new(sources: Sources, published: Published, interval: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            sources,
            published,
            interval,
            clock,
            cost_views: None,
        }
    }

    /// Keeps each published region's cost views in step too.
    #[must_use]
    pub fn with_cost_views(mut self, views: CostViews) -> Self {
        self.cost_views = Some(views);
        self
    }

    /// Publishes one region (see the crate docs).
    pub async fn publish(&self, region: &str, account: Option<&str>) -> Report {
        let (outcome, cost_views) = match self.try_publish(region, account).await {
            Ok((outcome, snapshot)) => {
                let views = match &self.cost_views {
                    Some(views) => Some(views.update(&self.published, region, &snapshot).await),
                    None => None,
                };
                (outcome, views)
            }
            Err(e) => (
                Outcome::Failed {
                    operation: e.operation.to_string(),
                    error: e.to_string(),
                },
                None,
            ),
        };
        match &outcome {
            Outcome::Failed { error, .. } => {
                tracing::error!(region, error = %error, "publish failed; the published snapshot is unchanged");
            }
            ok => tracing::info!(region, outcome = ?ok, "published"),
        }
        Report {
            region: region.to_owned(),
            outcome,
            cost_views,
        }
    }

    async fn try_publish(&self, region: &str, account: Option<&str>) -> Result<(Outcome, Snapshot), SourceError> {
        let started = self.clock.now();
        let beat = Heartbeat::new(self.clock.clone());
        let snapshot = build_region(&self.sources, region, &beat).await?;
        let encoded = encode(&snapshot, region, account, started);
        let url = &self.published.url;
        let store = &self.published.store;
        let current = match store.get(&url.heartbeat_key(region), None).await? {
            Fetched::Found { body, .. } => Beat::decode(&body, region).ok().map(|(b, _)| b),
            Fetched::NotModified | Fetched::Missing => None,
        };
        // The heartbeat names this content; the object is trusted to hold it only if it is still
        // the one the heartbeat's publish wrote (a write of other content may have landed after
        // it, its own heartbeat lost): a conditional GET, 304 when it is.
        let kept = match current {
            Some(b) if b.content_hash == encoded.content_hash => match b.content_etag {
                Some(etag) => match store.get(&url.snapshot_key(region), Some(&etag)).await? {
                    Fetched::NotModified => Some(etag),
                    Fetched::Found { .. } | Fetched::Missing => {
                        tracing::warn!(
                            region,
                            "the snapshot object is not the one its heartbeat names; rewriting it"
                        );
                        None
                    }
                },
                None => None,
            },
            _ => None,
        };
        let changed = kept.is_none();
        let content_etag = match kept {
            Some(etag) => etag,
            None => store.put(&url.snapshot_key(region), Bytes::from(encoded.body)).await?,
        };
        let heartbeat = Beat {
            schema_version: SCHEMA_VERSION,
            region: region.to_owned(),
            account: account.map(str::to_owned),
            listing_started_at: format_time(started),
            published_at: format_time(self.clock.now()),
            content_hash: encoded.content_hash.clone(),
            content_etag: Some(content_etag),
            profile_count: encoded.profile_count,
            interval_seconds: self.interval.as_secs(),
        };
        store
            .put(&url.heartbeat_key(region), Bytes::from(heartbeat.encode()))
            .await?;
        let (content_hash, profiles) = (encoded.content_hash, encoded.profile_count);
        let outcome = if changed {
            Outcome::Changed { content_hash, profiles }
        } else {
            Outcome::Unchanged { content_hash, profiles }
        };
        Ok((outcome, snapshot))
    }

    /// Publishes each region in turn.
    pub async fn publish_all<'a>(
        &self,
        regions: impl IntoIterator<Item = &'a String>,
        account: Option<&str>,
    ) -> Vec<Report> {
        let mut reports = Vec::new();
        for region in regions {
            reports.push(self.publish(region, account).await);
        }
        reports
    }
}

pub use shared::config::account_of;

#[cfg(test)]
mod tests;
