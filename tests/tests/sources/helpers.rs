//! Starts the emulator and moto, and builds SDK configs pointed at them.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ssm::config::Credentials;
use harness::harness::{Emulator, Moto};
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) const REGION: &str = "us-east-1";
pub(crate) const MODEL: &str = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";

pub(crate) async fn sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(shared::source::sdk::https_client())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await
}

pub(crate) fn spawn_emulator() -> Emulator {
    Emulator::start(None).expect("the emulator starts")
}

pub(crate) fn spawn_moto() -> Moto {
    Moto::start().expect("moto starts (make venv)")
}

/// `n` profiles in `region`, tenants t0..t4.
pub(crate) fn seed(region: &str, n: usize) -> Value {
    let profiles: Vec<Value> = (0..n)
        .map(|i| {
            json!({"region": region, "name": format!("{region}-p{i:04}"), "model": MODEL.replace(REGION, region),
                   "tags": {"tenant": format!("t{}", i % 5), "n": i.to_string()}})
        })
        .collect();
    json!({ "profiles": profiles })
}
