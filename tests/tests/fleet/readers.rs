//! The real extension as a fleet reader: what it reads, how often it downloads, and what it does
//! when the publisher stops or writes something it must refuse.

use super::*;
use harness::harness::fleet::put_object;
use harness::harness::lambda::eventually;
use std::time::Instant;

fn tenant(answer: &Value) -> &str {
    answer["profile"]["tags"]["tenant"].as_str().unwrap_or("")
}

#[test]
fn a_retag_is_visible_within_one_reader_ttl_of_the_event_reaching_the_publisher() {
    let w = World::start("fleet-reader-retag");
    let publisher = w.publisher(&[]);
    publisher.invoke(json!({})).unwrap().unwrap();
    let ext = w.extension(&[("PROFILE_RESOLVER_TTL_SECONDS", "2")]);
    let (status, first) = chat_tenant(&ext);
    assert_eq!(
        (status, tenant(&first), first["source"].as_str()),
        (200, "acme", Some("tagging-api"))
    );
    w.emu.clear_calls().unwrap();

    w.tag(ACME, "tenant", "initech");
    publisher.invoke(sqs(&[CLOUDTRAIL])).unwrap().unwrap();
    let delivered = Instant::now();
    let seen = eventually(secs(5), || {
        let (_, a) = chat_tenant(&ext);
        (tenant(&a) == "initech").then(|| delivered.elapsed())
    })
    .expect("the retag never reached the reader");
    // One TTL (2 s, +10 % jitter) plus the poll that notices it, and this loop's 100 ms step.
    assert!(seen <= Duration::from_millis(2_600), "visible after {seen:?}");
    assert_eq!(
        w.emu.calls("GetResources", REGION).unwrap(),
        2,
        "the publisher's two pages; the reader lists nothing"
    );
}

#[test]
fn a_reader_whose_snapshot_is_unchanged_gets_304s_and_downloads_it_once() {
    let w = World::start("fleet-reader-304");
    let publisher = w.publisher(&[]);
    publisher.invoke(json!({})).unwrap().unwrap();
    let ext = w.extension(&[("PROFILE_RESOLVER_TTL_SECONDS", "1")]);
    assert_eq!(chat_tenant(&ext).0, 200);
    // Five TTLs of traffic, and an unchanged publish in the middle.
    for i in 0..25 {
        assert_eq!(chat_tenant(&ext).0, 200);
        if i == 12 {
            publisher.invoke(json!({})).unwrap().unwrap();
        }
        std::thread::sleep(Duration::from_millis(220));
    }
    let snapshot = w.s3.gets("/us-east-1.json");
    let heartbeat = w.s3.gets("/us-east-1.heartbeat.json");
    assert_eq!(
        snapshot,
        (1, 1),
        "the reader's one download, and the unchanged publish's check that the object is still the one its heartbeat names (304)"
    );
    assert!(heartbeat.0 <= 3, "a 200 only for a new publish: {heartbeat:?}");
    assert!(heartbeat.1 >= 2, "304s between publishes: {heartbeat:?}");
    assert_eq!(
        w.emu.calls("GetResources", REGION).unwrap(),
        4,
        "two publishes of two pages"
    );
}

#[test]
fn a_stopped_publisher_gives_stale_answers_up_to_the_maximum_staleness_then_a_fallback_build() {
    let w = World::start("fleet-reader-stopped");
    let publisher = w.publisher(&[("PROFILE_RESOLVER_PUBLISH_INTERVAL_SECONDS", "1")]);
    publisher.invoke(json!({})).unwrap().unwrap();
    let ext = w.extension(&[
        ("PROFILE_RESOLVER_TTL_SECONDS", "1"),
        ("PROFILE_RESOLVER_MAX_STALE_SECONDS", "2"),
    ]);
    assert_eq!(tenant(&chat_tenant(&ext).1), "acme");
    w.emu.clear_calls().unwrap();
    // The publisher is never invoked again. Past its interval (1 s) and the TTL (1 s), every
    // answer is stale, and still the publisher's data.
    let overdue = eventually(secs(5), || {
        let (status, a) = chat_tenant(&ext);
        assert_eq!(status, 200, "{a}");
        (a["ageSeconds"].as_f64().unwrap_or(0.0) > 2.3).then_some(a)
    })
    .expect("the data never aged");
    assert_eq!(
        (overdue["cache"].as_str(), tenant(&overdue)),
        (Some("stale"), "acme"),
        "{overdue}"
    );
    assert_eq!(
        w.emu.calls("GetResources", REGION).unwrap(),
        0,
        "still the publisher's data"
    );
    // Past the maximum staleness the reader builds the region itself.
    let fell_back = eventually(secs(8), || {
        assert_eq!(chat_tenant(&ext).0, 200, "answers never stop");
        (w.emu.calls("GetResources", REGION).unwrap() > 0).then_some(())
    });
    assert!(fell_back.is_some(), "{}", ext.logs());
    assert!(
        ext.logs()
            .contains("no usable published snapshot; building the region here")
    );
    let (status, a) = chat_tenant(&ext);
    assert_eq!((status, tenant(&a)), (200, "acme"), "{a}");
}

