//! The published objects' wire format, schema version 1.
//!
//! A snapshot (`{region}.json`):
//! ```json
//! {"schemaVersion": 1, "region": "us-east-1", "account": "123456789012",
//!  "listingStartedAt": "2026-11-27T11:50:38.123Z", "contentHash": "sha256:…",
//!  "profileCount": 2, "profiles": [{"arn": "…", "name": "…", "status": "ACTIVE",
//!  "models": ["…"], "tags": {"tenant": "acme"}}, …]}
//! ```
//! `contentHash` is the SHA-256 of the `profiles` array exactly as written, so a reader checks
//! the bytes it parses. A heartbeat (`{region}.heartbeat.json`) repeats the schema, region,
//! account and hash, with the listing start of the latest publish and the publisher's interval.
//!
//! Decoding refuses, naming the reason: invalid or truncated JSON, another schema version,
//! another region, another account than the reader's, a hash that does not match, a count that
//! does not match, and any ARN that is not an application inference profile of that region and
//! account. One bad record refuses
//! the whole object: a snapshot is never served in part.

mod borrowed;

use super::SCHEMA_VERSION;
use crate::profile::{Interner, Profile, ProfileArn};
use crate::snapshot::{Origin, Snapshot};
use borrowed::{Pairs, Text};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why a published object was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(why: impl Into<String>) -> Refused {
    Refused(why.into())
}

/// A snapshot object, as read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DocumentIn<'a> {
    schema_version: u32,
    #[serde(borrow)]
    region: Cow<'a, str>,
    #[serde(borrow, default)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow)]
    listing_started_at: Cow<'a, str>,
    #[serde(borrow)]
    content_hash: Cow<'a, str>,
    profile_count: usize,
    #[serde(borrow)]
    profiles: &'a RawValue,
}

/// A profile record, as read: its strings borrowed from the document where they can be
/// (`borrowed`).
#[derive(Debug, Deserialize)]
struct ProfileIn<'a> {
    #[serde(borrow)]
    arn: Text<'a>,
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    status: Option<Text<'a>>,
    #[serde(borrow, default)]
    models: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    tags: Pairs<'a>,
}

#[derive(Serialize)]
struct ProfileOut<'a> {
    arn: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    models: Option<Vec<&'a str>>,
    tags: BTreeMap<&'a str, &'a str>,
}

/// A heartbeat: the latest publish of a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Beat {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The region.
    pub region: String,
    /// The account, when the publisher knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// When the latest publish's listing started (RFC 3339).
    pub listing_started_at: String,
    /// When it was written (RFC 3339), for people.
    pub published_at: String,
    /// The hash of the content that listing found.
    pub content_hash: String,
    /// The ETag of the snapshot object holding that content, as its write returned it: the
    /// next publish checks the object against it (a conditional GET) before it trusts the
    /// object to be what this heartbeat names. Absent from heartbeats of older publishers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_etag: Option<String>,
    /// Profiles in it.
    pub profile_count: usize,
    /// The publisher rebuilds at least this often.
    pub interval_seconds: u64,
}

impl Beat {
    /// Reads and checks a heartbeat of `region`.
    ///
    /// # Errors
    /// Invalid JSON, another schema version or region, or a bad time.
    pub fn decode(bytes: &[u8], region: &str) -> Result<(Self, SystemTime), Refused> {
        let beat: Self =
            serde_json::from_slice(bytes).map_err(|e| refused(format!("heartbeat is not valid JSON: {e}")))?;
        check_schema_and_region(beat.schema_version, &beat.region, region)?;
        let started = parse_time(&beat.listing_started_at)?;
        if beat.interval_seconds == 0 || beat.interval_seconds > 86_400 {
            return Err(refused("heartbeat intervalSeconds must be from 1 to 86400"));
        }
        Ok((beat, started))
    }

    /// The heartbeat's bytes.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The publisher's interval.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_seconds)
    }
}

/// A snapshot ready to write.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The object's bytes.
    pub body: Vec<u8>,
    /// `sha256:` and the hex digest of the profiles.
    pub content_hash: String,
    /// Profiles in it.
    pub profile_count: usize,
}

/// Writes `snapshot` as region `region`'s document.
pub fn encode(snapshot: &Snapshot, region: &str, account: Option<&str>, listing_started: SystemTime) -> Encoded {
    let profiles: Vec<ProfileOut<'_>> = snapshot
        .profiles()
        .iter()
        .map(|p| ProfileOut {
            arn: &p.arn,
            name: p.name.as_deref(),
            status: p.status.as_deref(),
            models: p.models.as_ref().map(|m| m.iter().map(AsRef::as_ref).collect()),
            tags: p.tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect(),
        })
        .collect();
    // Serialising borrowed strings into a Vec cannot fail.
    let array = serde_json::to_vec(&profiles).unwrap_or_else(|_| b"[]".to_vec());
    let content_hash = hash(&array);
    let mut body = Vec::with_capacity(array.len() + 256);
    let head = serde_json::json!({
        "schemaVersion": SCHEMA_VERSION,
        "region": region,
        "account": account,
        "listingStartedAt": format_time(listing_started),
        "contentHash": content_hash,
        "profileCount": profiles.len(),
    });
    let head = head.to_string();
    body.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    body.extend_from_slice(b",\"profiles\":");
    body.extend_from_slice(&array);
    body.push(b'}');
    Encoded {
        body,
        content_hash,
        profile_count: profiles.len(),
    }
}

