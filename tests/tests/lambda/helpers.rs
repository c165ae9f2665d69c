//! The whole stack on one machine: the emulator (seeded), moto with one route, `cargo lambda
//! watch` running `resolver-fn`, and the real `cache-extension` registered with it.

use harness::harness::lambda::{Extension, Invocation, LambdaWatch, Scratch};
use harness::harness::{Emulator, Moto, aws_env, free_port, http};
use serde_json::{Value, json};

pub(crate) const TOKEN: &str = "e2e-token";
pub(crate) const MODEL: &str = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
pub(crate) const ROUTE_ARN: &str = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/initechroute";

pub(crate) fn arn(id: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/{id}")
}

/// claims and legal departments, tenants acme and globex, apps chat and batch; one profile in
/// eu-west-1; `extra` more filler profiles in us-east-1.
pub(crate) fn org(extra: usize) -> Value {
    let mut profiles = vec![
        json!({"region": "us-east-1", "name": "acme-chat", "model": MODEL, "id": "acmechat0001",
               "tags": {"dept": "claims", "tenant": "acme", "app": "chat"}}),
        json!({"region": "us-east-1", "name": "acme-batch", "model": MODEL, "id": "acmebatch001",
               "tags": {"dept": "claims", "tenant": "acme", "app": "batch"}}),
        json!({"region": "us-east-1", "name": "globex-chat", "model": MODEL, "id": "globexchat01",
               "tags": {"dept": "legal", "tenant": "globex", "app": "chat"}}),
        json!({"region": "eu-west-1", "name": "acme-eu", "model": MODEL.replace("us-east-1", "eu-west-1"), "id": "acmeeuchat01",
               "tags": {"dept": "claims", "tenant": "acme", "app": "chat"}}),
    ];
    profiles.extend((0..extra).map(|i| {
        json!({"region": "us-east-1", "name": format!("filler-{i:04}"), "model": MODEL, "tags": {"filler": i.to_string()}})
    }));
    json!({ "profiles": profiles })
}

pub(crate) struct Stack {
    pub(crate) scratch: Scratch,
    pub(crate) emu: Emulator,
    pub(crate) _moto: Moto,
    pub(crate) watch: LambdaWatch,
    pub(crate) ext: Extension,
    pub(crate) env: Vec<(String, String)>,
}

impl Stack {
    /// Starts everything. `before_extension` runs once the emulator is up, before the extension
    /// loads its first snapshots (to inject a fault from the start, say).
    pub(crate) fn start(name: &str, ttl_seconds: &str, extra: usize, before_extension: impl FnOnce(&Emulator)) -> Self {
        Self::start_with(name, ttl_seconds, extra, true, before_extension)
    }

    /// As [`Stack::start`]; with `register` false the extension runs standalone, not registered
    /// with `cargo lambda watch`. Watch cannot deliver an INVOKE to a registered extension that
    /// died (real Lambda would reset the sandbox instead), so tests that kill the extension use
    /// an unregistered one: the function still reaches it over loopback until it is killed.
    pub(crate) fn start_with(
        name: &str,
        ttl_seconds: &str,
        extra: usize,
        register: bool,
        before_extension: impl FnOnce(&Emulator),
    ) -> Self {
        let scratch = Scratch::new(name).unwrap();
        let emu = Emulator::start(None).unwrap();
        emu.seed(&org(extra)).unwrap();
        let moto = Moto::start().unwrap();
        moto.put_parameter(
            "us-east-1",
            "/profile-resolver/routes/initech",
            &json!({"tags": {"tenant": "initech"}, "arn": ROUTE_ARN}).to_string(),
        )
        .unwrap();
        before_extension(&emu);
        let ext_port = free_port().unwrap();
        let mut env = aws_env(&emu.url, Some(&moto.url), "us-east-1");
        env.extend(
            [
                ("PROFILE_RESOLVER_TOKEN", TOKEN),
                ("PROFILE_RESOLVER_TTL_SECONDS", ttl_seconds),
                ("PROFILE_RESOLVER_REGIONS", "us-east-1,eu-west-1"),
                ("PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS", "1000"),
                ("AWS_LAMBDA_LOG_LEVEL", "debug"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let mut function_env = env.clone();
        function_env.push((
            "PROFILE_RESOLVER_EXTENSION_URL".into(),
            format!("http://127.0.0.1:{ext_port}"),
        ));
        let watch = LambdaWatch::start(&scratch, &function_env).unwrap();
        let mut ext_env = env.clone();
        if register {
            ext_env.push(("AWS_LAMBDA_RUNTIME_API".into(), watch.runtime_api()));
        }
        let ext = Extension::start(&scratch, &ext_env, ext_port).unwrap();
        Self {
            scratch,
            emu,
            _moto: moto,
            watch,
            ext,
            env,
        }
    }

    pub(crate) fn invoke(&self, payload: &Value) -> Result<Value, Invocation> {
        self.watch.invoke(&self.scratch, "resolver-fn", payload).unwrap()
    }

    pub(crate) fn resolve(&self, query: &Value) -> http::Reply {
        self.ext.resolve(TOKEN, query).unwrap()
    }

    pub(crate) fn health(&self) -> Value {
        http::get(&self.ext.url, "/health").unwrap().json()
    }

    pub(crate) fn force_refresh(&self) {
        let reply = http::request(
            &self.ext.url,
            "POST",
            "/v1/refresh",
            &[("x-profile-resolver-token", TOKEN)],
            b"",
        )
        .unwrap();
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
}
