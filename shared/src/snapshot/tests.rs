//! Matching semantics and the join, on small hand-made snapshots.

use super::*;
use crate::query::Query;

const ACCOUNT: &str = "123456789012";

fn arn(id: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/{id}")
}

fn tagged(id: &str, tags: &[(&str, &str)]) -> TaggedResource {
    TaggedResource {
        arn: arn(id),
        tags: tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
    }
}

fn listed(id: &str) -> CatalogEntry {
    CatalogEntry {
        arn: arn(id),
        name: format!("name-{id}"),
        status: Some("ACTIVE".into()),
        models: vec!["arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku".into()],
    }
}

fn q(body: &str) -> Query {
    Query::from_json_bytes(body.as_bytes()).unwrap()
}

fn ids(s: &Snapshot, query: &str) -> Vec<String> {
    s.matches(&q(query))
        .iter()
        .map(|&i| s.get(i).unwrap().id().unwrap().to_owned())
        .collect()
}

/// claims/acme/chat, claims/acme/batch, claims/globex/chat, legal/acme/chat, plus one with an
/// empty `env` value and one with a Unicode tenant.
fn org() -> Snapshot {
    let tagged = vec![
        tagged("p4", &[("dept", "legal"), ("tenant", "acme"), ("app", "chat")]),
        tagged("p1", &[("dept", "claims"), ("tenant", "acme"), ("app", "chat")]),
        tagged("p2", &[("dept", "claims"), ("tenant", "acme"), ("app", "batch")]),
        tagged("p3", &[("dept", "claims"), ("tenant", "globex"), ("app", "chat")]),
        tagged("p5", &[("dept", "claims"), ("env", "")]),
        tagged("p6", &[("tenant", "Ünïcode")]),
    ];
    let catalog = ["p1", "p2", "p3", "p4", "p5", "p6"].map(listed).to_vec();
    Snapshot::join(tagged, Some(catalog)).0
}

