//! Queries: tag filters, a region and a match mode, parsed from a JSON body or a query string and
//! validated against the contract's limits. A parsed [`Query`] is canonical: keys sorted, values
//! sorted and de-duplicated.

pub mod json;
pub mod reverse;

use crate::error::ApiError;
use json::Json;
use percent_encoding::percent_decode_str;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// At most this many tag keys per query.
pub const MAX_KEYS: usize = 50;
/// At most this many values per key.
pub const MAX_VALUES_PER_KEY: usize = 20;
/// A key is 1 to this many characters.
pub const MAX_KEY_CHARS: usize = 128;
/// A value is 0 to this many characters.
pub const MAX_VALUE_CHARS: usize = 256;
/// A batch holds 1 to this many queries.
pub const MAX_BATCH: usize = 100;
/// The largest request body, in bytes, that the extension and the function accept.
pub const MAX_BODY: usize = 64 * 1024;

/// How many profiles a query wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// Exactly one profile: none is `NoMatch`, several is `AmbiguousMatch`.
    #[default]
    One,
    /// Every matching profile, possibly none.
    All,
}

impl MatchMode {
    fn parse(field: &str, s: &str) -> Result<Self, ApiError> {
        match s {
            "one" => Ok(Self::One),
            "all" => Ok(Self::All),
            _ => Err(ApiError::invalid(field, "must be \"one\" or \"all\"")),
        }
    }
}

/// What one tag key must carry. Serialises as the JSON body form: `[]` or `["v1", "v2"]`, so a
/// canonical query can be sent on as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ValueFilter {
    /// The key must be present, with any value (`"k": []`).
    AnyValue,
    /// The key's value must be one of these (sorted, de-duplicated, never empty).
    OneOf(Vec<String>),
}

impl Serialize for ValueFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::AnyValue => s.collect_seq(std::iter::empty::<&str>()),
            Self::OneOf(values) => s.collect_seq(values),
        }
    }
}

/// A validated, canonical query.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Query {
    /// Filters by key; every key must match (AND).
    pub tags: BTreeMap<String, ValueFilter>,
    /// The region asked for; `None` means the default region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The match mode.
    #[serde(rename = "match")]
    pub mode: MatchMode,
}

impl fmt::Display for Query {
    /// The canonical form, used in logs and as a cache key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

/// A raw filter before validation: the values as given, or key-only.
type RawFilters = Vec<(String, Option<Vec<String>>)>;

impl Query {
    /// Parses a `POST /v1/resolve` body.
    ///
    /// # Errors
    /// `InvalidQuery` naming the field at fault.
    pub fn from_json_bytes(body: &[u8]) -> Result<Self, ApiError> {
        let doc = Json::parse(body).map_err(|e| ApiError::invalid("body", e))?;
        Self::from_json(&doc, "")
    }

    /// Parses one query from a JSON value. `path` prefixes field names (`queries[2].`).
    ///
    /// # Errors
    /// `InvalidQuery` naming the field at fault.
    pub fn from_json(doc: &Json, path: &str) -> Result<Self, ApiError> {
        let Json::Object(members) = doc else {
            let field = if path.is_empty() {
                "body"
            } else {
                path.trim_end_matches('.')
            };
            return Err(ApiError::invalid(
                field,
                format!("must be an object, not {}", doc.kind()),
            ));
        };
        let mut tags: Option<RawFilters> = None;
        let mut region = None;
        let mut mode = None;
        for (name, value) in members {
            let field = format!("{path}{name}");
            let seen = match name.as_str() {
                "tags" => tags.replace(json_tags(value, &field)?).is_some(),
                "region" => region.replace(json_string(value, &field)?).is_some(),
                "match" => mode
                    .replace(MatchMode::parse(&field, &json_string(value, &field)?)?)
                    .is_some(),
                _ => return Err(ApiError::invalid(field, "unknown field")),
            };
            if seen {
                return Err(ApiError::invalid(field, "given more than once"));
            }
        }
        Self::build(tags.unwrap_or_default(), region, mode.unwrap_or_default(), path)
    }

