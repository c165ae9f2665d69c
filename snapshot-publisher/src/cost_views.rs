//! Cost views (opt-in, `PROFILE_RESOLVER_DASHBOARD`): after each publish of a region, the
//! publisher keeps that region's usage dashboard (`PREFIX-REGION`, see [`dashboard`]) and its
//! per-tenant usage alarms (see [`alarms`]) in step with the tenant → profiles mapping it just
//! built.
//!
//! What CloudWatch holds is recorded beside the snapshot, `PREFIX-OF-THE-URL/REGION.cost-views.json`
//! (the dashboard's body and the alarms' definitions). A publish compares what the new mapping
//! calls for with it, and calls CloudWatch only for what differs: `PutDashboard` when the body
//! changed, `PutMetricAlarm` for each new or changed alarm, `DeleteAlarms` for the alarms of
//! tenants that no longer have one. The record follows each call that succeeds, also when a
//! later one fails, so the next publish makes only the calls still missing and never forgets an
//! alarm it made. A failure here is logged and reported, and never fails the publish: the
//! snapshot is what readers need. After a change of prefix, the old dashboard and alarms are left
//! (logged): the publisher's permissions name the current prefix only.
//!
//! Dashboards or alarms changed by hand are rewritten at the next change of the mapping, not
//! before (the record says they are current).

pub mod alarms;
pub mod dashboard;

use crate::cloudwatch::{Monitoring, MonitoringError};
use alarms::AlarmSpec;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use shared::published::{Fetched, Published};
use shared::snapshot::Snapshot;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One tenant's profiles (`name` `None`: the profiles without the tenant tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant tag's value.
    pub name: Option<String>,
    /// Its profiles, by id.
    pub profiles: Vec<TenantProfile>,
}

/// A profile as the cost views use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantProfile {
    /// Its ARN, for log lines.
    pub arn: String,
    /// Its id: the `ModelId` dimension of its runtime metrics.
    pub id: String,
    /// Its [`alarms::LIMIT_TAG`] value, if any.
    pub limit: Option<String>,
}

/// The tenants of `snapshot` by `tenant_tag`: sorted by name, the untagged last, each one's
/// profiles sorted by id.
pub fn tenants(snapshot: &Snapshot, tenant_tag: &str) -> Vec<Tenant> {
    let mut by_name: BTreeMap<Option<String>, Vec<TenantProfile>> = BTreeMap::new();
    for p in snapshot.profiles() {
        let Some(id) = p.id() else { continue };
        by_name
            .entry(p.tag(tenant_tag).map(str::to_owned))
            .or_default()
            .push(TenantProfile {
                arn: p.arn.to_string(),
                id: id.to_owned(),
                limit: p.tag(alarms::LIMIT_TAG).map(str::to_owned),
            });
    }
    let untagged = by_name.remove(&None);
    let mut out: Vec<Tenant> = by_name
        .into_iter()
        .map(|(name, profiles)| Tenant { name, profiles })
        .chain(untagged.map(|profiles| Tenant { name: None, profiles }))
        .collect();
    for t in &mut out {
        t.profiles.sort_by(|a, b| a.id.cmp(&b.id));
    }
    out
}

/// What the cost views of one region are, or should be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Views {
    /// The dashboard's name.
    pub dashboard_name: String,
    /// Its body.
    pub dashboard_body: String,
    /// The alarms, by name.
    pub alarms: BTreeMap<String, AlarmSpec>,
}

/// The settings of the cost views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The dashboard name prefix (`PROFILE_RESOLVER_DASHBOARD`).
    pub prefix: String,
    /// The tenant tag (`PROFILE_RESOLVER_TENANT_TAG`, default `tenant`).
    pub tenant_tag: String,
    /// The topic the alarms notify (`PROFILE_RESOLVER_ALARM_TOPIC_ARN`), if any.
    pub topic: Option<String>,
}

impl Settings {
    /// The views `snapshot` calls for in `region`.
    pub fn views(&self, region: &str, snapshot: &Snapshot) -> Views {
        let tenants = tenants(snapshot, &self.tenant_tag);
        Views {
            dashboard_name: format!("{}-{region}", self.prefix),
            dashboard_body: dashboard::body(region, &self.tenant_tag, &tenants),
            alarms: alarms::alarms_for(&self.prefix, region, &tenants, self.topic.as_deref())
                .into_iter()
                .map(|a| (a.name.clone(), a))
                .collect(),
        }
    }
}

