//! Strings and tag objects read from a published snapshot without a copy each.
//!
//! serde's `Cow<str>` borrows from the input only as a field's own type: inside an `Option`, a
//! `Vec` or a map it always allocates a `String`. A snapshot holds a few tag keys and values per
//! profile, each interned at once, so those copies were most of a read's allocations
//! (docs/performance.md). [`Text`] borrows wherever JSON allows it (a string without escapes),
//! and [`Pairs`] keeps a tag object as its list of pairs instead of building a map per profile.

use serde::de::{Deserialize, Deserializer, Error, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A JSON string, borrowed from the document unless it holds escapes.
#[derive(Debug)]
pub(super) struct Text<'a>(pub(super) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(s)))
    }

    fn visit_str<E: Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E: Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(s)))
    }
}

/// A JSON object of strings, as its pairs in the document's order. A key given twice stays
/// twice; [`crate::profile::Profile::from_arn`] keeps the last, as a map would have.
#[derive(Debug)]
pub(super) struct Pairs<'a>(pub(super) Vec<(Text<'a>, Text<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PairsVisitor)
    }
}

struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Pairs<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of strings")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        // A format's size hint is capped, so that no input reserves much; serde_json gives none.
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(4).min(64));
        while let Some(pair) = map.next_entry::<Text<'de>, Text<'de>>()? {
            pairs.push(pair);
        }
        Ok(Pairs(pairs))
    }
}

impl Pairs<'_> {
    /// The pairs as string slices.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&*k.0, &*v.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_without_escapes_is_borrowed_and_one_with_escapes_is_decoded() {
        let texts: Vec<Text<'_>> = serde_json::from_str(r#"["plain", "tab\tand \u00e9"]"#).expect("parses");
        assert!(matches!(texts[0].0, Cow::Borrowed("plain")));
        assert!(matches!(&texts[1].0, Cow::Owned(s) if s == "tab\tand é"));
    }

    #[test]
    fn a_tag_object_keeps_its_pairs_in_order_with_repeated_keys() {
        let pairs: Pairs<'_> = serde_json::from_str(r#"{"b": "1", "a": "2", "b": "3"}"#).expect("parses");
        let got: Vec<(&str, &str)> = pairs.iter().collect();
        assert_eq!(got, [("b", "1"), ("a", "2"), ("b", "3")]);
    }

    #[test]
    fn a_tag_value_that_is_not_a_string_is_refused() {
        for bad in [r#"{"a": 1}"#, r#"{"a": null}"#, r#"["a"]"#, r#"{"a": ["b"]}"#] {
            assert!(serde_json::from_str::<Pairs<'_>>(bad).is_err(), "{bad}");
        }
    }
}