    /// Parses `GET /v1/resolve` parameters from a raw (percent-encoded) query string.
    ///
    /// `tag:{key}={value}` adds a value (repeat for OR); `tag:{key}` with no `=`, or
    /// `tag-key={key}`, asks for the key with any value; `region` and `match` as in JSON.
    ///
    /// # Errors
    /// `InvalidQuery` naming the parameter at fault.
    pub fn from_query_string(raw: &str) -> Result<Self, ApiError> {
        let mut pairs = Vec::new();
        for segment in raw.split('&').filter(|s| !s.is_empty()) {
            let (name, value) = match segment.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (segment, None),
            };
            let name = decode_component(name, "query string")?;
            let value = value.map(|v| decode_component(v, &name)).transpose()?;
            pairs.push((name, value));
        }
        Self::from_params(pairs)
    }

    /// Parses already-decoded query parameters, as API Gateway and ALB deliver them. A value of
    /// `None` means the parameter had no `=`.
    ///
    /// # Errors
    /// `InvalidQuery` naming the parameter at fault.
    pub fn from_params<I, K, V>(params: I) -> Result<Self, ApiError>
    where
        I: IntoIterator<Item = (K, Option<V>)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut filters: RawFilters = Vec::new();
        let mut region = None;
        let mut mode = None;
        for (name, value) in params {
            let name = name.as_ref();
            let value = value.as_ref().map(AsRef::as_ref);
            let (key, value) = if let Some(key) = name.strip_prefix("tag:") {
                (key, value)
            } else if name == "tag-key" {
                (value.unwrap_or_default(), None)
            } else {
                let once = |slot: &mut Option<String>| match slot.replace(value.unwrap_or_default().to_owned()) {
                    Some(_) => Err(ApiError::invalid(name, "given more than once")),
                    None => Ok(()),
                };
                match name {
                    "region" => once(&mut region)?,
                    "match" => once(&mut mode)?,
                    _ => return Err(ApiError::invalid(name, "unknown parameter")),
                }
                continue;
            };
            add_param_filter(&mut filters, key, value)?;
        }
        let mode = mode.map(|m| MatchMode::parse("match", &m)).transpose()?;
        Self::build(filters, region, mode.unwrap_or_default(), "")
    }

    /// Validates raw filters against the limits and builds the canonical query.
    fn build(filters: RawFilters, region: Option<String>, mode: MatchMode, path: &str) -> Result<Self, ApiError> {
        let field = |name: &str| format!("{path}{name}");
        if filters.is_empty() && mode == MatchMode::One {
            return Err(ApiError::invalid(
                field("tags"),
                "at least one tag key is required unless match is \"all\"",
            ));
        }
        if filters.len() > MAX_KEYS {
            return Err(ApiError::invalid(field("tags"), format!("at most {MAX_KEYS} keys")));
        }
        let mut tags = BTreeMap::new();
        for (key, values) in filters {
            // Built only for an error: this runs for every request.
            let key_field = || field(&format!("tags.{key}"));
            let n = key.chars().count();
            if n == 0 || n > MAX_KEY_CHARS {
                return Err(ApiError::invalid(
                    key_field(),
                    format!("a key is 1 to {MAX_KEY_CHARS} characters, this one has {n}"),
                ));
            }
            let filter = match values {
                None => ValueFilter::AnyValue,
                Some(values) if values.is_empty() => ValueFilter::AnyValue,
                Some(mut values) => {
                    if values.len() > MAX_VALUES_PER_KEY {
                        return Err(ApiError::invalid(
                            key_field(),
                            format!("at most {MAX_VALUES_PER_KEY} values per key"),
                        ));
                    }
                    if let Some(v) = values.iter().find(|v| v.chars().count() > MAX_VALUE_CHARS) {
                        return Err(ApiError::invalid(
                            key_field(),
                            format!(
                                "a value is 0 to {MAX_VALUE_CHARS} characters, one has {}",
                                v.chars().count()
                            ),
                        ));
                    }
                    values.sort_unstable();
                    values.dedup();
                    ValueFilter::OneOf(values)
                }
            };
            if tags.contains_key(&key) {
                return Err(ApiError::invalid(key_field(), "given more than once"));
            }
            tags.insert(key, filter);
        }
        if let Some(r) = &region {
            validate_region(r).map_err(|why| ApiError::invalid(field("region"), why))?;
        }
        Ok(Self { tags, region, mode })
    }
}

/// Checks the shape of a region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
pub(crate) fn validate_region(r: &str) -> Result<(), &'static str> {
    let ok = !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !r.starts_with('-')
        && !r.ends_with('-');
    if ok { Ok(()) } else { Err("is not a region name") }
}

