//! A rig for the reliability suites: the emulator (restartable on its port), optionally moto,
//! and the real extension binary with short TTLs, talked to over real HTTP.

use harness::harness::lambda::{Extension, Scratch, eventually};
use harness::harness::{Emulator, Moto, aws_env, free_port, http};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub(crate) const TOKEN: &str = "reliability-token";
pub(crate) const TIMEOUT_MS: u64 = 500;
pub(crate) const MODEL: &str = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";

pub(crate) fn arn(region: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:123456789012:application-inference-profile/{id}")
}

/// acme/chat in both regions plus `filler` more profiles per region (150 makes two pages).
pub(crate) fn org(filler: usize, acme_id: &str) -> Value {
    let mut profiles = Vec::new();
    for region in ["us-east-1", "eu-west-1"] {
        let short = if region == "us-east-1" { "us" } else { "eu" };
        profiles.push(
            json!({"region": region, "name": "acme-chat", "id": format!("{short}{acme_id}"),
                             "model": MODEL.replace("us-east-1", region), "tags": {"tenant": "acme", "app": "chat"}}),
        );
        for i in 0..filler {
            profiles.push(
                json!({"region": region, "name": format!("filler-{i}"), "model": MODEL.replace("us-east-1", region),
                                 "tags": {"filler": i.to_string()}}),
            );
        }
    }
    json!({ "profiles": profiles })
}

pub(crate) struct Rig {
    pub(crate) scratch: Scratch,
    pub(crate) emu: Emulator,
    pub(crate) emu_listen: String,
    pub(crate) moto: Option<Moto>,
    pub(crate) ext: Extension,
}

pub(crate) struct RigOptions {
    pub(crate) ttl: &'static str,
    pub(crate) max_stale: &'static str,
    pub(crate) filler: usize,
    pub(crate) moto: bool,
    pub(crate) extra_env: Vec<(String, String)>,
}

impl Default for RigOptions {
    fn default() -> Self {
        Self {
            ttl: "1",
            max_stale: "3600",
            filler: 0,
            moto: false,
            extra_env: Vec::new(),
        }
    }
}

impl Rig {
    /// Starts the rig; `before` runs on the emulator before the extension starts loading.
    pub(crate) fn start(name: &str, opts: RigOptions, before: impl FnOnce(&Emulator)) -> Self {
        let scratch = Scratch::new(name).unwrap();
        let emu_listen = format!("127.0.0.1:{}", free_port().unwrap());
        let emu = Emulator::start_on(&emu_listen, None).unwrap();
        emu.seed(&org(opts.filler, "acmechat01")).unwrap();
        let moto = opts.moto.then(|| {
            let moto = Moto::start().unwrap();
            put_route(&moto);
            moto
        });
        before(&emu);
        let mut env = aws_env(&emu.url, moto.as_ref().map(|m| m.url.as_str()), "us-east-1");
        let timeout = TIMEOUT_MS.to_string();
        env.extend(
            [
                ("PROFILE_RESOLVER_TOKEN", TOKEN),
                ("PROFILE_RESOLVER_TTL_SECONDS", opts.ttl),
                ("PROFILE_RESOLVER_MAX_STALE_SECONDS", opts.max_stale),
                ("PROFILE_RESOLVER_REGIONS", "us-east-1,eu-west-1"),
                ("PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS", timeout.as_str()),
                ("AWS_LAMBDA_LOG_LEVEL", "debug"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        if !opts.moto {
            env.push(("PROFILE_RESOLVER_SSM_PREFIX".into(), String::new()));
        }
        env.extend(opts.extra_env);
        let ext = Extension::start_free(&scratch, &env).unwrap();
        Self {
            scratch,
            emu,
            emu_listen,
            moto,
            ext,
        }
    }

    pub(crate) fn resolve(&self, region: &str, tags: Value) -> (u16, Value, Duration) {
        let started = Instant::now();
        let reply = self
            .ext
            .resolve(TOKEN, &json!({"tags": tags, "region": region}))
            .unwrap();
        assert!(
            reply.status < 500 || reply.status == 503,
            "never another 5xx: {} {}",
            reply.status,
            reply.body
        );
        (reply.status, reply.json(), started.elapsed())
    }

    pub(crate) fn acme(&self, region: &str) -> (u16, Value, Duration) {
        self.resolve(region, json!({"tenant": "acme", "app": "chat"}))
    }

    /// Waits until us-east-1 answers acme with a fresh snapshot.
    pub(crate) fn warm(&self) {
        let ok = eventually(Duration::from_secs(15), || {
            let (status, body, _) = self.acme("us-east-1");
            (status == 200 && body["cache"] == "hit").then_some(())
        });
        assert!(ok.is_some(), "never warm: {}", self.ext.logs());
    }

    pub(crate) fn health(&self) -> Value {
        http::get(&self.ext.url, "/health").unwrap().json()
    }
}

pub(crate) const ROUTE_ARN: &str = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/initechroute";

pub(crate) fn put_route(moto: &Moto) {
    moto.put_parameter(
        "us-east-1",
        "/profile-resolver/routes/initech",
        &json!({"tags": {"tenant": "initech"}, "arn": ROUTE_ARN}).to_string(),
    )
    .unwrap();
}
