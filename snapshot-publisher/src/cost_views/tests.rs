//! The cost views over a recording CloudWatch and an in-memory store: CloudWatch is called only
//! for what changed, and a failed call is made again at the next publish.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use async_trait::async_trait;
use shared::published::SnapshotUrl;
use shared::published::memory::MemoryStore;
use shared::source::TaggedResource;
use std::sync::Mutex;

const REGION: &str = "us-east-1";

#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    /// Calls whose line starts with this fail (`""`: every call).
    fail: Mutex<Option<&'static str>>,
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn record(&self, call: String) -> Result<(), MonitoringError> {
        if self.fail.lock().unwrap().is_some_and(|f| call.starts_with(f)) {
            return Err(MonitoringError {
                operation: "PutDashboard",
                region: REGION.into(),
                message: "HTTP 403 AccessDenied".into(),
            });
        }
        self.calls.lock().unwrap().push(call);
        Ok(())
    }
}

#[async_trait]
impl Monitoring for Recorder {
    async fn put_dashboard(&self, region: &str, name: &str, _body: &str) -> Result<(), MonitoringError> {
        self.record(format!("PutDashboard {region} {name}"))
    }
    async fn put_alarm(&self, region: &str, alarm: &AlarmSpec) -> Result<(), MonitoringError> {
        self.record(format!("PutMetricAlarm {region} {} {}", alarm.name, alarm.threshold))
    }
    async fn delete_alarms(&self, region: &str, names: &[String]) -> Result<(), MonitoringError> {
        self.record(format!("DeleteAlarms {region} {}", names.join(",")))
    }
}

fn profile(id: &str, tags: &[(&str, &str)]) -> TaggedResource {
    TaggedResource {
        arn: format!("arn:aws:bedrock:{REGION}:123456789012:application-inference-profile/{id}"),
        tags: tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
    }
}

fn snapshot(resources: Vec<TaggedResource>) -> Snapshot {
    Snapshot::join(resources, None).0
}

fn rig() -> (CostViews, Arc<Recorder>, Published) {
    let recorder = Arc::new(Recorder::default());
    let views = CostViews {
        settings: Settings {
            prefix: "usage".into(),
            tenant_tag: "tenant".into(),
            topic: None,
        },
        monitoring: recorder.clone(),
    };
    let published = Published {
        store: Arc::new(MemoryStore::default()),
        url: SnapshotUrl::parse("s3://fleet-bucket/snapshots/").unwrap(),
    };
    (views, recorder, published)
}

#[test]
fn tenants_are_grouped_by_the_tenant_tag_with_the_untagged_last() {
    let s = snapshot(vec![
        profile("c3", &[("tenant", "globex")]),
        profile("a1", &[("tenant", "acme")]),
        profile("z9", &[("dept", "legal")]),
        profile("b2", &[("tenant", "acme"), (alarms::LIMIT_TAG, "100")]),
    ]);
    let t = tenants(&s, "tenant");
    let names: Vec<Option<&str>> = t.iter().map(|t| t.name.as_deref()).collect();
    assert_eq!(names, [Some("acme"), Some("globex"), None]);
    let acme: Vec<(&str, Option<&str>)> = t[0]
        .profiles
        .iter()
        .map(|p| (p.id.as_str(), p.limit.as_deref()))
        .collect();
    assert_eq!(acme, [("a1", None), ("b2", Some("100"))]);
    assert_eq!(t[2].profiles[0].id, "z9");
}

#[tokio::test]
async fn cloudwatch_is_called_only_when_the_mapping_changes() {
    let (views, recorder, published) = rig();
    let first = snapshot(vec![
        profile("a1", &[("tenant", "acme"), (alarms::LIMIT_TAG, "5000")]),
        profile("b2", &[("tenant", "globex")]),
    ]);
    let report = views.update(&published, REGION, &first).await;
    assert_eq!(
        (report.dashboard_written, report.alarms_written, report.error),
        (true, 1, None)
    );
    assert_eq!(
        recorder.take(),
        [
            "PutDashboard us-east-1 usage-us-east-1",
            "PutMetricAlarm us-east-1 usage-us-east-1-acme-daily-output-tokens 5000"
        ]
    );
    // The same mapping again (another publish, another container): no call.
    let report = views.update(&published, REGION, &first).await;
    assert_eq!((report.dashboard_written, report.alarms_written), (false, 0));
    assert!(recorder.take().is_empty());
    // A retag moves a1 to globex: the dashboard changes, acme has no profile left, so its alarm
    // goes.
    let moved = snapshot(vec![
        profile("a1", &[("tenant", "globex"), (alarms::LIMIT_TAG, "5000")]),
        profile("b2", &[("tenant", "globex")]),
    ]);
    let report = views.update(&published, REGION, &moved).await;
    assert_eq!((report.dashboard_written, report.alarms_deleted), (true, 1));
    assert_eq!(
        recorder.take(),
        [
            "PutDashboard us-east-1 usage-us-east-1",
            "PutMetricAlarm us-east-1 usage-us-east-1-globex-daily-output-tokens 5000",
            "DeleteAlarms us-east-1 usage-us-east-1-acme-daily-output-tokens"
        ]
    );
}

