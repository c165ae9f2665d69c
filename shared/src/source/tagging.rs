//! Tag discovery through the Resource Groups Tagging API `GetResources`.

use super::sdk::{classify, per_region};
use super::{FailureKind, Heartbeat, Operation, SourceError, TagSource, TaggedResource};
use crate::profile::RESOURCE_TYPE;
use crate::stats::Stats;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_resourcegroupstagging::Client;
use std::collections::HashMap;
use std::sync::Arc;

/// The largest page `GetResources` allows.
pub const RESOURCES_PER_PAGE: i32 = 100;

/// `GetResources` with one client per allowed region, made once.
#[derive(Debug, Clone)]
pub struct SdkTagSource {
    clients: HashMap<String, Client>,
    stats: Arc<Stats>,
}

impl SdkTagSource {
    /// Makes one client per region.
    pub fn new(sdk: &SdkConfig, regions: &[String], stats: Arc<Stats>) -> Self {
        let clients = per_region(sdk, regions, Client::new);
        Self { clients, stats }
    }

    async fn list_all(
        &self,
        client: &Client,
        region: &str,
        progress: &Heartbeat,
    ) -> Result<Vec<TaggedResource>, SourceError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = super::Pages::default();
        loop {
            self.stats.upstream_call(region, Operation::GetResources);
            let page = client
                .get_resources()
                .resource_type_filters(RESOURCE_TYPE)
                .resources_per_page(RESOURCES_PER_PAGE)
                .set_pagination_token(token.take())
                .send()
                .await
                .map_err(|e| classify(Operation::GetResources, &e))?;
            progress.beat();
            out.extend(page.resource_tag_mapping_list().iter().filter_map(|m| {
                Some(TaggedResource {
                    arn: m.resource_arn()?.to_owned(),
                    tags: m
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_owned(), t.value().to_owned()))
                        .collect(),
                })
            }));
            match pages.next(Operation::GetResources, page.pagination_token())? {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }
}

#[async_trait]
impl TagSource for SdkTagSource {
    async fn tagged_resources(&self, region: &str, progress: &Heartbeat) -> Result<Vec<TaggedResource>, SourceError> {
        let client = self.clients.get(region).ok_or_else(|| {
            SourceError::new(
                Operation::GetResources,
                FailureKind::Unavailable,
                format!("no client for region {region}"),
            )
        })?;
        match self.list_all(client, region, progress).await {
            Err(e) if e.kind == FailureKind::PaginationTokenExpired => {
                tracing::warn!(
                    region,
                    "pagination token expired mid-listing; restarting the listing once"
                );
                self.list_all(client, region, progress).await
            }
            other => other,
        }
    }
}
