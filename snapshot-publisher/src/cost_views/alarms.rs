//! Per-tenant usage alarms: a tenant whose profiles carry
//! `profile-resolver:daily-output-tokens=N` gets one alarm on the sum of its profiles'
//! `AWS/Bedrock` `OutputTokenCount` over a day, above `N`.
//!
//! - A value that is not a whole number from 1 up is skipped, with a log line naming the
//!   profile; the publish goes on.
//! - Profiles of one tenant that name different limits: the smallest holds (logged).
//! - A CloudWatch alarm on metric math references at most [`MAX_ALARM_METRICS`] metrics (a
//!   hard limit), so a tenant with more profiles gets no alarm, logged as an error; its
//!   dashboard lines still show its usage.
//! - Untagged profiles have no tenant, so no alarm.
//! - An alarm notifies the topic only in the topic's region (CloudWatch refuses an action in
//!   another region); elsewhere the alarm changes state and notifies no one.

use super::Tenant;
use serde::{Deserialize, Serialize};

/// The limit tag's key (../shared/contract.md).
pub const LIMIT_TAG: &str = "profile-resolver:daily-output-tokens";
/// Metrics one alarm's expression may reference (CloudWatch's hard limit).
pub const MAX_ALARM_METRICS: usize = 10;
/// The longest alarm name CloudWatch takes.
const MAX_ALARM_NAME: usize = 255;
/// One day: the alarm's period.
const DAY_SECONDS: u32 = 86_400;

/// One alarm, as `PutMetricAlarm` gets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmSpec {
    /// `PREFIX-REGION-TENANT-daily-output-tokens`.
    pub name: String,
    /// The tenant.
    pub tenant: String,
    /// Its profiles' ids (the `ModelId` dimension), sorted.
    pub profile_ids: Vec<String>,
    /// Output tokens a day above which it fires.
    pub threshold: u64,
    /// The topic it notifies, if any.
    pub topic: Option<String>,
}

impl AlarmSpec {
    /// The query-protocol parameters of its `PutMetricAlarm`.
    pub fn query_params(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        let mut push = |k: String, v: String| p.push((k, v));
        push("AlarmName".into(), self.name.clone());
        push(
            "AlarmDescription".into(),
            format!(
                "profile-resolver: tenant {} used more than {} output tokens in a day ({LIMIT_TAG} on its profiles)",
                self.tenant, self.threshold
            ),
        );
        push("ActionsEnabled".into(), "true".into());
        if let Some(topic) = &self.topic {
            push("AlarmActions.member.1".into(), topic.clone());
        }
        for (i, id) in self.profile_ids.iter().enumerate() {
            let m = format!("Metrics.member.{}", i + 1);
            push(format!("{m}.Id"), format!("m{i}"));
            push(format!("{m}.ReturnData"), "false".into());
            push(format!("{m}.MetricStat.Metric.Namespace"), "AWS/Bedrock".into());
            push(format!("{m}.MetricStat.Metric.MetricName"), "OutputTokenCount".into());
            push(
                format!("{m}.MetricStat.Metric.Dimensions.member.1.Name"),
                "ModelId".into(),
            );
            push(format!("{m}.MetricStat.Metric.Dimensions.member.1.Value"), id.clone());
            push(format!("{m}.MetricStat.Period"), DAY_SECONDS.to_string());
            push(format!("{m}.MetricStat.Stat"), "Sum".into());
        }
        let total = format!("Metrics.member.{}", self.profile_ids.len() + 1);
        push(format!("{total}.Id"), "total".into());
        push(format!("{total}.Expression"), self.expression());
        push(
            format!("{total}.Label"),
            format!("{} output tokens per day", self.tenant),
        );
        push(format!("{total}.ReturnData"), "true".into());
        push("EvaluationPeriods".into(), "1".into());
        push("DatapointsToAlarm".into(), "1".into());
        push("Threshold".into(), self.threshold.to_string());
        push("ComparisonOperator".into(), "GreaterThanThreshold".into());
        push("TreatMissingData".into(), "notBreaching".into());
        p
    }

    /// The expression the alarm watches: the sum of its metrics.
    pub fn expression(&self) -> String {
        let ids: Vec<String> = (0..self.profile_ids.len()).map(|i| format!("m{i}")).collect();
        format!("SUM([{}])", ids.join(","))
    }
}

