//! Query parsing: the JSON and query-string forms, every limit at its edge and one past it.

use super::*;
use crate::error::ErrorCode;

fn parse(body: &str) -> Result<Query, ApiError> {
    Query::from_json_bytes(body.as_bytes())
}

fn field_of(result: Result<Query, ApiError>) -> String {
    let err = result.expect_err("should be rejected");
    assert_eq!(err.code, ErrorCode::InvalidQuery);
    err.field.expect("InvalidQuery names its field")
}

fn one_of(values: &[&str]) -> ValueFilter {
    ValueFilter::OneOf(values.iter().map(|v| (*v).to_owned()).collect())
}

#[test]
fn string_array_and_empty_array_values_parse_to_their_filters() {
    let q = parse(r#"{"tags": {"dept": "claims", "app": ["b", "a", "b"], "tenant": []}}"#).unwrap();
    assert_eq!(q.tags["dept"], one_of(&["claims"]));
    assert_eq!(
        q.tags["app"],
        one_of(&["a", "b"]),
        "values are sorted and de-duplicated"
    );
    assert_eq!(q.tags["tenant"], ValueFilter::AnyValue);
    assert_eq!(q.mode, MatchMode::One);
    assert_eq!(q.region, None);
}

#[test]
fn canonical_form_ignores_key_and_value_order() {
    let a = parse(r#"{"tags": {"b": ["2", "1"], "a": "x"}, "match": "all"}"#).unwrap();
    let b = parse(r#"{"match": "all", "tags": {"a": ["x"], "b": ["1", "2", "1"]}}"#).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(a.to_string(), r#"{"tags":{"a":["x"],"b":["1","2"]},"match":"all"}"#);
}

#[test]
fn the_canonical_form_parses_back_to_the_same_query() {
    let q = parse(r#"{"tags": {"k": [], "j": ["b", "a"]}, "region": "eu-west-1", "match": "all"}"#).unwrap();
    assert_eq!(parse(&q.to_string()).unwrap(), q);
}

#[test]
fn no_keys_is_allowed_only_with_match_all() {
    assert_eq!(field_of(parse(r#"{"tags": {}}"#)), "tags");
    assert_eq!(field_of(parse("{}")), "tags");
    assert!(parse(r#"{"tags": {}, "match": "all"}"#).unwrap().tags.is_empty());
    assert!(parse(r#"{"match": "all"}"#).is_ok());
}

#[test]
fn fifty_keys_pass_and_fifty_one_fail() {
    let body = |n: usize| {
        let tags: Vec<String> = (0..n).map(|i| format!(r#""k{i}": "v""#)).collect();
        format!(r#"{{"tags": {{{}}}}}"#, tags.join(","))
    };
    assert_eq!(parse(&body(50)).unwrap().tags.len(), 50);
    assert_eq!(field_of(parse(&body(51))), "tags");
}

#[test]
fn twenty_values_pass_and_twenty_one_fail() {
    let body = |n: usize| {
        let values: Vec<String> = (0..n).map(|i| format!(r#""v{i}""#)).collect();
        format!(r#"{{"tags": {{"k": [{}]}}}}"#, values.join(","))
    };
    assert!(parse(&body(20)).is_ok());
    assert_eq!(field_of(parse(&body(21))), "tags.k");
}

#[test]
fn key_length_is_counted_in_characters_from_one_to_128() {
    let with_key = |k: &str| format!(r#"{{"tags": {{"{k}": "v"}}}}"#);
    assert!(
        parse(&with_key(&"é".repeat(128))).is_ok(),
        "128 two-byte characters are 128 characters"
    );
    assert!(parse(&with_key(&"k".repeat(128))).is_ok());
    assert_eq!(
        field_of(parse(&with_key(&"k".repeat(129)))),
        format!("tags.{}", "k".repeat(129))
    );
    assert_eq!(field_of(parse(&with_key(""))), "tags.");
}

#[test]
fn value_length_is_counted_in_characters_from_zero_to_256() {
    let with_value = |v: &str| format!(r#"{{"tags": {{"k": "{v}"}}}}"#);
    assert_eq!(
        parse(&with_value("")).unwrap().tags["k"],
        one_of(&[""]),
        "an empty value is a value"
    );
    assert!(parse(&with_value(&"ü".repeat(256))).is_ok());
    assert_eq!(field_of(parse(&with_value(&"v".repeat(257)))), "tags.k");
}

#[test]
fn keys_and_values_are_kept_exactly_without_trimming_or_folding() {
    let q = parse(r#"{"tags": {" Dept ": "Claims ", "e\u0301": "x"}}"#).unwrap();
    assert!(q.tags.contains_key(" Dept "));
    assert_eq!(q.tags[" Dept "], one_of(&["Claims "]));
    assert!(q.tags.contains_key("e\u{301}"), "no Unicode normalisation to é");
}

#[test]
fn wrong_types_name_the_field() {
    assert_eq!(field_of(parse(r#"{"tags": {"k": 1}}"#)), "tags.k");
    assert_eq!(field_of(parse(r#"{"tags": {"k": null}}"#)), "tags.k");
    assert_eq!(field_of(parse(r#"{"tags": {"k": ["a", 2]}}"#)), "tags.k[1]");
    assert_eq!(field_of(parse(r#"{"tags": ["k"]}"#)), "tags");
    assert_eq!(field_of(parse(r#"{"tags": {"k": "v"}, "region": 5}"#)), "region");
    assert_eq!(field_of(parse(r#"{"tags": {"k": "v"}, "match": "first"}"#)), "match");
    assert_eq!(field_of(parse(r#"["k"]"#)), "body");
}

#[test]
fn unknown_and_duplicate_fields_are_rejected_not_ignored() {
    assert_eq!(field_of(parse(r#"{"tags": {"k": "v"}, "tagz": {}}"#)), "tagz");
    assert_eq!(field_of(parse(r#"{"tags": {"k": "v", "k": "w"}}"#)), "tags.k");
    assert_eq!(field_of(parse(r#"{"tags": {"k": "v"}, "tags": {"j": "w"}}"#)), "tags");
}

#[test]
fn malformed_json_is_a_body_error() {
    for body in ["", "{", "{\"tags\": }", "nul", "{\"tags\": {\"k\": \"v\"}} x"] {
        assert_eq!(field_of(parse(body)), "body", "{body:?}");
    }
}

#[test]
fn region_must_look_like_a_region() {
    assert_eq!(
        parse(r#"{"tags": {"k": "v"}, "region": "eu-west-1"}"#)
            .unwrap()
            .region
            .as_deref(),
        Some("eu-west-1")
    );
    for bad in ["", "EU-WEST-1", "eu west 1", "../etc", "-x"] {
        assert_eq!(
            field_of(parse(&format!(r#"{{"tags": {{"k": "v"}}, "region": "{bad}"}}"#))),
            "region"
        );
    }
}

#[test]
fn query_string_repeats_a_key_for_or_and_reads_region_and_match() {
    let q = Query::from_query_string("tag:app=b&tag:dept=claims&tag:app=a&region=eu-west-1&match=all").unwrap();
    assert_eq!(q.tags["app"], one_of(&["a", "b"]));
    assert_eq!(q.tags["dept"], one_of(&["claims"]));
    assert_eq!(q.region.as_deref(), Some("eu-west-1"));
    assert_eq!(q.mode, MatchMode::All);
}

#[test]
fn query_string_decodes_percent_escapes_and_plus() {
    let q = Query::from_query_string("tag:cost%20center=a+b%2Bc&tag:%E6%97%A5=%E6%9C%AC").unwrap();
    assert_eq!(q.tags["cost center"], one_of(&["a b+c"]));
    assert_eq!(q.tags["日"], one_of(&["本"]));
}

#[test]
fn query_string_key_without_equals_or_tag_key_means_any_value() {
    let a = Query::from_query_string("tag:tenant&tag:app=x").unwrap();
    let b = Query::from_query_string("tag-key=tenant&tag:app=x").unwrap();
    assert_eq!(a.tags["tenant"], ValueFilter::AnyValue);
    assert_eq!(a, b);
    let empty = Query::from_query_string("tag:tenant=").unwrap();
    assert_eq!(empty.tags["tenant"], one_of(&[""]), "tag:k= asks for the empty value");
}

#[test]
fn query_string_errors_name_the_parameter() {
    let field = |qs: &str| field_of(Query::from_query_string(qs));
    assert_eq!(field("tag:a=1&colour=red"), "colour");
    assert_eq!(field("tag:a=1&match=one&match=all"), "match");
    assert_eq!(field("tag:a=1&region=us-east-1&region=eu-west-1"), "region");
    assert_eq!(field("tag:a=1&tag:a"), "tag:a");
    assert_eq!(field("tag:a=%FF"), "tag:a");
    assert_eq!(field(""), "tags");
    assert_eq!(
        field(&format!("tag:{}=v", "k".repeat(129))),
        format!("tags.{}", "k".repeat(129))
    );
}

#[test]
fn batch_checks_its_envelope_and_parses_each_query_on_its_own() {
    let items = parse_batch(br#"{"queries": [{"tags": {"a": "1"}}, {"tags": {"a": 2}}]}"#).unwrap();
    assert!(items[0].is_ok());
    assert_eq!(
        items[1].as_ref().unwrap_err().field.as_deref(),
        Some("queries[1].tags.a")
    );

    let envelope = |body: &str| parse_batch(body.as_bytes()).unwrap_err().field.unwrap();
    assert_eq!(envelope(r#"{"queries": []}"#), "queries");
    assert_eq!(envelope(r#"{}"#), "queries");
    assert_eq!(envelope(r#"{"queries": {}}"#), "queries");
    assert_eq!(envelope(r#"{"queries": [], "x": 1}"#), "x");
    let hundred_one = format!(r#"{{"queries": [{}]}}"#, vec![r#"{"tags": {"a": "1"}}"#; 101].join(","));
    assert_eq!(envelope(&hundred_one), "queries");
    let hundred = format!(r#"{{"queries": [{}]}}"#, vec![r#"{"tags": {"a": "1"}}"#; 100].join(","));
    assert_eq!(parse_batch(hundred.as_bytes()).unwrap().len(), 100);
}
