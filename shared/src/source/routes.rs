//! Static routes from SSM Parameter Store (`GetParametersByPath`, recursive, every page). Each
//! parameter's value is `{"tags": {...}, "arn": "..."}`; a malformed one is skipped with a
//! warning that names it. SecureString routes are not supported (routes are not secrets, and
//! reading them would need `kms:Decrypt`): their ciphertext fails to parse and is skipped.

use super::sdk::classify;
use super::{Heartbeat, Operation, Route, RouteSource, SourceError};
use crate::profile::{Interner, Profile, ProfileArn};
use crate::query::{MAX_KEY_CHARS, MAX_KEYS, MAX_VALUE_CHARS};
use crate::snapshot::{Origin, Snapshot};
use crate::stats::Stats;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ssm::Client;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// `GetParametersByPath` under a prefix, in the function's home region.
#[derive(Debug, Clone)]
pub struct SdkRouteSource {
    client: Client,
    prefix: String,
    /// The SDK config's region, for the counters.
    region: String,
    stats: Arc<Stats>,
}

impl SdkRouteSource {
    /// A source reading under `prefix` with the SDK config's region.
    pub fn new(sdk: &SdkConfig, prefix: &str, stats: Arc<Stats>) -> Self {
        Self {
            client: Client::new(sdk),
            prefix: prefix.to_owned(),
            region: sdk.region().map(|r| r.as_ref().to_owned()).unwrap_or_default(),
            stats,
        }
    }
}

#[async_trait]
impl RouteSource for SdkRouteSource {
    async fn routes(&self, progress: &Heartbeat) -> Result<Vec<Route>, SourceError> {
        let op = Operation::GetParametersByPath;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = super::Pages::default();
        loop {
            self.stats.upstream_call(&self.region, op);
            let page = self
                .client
                .get_parameters_by_path()
                .path(&self.prefix)
                .recursive(true)
                .with_decryption(false)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify(op, &e))?;
            progress.beat();
            for p in page.parameters() {
                let name = p.name().unwrap_or("");
                match parse_route(name, p.value().unwrap_or("")) {
                    Ok(route) => out.push(route),
                    Err(why) => tracing::warn!(parameter = name, %why, "skipping malformed route"),
                }
            }
            match pages.next(op, page.next_token())? {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteValue {
    #[serde(deserialize_with = "unique_tags")]
    tags: BTreeMap<String, String>,
    arn: String,
}

/// A tag object whose keys are unique: `{"tenant": "a", "tenant": "b"}` could mean either
/// tenant, so the route is malformed rather than silently keeping one.
fn unique_tags<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct Tags;
    impl<'de> serde::de::Visitor<'de> for Tags {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of tag keys to string values")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut tags = BTreeMap::new();
            while let Some((key, value)) = map.next_entry::<String, String>()? {
                if tags.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!(
                        "tag key {key:?} appears more than once"
                    )));
                }
                tags.insert(key, value);
            }
            Ok(tags)
        }
    }
    d.deserialize_map(Tags)
}

/// Parses and validates one route parameter.
///
/// # Errors
/// Why the route is malformed: not JSON of the right shape, no tags, a tag over the limits, or
/// an ARN that is not an application inference profile.
pub fn parse_route(parameter: &str, value: &str) -> Result<Route, String> {
    let v: RouteValue = serde_json::from_str(value).map_err(|e| format!("not a route: {e}"))?;
    if v.tags.is_empty() || v.tags.len() > MAX_KEYS {
        return Err(format!("a route needs 1 to {MAX_KEYS} tags"));
    }
    for (k, val) in &v.tags {
        let (kn, vn) = (k.chars().count(), val.chars().count());
        if kn == 0 || kn > MAX_KEY_CHARS || vn > MAX_VALUE_CHARS {
            return Err(format!("tag {k:?} breaks the key or value length limits"));
        }
    }
    if ProfileArn::parse(&v.arn).is_none() {
        return Err(format!("{:?} is not an application inference profile ARN", v.arn));
    }
    Ok(Route {
        parameter: parameter.to_owned(),
        tags: v.tags.into_iter().collect(),
        arn: v.arn,
    })
}

/// Groups routes into one snapshot per region, the region taken from each route's ARN. Two
/// routes with the same ARN keep the first (by parameter name), with a warning.
pub fn snapshots_by_region(mut routes: Vec<Route>) -> HashMap<String, Snapshot> {
    routes.sort_by(|a, b| a.parameter.cmp(&b.parameter));
    let mut by_region: HashMap<String, Vec<Profile>> = HashMap::new();
    let mut interner = Interner::default();
    for r in routes {
        let Some(profile) = Profile::from_arn(&r.arn, r.tags, true, &mut interner) else {
            continue;
        };
        let list = by_region.entry(profile.region().to_owned()).or_default();
        if list.iter().any(|p| p.arn == profile.arn) {
            tracing::warn!(parameter = %r.parameter, arn = %profile.arn, "a route repeats an ARN; the first route wins");
            continue;
        }
        list.push(profile);
    }
    by_region
        .into_iter()
        .map(|(region, list)| (region, Snapshot::new(Origin::ParameterStore, list)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";

    #[test]
    fn a_route_that_repeats_a_tag_key_is_malformed() {
        let value = format!(r#"{{"tags": {{"tenant": "acme", "tenant": "globex"}}, "arn": "{ARN}"}}"#);
        let why = parse_route("/p/dup", &value).unwrap_err();
        assert!(why.contains("\"tenant\" appears more than once"), "{why}");
    }

    #[test]
    fn well_formed_route_parses() {
        let r = parse_route("/p/a", &format!(r#"{{"tags": {{"tenant": "acme"}}, "arn": "{ARN}"}}"#)).unwrap();
        assert_eq!(r.tags, vec![("tenant".to_owned(), "acme".to_owned())]);
        assert_eq!(r.arn, ARN);
    }

    #[test]
    fn malformed_routes_are_rejected_with_a_reason() {
        for bad in [
            "not json".to_owned(),
            format!(r#"{{"tags": {{}}, "arn": "{ARN}"}}"#),
            r#"{"tags": {"a": "b"}, "arn": "arn:aws:s3:::bucket"}"#.to_owned(),
            format!(r#"{{"tags": {{"a": 1}}, "arn": "{ARN}"}}"#),
            format!(r#"{{"tag": {{"a": "b"}}, "arn": "{ARN}"}}"#),
            format!(r#"{{"tags": {{"{}": "b"}}, "arn": "{ARN}"}}"#, "k".repeat(129)),
        ] {
            assert!(parse_route("/p/x", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn routes_are_grouped_by_the_region_of_their_arn() {
        let other = ARN.replace("us-east-1", "eu-west-1");
        let routes = vec![
            parse_route("/p/a", &format!(r#"{{"tags": {{"t": "a"}}, "arn": "{ARN}"}}"#)).unwrap(),
            parse_route("/p/b", &format!(r#"{{"tags": {{"t": "b"}}, "arn": "{other}"}}"#)).unwrap(),
        ];
        let by_region = snapshots_by_region(routes);
        assert_eq!(by_region["us-east-1"].len(), 1);
        assert_eq!(&*by_region["eu-west-1"].profiles()[0].arn, other);
    }
}
