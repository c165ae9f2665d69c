//! Fleet mode over real HTTP: the real `snapshot-publisher` binary invoked through a Lambda
//! Runtime API with real event shapes, the real `cache-extension` reading what it published,
//! moto's S3 (behind a proxy that counts what readers send), and the emulator for Bedrock and
//! tagging.

// A test that cannot set up its world should fail loudly, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod integrity;
mod publisher;
mod readers;
mod simulation;

use harness::harness::fleet::{CountingProxy, Publisher, create_bucket};
use harness::harness::lambda::{Extension, Scratch};
use harness::harness::{Emulator, Moto, aws_env, http};
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) const BUCKET: &str = "fleet-snapshots";
pub(crate) const TOKEN: &str = "fleet-token";
pub(crate) const REGION: &str = "us-east-1";
pub(crate) const MODEL: &str = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
pub(crate) const ACME: &str = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/acmechat0001";
pub(crate) const CLOUDTRAIL: &str =
    include_str!("../../../snapshot-publisher/tests/fixtures/cloudtrail-bedrock-tag-resource.json");
pub(crate) const TAG_CHANGE: &str =
    include_str!("../../../snapshot-publisher/tests/fixtures/tag-change-on-resource.json");
pub(crate) const SQS: &str = include_str!("../../../snapshot-publisher/tests/fixtures/sqs-event.json");

/// acme's chat profile and 150 others: two `GetResources` pages.
pub(crate) fn org() -> Value {
    let mut profiles = vec![json!({"region": REGION, "name": "acme-chat", "id": "acmechat0001",
                                   "model": MODEL, "tags": {"tenant": "acme", "app": "chat"}})];
    for i in 0..150 {
        profiles.push(json!({"region": REGION, "name": format!("filler-{i}"), "model": MODEL,
                             "tags": {"filler": i.to_string()}}));
    }
    json!({ "profiles": profiles })
}

/// The emulator, moto and the counting proxy in front of moto's S3, with the bucket.
pub(crate) struct World {
    pub(crate) scratch: Scratch,
    pub(crate) emu: Emulator,
    pub(crate) moto: Moto,
    pub(crate) s3: CountingProxy,
}

impl World {
    pub(crate) fn start(name: &str) -> Self {
        let scratch = Scratch::new(name).unwrap();
        let emu = Emulator::start(None).unwrap();
        emu.seed(&org()).unwrap();
        let moto = Moto::start().unwrap();
        create_bucket(&moto.url, BUCKET).unwrap();
        let s3 = CountingProxy::start(&moto.url).unwrap();
        Self { scratch, emu, moto, s3 }
    }

    /// The SDK environment, with S3 through the proxy and fleet mode on.
    pub(crate) fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = aws_env(&self.emu.url, None, REGION);
        env.extend(
            [
                ("AWS_ENDPOINT_URL_S3", self.s3.url.as_str()),
                ("PROFILE_RESOLVER_SNAPSHOT_URL", "s3://fleet-snapshots/profiles/"),
                ("PROFILE_RESOLVER_SSM_PREFIX", ""),
                ("PROFILE_RESOLVER_TOKEN", TOKEN),
                ("AWS_LAMBDA_LOG_LEVEL", "debug"),
            ]
            .into_iter()
            .chain(extra.iter().copied())
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        env
    }

    pub(crate) fn publisher(&self, extra: &[(&str, &str)]) -> Publisher {
        Publisher::start(&self.scratch, &self.env(extra)).unwrap()
    }

    pub(crate) fn extension(&self, extra: &[(&str, &str)]) -> Extension {
        Extension::start_free(&self.scratch, &self.env(extra)).unwrap()
    }

    /// Bedrock `TagResource`, through the emulator.
    pub(crate) fn tag(&self, arn: &str, key: &str, value: &str) {
        let body = json!({"resourceARN": arn, "tags": [{"key": key, "value": value}]});
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/bedrock/aws4_request, SignedHeaders=host, Signature=0"
        );
        let reply = http::request(
            &self.emu.url,
            "POST",
            "/tagResource",
            &[("authorization", &auth), ("content-type", "application/json")],
            body.to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    /// The object's ETag and body, straight from moto.
    pub(crate) fn object(&self, key: &str) -> (String, String) {
        let r = harness::harness::fleet::get_object(&self.moto.url, BUCKET, &format!("profiles/{key}")).unwrap();
        assert_eq!(r.status, 200, "{key}: {}", r.body);
        (r.header("etag").unwrap_or_default().to_owned(), r.body)
    }
}

/// An SQS batch as Lambda delivers it (the `aws_lambda_events` fixture), one record per body.
pub(crate) fn sqs(bodies: &[&str]) -> Value {
    let mut batch: Value = serde_json::from_str(SQS).unwrap();
    let template = batch["Records"][0].clone();
    batch["Records"] = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut r = template.clone();
            r["messageId"] = json!(format!("m{i}"));
            r["body"] = json!(body);
            r
        })
        .collect();
    batch
}

/// The tenant tag of the profile answering `app=chat`, from the extension.
pub(crate) fn chat_tenant(ext: &Extension) -> (u16, Value) {
    let r = ext.resolve(TOKEN, &json!({"tags": {"app": "chat"}})).unwrap();
    (r.status, r.json())
}

pub(crate) const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
