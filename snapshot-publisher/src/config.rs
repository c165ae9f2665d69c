//! The publisher's configuration: the engine's settings (regions, upstream timeout), where to
//! publish (`PROFILE_RESOLVER_SNAPSHOT_URL`, required here) and the interval its schedule runs
//! at, which readers use to tell a live publisher from a stopped one.

use shared::config::{ConfigError, EngineConfig, SNAPSHOT_URL, parse};
use shared::logging::LogConfig;
use shared::published::SnapshotUrl;
use std::time::Duration;

/// `PROFILE_RESOLVER_PUBLISH_INTERVAL_SECONDS`
pub const PUBLISH_INTERVAL_SECONDS: &str = "PROFILE_RESOLVER_PUBLISH_INTERVAL_SECONDS";
/// `PROFILE_RESOLVER_ACCOUNT_ID`, for runs outside Lambda (in Lambda the function ARN gives it).
pub const ACCOUNT_ID: &str = "PROFILE_RESOLVER_ACCOUNT_ID";

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
        Ok(Self {
            engine,
            url,
            interval: Duration::from_secs(seconds),
            account,
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
