//! The publisher over in-memory sources and store: what it writes, and what it never overwrites.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use shared::clock::MockClock;
use shared::published::SnapshotUrl;
use shared::published::format::decode;
use shared::published::memory::MemoryStore;
use shared::source::memory::MemorySource;
use shared::source::{CatalogEntry, FailureKind, Operation, TaggedResource};
use std::time::{Duration, UNIX_EPOCH};

const REGION: &str = "us-east-1";

struct Rig {
    source: Arc<MemorySource>,
    store: Arc<MemoryStore>,
    clock: MockClock,
    publisher: Publisher,
    url: SnapshotUrl,
}

fn tagged(id: &str, tenant: &str) -> TaggedResource {
    TaggedResource {
        arn: format!("arn:aws:bedrock:{REGION}:123456789012:application-inference-profile/{id}"),
        tags: vec![("tenant".into(), tenant.into())],
    }
}

/// Tagging's resources, and Bedrock listing each of them.
fn region(source: &MemorySource, resources: Vec<TaggedResource>) {
    let catalog = resources
        .iter()
        .map(|r| CatalogEntry {
            arn: r.arn.clone(),
            name: format!("profile-{}", &r.arn[r.arn.len() - 2..]),
            status: Some("ACTIVE".into()),
            models: vec!["arn:aws:bedrock:us-east-1::foundation-model/m".into()],
        })
        .collect();
    source.set_region(REGION, resources, catalog);
}

fn rig() -> Rig {
    let source = Arc::new(MemorySource::default());
    region(&source, vec![tagged("a1", "acme"), tagged("b2", "globex")]);
    let store = Arc::new(MemoryStore::default());
    let clock = MockClock::new(UNIX_EPOCH + Duration::from_secs(1_795_000_000));
    let url = SnapshotUrl::parse("s3://fleet-bucket/snapshots/").unwrap();
    let sources = Sources {
        tags: source.clone(),
        catalog: source.clone(),
        routes: None,
        published: None,
    };
    let published = Published {
        store: store.clone(),
        url: url.clone(),
    };
    let publisher = Publisher::new(sources, published, Duration::from_secs(300), Arc::new(clock.clone()));
    Rig {
        source,
        store,
        clock,
        publisher,
        url,
    }
}

#[tokio::test]
async fn a_first_publish_writes_the_snapshot_and_a_heartbeat_naming_its_hash() {
    let r = rig();
    let report = r.publisher.publish(REGION, Some("123456789012")).await;
    let Outcome::Changed { content_hash, profiles } = report.outcome else {
        panic!("{report:?}");
    };
    assert_eq!(profiles, 2);
    let doc = decode(&r.store.body(&r.url.snapshot_key(REGION)).unwrap(), REGION, None).unwrap();
    assert_eq!(doc.content_hash, content_hash);
    assert_eq!(doc.listing_started, r.clock.now());
    let (beat, _) = Beat::decode(&r.store.body(&r.url.heartbeat_key(REGION)).unwrap(), REGION).unwrap();
    assert_eq!((beat.content_hash, beat.interval_seconds), (content_hash, 300));
}

#[tokio::test]
async fn an_unchanged_region_rewrites_only_the_heartbeat() {
    let r = rig();
    r.publisher.publish(REGION, None).await;
    let first = r.store.body(&r.url.snapshot_key(REGION)).unwrap();
    r.clock.advance(Duration::from_secs(300));
    let report = r.publisher.publish(REGION, None).await;
    assert!(matches!(report.outcome, Outcome::Unchanged { .. }), "{report:?}");
    assert_eq!(
        r.store.body(&r.url.snapshot_key(REGION)).unwrap(),
        first,
        "no new content"
    );
    let (_, at) = Beat::decode(&r.store.body(&r.url.heartbeat_key(REGION)).unwrap(), REGION).unwrap();
    assert_eq!(at, r.clock.now(), "the heartbeat carries the new listing's start");
}

#[tokio::test]
async fn a_retag_publishes_new_content() {
    let r = rig();
    r.publisher.publish(REGION, None).await;
    region(&r.source, vec![tagged("a1", "acme"), tagged("b2", "initech")]);
    let report = r.publisher.publish(REGION, None).await;
    assert!(matches!(report.outcome, Outcome::Changed { .. }), "{report:?}");
    let doc = decode(&r.store.body(&r.url.snapshot_key(REGION)).unwrap(), REGION, None).unwrap();
    assert_eq!(doc.snapshot.profiles()[1].tag("tenant"), Some("initech"));
}

