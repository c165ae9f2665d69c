//! The wire format: a round trip, and every reason to refuse an object.

use super::*;
use crate::source::{CatalogEntry, TaggedResource};

const REGION: &str = "us-east-1";

fn arn(id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:123456789012:application-inference-profile/{id}")
}

fn snapshot() -> Snapshot {
    let tagged = vec![
        TaggedResource {
            arn: arn("b2"),
            tags: vec![("tenant".into(), "globex".into())],
        },
        TaggedResource {
            arn: arn("a1"),
            tags: vec![("tenant".into(), "acme".into()), ("app".into(), "chat \"bot\"".into())],
        },
    ];
    let catalog = vec![CatalogEntry {
        arn: arn("a1"),
        name: "acme-chat".into(),
        status: Some("ACTIVE".into()),
        models: vec!["arn:aws:bedrock:us-east-1::foundation-model/m".into()],
    }];
    let (s, _) = Snapshot::join(tagged, None);
    let (with_catalog, _) = Snapshot::join(
        vec![TaggedResource {
            arn: arn("a1"),
            tags: vec![("tenant".into(), "acme".into())],
        }],
        Some(catalog),
    );
    let mut profiles = s.profiles().to_vec();
    profiles[0].name = with_catalog.profiles()[0].name.clone();
    profiles[0].status = with_catalog.profiles()[0].status.clone();
    profiles[0].models = with_catalog.profiles()[0].models.clone();
    Snapshot::new(Origin::TaggingApi, profiles)
}

fn started() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_795_000_000_123)
}

#[test]
fn a_snapshot_reads_back_as_written_with_its_listing_time() {
    let original = snapshot();
    let encoded = encode(&original, REGION, Some("123456789012"), started());
    let decoded = decode(&encoded.body, REGION, None).unwrap();
    assert_eq!(decoded.snapshot.profiles(), original.profiles());
    assert_eq!(decoded.listing_started, started());
    assert_eq!(decoded.content_hash, encoded.content_hash);
    assert_eq!(encoded.profile_count, 2);
}

#[test]
fn the_same_profiles_hash_the_same_whenever_they_are_listed() {
    let a = encode(&snapshot(), REGION, None, started());
    let b = encode(&snapshot(), REGION, None, started() + Duration::from_secs(300));
    assert_eq!(a.content_hash, b.content_hash);
    assert_ne!(a.body, b.body, "the listing time is part of the object");
}

fn refusal(bytes: &[u8], region: &str) -> String {
    decode(bytes, region, None).unwrap_err().0
}

#[test]
fn a_truncated_object_is_refused() {
    let body = encode(&snapshot(), REGION, None, started()).body;
    let why = refusal(&body[..body.len() - 10], REGION);
    assert!(why.contains("not valid JSON"), "{why}");
}

#[test]
fn another_schema_version_is_refused_naming_both_versions() {
    let body = String::from_utf8(encode(&snapshot(), REGION, None, started()).body).unwrap();
    let why = refusal(
        body.replace("\"schemaVersion\":1", "\"schemaVersion\":2").as_bytes(),
        REGION,
    );
    assert!(why.contains("schema version 2") && why.contains("reads 1"), "{why}");
}

#[test]
fn another_regions_object_is_refused() {
    let body = encode(&snapshot(), REGION, None, started()).body;
    let why = refusal(&body, "eu-west-1");
    assert!(why.contains("holds region us-east-1, expected eu-west-1"), "{why}");
}

#[test]
fn a_changed_byte_in_the_profiles_fails_the_hash() {
    let body = String::from_utf8(encode(&snapshot(), REGION, None, started()).body).unwrap();
    let tampered = body.replace("\"globex\"", "\"acme!!\"");
    assert_ne!(tampered, body);
    assert!(refusal(tampered.as_bytes(), REGION).contains("content hash mismatch"));
}

#[test]
fn a_profile_of_another_region_or_account_refuses_the_whole_object() {
    let mut foreign = snapshot().profiles().to_vec();
    let mut interner = Interner::default();
    foreign.push(
        Profile::from_arn(
            "arn:aws:bedrock:us-east-1:999999999999:application-inference-profile/z9",
            [("tenant", "acme")],
            false,
            &mut interner,
        )
        .unwrap(),
    );
    let body = encode(
        &Snapshot::new(Origin::TaggingApi, foreign),
        REGION,
        Some("123456789012"),
        started(),
    )
    .body;
    let why = refusal(&body, REGION);
    assert!(why.contains("999999999999"), "{why}");
}

#[test]
fn a_heartbeat_reads_back_and_refuses_another_region() {
    let beat = Beat {
        schema_version: SCHEMA_VERSION,
        region: REGION.into(),
        account: None,
        listing_started_at: format_time(started()),
        published_at: format_time(started()),
        content_hash: "sha256:00".into(),
        content_etag: Some("\"e1\"".into()),
        profile_count: 0,
        interval_seconds: 300,
    };
    let (back, at) = Beat::decode(&beat.encode(), REGION).unwrap();
    assert_eq!((back, at), (beat.clone(), started()));
    assert!(Beat::decode(&beat.encode(), "eu-west-1").is_err());
    assert!(Beat::decode(b"{\"schemaVersion\":1", REGION).is_err());
}

#[test]
fn a_tag_given_twice_keeps_its_last_value_and_escaped_strings_are_decoded() {
    let profiles = format!(
        r#"[{{"arn":"{}","status":"ACT\u0049VE","tags":{{"tenant":"acme","app":"caf\u00e9","tenant":"globex"}}}}]"#,
        arn("a1")
    );
    let body = format!(
        r#"{{"schemaVersion":1,"region":"{REGION}","listingStartedAt":"{}","contentHash":"{}","profileCount":1,"profiles":{profiles}}}"#,
        format_time(started()),
        hash(profiles.as_bytes())
    );
    let decoded = decode(body.as_bytes(), REGION, None).unwrap();
    let p = &decoded.snapshot.profiles()[0];
    let tags: Vec<(&str, &str)> = p.tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    assert_eq!(tags, [("app", "café"), ("tenant", "globex")]);
    assert_eq!(p.status.as_deref(), Some("ACTIVE"));
}

#[test]
fn a_reader_pinned_to_its_account_refuses_another_accounts_object_whole() {
    let mine = Some("123456789012");
    let named = encode(&snapshot(), REGION, Some("123456789012"), started());
    assert!(decode(&named.body, REGION, mine).is_ok());
    let why = decode(&named.body, REGION, Some("210987654321")).unwrap_err().0;
    assert!(
        why.contains("account 123456789012") && why.contains("210987654321"),
        "{why}"
    );
    // A document that names no account is checked against the reader's through its ARNs.
    let unnamed = encode(&snapshot(), REGION, None, started());
    assert!(decode(&unnamed.body, REGION, mine).is_ok());
    let why = decode(&unnamed.body, REGION, Some("210987654321")).unwrap_err().0;
    assert!(
        why.contains("is not in region us-east-1 of account 210987654321"),
        "{why}"
    );
}