#[test]
fn keys_are_anded() {
    assert_eq!(
        ids(&org(), r#"{"tags": {"dept": "claims", "tenant": "acme"}}"#),
        ["p1", "p2"]
    );
    assert_eq!(
        ids(
            &org(),
            r#"{"tags": {"dept": "claims", "tenant": "acme", "app": "chat"}}"#
        ),
        ["p1"]
    );
}

#[test]
fn values_of_one_key_are_ored() {
    assert_eq!(
        ids(&org(), r#"{"tags": {"tenant": ["globex", "acme"], "app": "chat"}}"#),
        ["p1", "p3", "p4"]
    );
}

#[test]
fn key_only_filter_needs_the_key_with_any_value() {
    assert_eq!(ids(&org(), r#"{"tags": {"env": []}}"#), ["p5"]);
    assert_eq!(ids(&org(), r#"{"tags": {"app": [], "tenant": "globex"}}"#), ["p3"]);
}

#[test]
fn matching_is_case_sensitive() {
    assert!(ids(&org(), r#"{"tags": {"Dept": "claims"}}"#).is_empty());
    assert!(ids(&org(), r#"{"tags": {"dept": "Claims"}}"#).is_empty());
}

#[test]
fn an_empty_value_matches_only_an_empty_value() {
    assert_eq!(ids(&org(), r#"{"tags": {"env": ""}}"#), ["p5"]);
    assert!(ids(&org(), r#"{"tags": {"dept": ""}}"#).is_empty());
}

#[test]
fn unicode_values_match_exactly() {
    assert_eq!(ids(&org(), r#"{"tags": {"tenant": "Ünïcode"}}"#), ["p6"]);
    assert!(ids(&org(), r#"{"tags": {"tenant": "Unicode"}}"#).is_empty());
}

#[test]
fn an_unknown_key_or_value_matches_nothing() {
    assert!(ids(&org(), r#"{"tags": {"nope": "x"}}"#).is_empty());
    assert!(ids(&org(), r#"{"tags": {"dept": "claims", "tenant": "nobody"}}"#).is_empty());
}

#[test]
fn no_keys_lists_every_profile_in_arn_order() {
    assert_eq!(ids(&org(), r#"{"match": "all"}"#), ["p1", "p2", "p3", "p4", "p5", "p6"]);
}

#[test]
fn ghosts_with_empty_tag_lists_are_dropped() {
    let (s, dropped) = Snapshot::join(
        vec![tagged("p1", &[("a", "1")]), tagged("gone", &[])],
        Some(vec![listed("p1"), listed("gone")]),
    );
    assert_eq!(s.len(), 1);
    assert_eq!(dropped, 1);
}

#[test]
fn profiles_bedrock_no_longer_lists_are_dropped() {
    let (s, _) = Snapshot::join(
        vec![tagged("p1", &[("a", "1")]), tagged("p2", &[("a", "1")])],
        Some(vec![listed("p2")]),
    );
    assert_eq!(ids(&s, r#"{"tags": {"a": "1"}}"#), ["p2"]);
}

#[test]
fn the_join_adds_name_status_and_models() {
    let s = org();
    let p = &s.profiles()[0];
    assert_eq!(p.name.as_deref(), Some("name-p1"));
    assert_eq!(p.status.as_deref(), Some("ACTIVE"));
    assert_eq!(p.models.as_ref().unwrap().len(), 1);
    assert_eq!(p.account_id(), ACCOUNT);
    assert_eq!(p.region(), "us-east-1");
}

#[test]
fn without_the_catalogue_profiles_carry_tags_alone() {
    let (s, dropped) = Snapshot::join(vec![tagged("p1", &[("a", "1")])], None);
    assert_eq!(dropped, 0);
    let p = &s.profiles()[0];
    assert_eq!(
        (p.name.as_ref(), p.status.as_ref(), p.models.as_ref()),
        (None, None, None)
    );
    assert_eq!(p.id(), Some("p1"));
}

#[test]
fn non_profile_arns_and_duplicates_are_dropped() {
    let mut odd = tagged("x", &[("a", "1")]);
    odd.arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.model".into();
    let (s, _) = Snapshot::join(
        vec![odd, tagged("p1", &[("a", "1")]), tagged("p1", &[("a", "1")])],
        None,
    );
    assert_eq!(ids(&s, r#"{"tags": {"a": "1"}, "match": "all"}"#), ["p1"]);
}

#[test]
fn positions_by_arn_and_by_id_are_found_across_accounts() {
    let mut interner = crate::profile::Interner::default();
    let mut profiles = Vec::new();
    for (account, id) in [
        ("111111111111", "b2"),
        ("222222222222", "a1"),
        ("111111111111", "a1"),
        ("222222222222", "c3"),
    ] {
        let arn = format!("arn:aws:bedrock:us-east-1:{account}:application-inference-profile/{id}");
        profiles.push(Profile::from_arn(&arn, vec![("k".to_owned(), "v".to_owned())], false, &mut interner).unwrap());
    }
    let s = Snapshot::new(Origin::TaggingApi, profiles);
    let arn = "arn:aws:bedrock:us-east-1:222222222222:application-inference-profile/c3";
    let pos = s.position(arn).unwrap();
    assert_eq!(&*s.get(pos).unwrap().arn, arn);
    assert_eq!(
        s.position("arn:aws:bedrock:us-east-1:222222222222:application-inference-profile/zz"),
        None
    );
    let c3 = s.position_of_id("c3").unwrap();
    assert_eq!(&*s.get(c3).unwrap().arn, arn);
    let b2 = s.position_of_id("b2").unwrap();
    assert!(
        s.get(b2)
            .unwrap()
            .arn
            .ends_with("111111111111:application-inference-profile/b2")
    );
    assert_eq!(s.position_of_id("zz"), None);
}
