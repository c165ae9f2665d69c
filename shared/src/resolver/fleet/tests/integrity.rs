//! Published data is one unit, time only moves forward, and the account is pinned: each case a
//! way a reader could otherwise serve a wrong ARN as a hit.

use super::*;

impl Fleet {
    /// Writes only the snapshot object, listed at `started`: a publish whose heartbeat write
    /// then failed.
    fn write_object_only(&self, profiles: &[(String, String)], started: std::time::SystemTime) {
        let encoded = encode(&snapshot(profiles), REGION, Some("123456789012"), started);
        self.store.insert(&self.url.snapshot_key(REGION), encoded.body);
    }

    /// Another reader of the same objects, cold.
    fn cold_reader(&self, fallback: Fallback) -> Fleet {
        Fleet::over(fallback, self.store.clone(), self.clock.clone())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_object_that_a_later_heartbeat_does_not_name_is_refused_not_served() {
    let f = Fleet::new(Fallback::None);
    let t0 = f.clock.now();
    // P2 is acme's (H1). A mistaken retag to globex is written (H2), and its heartbeat is lost;
    // the retag is undone and published by a publisher that trusted the heartbeat's hash alone.
    f.publish_at(&profiles("acme"), t0);
    f.clock.advance(Duration::from_secs(30));
    f.write_object_only(&profiles("globex"), f.clock.now());
    f.clock.advance(Duration::from_secs(30));
    f.publish(&profiles("acme"), Duration::ZERO);
    let object = f.store.body(&f.url.snapshot_key(REGION)).unwrap();
    assert!(
        String::from_utf8_lossy(&object).contains("globex"),
        "the object still holds H2"
    );

    let err = f.tenant_of_p2().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable, "never globex as a hit");
    let direct = f.cold_reader(Fallback::Direct);
    assert_eq!(
        direct.p2().await.0,
        "direct-build",
        "refused, so the reader builds the region"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_object_listed_after_its_heartbeat_is_served_as_the_newer_data() {
    let f = Fleet::new(Fallback::None);
    f.publish(&profiles("acme"), Duration::ZERO);
    assert_eq!(f.p2().await.0, "acme");
    f.clock.advance(Duration::from_secs(10));
    // New content whose heartbeat write failed: the object is newer than the heartbeat.
    f.write_object_only(&profiles("initech"), f.clock.now());
    let cold = f.cold_reader(Fallback::None);
    assert_eq!(cold.p2().await.0, "initech");
}

#[tokio::test(flavor = "current_thread")]
async fn a_reader_never_goes_back_to_data_listed_before_what_it_holds() {
    let f = Fleet::new(Fallback::None);
    f.publish(&profiles("initech"), Duration::ZERO);
    assert_eq!(f.p2().await.0, "initech");
    // A second writer whose build started two minutes earlier finishes last.
    f.clock.advance(Duration::from_secs(5));
    f.publish(&profiles("globex"), Duration::from_secs(120));
    f.next_poll().await;
    let (tenant, r) = f.p2().await;
    assert_eq!((tenant.as_str(), r.cache), ("initech", CacheState::Stale));
    assert_eq!(f.resolver.health()[REGION].last_error.as_deref(), Some("GetObject"));
    // The next publish, listed later, is taken.
    f.publish(&profiles("globex"), Duration::ZERO);
    f.clock.advance(Duration::from_secs(31));
    f.resolver.force_refresh(Some(REGION)).unwrap();
    f.resolver
        .settle(tokio::time::Instant::now() + Duration::from_secs(1))
        .await;
    assert_eq!(f.p2().await.0, "globex");
}

#[tokio::test(flavor = "current_thread")]
async fn a_fallback_build_is_not_replaced_by_published_data_listed_before_it() {
    let f = Fleet::new(Fallback::Direct);
    assert_eq!(f.p2().await.0, "direct-build", "nothing published: built here");
    // A publish whose listing started before that build lands afterwards.
    f.publish(&profiles("globex"), Duration::from_secs(10));
    f.next_poll().await;
    assert_eq!(f.p2().await.0, "direct-build");
}

#[tokio::test(flavor = "current_thread")]
async fn a_listing_time_from_the_future_is_refused() {
    let f = Fleet::new(Fallback::None);
    f.publish_at(&profiles("globex"), f.clock.now() + Duration::from_secs(2 * 3600));
    let err = f.tenant_of_p2().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    // Within the allowed skew it is read, aged zero.
    let g = Fleet::new(Fallback::None);
    g.publish_at(&profiles("globex"), g.clock.now() + MAX_CLOCK_SKEW / 2);
    let (tenant, r) = g.p2().await;
    assert_eq!((tenant.as_str(), r.age), ("globex", Duration::ZERO));
}

#[tokio::test(flavor = "current_thread")]
async fn a_reader_pinned_to_its_account_refuses_another_accounts_objects() {
    let f = Fleet::new(Fallback::None);
    f.publish(&profiles("globex"), Duration::ZERO);
    f.resolver.pin_account("210987654321");
    let err = f.tenant_of_p2().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    let same = f.cold_reader(Fallback::None);
    same.resolver.pin_account("123456789012");
    assert_eq!(same.p2().await.0, "globex");
}
