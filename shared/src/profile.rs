//! Profile records and their ARNs.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::sync::{Arc, OnceLock};

/// The resource type of an application inference profile in ARNs and in the Tagging API.
pub const RESOURCE_TYPE: &str = "bedrock:application-inference-profile";

/// One application inference profile, as clients see it.
///
/// Kept small because a region may hold 100,000 of them: `region`, `accountId` and `id` are
/// read from the ARN when serialised, and repeated strings (tag keys and values, model ARNs,
/// statuses) are shared through an [`Interner`]. A profile that came from a route serialises
/// only `arn`, `region`, `accountId` and `tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile ARN.
    pub arn: Box<str>,
    /// The name Bedrock gives.
    pub name: Option<Box<str>>,
    /// `ACTIVE`, as Bedrock reports it; absent when Bedrock could not be read.
    pub status: Option<Arc<str>>,
    /// The underlying model ARNs; absent when Bedrock could not be read.
    pub models: Option<Box<[Arc<str>]>>,
    /// The tags, sorted by key.
    pub tags: Box<[(Arc<str>, Arc<str>)]>,
    /// From a route: no `id`.
    pub routed: bool,
    /// The JSON, rendered at the first answer that carries this profile and kept with the
    /// snapshot: a hit then copies bytes. Only profiles that are asked for are rendered.
    pub rendered: Rendered,
}

/// A profile's JSON once rendered; never part of a comparison.
#[derive(Debug, Clone, Default)]
pub struct Rendered(OnceLock<Box<str>>);

impl PartialEq for Rendered {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Rendered {}

impl Profile {
    /// The region, from the ARN.
    pub fn region(&self) -> &str {
        ProfileArn::parse(&self.arn).map_or("", |p| p.region)
    }

    /// The account, from the ARN.
    pub fn account_id(&self) -> &str {
        ProfileArn::parse(&self.arn).map_or("", |p| p.account_id)
    }

    /// The id (the last ARN segment), except for routes.
    pub fn id(&self) -> Option<&str> {
        if self.routed {
            None
        } else {
            ProfileArn::parse(&self.arn).map(|p| p.id)
        }
    }

    /// The JSON of this profile, as its `Serialize` writes it; rendered once.
    pub fn json(&self) -> &str {
        self.rendered
            .0
            .get_or_init(|| serde_json::to_string(self).unwrap_or_default().into_boxed_str())
    }

    /// A tag's value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.tags[i].1.as_ref())
    }
}

struct TagMap<'a>(&'a [(Arc<str>, Arc<str>)]);

impl Serialize for TagMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
    }
}

impl Serialize for Profile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let parts = ProfileArn::parse(&self.arn);
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("arn", self.arn.as_ref())?;
        if let (false, Some(p)) = (self.routed, &parts) {
            map.serialize_entry("id", p.id)?;
        }
        if let Some(name) = &self.name {
            map.serialize_entry("name", name.as_ref())?;
        }
        map.serialize_entry("region", parts.as_ref().map_or("", |p| p.region))?;
        map.serialize_entry("accountId", parts.as_ref().map_or("", |p| p.account_id))?;
        if let Some(status) = &self.status {
            map.serialize_entry("status", status.as_ref())?;
        }
        if let Some(models) = &self.models {
            map.serialize_entry("models", &models.iter().map(AsRef::as_ref).collect::<Vec<&str>>())?;
            map.serialize_entry("modelIds", &model_ids(models))?;
        }
        map.serialize_entry("tags", &TagMap(&self.tags))?;
        map.end()
    }
}