/// A snapshot as read back.
#[derive(Debug)]
pub struct Decoded {
    /// The profiles, indexed.
    pub snapshot: Snapshot,
    /// Its content hash.
    pub content_hash: String,
    /// When the listing that produced it started.
    pub listing_started: SystemTime,
    /// The account the document names, if any.
    pub account: Option<String>,
}

/// Reads and checks region `region`'s document (see the module docs for what is refused). With
/// `account`, the reader's own, a document for another account is refused, and so is any ARN
/// outside it.
///
/// # Errors
/// The first reason to refuse it.
pub fn decode(bytes: &[u8], region: &str, account: Option<&str>) -> Result<Decoded, Refused> {
    let doc: DocumentIn<'_> =
        serde_json::from_slice(bytes).map_err(|e| refused(format!("snapshot is not valid JSON (truncated?): {e}")))?;
    check_schema_and_region(doc.schema_version, &doc.region, region)?;
    if let (Some(mine), Some(theirs)) = (account, doc.account.as_deref())
        && mine != theirs
    {
        return Err(refused(format!(
            "the object is for account {theirs}, this reader is in account {mine}"
        )));
    }
    let account = account.or(doc.account.as_deref());
    let listing_started = parse_time(&doc.listing_started_at)?;
    let raw = doc.profiles.get().as_bytes();
    let actual = hash(raw);
    if actual != doc.content_hash {
        return Err(refused(format!(
            "content hash mismatch: the object says {}, its profiles hash to {actual}",
            doc.content_hash
        )));
    }
    let records: Vec<ProfileIn<'_>> =
        serde_json::from_slice(raw).map_err(|e| refused(format!("profiles are malformed: {e}")))?;
    if records.len() != doc.profile_count {
        return Err(refused(format!(
            "profileCount is {} but {} profiles are present",
            doc.profile_count,
            records.len()
        )));
    }
    let mut interner = Interner::default();
    let mut profiles = Vec::with_capacity(records.len());
    for (i, r) in records.into_iter().enumerate() {
        let arn: &str = &r.arn.0;
        let parts = ProfileArn::parse(arn).ok_or_else(|| {
            refused(format!(
                "profile {i}: {arn} is not an application inference profile ARN"
            ))
        })?;
        if parts.region != region || account.is_some_and(|a| a != parts.account_id) {
            return Err(refused(format!(
                "profile {i}: {arn} is not in region {region} of account {}",
                account.unwrap_or("(any)")
            )));
        }
        let Some(mut profile) = Profile::from_arn(arn, r.tags.iter(), false, &mut interner) else {
            return Err(refused(format!("profile {i}: bad ARN")));
        };
        profile.name = r.name.map(|n| Box::from(&*n.0));
        profile.status = r.status.map(|s| interner.get(&s.0));
        profile.models = r.models.map(|m| m.iter().map(|m| interner.get(&m.0)).collect());
        profiles.push(profile);
    }
    Ok(Decoded {
        snapshot: Snapshot::new(Origin::TaggingApi, profiles),
        content_hash: doc.content_hash.into_owned(),
        listing_started,
        account: doc.account.map(Cow::into_owned),
    })
}

fn check_schema_and_region(version: u32, found: &str, expected: &str) -> Result<(), Refused> {
    if version != SCHEMA_VERSION {
        return Err(refused(format!(
            "schema version {version} is not supported (this reader reads {SCHEMA_VERSION})"
        )));
    }
    if found != expected {
        return Err(refused(format!("the object holds region {found}, expected {expected}")));
    }
    Ok(())
}

/// `sha256:` and the hex digest.
pub fn hash(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// RFC 3339 in UTC with milliseconds.
pub fn format_time(t: SystemTime) -> String {
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis()) as i128;
    OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn parse_time(s: &str) -> Result<SystemTime, Refused> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| refused(format!("{s:?} is not an RFC 3339 time")))?;
    let nanos = t.unix_timestamp_nanos();
    u64::try_from(nanos)
        .map(|n| UNIX_EPOCH + Duration::from_nanos(n))
        .map_err(|_| refused(format!("{s:?} is before 1970")))
}

#[cfg(test)]
mod tests;
