//! The Bedrock catalogue through `ListInferenceProfiles(typeEquals=APPLICATION)`.

use super::sdk::{classify, per_region};
use super::{CatalogEntry, CatalogSource, FailureKind, Heartbeat, Operation, SourceError};
use crate::stats::Stats;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_bedrock::Client;
use aws_sdk_bedrock::types::InferenceProfileType;
use std::collections::HashMap;
use std::sync::Arc;

/// The largest page `ListInferenceProfiles` allows.
pub const MAX_RESULTS: i32 = 1000;

/// `ListInferenceProfiles` with one client per allowed region, made once.
#[derive(Debug, Clone)]
pub struct SdkCatalogSource {
    clients: HashMap<String, Client>,
    stats: Arc<Stats>,
}

impl SdkCatalogSource {
    /// Makes one client per region.
    pub fn new(sdk: &SdkConfig, regions: &[String], stats: Arc<Stats>) -> Self {
        let clients = per_region(sdk, regions, Client::new);
        Self { clients, stats }
    }
}

#[async_trait]
impl CatalogSource for SdkCatalogSource {
    async fn application_profiles(&self, region: &str, progress: &Heartbeat) -> Result<Vec<CatalogEntry>, SourceError> {
        let op = Operation::ListInferenceProfiles;
        let client = self
            .clients
            .get(region)
            .ok_or_else(|| SourceError::new(op, FailureKind::Unavailable, format!("no client for region {region}")))?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = super::Pages::default();
        loop {
            self.stats.upstream_call(region, op);
            let page = client
                .list_inference_profiles()
                .type_equals(InferenceProfileType::Application)
                .max_results(MAX_RESULTS)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify(op, &e))?;
            progress.beat();
            out.extend(page.inference_profile_summaries().iter().map(|s| {
                CatalogEntry {
                    arn: s.inference_profile_arn().to_owned(),
                    name: s.inference_profile_name().to_owned(),
                    status: Some(s.status().as_str().to_owned()),
                    models: s
                        .models()
                        .iter()
                        .filter_map(|m| m.model_arn().map(str::to_owned))
                        .collect(),
                }
            }));
            match pages.next(op, page.next_token())? {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }
}
