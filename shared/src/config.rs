//! Typed configuration from the environment, read through an injectable lookup so that tests
//! never touch the process environment. A bad value fails start-up and names the variable.

use crate::published::SnapshotUrl;
use crate::query::validate_region;
use std::str::FromStr;
use std::time::Duration;

/// `PROFILE_RESOLVER_TTL_SECONDS`
pub const TTL_SECONDS: &str = "PROFILE_RESOLVER_TTL_SECONDS";
/// `PROFILE_RESOLVER_MAX_STALE_SECONDS`
pub const MAX_STALE_SECONDS: &str = "PROFILE_RESOLVER_MAX_STALE_SECONDS";
/// `PROFILE_RESOLVER_REGIONS`
pub const REGIONS: &str = "PROFILE_RESOLVER_REGIONS";
/// `PROFILE_RESOLVER_SSM_PREFIX`
pub const SSM_PREFIX: &str = "PROFILE_RESOLVER_SSM_PREFIX";
/// `PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS`
pub const UPSTREAM_TIMEOUT_MS: &str = "PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS";
/// The default routes prefix.
pub const DEFAULT_PREFIX: &str = "/profile-resolver/routes/";

/// `PROFILE_RESOLVER_SNAPSHOT_URL`
pub const SNAPSHOT_URL: &str = "PROFILE_RESOLVER_SNAPSHOT_URL";
/// `PROFILE_RESOLVER_SNAPSHOT_FALLBACK`
pub const SNAPSHOT_FALLBACK: &str = "PROFILE_RESOLVER_SNAPSHOT_FALLBACK";
/// `PROFILE_RESOLVER_ACCOUNT_ID`: the account published snapshots must be for.
pub const ACCOUNT_ID: &str = "PROFILE_RESOLVER_ACCOUNT_ID";
/// `AWS_REGION`
pub const AWS_REGION: &str = "AWS_REGION";

/// A variable with a bad value. Values are not echoed: some variables hold secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable} is invalid: expected {expected}")]
pub struct ConfigError {
    /// The variable at fault.
    pub variable: &'static str,
    /// The expected form.
    pub expected: String,
}

impl ConfigError {
    /// A new error.
    pub fn new(variable: &'static str, expected: impl Into<String>) -> Self {
        Self {
            variable,
            expected: expected.into(),
        }
    }
}

/// The engine's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The function's own region: the default query region and the region of SSM routes.
    pub home_region: String,
    /// The allow-list of regions.
    pub regions: Vec<String>,
    /// Snapshot TTL before jitter.
    pub ttl: Duration,
    /// How long past expiry a snapshot may serve while refreshes fail.
    pub max_stale: Duration,
    /// The routes prefix, `None` when routes are disabled.
    pub ssm_prefix: Option<String>,
    /// Budget for one upstream call, retries included.
    pub upstream_timeout: Duration,
    /// Fleet mode: where published snapshots are read from; `None` in direct mode.
    pub snapshot_url: Option<SnapshotUrl>,
    /// What a fleet reader does without a usable published snapshot.
    pub snapshot_fallback: Fallback,
    /// The reader's own account: published snapshots for another account are refused. In
    /// Lambda the function learns it from its ARN at its first invoke when this is unset.
    pub account: Option<String>,
}

/// What a fleet reader does when no usable published snapshot exists (missing, refused, or
/// older than its publisher's interval plus the TTL and the maximum staleness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Build the region here, from the Tagging API and Bedrock, as in direct mode.
    Direct,
    /// Never call the Tagging API: the region is unavailable until the publisher is back.
    None,
}

/// The account of an ARN such as a Lambda function's
/// (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`), when it is 12 digits.
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':')
        .nth(4)
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
}

