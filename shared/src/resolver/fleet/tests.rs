//! The fleet reader over an in-memory store and sources, with a mock clock: what it reads, what
//! it refuses, and when it falls back.

use super::*;
use crate::answer::CacheState;
use crate::build::Sources;
use crate::clock::{Clock, MockClock};
use crate::config::EngineConfig;
use crate::published::format::{Beat, encode, format_time};
use crate::published::memory::{Gets, MemoryStore};
use crate::published::{SCHEMA_VERSION, SnapshotUrl};
use crate::query::Query;
use crate::source::memory::MemorySource;
use crate::source::{CatalogEntry, TaggedResource};
use crate::stats::Stats;
use crate::{ApiError, ErrorCode, Resolution};

const REGION: &str = "us-east-1";
const TTL: Duration = Duration::from_secs(60);
const MAX_STALE: Duration = Duration::from_secs(600);
const INTERVAL: Duration = Duration::from_secs(300);

fn arn(id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:123456789012:application-inference-profile/{id}")
}

struct Fleet {
    resolver: Resolver,
    store: Arc<MemoryStore>,
    /// What the region holds in the Tagging API and Bedrock (the direct fallback reads it).
    source: Arc<MemorySource>,
    clock: MockClock,
    url: SnapshotUrl,
}

fn profiles(tenant_of_p2: &str) -> Vec<(String, String)> {
    vec![("p1".into(), "acme".into()), ("p2".into(), tenant_of_p2.into())]
}

fn snapshot(profiles: &[(String, String)]) -> Snapshot {
    let tagged = profiles
        .iter()
        .map(|(id, tenant)| TaggedResource {
            arn: arn(id),
            tags: vec![("tenant".into(), tenant.clone())],
        })
        .collect();
    Snapshot::join(tagged, None).0
}

impl Fleet {
    fn new(fallback: Fallback) -> Self {
        Self::over(fallback, Arc::new(MemoryStore::default()), MockClock::default())
    }

    /// A reader of `store`, on `clock`.
    fn over(fallback: Fallback, store: Arc<MemoryStore>, clock: MockClock) -> Self {
        let source = Arc::new(MemorySource::default());
        let direct = profiles("direct-build");
        source.set_region(
            REGION,
            snapshot(&direct)
                .profiles()
                .iter()
                .map(|p| TaggedResource {
                    arn: p.arn.to_string(),
                    tags: p.tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                })
                .collect(),
            direct
                .iter()
                .map(|(id, _)| CatalogEntry {
                    arn: arn(id),
                    name: id.clone(),
                    status: None,
                    models: vec![],
                })
                .collect(),
        );
        let url = SnapshotUrl::parse("s3://fleet-bucket/snapshots/").unwrap();
        let config = EngineConfig {
            home_region: REGION.into(),
            regions: vec![REGION.into()],
            ttl: TTL,
            max_stale: MAX_STALE,
            ssm_prefix: None,
            upstream_timeout: Duration::from_secs(2),
            snapshot_url: Some(url.clone()),
            snapshot_fallback: fallback,
            account: None,
        };
        let sources = Sources {
            tags: source.clone(),
            catalog: source.clone(),
            routes: None,
            published: Some(Published {
                store: store.clone(),
                url: url.clone(),
            }),
        };
        let stats = Arc::new(Stats::for_regions(&config.regions));
        let resolver = Resolver::new(config, sources, Arc::new(clock.clone()), stats);
        Self {
            resolver,
            store,
            source,
            clock,
            url,
        }
    }

    /// Publishes as the publisher does: the snapshot only when its content changed, the heartbeat
    /// always, with a listing that started `ago` before now.
    fn publish(&self, profiles: &[(String, String)], ago: Duration) {
        self.publish_at(profiles, self.clock.now() - ago);
    }

