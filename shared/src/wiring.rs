//! Assembling the SDK-backed sources from the configuration, once at init. This is the one
//! module that knows both: `source/` and `published/` never read the configuration, and the
//! configuration imports neither, so no module of the engine imports in a circle.

use crate::build::Sources;
use crate::config::EngineConfig;
use crate::published::Published;
use crate::published::s3::S3Store;
use crate::source::RouteSource;
use crate::source::bedrock::SdkCatalogSource;
use crate::source::routes::SdkRouteSource;
use crate::source::tagging::SdkTagSource;
use crate::stats::Stats;
use aws_config::{Region, SdkConfig};
use std::sync::Arc;

/// The sources for `config`: tagging and Bedrock clients per allowed region; SSM routes in the
/// home region unless routes are disabled; in fleet mode, the snapshot bucket through S3 in the
/// home region (path-style at an endpoint override `lookup` or the SDK config gives).
pub fn sdk_sources(
    config: &EngineConfig,
    sdk: &SdkConfig,
    stats: Arc<Stats>,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Sources {
    let home = sdk.to_builder().region(Region::new(config.home_region.clone())).build();
    let routes = config
        .ssm_prefix
        .as_deref()
        .map(|prefix| Arc::new(SdkRouteSource::new(&home, prefix, stats.clone())) as Arc<dyn RouteSource>);
    let published = config.snapshot_url.as_ref().map(|url| Published {
        store: Arc::new(S3Store::new(&home, &url.bucket, lookup)),
        url: url.clone(),
    });
    Sources {
        tags: Arc::new(SdkTagSource::new(sdk, &config.regions, stats.clone())),
        catalog: Arc::new(SdkCatalogSource::new(sdk, &config.regions, stats)),
        routes,
        published,
    }
}
