//! The emulator's data: profiles per region and account, ghosts of deleted ones, pagination
//! cursors, faults and call counts. Pure logic; the HTTP layers call into it.

use super::error::AwsError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The account every profile belongs to unless the seed says otherwise.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// The most tags one resource may carry.
pub const MAX_TAGS: usize = 50;

/// One application inference profile.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProfile {
    /// Region.
    pub region: String,
    /// Account.
    pub account: String,
    /// 12 lowercase alphanumerics.
    pub id: String,
    /// Name, unique per region and account.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Underlying model ARNs.
    pub models: Vec<String>,
    /// Tags in insertion order.
    pub tags: Vec<(String, String)>,
    /// Creation time, epoch seconds.
    pub created_at: f64,
    /// Whether it was ever tagged (untagged-to-empty resources stay visible to tagging).
    pub ever_tagged: bool,
}

impl StoredProfile {
    /// Its ARN.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:bedrock:{}:{}:application-inference-profile/{}",
            self.region, self.account, self.id
        )
    }
}

/// A deleted profile that tagging still lists, with no tags, until `until`.
#[derive(Debug, Clone)]
pub struct Ghost {
    /// The ARN.
    pub arn: String,
    /// Region.
    pub region: String,
    /// When it stops being listed.
    pub until: SystemTime,
}

/// Faults on one operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Fault {
    /// The operation (`GetResources`, `ListInferenceProfiles`, ...) or `*`.
    pub operation: String,
    /// Fraction of calls throttled, 0 to 1, spread evenly.
    pub throttle_rate: f64,
    /// Fraction of calls answered with a 5xx, 0 to 1, spread evenly.
    pub error_rate: f64,
    /// Added latency per call.
    pub latency_ms: u64,
    /// Every call fails with 503 `ServiceUnavailable`.
    pub down: bool,
    /// Every call is answered 200 with a body that is not valid JSON.
    pub malformed: bool,
    /// Every call is denied (403 `AccessDeniedException`).
    pub deny: bool,
    /// Listings answer a page's request with the token it carried, for ever (a paging loop).
    pub repeat_token: bool,
    /// Only in these regions (all when empty).
    pub regions: Vec<String>,
}

/// What a fault decides for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve normally.
    Serve,
    /// Throttle.
    Throttle,
    /// Fail with a 5xx.
    Fail,
    /// Answer 503.
    Down,
    /// Answer garbage.
    Malformed,
    /// Deny.
    Deny,
}

/// A pagination cursor: the listing continues after `after` (an ARN).
#[derive(Debug, Clone)]
pub struct Cursor {
    /// The operation that issued it.
    pub operation: &'static str,
    /// Region it belongs to.
    pub region: String,
    /// A fingerprint of the request, so a token cannot be replayed on another query.
    pub fingerprint: String,
    /// Last ARN returned.
    pub after: String,
    /// When issued.
    pub issued: SystemTime,
}

/// Tunables, settable by flag or through the admin interface.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    /// How long a deleted profile stays listed by tagging with no tags.
    pub ghost_seconds: f64,
    /// How long a pagination token lives.
    pub token_ttl_seconds: f64,
    /// A CloudWatch endpoint (moto's) that metered calls publish their `AWS/Bedrock` runtime
    /// metrics to, as Bedrock does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloudwatch: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ghost_seconds: 60.0,
            token_ttl_seconds: 900.0,
            cloudwatch: None,
        }
    }
}

/// All the emulator's state.
#[derive(Debug, Default)]
pub struct State {
    /// Profiles by ARN.
    pub profiles: BTreeMap<String, StoredProfile>,
    /// Recently deleted profiles.
    pub ghosts: Vec<Ghost>,
    /// Live pagination tokens.
    pub cursors: HashMap<String, Cursor>,
    /// Faults by operation (`*` for all).
    pub faults: HashMap<String, Fault>,
    /// Calls by operation, then region.
    pub calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// Tunables.
    pub settings: Settings,
    /// Taken names: (region, account, name).
    pub names: std::collections::HashSet<(String, String, String)>,
    /// Metered `Converse` calls.
    pub usage: Vec<super::runtime::Metered>,
}

impl State {
    /// Counts a call and decides what its fault makes of it.
    pub fn admit(&mut self, operation: &str, region: &str) -> (Verdict, Duration) {
        let n = {
            let by_region = self.calls.entry(operation.to_owned()).or_default();
            let c = by_region.entry(region.to_owned()).or_insert(0);
            *c += 1;
            by_region.values().sum::<u64>()
        };
        let fault = self
            .faults
            .get(operation)
            .or_else(|| self.faults.get("*"))
            .filter(|f| f.regions.is_empty() || f.regions.iter().any(|r| r == region));
        let Some(f) = fault else {
            return (Verdict::Serve, Duration::ZERO);
        };
        let latency = Duration::from_millis(f.latency_ms);
        // Spread a rate evenly: call n is hit when floor(n * rate) steps up.
        let hit = |rate: f64| rate > 0.0 && ((n as f64) * rate).floor() > (((n - 1) as f64) * rate).floor();
        let verdict = if f.down {
            Verdict::Down
        } else if f.deny {
            Verdict::Deny
        } else if f.malformed {
            Verdict::Malformed
        } else if hit(f.throttle_rate) {
            Verdict::Throttle
        } else if hit(f.error_rate) {
            Verdict::Fail
        } else {
            Verdict::Serve
        };
        (verdict, latency)
    }

