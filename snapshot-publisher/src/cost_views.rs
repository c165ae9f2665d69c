//! Cost views (opt-in, `PROFILE_RESOLVER_DASHBOARD`): after each publish of a region, the
//! publisher keeps that region's usage dashboard (`PREFIX-REGION`, see [`dashboard`]) and its
//! per-tenant usage alarms (see [`alarms`]) in step with the tenant → profiles mapping it just
//! built.
//!
//! What was last written is kept beside the snapshot, `PREFIX-OF-THE-URL/REGION.cost-views.json`
//! (the dashboard's body and the alarms' definitions). A publish compares what the new mapping
//! calls for with it, and calls CloudWatch only for what differs: `PutDashboard` when the body
//! changed, `PutMetricAlarm` for each new or changed alarm, `DeleteAlarms` for the alarms of
//! tenants that no longer have one. The record is written after the calls succeed, so a failed
//! call is made again at the next publish. A failure here is logged and reported, and never
//! fails the publish: the snapshot is what readers need.
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
        let key = format!("{}{region}.cost-views.json", published.url.prefix);
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
        let fail = |e: MonitoringError| e.to_string();
        if written.dashboard_body != wanted.dashboard_body || written.dashboard_name != wanted.dashboard_name {
            self.monitoring
                .put_dashboard(region, &wanted.dashboard_name, &wanted.dashboard_body)
                .await
                .map_err(fail)?;
            report.dashboard_written = true;
        }
        for (name, alarm) in &wanted.alarms {
            if written.alarms.get(name) != Some(alarm) {
                self.monitoring.put_alarm(region, alarm).await.map_err(fail)?;
                report.alarms_written += 1;
            }
        }
        let gone: Vec<String> = written
            .alarms
            .keys()
            .filter(|n| !wanted.alarms.contains_key(*n))
            .cloned()
            .collect();
        if !gone.is_empty() {
            self.monitoring.delete_alarms(region, &gone).await.map_err(fail)?;
            report.alarms_deleted = gone.len();
        }
        let record = serde_json::to_vec(wanted).map_err(|e| e.to_string())?;
        published
            .store
            .put(&key, Bytes::from(record))
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(region, dashboard = %wanted.dashboard_name, written = report.alarms_written,
            deleted = report.alarms_deleted, dashboard_written = report.dashboard_written, "cost views updated");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
