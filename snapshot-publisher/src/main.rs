//! `snapshot-publisher` (packaged as `bootstrap`): wiring only. See the crate docs.
//!
//! In Lambda it serves invokes. `snapshot-publisher --once` publishes every allowed region and
//! exits (non-zero if any failed): for a first publish from a shell, and for the demo.

use shared::clock::SystemClock;
use shared::source::sdk::load_sdk_config;
use shared::wiring::sdk_sources;
use snapshot_publisher::Publisher;
use snapshot_publisher::cloudwatch::CloudWatch;
use snapshot_publisher::config::Config;
use snapshot_publisher::cost_views::CostViews;
use snapshot_publisher::handler::{handle, respond};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = Config::from_env()?;
    config.log.init();
    let sdk = load_sdk_config(config.engine.upstream_timeout).await;
    let stats = Arc::new(shared::stats::Stats::for_regions(&config.engine.regions));
    let lookup = |k: &str| std::env::var(k).ok();
    let mut sources = sdk_sources(&config.engine, &sdk, stats, &lookup);
    sources.routes = None;
    let published = sources
        .published
        .take()
        .ok_or("PROFILE_RESOLVER_SNAPSHOT_URL is required")?;
    let mut publisher = Publisher::new(sources, published, config.interval, Arc::new(SystemClock));
    if let Some(settings) = config.cost_views.clone() {
        let monitoring = Arc::new(CloudWatch::new(&sdk, &lookup));
        publisher = publisher.with_cost_views(CostViews { settings, monitoring });
    }
    let allowed = config.engine.regions.clone();
    if std::env::args().any(|a| a == "--once") {
        let reports = publisher.publish_all(&allowed, config.account.as_deref()).await;
        let out = respond(0, reports)?;
        // The reports are the command's output.
        use std::io::Write;
        writeln!(std::io::stdout().lock(), "{out}")?;
        return Ok(());
    }
    let (publisher, allowed, account) = (Arc::new(publisher), Arc::new(allowed), config.account.clone());
    lambda_runtime::run(lambda_runtime::service_fn(move |event| {
        let (publisher, allowed, account) = (Arc::clone(&publisher), Arc::clone(&allowed), account.clone());
        async move { handle(&publisher, &allowed, account.as_deref(), event).await }
    }))
    .await
}
