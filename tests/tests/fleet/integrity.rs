//! Published data is one unit, time only moves forward, and the account is pinned, over real
//! processes: the publisher binary, moto's S3 behind a proxy that can fail writes, and the real
//! extension as the reader.

use super::*;
use harness::harness::fleet::put_object;
use std::time::{Instant, SystemTime};

fn tenant(answer: &Value) -> &str {
    answer["profile"]["tags"]["tenant"].as_str().unwrap_or("")
}

fn outcome(report: &Value) -> &str {
    report["regions"][0]["outcome"].as_str().unwrap_or("")
}

#[test]
fn a_lost_heartbeat_write_never_leaves_readers_on_a_retag_that_was_undone() {
    let w = World::start("fleet-integrity-lost-heartbeat");
    let publisher = w.publisher(&[]);
    publisher.invoke(json!({})).unwrap().unwrap();

    // A mistaken retag is published, and S3 refuses the heartbeat's write (SlowDown, past
    // the retries): the object holds globex, the heartbeat still names acme.
    w.tag(ACME, "tenant", "globex");
    w.s3.fail_puts(Some(".heartbeat.json"));
    let failed = publisher.invoke(json!({})).unwrap();
    w.s3.fail_puts(None);
    let failed = failed.expect_err("the publish fails");
    assert_eq!(failed["errorType"], "PublishFailed", "{failed}");
    assert!(
        failed["errorMessage"].as_str().unwrap().contains("PutObject"),
        "{failed}"
    );
    assert!(w.object("us-east-1.json").1.contains("globex"));

    // The retag is undone and published again.
    w.tag(ACME, "tenant", "acme");
    let repaired = publisher.invoke(json!({})).unwrap().unwrap();
    assert_eq!(outcome(&repaired), "changed", "the object is rewritten: {repaired}");
    assert!(!w.object("us-east-1.json").1.contains("globex"));

    let ext = w.extension(&[("PROFILE_RESOLVER_SNAPSHOT_FALLBACK", "none")]);
    let (status, answer) = chat_tenant(&ext);
    assert_eq!((status, tenant(&answer)), (200, "acme"), "{answer}");
    let globex = ext.resolve(TOKEN, &json!({"tags": {"tenant": "globex"}})).unwrap();
    assert_eq!(globex.status, 404, "{}", globex.body);
}

#[test]
fn an_object_older_than_the_heartbeat_that_does_not_name_it_is_refused_with_a_log_line() {
    let w = World::start("fleet-integrity-disagree");
    let publisher = w.publisher(&[]);
    w.tag(ACME, "tenant", "globex");
    publisher.invoke(json!({})).unwrap().unwrap();
    let (_, globex_object) = w.object("us-east-1.json");
    std::thread::sleep(Duration::from_millis(20));
    w.tag(ACME, "tenant", "acme");
    publisher.invoke(json!({})).unwrap().unwrap();
    // Another writer puts the older object back, and nothing rewrites the heartbeat.
    put_object(&w.moto.url, BUCKET, "profiles/us-east-1.json", globex_object.as_bytes()).unwrap();

    let ext = w.extension(&[("PROFILE_RESOLVER_SNAPSHOT_FALLBACK", "none")]);
    let (status, answer) = chat_tenant(&ext);
    assert_eq!(status, 503, "never globex as a hit: {answer}");
    assert!(
        ext.logs().contains("the object and the heartbeat disagree"),
        "{}",
        ext.logs()
    );
}

#[test]
fn an_older_pair_written_last_does_not_take_a_reader_back() {
    let w = World::start("fleet-integrity-rollback");
    let publisher = w.publisher(&[]);
    publisher.invoke(json!({})).unwrap().unwrap();
    let (old_object, old_beat) = (w.object("us-east-1.json").1, w.object("us-east-1.heartbeat.json").1);
    w.tag(ACME, "tenant", "initech");
    publisher.invoke(json!({})).unwrap().unwrap();
    let ext = w.extension(&[("PROFILE_RESOLVER_TTL_SECONDS", "1")]);
    assert_eq!(tenant(&chat_tenant(&ext).1), "initech");

    // A second writer whose build started first finishes last.
    put_object(&w.moto.url, BUCKET, "profiles/us-east-1.json", old_object.as_bytes()).unwrap();
    put_object(
        &w.moto.url,
        BUCKET,
        "profiles/us-east-1.heartbeat.json",
        old_beat.as_bytes(),
    )
    .unwrap();
    w.s3.clear();
    let until = Instant::now() + secs(3);
    let mut polls = 0;
    while Instant::now() < until {
        let (status, answer) = chat_tenant(&ext);
        assert_eq!((status, tenant(&answer)), (200, "initech"), "{answer}");
        polls += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(polls >= 10);
    assert!(
        w.s3.gets("/us-east-1.heartbeat.json").0 >= 1,
        "the reader did read the older pair"
    );
    assert!(
        ext.logs().contains("a reader never goes back in time"),
        "{}",
        ext.logs()
    );
}

#[test]
fn a_heartbeat_from_the_future_and_another_accounts_objects_are_refused() {
    let w = World::start("fleet-integrity-future");
    let publisher = w.publisher(&[]);
    publisher.invoke(json!({})).unwrap().unwrap();
    let foreign = w.extension(&[
        ("PROFILE_RESOLVER_SNAPSHOT_FALLBACK", "none"),
        ("PROFILE_RESOLVER_ACCOUNT_ID", "210987654321"),
    ]);
    assert_eq!(chat_tenant(&foreign).0, 503);
    assert!(
        foreign.logs().contains("this reader is in account 210987654321"),
        "{}",
        foreign.logs()
    );
    let own = w.extension(&[
        ("PROFILE_RESOLVER_SNAPSHOT_FALLBACK", "none"),
        ("PROFILE_RESOLVER_ACCOUNT_ID", "123456789012"),
    ]);
    assert_eq!(tenant(&chat_tenant(&own).1), "acme");

    // A heartbeat written by a host whose clock runs two hours ahead.
    let mut beat: Value = serde_json::from_str(&w.object("us-east-1.heartbeat.json").1).unwrap();
    let ahead = SystemTime::now() + secs(2 * 3600);
    beat["listingStartedAt"] = json!(shared::published::format::format_time(ahead));
    put_object(
        &w.moto.url,
        BUCKET,
        "profiles/us-east-1.heartbeat.json",
        beat.to_string().as_bytes(),
    )
    .unwrap();
    let cold = w.extension(&[("PROFILE_RESOLVER_SNAPSHOT_FALLBACK", "none")]);
    assert_eq!(chat_tenant(&cold).0, 503);
    assert!(cold.logs().contains("ahead of this reader's clock"), "{}", cold.logs());
}
