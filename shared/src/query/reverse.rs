//! The reverse lookup's request: a profile's ARN, or its bare id with a region, from a path
//! (`/v1/profiles/{id-or-arn}?region=...`) or a JSON body (`{"profile": ..., "region": ...}`).

use super::json::Json;
use crate::error::ApiError;
use crate::profile::ProfileArn;
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// The longest bare id accepted (Bedrock's are 12 characters).
pub const MAX_ID_CHARS: usize = 64;

/// A validated reverse lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileKey {
    /// What was asked, for messages.
    pub asked: String,
    /// The full ARN, when an ARN was given.
    pub arn: Option<String>,
    /// The profile id (the ARN's last part).
    pub id: String,
    /// The region: the ARN's, or the one given for a bare id (`None`: the home region).
    pub region: Option<String>,
}

impl ProfileKey {
    /// Validates an id or ARN and an optional region.
    ///
    /// # Errors
    /// `InvalidQuery` naming `profile` (not an application inference profile ARN, or not an id)
    /// or `region` (another region than the ARN's).
    pub fn new(key: &str, region: Option<&str>) -> Result<Self, ApiError> {
        if key.starts_with("arn:") {
            let arn = ProfileArn::parse(key).ok_or_else(|| {
                ApiError::invalid("profile", "not an application inference profile ARN (arn:aws:bedrock:REGION:ACCOUNT:application-inference-profile/ID)")
            })?;
            if let Some(r) = region.filter(|r| *r != arn.region) {
                return Err(ApiError::invalid(
                    "region",
                    format!("{r} is not the ARN's region ({})", arn.region),
                ));
            }
            return Ok(Self {
                asked: key.to_owned(),
                arn: Some(key.to_owned()),
                id: arn.id.to_owned(),
                region: Some(arn.region.to_owned()),
            });
        }
        let n = key.chars().count();
        if n == 0 || n > MAX_ID_CHARS || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ApiError::invalid(
                "profile",
                format!("an application inference profile ARN, or an id of 1 to {MAX_ID_CHARS} letters and digits"),
            ));
        }
        Ok(Self {
            asked: key.to_owned(),
            arn: None,
            id: key.to_owned(),
            region: region.map(str::to_owned),
        })
    }

    /// From the path after `/v1/profiles/` (percent-encoded) and the query string, which may
    /// hold `region` only.
    ///
    /// # Errors
    /// `InvalidQuery` naming the field at fault.
    pub fn from_path(encoded: &str, query: Option<&str>) -> Result<Self, ApiError> {
        let key = percent_decode_str(encoded)
            .decode_utf8()
            .map_err(|_| ApiError::invalid("profile", "not valid UTF-8 once percent-decoded"))?;
        let mut region = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| ApiError::invalid("region", "not valid UTF-8 once percent-decoded"))?;
            match name {
                "region" if region.is_none() => region = Some(value.into_owned()),
                "region" => return Err(ApiError::invalid("region", "given more than once")),
                other => return Err(ApiError::invalid(other, "unknown parameter (only region is allowed)")),
            }
        }
        Self::new(&key, region.as_deref())
    }

    /// From a direct invoke's `{"profile": "...", "region": "..."}`.
    ///
    /// # Errors
    /// `InvalidQuery` naming the field at fault.
    pub fn from_json(doc: &Json) -> Result<Self, ApiError> {
        let Json::Object(members) = doc else {
            return Err(ApiError::invalid(
                "body",
                format!("must be an object, not {}", doc.kind()),
            ));
        };
        let (mut key, mut region) = (None, None);
        for (name, value) in members {
            let slot = match name.as_str() {
                "profile" => &mut key,
                "region" => &mut region,
                other => return Err(ApiError::invalid(other, "unknown field")),
            };
            match value {
                Json::String(s) if slot.is_none() => *slot = Some(s.as_str()),
                Json::String(_) => return Err(ApiError::invalid(name.as_str(), "given more than once")),
                other => {
                    return Err(ApiError::invalid(
                        name.as_str(),
                        format!("must be a string, not {}", other.kind()),
                    ));
                }
            }
        }
        let key = key.ok_or_else(|| ApiError::invalid("profile", "is required"))?;
        Self::new(key, region)
    }

    /// The extension's path for this lookup.
    pub fn to_path(&self) -> String {
        let mut path = format!("/v1/profiles/{}", utf8_percent_encode(&self.asked, NON_ALPHANUMERIC));
        if let (None, Some(region)) = (&self.arn, &self.region) {
            path.push_str("?region=");
            path.extend(utf8_percent_encode(region, NON_ALPHANUMERIC));
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123def456";

    #[test]
    fn an_arn_gives_its_region_and_id() {
        let k = ProfileKey::new(ARN, None).unwrap();
        assert_eq!(
            (k.id.as_str(), k.region.as_deref()),
            ("abc123def456", Some("eu-west-1"))
        );
        assert_eq!(
            ProfileKey::new(ARN, Some("us-east-1")).unwrap_err().field.as_deref(),
            Some("region")
        );
    }

    #[test]
    fn a_percent_encoded_arn_in_a_path_comes_back_intact() {
        let encoded = utf8_percent_encode(ARN, NON_ALPHANUMERIC).to_string();
        assert!(encoded.contains("%2F") && encoded.contains("%3A"));
        assert_eq!(ProfileKey::from_path(&encoded, None).unwrap().arn.as_deref(), Some(ARN));
        let k = ProfileKey::new(ARN, None).unwrap();
        let path = k.to_path();
        let back = ProfileKey::from_path(path.trim_start_matches("/v1/profiles/"), None).unwrap();
        assert_eq!(back, k);
    }

    #[test]
    fn malformed_keys_and_parameters_name_their_field() {
        for bad in [
            "",
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/x",
            "a/b",
            "x y",
            &"a".repeat(65),
        ] {
            assert_eq!(
                ProfileKey::new(bad, None).unwrap_err().field.as_deref(),
                Some("profile"),
                "{bad}"
            );
        }
        assert_eq!(
            ProfileKey::from_path("abc", Some("zone=x"))
                .unwrap_err()
                .field
                .as_deref(),
            Some("zone")
        );
        let doc = Json::parse(br#"{"profile": 1}"#).unwrap();
        assert_eq!(
            ProfileKey::from_json(&doc).unwrap_err().field.as_deref(),
            Some("profile")
        );
        let doc = Json::parse(br#"{"profile": "abc", "region": "eu-west-1"}"#).unwrap();
        let k = ProfileKey::from_json(&doc).unwrap();
        assert_eq!((k.id.as_str(), k.region.as_deref()), ("abc", Some("eu-west-1")));
        assert_eq!(k.to_path(), "/v1/profiles/abc?region=eu%2Dwest%2D1");
    }
}