    /// Forgets ghosts whose time is up.
    pub fn expire_ghosts(&mut self, now: SystemTime) {
        self.ghosts.retain(|g| g.until > now);
    }

    /// Issues a token continuing after `after`.
    pub fn issue_cursor(&mut self, cursor: Cursor) -> String {
        let token: String = (0..32).map(|_| fastrand::alphanumeric()).collect();
        self.cursors.insert(token.clone(), cursor);
        token
    }

    /// Redeems a token, checking its operation, region, request and age.
    ///
    /// # Errors
    /// The AWS error for an unknown, foreign or expired token.
    pub fn redeem(
        &mut self,
        token: &str,
        operation: &'static str,
        region: &str,
        fingerprint: &str,
        now: SystemTime,
    ) -> Result<String, AwsError> {
        let Some(c) = self.cursors.get(token) else {
            return Err(AwsError::invalid_token(operation, "the pagination token is not valid"));
        };
        if c.operation != operation || c.region != region || c.fingerprint != fingerprint {
            return Err(AwsError::invalid_token(
                operation,
                "the pagination token does not belong to this request",
            ));
        }
        let ttl = Duration::from_secs_f64(self.settings.token_ttl_seconds.max(0.0));
        if now.duration_since(c.issued).unwrap_or_default() > ttl {
            self.cursors.remove(token);
            return Err(AwsError::token_expired(operation));
        }
        Ok(c.after.clone())
    }

    /// Adds a profile, checking the name is free in its region and account.
    ///
    /// # Errors
    /// `ConflictException` for a taken name.
    pub fn insert(&mut self, p: StoredProfile) -> Result<String, AwsError> {
        let key = (p.region.clone(), p.account.clone(), p.name.clone());
        if self.names.contains(&key) {
            return Err(AwsError::conflict(format!(
                "an inference profile named {} already exists",
                p.name
            )));
        }
        let arn = p.arn();
        self.names.insert(key);
        self.profiles.insert(arn.clone(), p);
        Ok(arn)
    }

    /// Deletes a profile, leaving a ghost for tagging.
    pub fn delete(&mut self, arn: &str, now: SystemTime) -> Option<StoredProfile> {
        let p = self.profiles.remove(arn)?;
        self.names
            .remove(&(p.region.clone(), p.account.clone(), p.name.clone()));
        if p.ever_tagged {
            let until = now + Duration::from_secs_f64(self.settings.ghost_seconds.max(0.0));
            self.ghosts.push(Ghost {
                arn: arn.to_owned(),
                region: p.region.clone(),
                until,
            });
        }
        Some(p)
    }
}

/// A fresh 12-character lowercase alphanumeric id.
pub fn new_id() -> String {
    (0..12)
        .map(|_| {
            let c = fastrand::alphanumeric();
            c.to_ascii_lowercase()
        })
        .collect()
}

/// Seconds since the epoch.
pub fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

/// An ISO 8601 UTC timestamp with milliseconds, as Bedrock's `timestampFormat: iso8601` wants.
pub fn iso8601(epoch: f64) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let millis = (epoch * 1000.0).round() as i128;
    time::OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_throttle_rate_throttles_exactly_one_call_in_four() {
        let mut s = State::default();
        s.faults.insert(
            "GetResources".into(),
            Fault {
                operation: "GetResources".into(),
                throttle_rate: 0.25,
                ..Fault::default()
            },
        );
        let throttled = (0..400)
            .filter(|_| s.admit("GetResources", "us-east-1").0 == Verdict::Throttle)
            .count();
        assert_eq!(throttled, 100);
        assert_eq!(s.calls["GetResources"]["us-east-1"], 400);
    }

    #[test]
    fn a_fault_limited_to_a_region_spares_the_others() {
        let mut s = State::default();
        s.faults.insert(
            "*".into(),
            Fault {
                down: true,
                regions: vec!["eu-west-1".into()],
                ..Fault::default()
            },
        );
        assert_eq!(s.admit("GetResources", "us-east-1").0, Verdict::Serve);
        assert_eq!(s.admit("GetResources", "eu-west-1").0, Verdict::Down);
    }

    #[test]
    fn timestamps_are_iso8601_utc() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_700_000_000.5), "2023-11-14T22:13:20.500Z");
        assert_eq!(iso8601(951_782_400.0), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn ids_are_twelve_lowercase_alphanumerics() {
        for _ in 0..100 {
            let id = new_id();
            assert_eq!(id.len(), 12);
            assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{id}");
        }
    }
}