/// The alarms `tenants` call for in `region`, named under `prefix`.
pub fn alarms_for(prefix: &str, region: &str, tenants: &[Tenant], topic: Option<&str>) -> Vec<AlarmSpec> {
    if let Some(t) = topic.filter(|t| topic_region(t) != Some(region)) {
        tracing::debug!(
            region,
            topic = t,
            "the alarm topic is in another region; this region's alarms notify no one"
        );
    }
    let mut out = Vec::new();
    for tenant in tenants {
        let Some(name) = &tenant.name else { continue };
        let mut limits = Vec::new();
        for p in &tenant.profiles {
            match p.limit.as_deref().map(parse_limit) {
                Some(Some(n)) => limits.push(n),
                Some(None) => tracing::warn!(
                    region,
                    profile = %p.arn,
                    value = p.limit.as_deref().unwrap_or_default(),
                    "{LIMIT_TAG} is not a whole number of tokens from 1 up; skipped"
                ),
                None => {}
            }
        }
        let Some(&threshold) = limits.iter().min() else {
            continue;
        };
        if limits.iter().any(|&n| n != threshold) {
            tracing::warn!(region, tenant = %name, threshold, "the tenant's profiles name different limits; the smallest holds");
        }
        if tenant.profiles.len() > MAX_ALARM_METRICS {
            tracing::error!(
                region,
                tenant = %name,
                profiles = tenant.profiles.len(),
                "a CloudWatch alarm sums at most {MAX_ALARM_METRICS} metrics; no usage alarm for this tenant"
            );
            continue;
        }
        let alarm_name = format!("{prefix}-{region}-{name}-daily-output-tokens");
        if alarm_name.len() > MAX_ALARM_NAME || alarm_name.chars().any(char::is_control) {
            tracing::error!(region, tenant = %name, "the alarm's name would be too long or unprintable; no usage alarm");
            continue;
        }
        out.push(AlarmSpec {
            name: alarm_name,
            tenant: name.clone(),
            profile_ids: tenant.profiles.iter().map(|p| p.id.clone()).collect(),
            threshold,
            topic: topic.filter(|t| topic_region(t) == Some(region)).map(str::to_owned),
        });
    }
    out
}

/// The region of an SNS topic's ARN. An alarm's action must be in the alarm's region, so alarms
/// in other regions than the topic's only change state.
fn topic_region(topic: &str) -> Option<&str> {
    topic.split(':').nth(3)
}

/// A limit: digits only, from 1 up.
fn parse_limit(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost_views::TenantProfile;

    fn tenant(name: Option<&str>, limits: &[Option<&str>]) -> Tenant {
        Tenant {
            name: name.map(str::to_owned),
            profiles: limits
                .iter()
                .enumerate()
                .map(|(i, l)| TenantProfile {
                    arn: format!("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/p{i}"),
                    id: format!("p{i}"),
                    limit: l.map(str::to_owned),
                })
                .collect(),
        }
    }

    #[test]
    fn a_tenant_with_a_limit_gets_one_alarm_over_the_sum_of_its_profiles() {
        let tenants = [
            tenant(Some("acme"), &[Some("5000"), None]),
            tenant(Some("globex"), &[None]),
        ];
        let alarms = alarms_for("usage", "us-east-1", &tenants, Some("arn:aws:sns:us-east-1:1:ops"));
        assert_eq!(alarms.len(), 1);
        let a = &alarms[0];
        assert_eq!(a.name, "usage-us-east-1-acme-daily-output-tokens");
        assert_eq!(
            (a.threshold, a.profile_ids.clone()),
            (5000, vec!["p0".into(), "p1".into()])
        );
        assert_eq!(a.expression(), "SUM([m0,m1])");
        let params = a.query_params();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("Metrics.member.2.MetricStat.Metric.Dimensions.member.1.Value"),
            Some("p1")
        );
        assert_eq!(get("Metrics.member.3.Expression"), Some("SUM([m0,m1])"));
        assert_eq!(get("AlarmActions.member.1"), Some("arn:aws:sns:us-east-1:1:ops"));
        assert_eq!(get("Threshold"), Some("5000"));
        let elsewhere = alarms_for("usage", "eu-west-1", &tenants, Some("arn:aws:sns:us-east-1:1:ops"));
        assert_eq!(elsewhere[0].topic, None, "an action must be in the alarm's region");
    }

    #[test]
    fn a_malformed_limit_is_skipped_and_the_smallest_of_several_holds() {
        for bad in ["", "0", "-5", "1e6", "ten", "18446744073709551616"] {
            let tenants = [tenant(Some("acme"), &[Some(bad)])];
            assert!(alarms_for("u", "us-east-1", &tenants, None).is_empty(), "{bad:?}");
        }
        let tenants = [tenant(Some("acme"), &[Some("900"), Some("bad"), Some("300")])];
        assert_eq!(alarms_for("u", "us-east-1", &tenants, None)[0].threshold, 300);
    }

    #[test]
    fn untagged_profiles_and_tenants_past_the_alarm_metric_limit_get_no_alarm() {
        assert!(alarms_for("u", "us-east-1", &[tenant(None, &[Some("10")])], None).is_empty());
        let big = tenant(Some("acme"), &[Some("10"); MAX_ALARM_METRICS + 1]);
        assert!(alarms_for("u", "us-east-1", &[big], None).is_empty());
        let fits = tenant(Some("acme"), &[Some("10"); MAX_ALARM_METRICS]);
        assert_eq!(alarms_for("u", "us-east-1", &[fits], None).len(), 1);
    }
}