#[test]
fn with_fallback_none_a_stopped_publisher_ends_in_503_naming_get_object() {
    let w = World::start("fleet-reader-none");
    let publisher = w.publisher(&[("PROFILE_RESOLVER_PUBLISH_INTERVAL_SECONDS", "1")]);
    publisher.invoke(json!({})).unwrap().unwrap();
    let ext = w.extension(&[
        ("PROFILE_RESOLVER_TTL_SECONDS", "1"),
        ("PROFILE_RESOLVER_MAX_STALE_SECONDS", "1"),
        ("PROFILE_RESOLVER_SNAPSHOT_FALLBACK", "none"),
    ]);
    assert_eq!(chat_tenant(&ext).0, 200);
    w.emu.clear_calls().unwrap();
    let refused = eventually(secs(8), || {
        let (status, a) = chat_tenant(&ext);
        (status == 503).then_some(a)
    })
    .expect("never unavailable");
    assert_eq!(refused["error"]["code"], "UpstreamUnavailable");
    assert!(
        refused["error"]["operation"]
            .as_str()
            .unwrap_or("")
            .contains("GetObject"),
        "{refused}"
    );
    assert_eq!(w.emu.calls("GetResources", REGION).unwrap(), 0);
}

#[test]
fn corrupt_truncated_or_foreign_objects_are_refused_with_a_log_line_and_the_last_good_one_serves() {
    let w = World::start("fleet-reader-refusals");
    let publisher = w.publisher(&[]);
    publisher.invoke(json!({})).unwrap().unwrap();
    // The retag's objects are made first, then the good ones put back: the reader never sees R
    // before the damage is in place.
    let (good_snapshot, good_beat) = (w.object("us-east-1.json").1, w.object("us-east-1.heartbeat.json").1);
    w.tag(ACME, "tenant", "initech");
    publisher.invoke(json!({})).unwrap().unwrap();
    let (retagged, retag_beat) = (w.object("us-east-1.json").1, w.object("us-east-1.heartbeat.json").1);
    let put = |key: &str, body: &str| {
        put_object(&w.moto.url, BUCKET, &format!("profiles/{key}"), body.as_bytes()).unwrap();
    };
    put("us-east-1.json", &good_snapshot);
    put("us-east-1.heartbeat.json", &good_beat);
    let ext = w.extension(&[("PROFILE_RESOLVER_TTL_SECONDS", "1")]);
    assert_eq!(tenant(&chat_tenant(&ext).1), "acme");
    let cases = [
        ("truncated", retagged[..retagged.len() / 2].to_owned(), "not valid JSON"),
        (
            "schema",
            retagged.replace("\"schemaVersion\":1", "\"schemaVersion\":7"),
            "schema version 7 is not supported",
        ),
        (
            "region",
            retagged.replace("us-east-1", "us-west-2"),
            "holds region us-west-2",
        ),
        (
            "corrupt",
            retagged.replace("initech", "globex!"),
            "content hash mismatch",
        ),
    ];
    for (name, body, reason) in cases {
        // The damaged snapshot, then a heartbeat announcing the retag's content.
        put("us-east-1.json", &body);
        put("us-east-1.heartbeat.json", &retag_beat);
        let logged = eventually(secs(5), || {
            // The reader refreshes on its own schedule as an agent; each answer must still be the
            // last good snapshot's.
            assert_eq!(tenant(&chat_tenant(&ext).1), "acme", "{name}");
            ext.logs().contains(reason).then_some(())
        });
        assert!(logged.is_some(), "{name}: no log line naming {reason:?}");
        let (status, a) = chat_tenant(&ext);
        assert_eq!(
            (status, tenant(&a)),
            (200, "acme"),
            "{name}: the last good snapshot serves: {a}"
        );
    }
    assert!(ext.logs().contains("the last good snapshot keeps serving"));
    put("us-east-1.json", &retagged);
    let healed = eventually(secs(5), || (tenant(&chat_tenant(&ext).1) == "initech").then_some(()));
    assert!(healed.is_some(), "the good object is read once it is back");
}