#[tokio::test]
async fn a_failed_build_never_overwrites_a_good_snapshot() {
    let r = rig();
    r.publisher.publish(REGION, None).await;
    let (snapshot, heartbeat) = (
        r.store.body(&r.url.snapshot_key(REGION)).unwrap(),
        r.store.body(&r.url.heartbeat_key(REGION)).unwrap(),
    );
    r.source.set_region(REGION, Vec::new(), Vec::new());
    r.source.fail(Operation::GetResources, Some(FailureKind::Throttled));
    r.clock.advance(Duration::from_secs(300));
    let report = r.publisher.publish(REGION, None).await;
    assert!(
        matches!(&report.outcome, Outcome::Failed { operation, .. } if operation == "GetResources"),
        "{report:?}"
    );
    assert_eq!(r.store.body(&r.url.snapshot_key(REGION)).unwrap(), snapshot);
    assert_eq!(
        r.store.body(&r.url.heartbeat_key(REGION)).unwrap(),
        heartbeat,
        "no sign of life either"
    );
}

#[tokio::test]
async fn a_failed_region_fails_the_invoke_with_a_stable_error_type() {
    let r = rig();
    r.source.fail(Operation::GetResources, Some(FailureKind::Denied));
    let reports = r.publisher.publish_all(&[REGION.to_owned()], None).await;
    let err = handler::respond(0, reports).unwrap_err();
    let diagnostic: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diagnostic.error_type, "PublishFailed");
    assert!(
        diagnostic.error_message.contains("us-east-1"),
        "{}",
        diagnostic.error_message
    );
}

#[test]
fn the_account_comes_from_the_function_arn() {
    assert_eq!(
        account_of("arn:aws:lambda:us-east-1:123456789012:function:publisher"),
        Some("123456789012")
    );
    assert_eq!(account_of("not-an-arn"), None);
}

#[tokio::test]
async fn an_object_left_behind_by_a_lost_heartbeat_write_is_rewritten_at_the_next_publish() {
    let r = rig();
    r.publisher.publish(REGION, None).await;
    // A mistaken retag is published, but its heartbeat write fails after the object's.
    region(&r.source, vec![tagged("a1", "acme"), tagged("b2", "initech")]);
    r.store.fail_puts_of(Some(&r.url.heartbeat_key(REGION)));
    r.clock.advance(Duration::from_secs(60));
    let report = r.publisher.publish(REGION, None).await;
    assert!(matches!(&report.outcome, Outcome::Failed { operation, .. } if operation == "PutObject"));
    r.store.fail_puts_of(None);
    // The retag is undone: the content equals what the heartbeat names, but the object does not.
    region(&r.source, vec![tagged("a1", "acme"), tagged("b2", "globex")]);
    r.clock.advance(Duration::from_secs(60));
    let report = r.publisher.publish(REGION, None).await;
    assert!(matches!(report.outcome, Outcome::Changed { .. }), "{report:?}");
    let doc = decode(&r.store.body(&r.url.snapshot_key(REGION)).unwrap(), REGION, None).unwrap();
    assert_eq!(doc.snapshot.profiles()[1].tag("tenant"), Some("globex"), "repaired");
    let (beat, _) = Beat::decode(&r.store.body(&r.url.heartbeat_key(REGION)).unwrap(), REGION).unwrap();
    assert_eq!(
        beat.content_hash, doc.content_hash,
        "the object and the heartbeat agree again"
    );
    // And an unchanged region after that writes only the heartbeat again.
    r.clock.advance(Duration::from_secs(60));
    let report = r.publisher.publish(REGION, None).await;
    assert!(matches!(report.outcome, Outcome::Unchanged { .. }), "{report:?}");
}

/// CloudWatch refusing every call.
struct Refusing;

#[async_trait::async_trait]
impl crate::cloudwatch::Monitoring for Refusing {
    async fn put_dashboard(&self, region: &str, _: &str, _: &str) -> Result<(), crate::cloudwatch::MonitoringError> {
        Err(crate::cloudwatch::MonitoringError {
            operation: "PutDashboard",
            region: region.into(),
            message: "HTTP 403 AccessDenied".into(),
        })
    }
    async fn put_alarm(
        &self,
        region: &str,
        _: &crate::cost_views::alarms::AlarmSpec,
    ) -> Result<(), crate::cloudwatch::MonitoringError> {
        self.put_dashboard(region, "", "").await
    }
    async fn delete_alarms(&self, region: &str, _: &[String]) -> Result<(), crate::cloudwatch::MonitoringError> {
        self.put_dashboard(region, "", "").await
    }
}

#[tokio::test]
async fn failing_cost_views_are_reported_and_never_fail_the_publish() {
    let Rig {
        publisher, store, url, ..
    } = rig();
    let publisher = publisher.with_cost_views(crate::cost_views::CostViews {
        settings: crate::cost_views::Settings {
            prefix: "usage".into(),
            tenant_tag: "tenant".into(),
            topic: None,
        },
        monitoring: Arc::new(Refusing),
    });
    let report = publisher.publish(REGION, None).await;
    assert!(matches!(report.outcome, Outcome::Changed { .. }), "{report:?}");
    assert!(
        store.body(&url.snapshot_key(REGION)).is_some(),
        "the snapshot is published"
    );
    let views = report.cost_views.clone().unwrap();
    assert!(views.error.unwrap().contains("AccessDenied"));
    let response = handler::respond(0, vec![report]).unwrap();
    assert!(response["regions"][0]["costViews"]["error"].is_string(), "{response}");
}