#[tokio::test]
async fn a_failed_call_is_reported_and_made_again_at_the_next_publish() {
    let (views, recorder, published) = rig();
    let s = snapshot(vec![profile("a1", &[("tenant", "acme")])]);
    *recorder.fail.lock().unwrap() = Some("");
    let report = views.update(&published, REGION, &s).await;
    assert!(report.error.as_deref().unwrap().contains("AccessDenied"), "{report:?}");
    *recorder.fail.lock().unwrap() = None;
    let report = views.update(&published, REGION, &s).await;
    assert_eq!((report.dashboard_written, report.error), (true, None));
    assert_eq!(recorder.take(), ["PutDashboard us-east-1 usage-us-east-1"]);
}

#[tokio::test]
async fn an_unreadable_record_writes_every_view_again() {
    let (views, recorder, published) = rig();
    let store = MemoryStore::default();
    store.insert("snapshots/us-east-1.cost-views.json", "not json");
    let published = Published {
        store: Arc::new(store),
        url: published.url,
    };
    let s = snapshot(vec![profile("a1", &[("tenant", "acme"), (alarms::LIMIT_TAG, "7")])]);
    let report = views.update(&published, REGION, &s).await;
    assert_eq!((report.dashboard_written, report.alarms_written), (true, 1));
    assert_eq!(recorder.take().len(), 2);
}

#[tokio::test]
async fn what_succeeded_before_a_failed_call_is_recorded_so_a_reverted_mapping_is_written_back() {
    let (views, recorder, published) = rig();
    let a = snapshot(vec![profile("a1", &[("tenant", "acme")])]);
    views.update(&published, REGION, &a).await;
    recorder.take();
    // B: the dashboard is written, the new alarm fails.
    let b = snapshot(vec![profile("a1", &[("tenant", "acme"), (alarms::LIMIT_TAG, "10")])]);
    let b2 = snapshot(vec![
        profile("a1", &[("tenant", "acme"), (alarms::LIMIT_TAG, "10")]),
        profile("b2", &[("tenant", "globex")]),
    ]);
    *recorder.fail.lock().unwrap() = Some("PutMetricAlarm");
    let report = views.update(&published, REGION, &b2).await;
    assert!(report.dashboard_written && report.error.is_some(), "{report:?}");
    *recorder.fail.lock().unwrap() = None;
    recorder.take();
    // Back to A's mapping: the dashboard CloudWatch holds is B's, so it is written again.
    let report = views.update(&published, REGION, &a).await;
    assert_eq!((report.dashboard_written, report.error), (true, None));
    assert_eq!(recorder.take(), ["PutDashboard us-east-1 usage-us-east-1"]);
    // B's alarm, once made, is deleted when the mapping no longer calls for it (the limit tag
    // does not change the dashboard).
    views.update(&published, REGION, &b).await;
    assert_eq!(
        recorder.take(),
        ["PutMetricAlarm us-east-1 usage-us-east-1-acme-daily-output-tokens 10"]
    );
    views.update(&published, REGION, &a).await;
    assert_eq!(
        recorder.take(),
        ["DeleteAlarms us-east-1 usage-us-east-1-acme-daily-output-tokens"]
    );
}

#[tokio::test]
async fn after_a_change_of_prefix_the_old_alarms_are_left_and_forgotten() {
    let (views, recorder, published) = rig();
    let limited = snapshot(vec![profile("a1", &[("tenant", "acme"), (alarms::LIMIT_TAG, "10")])]);
    views.update(&published, REGION, &limited).await;
    recorder.take();
    let renamed = CostViews {
        settings: Settings {
            prefix: "spend".into(),
            ..views.settings.clone()
        },
        monitoring: recorder.clone(),
    };
    let report = renamed.update(&published, REGION, &limited).await;
    assert_eq!(
        (report.alarms_deleted, report.error),
        (0, None),
        "the old prefix is not its to delete"
    );
    assert_eq!(
        recorder.take(),
        [
            "PutDashboard us-east-1 spend-us-east-1",
            "PutMetricAlarm us-east-1 spend-us-east-1-acme-daily-output-tokens 10"
        ]
    );
    assert!(!renamed.update(&published, REGION, &limited).await.dashboard_written);
    assert!(recorder.take().is_empty(), "the old names are forgotten");
}
