//! The publisher binary: what a change event, an unchanged region, a burst and a failed build
//! do to the published objects.

use super::*;
use harness::harness::fleet::{get_object, put_object, s3_auth};

#[test]
fn moto_answers_a_conditional_get_of_an_unchanged_object_with_304() {
    let w = World::start("fleet-moto-304");
    let etag = put_object(&w.moto.url, BUCKET, "probe.json", b"{\"a\":1}").unwrap();
    assert!(!etag.is_empty());
    let reply = http::request(
        &w.moto.url,
        "GET",
        &format!("/{BUCKET}/probe.json"),
        &[("authorization", &s3_auth(REGION)), ("if-none-match", &etag)],
        b"",
    )
    .unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (304, ""));
    assert_eq!(get_object(&w.moto.url, BUCKET, "probe.json").unwrap().status, 200);
}

#[test]
fn a_change_event_through_sqs_leads_to_a_new_snapshot_object() {
    let w = World::start("fleet-change-event");
    let publisher = w.publisher(&[]);
    let first = publisher
        .invoke(json!({"source": "profile-resolver.schedule"}))
        .unwrap()
        .unwrap();
    assert_eq!(first["regions"][0]["outcome"], "changed", "{first}");
    let (etag, body) = w.object("us-east-1.json");
    assert!(body.contains("\"tenant\":\"acme\""));

    w.tag(ACME, "tenant", "initech");
    let second = publisher.invoke(sqs(&[CLOUDTRAIL])).unwrap().unwrap();
    assert_eq!(
        (second["events"].as_u64(), second["regions"][0]["outcome"].as_str()),
        (Some(1), Some("changed"))
    );
    let (new_etag, new_body) = w.object("us-east-1.json");
    assert_ne!(new_etag, etag);
    assert!(new_body.contains("\"tenant\":\"initech\""), "{}", &new_body[..300]);
    let (_, beat) = w.object("us-east-1.heartbeat.json");
    let beat: Value = serde_json::from_str(&beat).unwrap();
    assert_eq!(
        beat["account"], "123456789012",
        "the account comes from the function ARN"
    );
    assert_eq!(beat["intervalSeconds"], 300);
}

#[test]
fn an_unchanged_region_writes_no_new_content_only_a_heartbeat() {
    let w = World::start("fleet-unchanged");
    let publisher = w.publisher(&[]);
    publisher.invoke(json!({})).unwrap().unwrap();
    let (etag, _) = w.object("us-east-1.json");
    let (beat_etag, _) = w.object("us-east-1.heartbeat.json");
    std::thread::sleep(Duration::from_millis(5));
    let again = publisher.invoke(json!({})).unwrap().unwrap();
    assert_eq!(again["regions"][0]["outcome"], "unchanged", "{again}");
    assert_eq!(w.object("us-east-1.json").0, etag);
    assert_ne!(
        w.object("us-east-1.heartbeat.json").0,
        beat_etag,
        "the heartbeat names the new listing"
    );
    let puts = |suffix: &str| {
        w.s3.seen()
            .iter()
            .filter(|s| s.method == "PUT" && s.path.ends_with(suffix))
            .count()
    };
    assert_eq!((puts("/us-east-1.json"), puts("/us-east-1.heartbeat.json")), (1, 2));
}

#[test]
fn a_burst_of_fifty_change_events_is_one_build() {
    let w = World::start("fleet-burst");
    let publisher = w.publisher(&[]);
    w.emu.clear_calls().unwrap();
    let out = publisher.invoke(sqs(&[CLOUDTRAIL; 50])).unwrap().unwrap();
    assert_eq!(out["events"], 50);
    assert_eq!(out["regions"].as_array().map(Vec::len), Some(1));
    // 151 profiles: the two pages of GetResources and the one of ListInferenceProfiles, once.
    assert_eq!(w.emu.calls("GetResources", REGION).unwrap(), 2);
    assert_eq!(w.emu.calls("ListInferenceProfiles", REGION).unwrap(), 1);
}

#[test]
fn a_failed_build_never_overwrites_a_good_snapshot() {
    let w = World::start("fleet-failed-build");
    let publisher = w.publisher(&[("PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS", "1000")]);
    publisher.invoke(json!({})).unwrap().unwrap();
    let (snapshot, beat) = (w.object("us-east-1.json"), w.object("us-east-1.heartbeat.json"));
    w.tag(ACME, "tenant", "initech");
    w.emu
        .set_fault(json!({"operation": "GetResources", "down": true}))
        .unwrap();
    let err = publisher.invoke(sqs(&[TAG_CHANGE, CLOUDTRAIL])).unwrap().unwrap_err();
    assert_eq!(err["errorType"], "PublishFailed", "{err}");
    assert!(
        err["errorMessage"].as_str().unwrap_or("").contains("us-east-1"),
        "{err}"
    );
    assert_eq!(w.object("us-east-1.json"), snapshot);
    assert_eq!(w.object("us-east-1.heartbeat.json"), beat);
}