/// Each model's plain id (`anthropic.claude-3-haiku-20240307-v1:0`, what pricing tables are
/// keyed by), once, in the order of `models`: the resource after its type in a model ARN
/// (`foundation-model/ID`, `custom-model/ID`, ...). A profile copied from a cross-region
/// profile lists the same model in several regions, which is one id. A value that is not an
/// ARN is taken as an id already.
pub fn model_ids(models: &[Arc<str>]) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::with_capacity(models.len());
    for model in models {
        let id = match model.strip_prefix("arn:") {
            Some(arn) => arn
                .splitn(5, ':')
                .nth(4)
                .and_then(|resource| resource.split_once('/'))
                .map_or(model.as_ref(), |(_, id)| id),
            None => model.as_ref(),
        };
        if !id.is_empty() && !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// Shares repeated strings (tag keys and values, model ARNs, statuses) within a snapshot.
///
/// Hashed with foldhash, as the index is: every tag of every profile passes through here on
/// each build and each published snapshot read, and SipHash was about 6 % of a read's time
/// (docs/performance.md). The strings are the account's own tags; foldhash's per-process seed
/// still keeps their hashes unpredictable.
#[derive(Debug, Default)]
pub struct Interner(foldhash::HashSet<Arc<str>>);

impl Interner {
    /// The shared copy of `s`.
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(s) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(s);
        self.0.insert(shared.clone());
        shared
    }
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
    /// `None` when the ARN is not an application inference profile ARN. A repeated key keeps
    /// its last value.
    pub fn from_arn<I, K, V>(arn: &str, tags: I, routed: bool, interner: &mut Interner) -> Option<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        ProfileArn::parse(arn)?;
        let mut tags: Vec<(Arc<str>, Arc<str>)> = tags
            .into_iter()
            .map(|(k, v)| (interner.get(k.as_ref()), interner.get(v.as_ref())))
            .collect();
        tags.reverse();
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        tags.dedup_by(|b, a| a.0 == b.0);
        Some(Self {
            arn: arn.into(),
            name: None,
            status: None,
            models: None,
            tags: tags.into_boxed_slice(),
            routed,
            rendered: Rendered::default(),
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
        let p = Profile::from_arn(arn, [("t", "v")], true, &mut Interner::default()).unwrap();
        let v = serde_json::to_value(&p).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["accountId", "arn", "region", "tags"]);
    }

    #[test]
    fn a_discovered_profile_serialises_its_parts_in_the_contract_order() {
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
        let mut interner = Interner::default();
        let mut p = Profile::from_arn(arn, [("b", "2"), ("a", "1"), ("a", "3")], false, &mut interner).unwrap();
        p.name = Some("n".into());
        p.status = Some(interner.get("ACTIVE"));
        p.models = Some(vec![interner.get("m")].into_boxed_slice());
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            format!(
                r#"{{"arn":"{arn}","id":"abc123","name":"n","region":"us-east-1","accountId":"123456789012","status":"ACTIVE","models":["m"],"modelIds":["m"],"tags":{{"a":"3","b":"2"}}}}"#
            )
        );
        assert_eq!((p.tag("a"), p.tag("c")), (Some("3"), None));
        assert_eq!(
            p.json(),
            serde_json::to_string(&p).unwrap(),
            "the kept rendering is the same"
        );
    }

    #[test]
    fn model_ids_are_the_plain_ids_of_the_model_arns_once_each_in_order() {
        let arns: Vec<Arc<str>> = [
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            "arn:aws:bedrock:us-east-2::foundation-model/amazon.nova-lite-v1:0",
            "arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/meta.llama3-8b-instruct-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/a1b2c3",
            "cohere.command-r-v1:0",
            "arn:aws:bedrock:us-east-1::foundation-model/",
        ]
        .into_iter()
        .map(Arc::from)
        .collect();
        assert_eq!(
            model_ids(&arns),
            [
                "anthropic.claude-3-haiku-20240307-v1:0",
                "amazon.nova-lite-v1:0",
                "meta.llama3-8b-instruct-v1:0",
                "amazon.titan-text-express-v1:0:8k/a1b2c3",
                "cohere.command-r-v1:0",
            ]
        );
    }

    #[test]
    fn the_interner_shares_one_copy() {
        let mut i = Interner::default();
        assert!(Arc::ptr_eq(&i.get("acme"), &i.get("acme")));
    }
}
