//! The publisher's configuration: the engine's settings (regions, upstream timeout), where to
//! publish (`PROFILE_RESOLVER_SNAPSHOT_URL`, required here) and the interval its schedule runs
//! at, which readers use to tell a live publisher from a stopped one; and the cost views, off
//! unless `PROFILE_RESOLVER_DASHBOARD` names a dashboard prefix.

use crate::cost_views::Settings;
use shared::config::{ConfigError, EngineConfig, SNAPSHOT_URL, parse};
use shared::logging::LogConfig;
use shared::published::SnapshotUrl;
use std::time::Duration;

/// `PROFILE_RESOLVER_PUBLISH_INTERVAL_SECONDS`
pub const PUBLISH_INTERVAL_SECONDS: &str = "PROFILE_RESOLVER_PUBLISH_INTERVAL_SECONDS";
/// `PROFILE_RESOLVER_ACCOUNT_ID`, for runs outside Lambda (in Lambda the function ARN gives it).
pub const ACCOUNT_ID: &str = "PROFILE_RESOLVER_ACCOUNT_ID";
/// `PROFILE_RESOLVER_DASHBOARD`: the usage dashboards' name prefix; unset, no cost views.
pub const DASHBOARD: &str = "PROFILE_RESOLVER_DASHBOARD";
/// `PROFILE_RESOLVER_TENANT_TAG`: the tag that names a profile's tenant (default `tenant`).
pub const TENANT_TAG: &str = "PROFILE_RESOLVER_TENANT_TAG";
/// `PROFILE_RESOLVER_ALARM_TOPIC_ARN`: the SNS topic the usage alarms notify (optional).
pub const ALARM_TOPIC_ARN: &str = "PROFILE_RESOLVER_ALARM_TOPIC_ARN";
/// The longest dashboard prefix: a dashboard name (prefix, `-`, region) has at most 255
/// characters, and so does an alarm name, which adds the tenant.
const MAX_PREFIX: usize = 128;

/// Everything the publisher reads from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The engine's settings: regions, upstream timeout.
    pub engine: EngineConfig,
    /// Where snapshots go.
    pub url: SnapshotUrl,
    /// How often the schedule runs a publish (default 300 s). Written into every heartbeat.
    pub interval: Duration,
    /// The account, when known before the first invoke.
    pub account: Option<String>,
    /// The cost views' settings, when they are on.
    pub cost_views: Option<Settings>,
    /// Logging.
    pub log: LogConfig,
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// The first variable with a bad value.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads through `lookup`.
    ///
    /// # Errors
    /// The first variable with a bad value; a missing snapshot URL.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let log = LogConfig::from_lookup(&lookup)?;
        let engine = EngineConfig::from_lookup(&lookup)?;
        let url = engine.snapshot_url.clone().ok_or_else(|| {
            ConfigError::new(
                SNAPSHOT_URL,
                "s3://BUCKET/PREFIX/: the publisher needs somewhere to publish",
            )
        })?;
        let seconds: u64 = parse(&lookup, PUBLISH_INTERVAL_SECONDS, 300, "whole seconds from 1 to 86400")?;
        if !(1..=86_400).contains(&seconds) {
            return Err(ConfigError::new(
                PUBLISH_INTERVAL_SECONDS,
                "whole seconds from 1 to 86400",
            ));
        }
        let account = lookup(ACCOUNT_ID).filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()));
        let cost_views = match lookup(DASHBOARD).filter(|p| !p.is_empty()) {
            None => None,
            Some(prefix) => {
                let valid = prefix.len() <= MAX_PREFIX
                    && prefix
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !valid {
                    return Err(ConfigError::new(
                        DASHBOARD,
                        "a dashboard name prefix: letters, digits, - and _, at most 128",
                    ));
                }
                let topic = lookup(ALARM_TOPIC_ARN).filter(|t| !t.is_empty());
                if topic
                    .as_deref()
                    .is_some_and(|t| !t.starts_with("arn:") || !t.contains(":sns:"))
                {
                    return Err(ConfigError::new(ALARM_TOPIC_ARN, "an SNS topic ARN"));
                }
                Some(Settings {
                    prefix,
                    tenant_tag: lookup(TENANT_TAG)
                        .filter(|t| !t.is_empty())
                        .unwrap_or_else(|| "tenant".into()),
                    topic,
                })
            }
        };
        Ok(Self {
            engine,
            url,
            interval: Duration::from_secs(seconds),
            account,
            cost_views,
            log,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::lookup_from;

    #[test]
    fn the_publisher_needs_a_snapshot_url_and_names_it() {
        let err = Config::from_lookup(lookup_from(&[("AWS_REGION", "us-east-1")])).unwrap_err();
        assert_eq!(err.variable, "PROFILE_RESOLVER_SNAPSHOT_URL");
    }

    #[test]
    fn cost_views_are_off_unless_a_valid_dashboard_prefix_is_set() {
        let base = [
            ("AWS_REGION", "us-east-1"),
            ("PROFILE_RESOLVER_SNAPSHOT_URL", "s3://fleet-bucket/p/"),
        ];
        assert_eq!(Config::from_lookup(lookup_from(&base)).unwrap().cost_views, None);
        let mut on = base.to_vec();
        on.push((DASHBOARD, "bedrock-usage"));
        let settings = Config::from_lookup(lookup_from(&on)).unwrap().cost_views.unwrap();
        assert_eq!(
            (settings.prefix.as_str(), settings.tenant_tag.as_str(), settings.topic),
            ("bedrock-usage", "tenant", None)
        );
        on.push((TENANT_TAG, "customer"));
        on.push((ALARM_TOPIC_ARN, "arn:aws:sns:us-east-1:123456789012:ops"));
        let settings = Config::from_lookup(lookup_from(&on)).unwrap().cost_views.unwrap();
        assert_eq!(settings.tenant_tag, "customer");
        assert_eq!(
            settings.topic.as_deref(),
            Some("arn:aws:sns:us-east-1:123456789012:ops")
        );
        for (var, bad) in [(DASHBOARD, "has space"), (DASHBOARD, "a/b"), (ALARM_TOPIC_ARN, "ops")] {
            let mut vars = base.to_vec();
            vars.push((DASHBOARD, "ok"));
            vars.push((var, bad));
            assert_eq!(
                Config::from_lookup(lookup_from(&vars)).unwrap_err().variable,
                var,
                "{bad}"
            );
        }
        let mut long = base.to_vec();
        let prefix = "p".repeat(MAX_PREFIX + 1);
        long.push((DASHBOARD, prefix.as_str()));
        assert_eq!(Config::from_lookup(lookup_from(&long)).unwrap_err().variable, DASHBOARD);
    }

    #[test]
    fn the_interval_defaults_to_five_minutes_and_is_bounded() {
        let base = [
            ("AWS_REGION", "us-east-1"),
            ("PROFILE_RESOLVER_SNAPSHOT_URL", "s3://fleet-bucket/p/"),
        ];
        let c = Config::from_lookup(lookup_from(&base)).unwrap();
        assert_eq!(c.interval, Duration::from_secs(300));
        let mut bad = base.to_vec();
        bad.push((PUBLISH_INTERVAL_SECONDS, "0"));
        assert_eq!(
            Config::from_lookup(lookup_from(&bad)).unwrap_err().variable,
            PUBLISH_INTERVAL_SECONDS
        );
    }
}