/// What a publish did to the cost views of its region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewsReport {
    /// Whether `PutDashboard` was called.
    pub dashboard_written: bool,
    /// `PutMetricAlarm` calls.
    pub alarms_written: usize,
    /// Alarms deleted.
    pub alarms_deleted: usize,
    /// Why the views could not be brought in step (they are retried at the next publish).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Keeps the cost views in step.
pub struct CostViews {
    /// Settings.
    pub settings: Settings,
    /// CloudWatch.
    pub monitoring: Arc<dyn Monitoring>,
}

impl CostViews {
    /// Brings `region`'s views in step with `snapshot` (see the module docs).
    pub async fn update(&self, published: &Published, region: &str, snapshot: &Snapshot) -> ViewsReport {
        let wanted = self.settings.views(region, snapshot);
        let mut report = ViewsReport::default();
        if let Err(e) = self.apply(published, region, &wanted, &mut report).await {
            tracing::error!(region, error = %e, "the usage dashboard or alarms could not be updated; retried at the next publish");
            report.error = Some(e);
        }
        report
    }

    async fn apply(
        &self,
        published: &Published,
        region: &str,
        wanted: &Views,
        report: &mut ViewsReport,
    ) -> Result<(), String> {
        let key = published.url.cost_views_key(region);
        let written = match published.store.get(&key, None).await.map_err(|e| e.to_string())? {
            Fetched::Found { body, .. } => serde_json::from_slice::<Views>(&body).unwrap_or_else(|e| {
                tracing::warn!(region, error = %e, "the record of the cost views is unreadable; writing them all");
                Views::default()
            }),
            Fetched::NotModified | Fetched::Missing => Views::default(),
        };
        if &written == wanted {
            return Ok(());
        }
        // What CloudWatch holds, call by call: recorded even when a later call fails, so that
        // the next publish neither loses a change nor forgets an alarm it made.
        let mut held = written.clone();
        let outcome = self.bring_in_step(region, wanted, &mut held, report).await;
        if held != written {
            let record = serde_json::to_vec(&held).map_err(|e| e.to_string())?;
            published
                .store
                .put(&key, Bytes::from(record))
                .await
                .map_err(|e| e.to_string())?;
        }
        outcome.map_err(|e| e.to_string())?;
        tracing::info!(region, dashboard = %wanted.dashboard_name, written = report.alarms_written,
            deleted = report.alarms_deleted, dashboard_written = report.dashboard_written, "cost views updated");
        Ok(())
    }

    /// The calls that take `held` (what CloudWatch holds) to `wanted`, updating `held` after
    /// each one that succeeds.
    async fn bring_in_step(
        &self,
        region: &str,
        wanted: &Views,
        held: &mut Views,
        report: &mut ViewsReport,
    ) -> Result<(), MonitoringError> {
        if held.dashboard_body != wanted.dashboard_body || held.dashboard_name != wanted.dashboard_name {
            if !held.dashboard_name.is_empty() && held.dashboard_name != wanted.dashboard_name {
                tracing::warn!(region, old = %held.dashboard_name, "the dashboard prefix changed; the old dashboard is left for you to delete");
            }
            self.monitoring
                .put_dashboard(region, &wanted.dashboard_name, &wanted.dashboard_body)
                .await?;
            held.dashboard_name.clone_from(&wanted.dashboard_name);
            held.dashboard_body.clone_from(&wanted.dashboard_body);
            report.dashboard_written = true;
        }
        for (name, alarm) in &wanted.alarms {
            if held.alarms.get(name) != Some(alarm) {
                self.monitoring.put_alarm(region, alarm).await?;
                held.alarms.insert(name.clone(), alarm.clone());
                report.alarms_written += 1;
            }
        }
        // Alarms of another prefix (the setting changed) are not this publisher's to delete any
        // more (its permissions name the current prefix): forgotten, and logged.
        let own = format!("{}-{region}-", self.settings.prefix);
        let (gone, foreign): (Vec<String>, Vec<String>) = held
            .alarms
            .keys()
            .filter(|n| !wanted.alarms.contains_key(*n))
            .cloned()
            .partition(|n| n.starts_with(&own));
        if !foreign.is_empty() {
            tracing::warn!(region, alarms = ?foreign, "alarms of a former dashboard prefix are left for you to delete");
            for name in &foreign {
                held.alarms.remove(name);
            }
        }
        if !gone.is_empty() {
            self.monitoring.delete_alarms(region, &gone).await?;
            for name in &gone {
                held.alarms.remove(name);
            }
            report.alarms_deleted = gone.len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