impl EngineConfig {
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
    /// The first variable with a bad value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let home_region = lookup(AWS_REGION)
            .filter(|r| validate_region(r).is_ok())
            .ok_or_else(|| ConfigError::new(AWS_REGION, "a region name such as us-east-1"))?;
        let regions = match lookup(REGIONS) {
            None => vec![home_region.clone()],
            Some(list) => parse_regions(&list)?,
        };
        let ttl = seconds(&lookup, TTL_SECONDS, 60.0, false)?;
        let max_stale = seconds(&lookup, MAX_STALE_SECONDS, 3600.0, true)?;
        let ssm_prefix = match lookup(SSM_PREFIX) {
            None => Some(DEFAULT_PREFIX.to_owned()),
            Some(p) if p.is_empty() => None,
            Some(p) if p.starts_with('/') && p.len() <= 2048 => Some(p),
            Some(_) => {
                return Err(ConfigError::new(
                    SSM_PREFIX,
                    "a path starting with / (empty disables routes)",
                ));
            }
        };
        let timeout_ms: u64 = parse(&lookup, UPSTREAM_TIMEOUT_MS, 2000, "milliseconds from 1 to 60000")?;
        if !(1..=60_000).contains(&timeout_ms) {
            return Err(ConfigError::new(UPSTREAM_TIMEOUT_MS, "milliseconds from 1 to 60000"));
        }
        let snapshot_url = match lookup(SNAPSHOT_URL) {
            None => None,
            Some(u) if u.is_empty() => None,
            Some(u) => Some(SnapshotUrl::parse(&u).map_err(|e| ConfigError::new(SNAPSHOT_URL, e))?),
        };
        let snapshot_fallback = match lookup(SNAPSHOT_FALLBACK).as_deref() {
            None | Some("direct") => Fallback::Direct,
            Some("none") => Fallback::None,
            Some(_) => return Err(ConfigError::new(SNAPSHOT_FALLBACK, "direct or none")),
        };
        let account = match lookup(ACCOUNT_ID) {
            None => None,
            Some(a) if a.is_empty() => None,
            Some(a) if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => Some(a),
            Some(_) => return Err(ConfigError::new(ACCOUNT_ID, "a 12-digit AWS account id")),
        };
        Ok(Self {
            home_region,
            regions,
            ttl,
            max_stale,
            ssm_prefix,
            upstream_timeout: Duration::from_millis(timeout_ms),
            snapshot_url,
            snapshot_fallback,
            account,
        })
    }
}

fn parse_regions(list: &str) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for r in list.split(',').map(str::trim) {
        if validate_region(r).is_err() {
            return Err(ConfigError::new(
                REGIONS,
                "comma-separated region names such as us-east-1,eu-west-1",
            ));
        }
        if !out.iter().any(|o| o == r) {
            out.push(r.to_owned());
        }
    }
    Ok(out)
}

/// Where the loopback token comes from, in order: `PROFILE_RESOLVER_TOKEN`, then
/// `AWS_SESSION_TOKEN`, then `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
pub const TOKEN_SOURCES: [&str; 3] = [
    "PROFILE_RESOLVER_TOKEN",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];

/// The token the extension expects (and the function sends): the first non-empty variable of
/// [`TOKEN_SOURCES`].
pub fn token(lookup: &impl Fn(&str) -> Option<String>) -> Option<String> {
    TOKEN_SOURCES.iter().find_map(|k| lookup(k).filter(|v| !v.is_empty()))
}

/// A lookup over fixed pairs, as tests and tools pass to `from_lookup`.
pub fn lookup_from(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> =
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |k| map.get(k).cloned()
}

/// Reads a variable and parses it, with a default when unset.
///
/// # Errors
/// The variable and the expected form when the value does not parse.
pub fn parse<T: FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    expected: &str,
) -> Result<T, ConfigError> {
    match lookup(variable) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError::new(variable, expected)),
    }
}

