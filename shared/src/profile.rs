//! Profile records and their ARNs.

use serde::Serialize;
use std::collections::BTreeMap;

/// The resource type of an application inference profile in ARNs and in the Tagging API.
pub const RESOURCE_TYPE: &str = "bedrock:application-inference-profile";

/// One application inference profile, as clients see it.
///
/// A profile that came from a route has only `arn`, `region`, `account_id` and `tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The profile ARN.
    pub arn: String,
    /// The profile id, the last ARN segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The name Bedrock gives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The region from the ARN.
    pub region: String,
    /// The account from the ARN.
    pub account_id: String,
    /// `ACTIVE`, as Bedrock reports it; absent when Bedrock could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The underlying model ARNs; absent when Bedrock could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// The profile's tags.
    pub tags: BTreeMap<String, String>,
}

/// The parts of an application inference profile ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileArn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: &'a str,
    /// The region.
    pub region: &'a str,
    /// The 12-digit account.
    pub account_id: &'a str,
    /// The profile id.
    pub id: &'a str,
}

impl<'a> ProfileArn<'a> {
    /// Parses `arn:{partition}:bedrock:{region}:{account}:application-inference-profile/{id}`.
    /// Anything else is `None`.
    pub fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("bedrock"), Some(region), Some(account_id), Some(rest)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let id = rest.strip_prefix("application-inference-profile/")?;
        let valid = !partition.is_empty()
            && !region.is_empty()
            && account_id.len() == 12
            && account_id.bytes().all(|b| b.is_ascii_digit())
            && !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_alphanumeric());
        valid.then_some(Self {
            partition,
            region,
            account_id,
            id,
        })
    }
}

impl Profile {
    /// A profile known only by its ARN and tags (a route, or tags without Bedrock's details).
    /// `None` when the ARN is not an application inference profile ARN.
    pub fn from_arn(arn: &str, tags: BTreeMap<String, String>, with_id: bool) -> Option<Self> {
        let parts = ProfileArn::parse(arn)?;
        Some(Self {
            arn: arn.to_owned(),
            id: with_id.then(|| parts.id.to_owned()),
            name: None,
            region: parts.region.to_owned(),
            account_id: parts.account_id.to_owned(),
            status: None,
            models: None,
            tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_profile_arn_is_split_into_its_parts() {
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def456";
        let p = ProfileArn::parse(arn).unwrap();
        assert_eq!(p.region, "us-east-1");
        assert_eq!(p.account_id, "123456789012");
        assert_eq!(p.id, "abc123def456");
    }

    #[test]
    fn other_arns_are_not_profile_arns() {
        for arn in [
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude",
            "arn:aws:s3:::bucket",
            "arn:aws:bedrock:us-east-1:12345:application-inference-profile/abc",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a/../b",
        ] {
            assert!(ProfileArn::parse(arn).is_none(), "{arn}");
        }
    }

    #[test]
    fn route_profile_serialises_only_arn_region_account_and_tags() {
        let arn = "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/r1";
        let p = Profile::from_arn(arn, BTreeMap::from([("t".into(), "v".into())]), false).unwrap();
        let v = serde_json::to_value(&p).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["accountId", "arn", "region", "tags"]);
    }
}