/// Adds `tag:{key}[={value}]` to the filters: values accumulate (OR); no value asks for the key
/// with any value. Mixing the two for one key is ambiguous and rejected.
fn add_param_filter(filters: &mut RawFilters, key: &str, value: Option<&str>) -> Result<(), ApiError> {
    let conflict = || {
        ApiError::invalid(
            format!("tag:{key}"),
            "cannot ask for any value and for given values at once",
        )
    };
    let Some(i) = filters.iter().position(|(k, _)| k == key) else {
        filters.push((key.to_owned(), value.map(|v| vec![v.to_owned()])));
        return Ok(());
    };
    match (&mut filters[i].1, value) {
        (Some(values), Some(v)) => values.push(v.to_owned()),
        (None, None) => {}
        _ => return Err(conflict()),
    }
    Ok(())
}

/// A query-string component with `+` as a space and percent-escapes decoded; borrowed when
/// there is nothing to decode, which is the common case.
fn decode_component<'a>(raw: &'a str, field: &str) -> Result<Cow<'a, str>, ApiError> {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(raw));
    }
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| Cow::Owned(s.into_owned()))
        .map_err(|_| ApiError::invalid(field, "is not valid UTF-8 once percent-decoded"))
}

fn json_string(value: &Json, field: &str) -> Result<String, ApiError> {
    match value {
        Json::String(s) => Ok(s.clone()),
        other => Err(ApiError::invalid(
            field,
            format!("must be a string, not {}", other.kind()),
        )),
    }
}

/// Reads the `tags` object as raw filters. The limits and duplicate keys are checked once, in
/// [`Query::build`], for both the JSON and the query-string forms; field names for errors are
/// only formatted when there is an error.
fn json_tags(value: &Json, field: &str) -> Result<RawFilters, ApiError> {
    let Json::Object(members) = value else {
        return Err(ApiError::invalid(
            field,
            format!("must be an object, not {}", value.kind()),
        ));
    };
    members
        .iter()
        .map(|(key, v)| {
            let values = match v {
                Json::String(s) => vec![s.clone()],
                Json::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| match item {
                        Json::String(s) => Ok(s.clone()),
                        other => Err(ApiError::invalid(
                            format!("{field}.{key}[{i}]"),
                            format!("must be a string, not {}", other.kind()),
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                other => {
                    return Err(ApiError::invalid(
                        format!("{field}.{key}"),
                        format!("must be a string or an array of strings, not {}", other.kind()),
                    ));
                }
            };
            Ok((key.clone(), Some(values)))
        })
        .collect()
}

/// A batch body `{"queries": [...]}`: each query parsed on its own, so that one bad query fails
/// only its own slot.
///
/// # Errors
/// `InvalidQuery` when the envelope itself is wrong: not an object, no `queries`, or a count
/// outside 1 to 100.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Result<Query, ApiError>>, ApiError> {
    let doc = Json::parse(body).map_err(|e| ApiError::invalid("body", e))?;
    batch_from_json(&doc)
}

/// As [`parse_batch`], from a parsed document.
///
/// # Errors
/// `InvalidQuery` when the envelope is wrong.
pub fn batch_from_json(doc: &Json) -> Result<Vec<Result<Query, ApiError>>, ApiError> {
    let Json::Object(members) = doc else {
        return Err(ApiError::invalid(
            "body",
            format!("must be an object, not {}", doc.kind()),
        ));
    };
    let mut queries = None;
    for (name, value) in members {
        match name.as_str() {
            "queries" if queries.is_none() => queries = Some(value),
            "queries" => return Err(ApiError::invalid("queries", "given more than once")),
            _ => return Err(ApiError::invalid(name.as_str(), "unknown field")),
        }
    }
    let Some(queries) = queries else {
        return Err(ApiError::invalid("queries", "is required"));
    };
    let Json::Array(items) = queries else {
        return Err(ApiError::invalid(
            "queries",
            format!("must be an array, not {}", queries.kind()),
        ));
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "queries",
            format!("a batch holds 1 to {MAX_BATCH} queries, this one has {}", items.len()),
        ));
    }
    Ok(items
        .iter()
        .enumerate()
        .map(|(i, q)| Query::from_json(q, &format!("queries[{i}].")))
        .collect())
}

#[cfg(test)]
mod tests;