    /// As [`Fleet::publish`], with a listing that started at `started`, by the publisher's clock.
    fn publish_at(&self, profiles: &[(String, String)], started: std::time::SystemTime) {
        let encoded = encode(&snapshot(profiles), REGION, Some("123456789012"), started);
        let beat_key = self.url.heartbeat_key(REGION);
        let current = self.store.body(&beat_key).and_then(|b| Beat::decode(&b, REGION).ok());
        if current.is_none_or(|(b, _)| b.content_hash != encoded.content_hash) {
            self.store.insert(&self.url.snapshot_key(REGION), encoded.body);
        }
        let beat = Beat {
            schema_version: SCHEMA_VERSION,
            region: REGION.into(),
            account: None,
            listing_started_at: format_time(started),
            published_at: format_time(self.clock.now()),
            content_hash: encoded.content_hash,
            content_etag: None,
            profile_count: encoded.profile_count,
            interval_seconds: INTERVAL.as_secs(),
        };
        self.store.insert(&beat_key, beat.encode());
    }

    async fn tenant_of_p2(&self) -> Result<Resolution, ApiError> {
        let every_tenant = Query::from_json_bytes(br#"{"tags": {"tenant": []}, "match": "all"}"#).unwrap();
        self.resolver.resolve(&every_tenant).await
    }

    async fn p2(&self) -> (String, Resolution) {
        let r = self.tenant_of_p2().await.unwrap();
        let p2 = r
            .profiles()
            .find(|p| p.arn.ends_with("/p2"))
            .map(|p| p.tag("tenant").unwrap_or("").to_owned());
        (p2.unwrap_or_default(), r)
    }

    /// Moves time past the TTL (jitter included) and lets the refresh it makes due finish.
    async fn next_poll(&self) {
        self.clock.advance(TTL.mul_f64(1.2));
        self.resolver.refresh_due();
        self.resolver
            .settle(tokio::time::Instant::now() + Duration::from_secs(1))
            .await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_reader_serves_the_published_snapshot_aged_from_the_publishers_listing() {
    let f = Fleet::new(Fallback::Direct);
    f.publish(&profiles("globex"), Duration::from_secs(40));
    let (tenant, r) = f.p2().await;
    assert_eq!(tenant, "globex");
    assert!((40.0..41.0).contains(&r.age.as_secs_f64()), "{:?}", r.age);
    assert_eq!(f.source.calls(Operation::GetResources), 0, "no listing in S3 mode");
    assert_eq!(
        f.resolver.stats().upstream_calls(Operation::GetObject),
        2,
        "the heartbeat, then the snapshot"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_unchanged_snapshot_is_never_downloaded_twice() {
    let f = Fleet::new(Fallback::Direct);
    f.publish(&profiles("globex"), Duration::ZERO);
    f.p2().await;
    for _ in 0..3 {
        f.next_poll().await;
    }
    f.publish(&profiles("globex"), Duration::ZERO);
    f.next_poll().await;
    assert_eq!(
        f.store.gets(),
        Gets {
            found: 3,
            not_modified: 3,
            missing: 0
        },
        "the snapshot once, the heartbeat at the first read and after the second publish, 304s between"
    );
    let (tenant, r) = f.p2().await;
    assert_eq!(tenant, "globex");
    // One poll (72 s) after the second publish, four after the first: the age is the second's.
    assert!(
        r.age < TTL.mul_f64(1.25),
        "the second publish renewed the age: {:?}",
        r.age
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_retag_is_read_at_the_next_poll_after_its_publish() {
    let f = Fleet::new(Fallback::Direct);
    f.publish(&profiles("globex"), Duration::ZERO);
    assert_eq!(f.p2().await.0, "globex");
    f.publish(&profiles("initech"), Duration::ZERO);
    f.next_poll().await;
    assert_eq!(f.p2().await.0, "initech");
}

#[tokio::test(flavor = "current_thread")]
async fn corrupt_truncated_foreign_or_future_objects_are_refused_and_the_last_good_one_serves() {
    let f = Fleet::new(Fallback::Direct);
    f.publish(&profiles("globex"), Duration::ZERO);
    assert_eq!(f.p2().await.0, "globex");
    let good = f.store.body(&f.url.snapshot_key(REGION)).unwrap();
    let text = String::from_utf8(good.to_vec()).unwrap();
    let bad_snapshots = [
        good[..good.len() / 2].to_vec(),
        text.replace("\"schemaVersion\":1", "\"schemaVersion\":99").into_bytes(),
        text.replace("us-east-1", "eu-west-1").into_bytes(),
        text.replace("globex", "initech").into_bytes(),
    ];
    for bad in bad_snapshots {
        f.publish(&profiles("initech"), Duration::ZERO);
        f.store.insert(&f.url.snapshot_key(REGION), bad);
        f.next_poll().await;
        let (tenant, _) = f.p2().await;
        assert_eq!(tenant, "globex", "the last good snapshot keeps serving");
        assert_eq!(
            f.source.calls(Operation::GetResources),
            0,
            "a refusal with a good snapshot held is not a fallback"
        );
    }
    let health = &f.resolver.health()[REGION];
    assert_eq!(health.last_error.as_deref(), Some("GetObject"));
}

#[tokio::test(flavor = "current_thread")]
async fn with_nothing_published_a_reader_builds_the_region_itself() {
    let f = Fleet::new(Fallback::Direct);
    assert_eq!(f.p2().await.0, "direct-build");
    assert!(f.source.calls(Operation::GetResources) > 0);
}

#[tokio::test(flavor = "current_thread")]
async fn with_fallback_none_nothing_published_is_unavailable_naming_get_object() {
    let f = Fleet::new(Fallback::None);
    let err = f.tenant_of_p2().await.unwrap_err();
    assert_eq!(
        (err.code, err.operation.as_deref()),
        (ErrorCode::UpstreamUnavailable, Some("GetObject"))
    );
    assert_eq!(f.source.calls(Operation::GetResources), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stopped_publisher_makes_answers_stale_then_readers_fall_back_after_the_maximum_staleness() {
    let f = Fleet::new(Fallback::Direct);
    f.publish(&profiles("globex"), Duration::ZERO);
    assert_eq!(f.p2().await.1.cache, CacheState::Miss, "a cold read waits for it");
    assert_eq!(f.p2().await.1.cache, CacheState::Hit);
    // The publisher stops. Within its interval plus the TTL the data is as expected.
    f.clock.advance(INTERVAL);
    f.resolver.refresh_due();
    f.resolver
        .settle(tokio::time::Instant::now() + Duration::from_secs(1))
        .await;
    assert_eq!(f.p2().await.1.cache, CacheState::Hit);
    // Past it, answers are stale, and still the publisher's.
    f.clock.advance(TTL.mul_f64(1.2));
    f.resolver.refresh_due();
    f.resolver
        .settle(tokio::time::Instant::now() + Duration::from_secs(1))
        .await;
    let (tenant, r) = f.p2().await;
    assert_eq!((tenant.as_str(), r.cache), ("globex", CacheState::Stale));
    assert_eq!(f.source.calls(Operation::GetResources), 0);
    // Past the maximum staleness, the reader builds the region itself.
    f.clock.advance(MAX_STALE);
    f.next_poll().await;
    assert_eq!(f.p2().await.0, "direct-build");
    assert!(f.source.calls(Operation::GetResources) > 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stopped_publisher_with_fallback_none_ends_in_unavailable_not_in_old_data() {
    let f = Fleet::new(Fallback::None);
    f.publish(&profiles("globex"), Duration::ZERO);
    assert_eq!(f.p2().await.0, "globex");
    f.clock.advance(INTERVAL + TTL + MAX_STALE + Duration::from_secs(2));
    f.next_poll().await;
    let err = f.tenant_of_p2().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert_eq!(f.source.calls(Operation::GetResources), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn s3_down_keeps_the_held_snapshot_serving_stale_if_error() {
    let f = Fleet::new(Fallback::Direct);
    f.publish(&profiles("globex"), Duration::ZERO);
    f.p2().await;
    f.store.set_down(true);
    f.next_poll().await;
    let (tenant, r) = f.p2().await;
    assert_eq!((tenant.as_str(), r.cache), ("globex", CacheState::Stale));
    assert_eq!(f.source.calls(Operation::GetResources), 0);
}

mod integrity;