fn seconds(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: f64,
    zero_ok: bool,
) -> Result<Duration, ConfigError> {
    let expected = if zero_ok {
        "a number of seconds, 0 or more"
    } else {
        "a number of seconds above 0"
    };
    let s: f64 = parse(lookup, variable, default, expected)?;
    let ok = s.is_finite() && (s > 0.0 || (zero_ok && s == 0.0)) && s <= 31_536_000.0;
    if ok {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(ConfigError::new(variable, expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        lookup_from(pairs)
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = EngineConfig::from_lookup(lookup(&[("AWS_REGION", "us-east-1")])).unwrap();
        assert_eq!(c.regions, ["us-east-1"]);
        assert_eq!(c.ttl, Duration::from_secs(60));
        assert_eq!(c.max_stale, Duration::from_secs(3600));
        assert_eq!(c.ssm_prefix.as_deref(), Some("/profile-resolver/routes/"));
        assert_eq!(c.upstream_timeout, Duration::from_millis(2000));
        assert_eq!((c.snapshot_url, c.snapshot_fallback), (None, Fallback::Direct));
    }

    #[test]
    fn a_snapshot_url_switches_on_fleet_mode() {
        let c = EngineConfig::from_lookup(lookup(&[
            ("AWS_REGION", "us-east-1"),
            ("PROFILE_RESOLVER_SNAPSHOT_URL", "s3://fleet-bucket/snapshots/"),
            ("PROFILE_RESOLVER_SNAPSHOT_FALLBACK", "none"),
        ]))
        .unwrap();
        assert_eq!(
            c.snapshot_url.unwrap().snapshot_key("us-east-1"),
            "snapshots/us-east-1.json"
        );
        assert_eq!(c.snapshot_fallback, Fallback::None);
    }

    #[test]
    fn region_list_is_trimmed_and_deduplicated() {
        let c = EngineConfig::from_lookup(lookup(&[
            ("AWS_REGION", "us-east-1"),
            ("PROFILE_RESOLVER_REGIONS", "us-east-1, eu-west-1,us-east-1"),
        ]))
        .unwrap();
        assert_eq!(c.regions, ["us-east-1", "eu-west-1"]);
    }

    #[test]
    fn empty_prefix_disables_routes() {
        let c = EngineConfig::from_lookup(lookup(&[
            ("AWS_REGION", "us-east-1"),
            ("PROFILE_RESOLVER_SSM_PREFIX", ""),
        ]))
        .unwrap();
        assert_eq!(c.ssm_prefix, None);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases = [
            ("PROFILE_RESOLVER_TTL_SECONDS", "sixty"),
            ("PROFILE_RESOLVER_TTL_SECONDS", "0"),
            ("PROFILE_RESOLVER_TTL_SECONDS", "-1"),
            ("PROFILE_RESOLVER_MAX_STALE_SECONDS", "NaN"),
            ("PROFILE_RESOLVER_REGIONS", "us-east-1,,eu-west-1"),
            ("PROFILE_RESOLVER_REGIONS", "US-EAST-1"),
            ("PROFILE_RESOLVER_SSM_PREFIX", "routes/"),
            ("PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS", "0"),
            ("PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS", "2s"),
            ("PROFILE_RESOLVER_SNAPSHOT_URL", "https://bucket/prefix/"),
            ("PROFILE_RESOLVER_SNAPSHOT_URL", "s3://Not_A_Bucket/"),
            ("PROFILE_RESOLVER_SNAPSHOT_FALLBACK", "sometimes"),
        ];
        for (var, value) in cases {
            let err = EngineConfig::from_lookup(lookup(&[("AWS_REGION", "us-east-1"), (var, value)])).unwrap_err();
            assert_eq!(err.variable, var, "{var}={value}");
            assert!(err.to_string().contains(var));
        }
    }

    #[test]
    fn missing_region_names_aws_region() {
        let err = EngineConfig::from_lookup(lookup(&[])).unwrap_err();
        assert_eq!(err.variable, "AWS_REGION");
    }
}
