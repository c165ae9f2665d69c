//! A fleet simulation: N sandboxes are N real `cache-extension` processes, each under its own
//! fake Extensions API that freezes it (SIGSTOP) whenever it is back in `/next`. Random
//! sandboxes take invokes; each invoke resolves a few tenants' chat profiles and calls the
//! emulator's Bedrock Runtime `Converse` with the ARN it got, so that the emulator's metering
//! shows where every model call was billed.
//!
//! In S3 mode the real `snapshot-publisher` runs under a fake Runtime API: the simulation
//! invokes it as its schedule would and with the CloudTrail event of each retag. Along the way:
//! a retag that moves a tenant to another profile, a throttled Tagging API, and the publisher
//! killed and restarted.
//!
//! The verdict: every call must land on a profile that carried the caller's tenant tag at the
//! time of the call, except within the retag's window: from the retag until two reader TTLs (one
//! fresh, one of stale-while-revalidate) after the change was published (S3 mode) or made
//! (direct mode). Those are counted and reported, never silently accepted. After the window, an
//! answer with the old profile must be the contract's stale-if-error: `cache: stale`, with an
//! `ageSeconds` that dates its data before the retag (a refresh failed, here most likely under
//! the throttled Tagging API); any other is an overdue answer, never expected. The test, the
//! benchmark and the demo all run this.

use crate::harness::fleet::{CountingProxy, Publisher, create_bucket};
use crate::harness::freeze::FakeLambda;
use crate::harness::lambda::{Extension, Scratch};
use crate::harness::{Emulator, Moto, aws_env, http};
use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const REGION: &str = "us-east-1";
const TOKEN: &str = "sim-token";
const MODEL: &str = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
const BUCKET: &str = "fleet-sim";
/// Between the extension's clock, which dates an answer's data, and this one's, which dates the
/// answer: the time the answer took to arrive, on a loaded machine.
const AGE_SLACK: f64 = 0.25;
/// The tenants, each with a chat profile.
pub const TENANTS: [&str; 5] = ["acme", "globex", "initech", "umbrella", "hooli"];
const CLOUDTRAIL: &str = include_str!("../../snapshot-publisher/tests/fixtures/cloudtrail-bedrock-tag-resource.json");

/// Where sandboxes get their snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Each sandbox lists the region itself.
    Direct,
    /// Sandboxes read what the publisher wrote to S3.
    S3,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Direct or S3.
    pub mode: Mode,
    /// Sandboxes (extension processes).
    pub sandboxes: usize,
    /// Rounds of invokes.
    pub rounds: usize,
    /// Invokes per round, on random sandboxes.
    pub invokes_per_round: usize,
    /// Time between rounds.
    pub round_gap: Duration,
    /// The readers' TTL, seconds.
    pub ttl_seconds: u64,
    /// Filler profiles besides the tenants' (2,000 makes 20 `GetResources` pages).
    pub filler: usize,
    /// Move the first tenant to the spare profile at this round.
    pub retag_at: Option<usize>,
    /// Throttle this fraction of `GetResources` from round `.0` to round `.1`.
    pub throttle: Option<(usize, usize, f64)>,
    /// Kill the publisher at round `.0`, start a new one at round `.1` (S3 mode).
    pub publisher_down: Option<(usize, usize)>,
    /// Invoke the publisher as its schedule would, every this many rounds (S3 mode).
    pub schedule_every: usize,
    /// Latency per emulator call.
    pub latency_ms: u64,
}

/// What happened.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The plan's mode, sandboxes and length.
    pub mode: String,
    /// Sandboxes.
    pub sandboxes: usize,
    /// Wall time of the rounds.
    pub seconds: f64,
    /// `Converse` calls made.
    pub model_calls: u64,
    /// Calls billed to a profile without the caller's tenant, outside the retag window. Each
    /// must come from a `stale_if_error` answer.
    pub misbilled: u64,
    /// Calls billed to the tenant's old profile inside the retag window.
    pub misbilled_in_window: u64,
    /// Resolve errors outside the retag window (never expected).
    pub errors: u64,
    /// Resolve errors inside it (a snapshot between the retag's two `TagResource` calls).
    pub errors_in_window: u64,
    /// `GetResources` calls at the emulator.
    pub get_resources: u64,
    /// Of which the publisher's.
    pub publisher_get_resources: u64,
    /// S3 GETs readers sent: 200s and 304s.
    pub s3_gets: (usize, usize),
    /// Publishes that succeeded.
    pub publishes: u64,
    /// From the retag to the moment the last sandbox answered with it.
    pub retag_seen_by_all_after: Option<f64>,
    /// Per sandbox, from the retag to its first answer with it (seconds).
    pub retag_seen_after: Vec<f64>,
    /// Spend per tenant tag at call time: calls, input tokens, output tokens.
    pub spend: BTreeMap<String, (u64, u64, u64)>,
    /// Answers with the old profile after the window that were not stale-if-error: `cache`
    /// other than `stale`, or an `ageSeconds` younger than the retag (never expected).
    pub overdue_answers: u64,
    /// Answers with the old profile after the window, flagged `cache: stale` with data from
    /// before the retag: a refresh failed and the contract's stale-if-error served (rule 3).
    pub stale_if_error: u64,
    /// Each answer with the moved tenant's old profile after the retag: seconds after it, the
    /// answer's `cache` and `ageSeconds`. Tells a stale-if-error answer from an overdue one.
    pub old_profile_answers: Vec<(f64, String, f64)>,
}

struct Sandbox {
    lambda: FakeLambda,
    ext: Extension,
}

/// The seed: each tenant's chat profile, a spare one, and filler.
fn seed(filler: usize) -> Value {
    let mut profiles: Vec<Value> = TENANTS
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"region": REGION, "name": format!("{t}-chat"), "id": format!("tenantchat{i:02}"),
                             "model": MODEL, "tags": {"tenant": t, "app": "chat"}})
        })
        .collect();
    profiles.push(
        json!({"region": REGION, "name": "spare-chat", "id": "sparechat001", "model": MODEL,
                         "tags": {"tenant": "spare", "app": "chat"}}),
    );
    for i in 0..filler {
        profiles.push(json!({"region": REGION, "name": format!("filler-{i}"), "model": MODEL,
                             "tags": {"filler": i.to_string()}}));
    }
    json!({ "profiles": profiles })
}

fn arn(id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:123456789012:application-inference-profile/{id}")
}

fn auth(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

fn tag(emu: &Emulator, id: &str, tenant: &str) -> anyhow::Result<()> {
    let body = json!({"resourceARN": arn(id), "tags": [{"key": "tenant", "value": tenant}]});
    let r = http::request(
        &emu.url,
        "POST",
        "/tagResource",
        &[
            ("authorization", &auth("bedrock")),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )?;
    anyhow::ensure!(r.status == 200, "TagResource: {}", r.body);
    Ok(())
}

fn converse(emu: &Emulator, profile_arn: &str, tenant: &str) -> anyhow::Result<()> {
    let id = percent_encoding::utf8_percent_encode(profile_arn, percent_encoding::NON_ALPHANUMERIC);
    let body = json!({"messages": [{"role": "user", "content": [{"text": "summarise this claim please"}]}],
                      "requestMetadata": {"tenant": tenant}});
    let r = http::request(
        &emu.url,
        "POST",
        &format!("/model/{id}/converse"),
        &[
            ("authorization", &auth("bedrock")),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )?;
    anyhow::ensure!(r.status == 200, "Converse: {} {}", r.status, r.body);
    Ok(())
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// Runs `plan` and reports. Progress goes to stderr.
///
/// # Errors
/// When the world cannot be set up, or a process misbehaves (an invoke never returns).
pub fn run(plan: &Plan) -> anyhow::Result<Report> {
    let scratch = Scratch::new(&format!("sim-{:?}-{}", plan.mode, plan.sandboxes))?;
    let emu = Emulator::start(None)?;
    emu.seed(&seed(plan.filler))?;
    if plan.latency_ms > 0 {
        emu.set_fault(json!({"operation": "*", "latencyMs": plan.latency_ms}))?;
    }
    let moto = Moto::start()?;
    create_bucket(&moto.url, BUCKET)?;
    let s3 = CountingProxy::start(&moto.url)?;
    let mut env = aws_env(&emu.url, None, REGION);
    let ttl = plan.ttl_seconds.to_string();
    let interval = (plan.round_gap * plan.schedule_every as u32)
        .as_secs()
        .max(1)
        .to_string();
    env.extend(
        [
            ("AWS_ENDPOINT_URL_S3", s3.url.as_str()),
            ("PROFILE_RESOLVER_SSM_PREFIX", ""),
            ("PROFILE_RESOLVER_TOKEN", TOKEN),
            ("PROFILE_RESOLVER_TTL_SECONDS", ttl.as_str()),
            ("PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS", "2000"),
            ("PROFILE_RESOLVER_PUBLISH_INTERVAL_SECONDS", interval.as_str()),
            ("AWS_LAMBDA_LOG_LEVEL", "warn"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    if plan.mode == Mode::S3 {
        env.push(("PROFILE_RESOLVER_SNAPSHOT_URL".into(), format!("s3://{BUCKET}/fleet/")));
    }
    let start_publisher = || Publisher::start(&scratch, &env);
    let mut publisher = match plan.mode {
        Mode::S3 => Some(start_publisher()?),
        Mode::Direct => None,
    };
    if let Some(p) = &publisher {
        let first = p.invoke(json!({}))?;
        anyhow::ensure!(first.is_ok(), "the first publish failed: {first:?}");
    }
    emu.clear_calls()?;
    let mut publishes = 0;
    let mut publisher_calls = 0;
    let mut publish = |p: &Option<Publisher>, payload: Value| -> anyhow::Result<Option<SystemTime>> {
        let Some(p) = p else { return Ok(None) };
        let before = emu.calls("GetResources", REGION)?;
        let out = p.invoke(payload)?;
        publisher_calls += emu.calls("GetResources", REGION)? - before;
        if out.is_ok() {
            publishes += 1;
            return Ok(Some(SystemTime::now()));
        }
        Ok(None)
    };

    eprintln!("sim: starting {} sandboxes ({:?} mode)", plan.sandboxes, plan.mode);
    // Started 16 at a time: each one's init awaits its first load, as under Lambda.
    let mut sandboxes = Vec::with_capacity(plan.sandboxes);
    let start_one = |i: usize| -> anyhow::Result<Sandbox> {
        let mut lambda = FakeLambda::start()?;
        let mut e = env.clone();
        e.push(("AWS_LAMBDA_RUNTIME_API".into(), lambda.runtime_api.clone()));
        let ext = Extension::start_free(&scratch, &e).with_context(|| format!("sandbox {i}"))?;
        lambda
            .freeze(ext.proc.pid(), Duration::from_secs(60))
            .with_context(|| format!("sandbox {i}: {}", ext.logs()))?;
        Ok(Sandbox { lambda, ext })
    };
    for chunk in (0..plan.sandboxes).collect::<Vec<_>>().chunks(16) {
        let started: Vec<anyhow::Result<Sandbox>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk.iter().map(|&i| scope.spawn(move || start_one(i))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a start-up thread panicked")))
                })
                .collect()
        });
        for sb in started {
            sandboxes.push(sb?);
        }
    }
    if plan.mode == Mode::Direct {
        // Initialisation listed the region once per sandbox; the run counts from here.
        emu.clear_calls()?;
    }
    let gets_before = (s3.gets("/us-east-1.json"), s3.gets("/us-east-1.heartbeat.json"));

    let started = Instant::now();
    let mut report = Report {
        mode: format!("{:?}", plan.mode).to_lowercase(),
        sandboxes: plan.sandboxes,
        ..Report::default()
    };
    let (moved, archive) = (TENANTS[0], format!("{}-archived", TENANTS[0]));
    let mut retag: Option<(f64, Option<f64>)> = None; // (retagged at, published at)
    let mut seen_retag: Vec<Option<f64>> = vec![None; plan.sandboxes];
    let mut errors: Vec<f64> = Vec::new();
    let mut tagged_at = f64::INFINITY;
    // One TTL fresh and one of stale-while-revalidate (jitter included), and two rounds.
    let ttl_window = plan.ttl_seconds as f64 * 2.2 + plan.round_gap.as_secs_f64() * 2.0;
    for round in 0..plan.rounds {
        if plan.throttle.is_some_and(|(from, _, _)| from == round) {
            let rate = plan.throttle.map_or(0.0, |t| t.2);
            emu.set_fault(json!({"operation": "GetResources", "throttleRate": rate, "latencyMs": plan.latency_ms}))?;
        }
        if plan.throttle.is_some_and(|(_, until, _)| until == round) {
            emu.set_fault(json!({"operation": "GetResources", "latencyMs": plan.latency_ms}))?;
        }
        if plan.publisher_down.is_some_and(|(at, _)| at == round) {
            eprintln!("sim: round {round}: the publisher is killed");
            publisher = None;
        }
        if plan.mode == Mode::S3 && publisher.is_none() && plan.publisher_down.is_some_and(|(_, back)| back == round) {
            eprintln!("sim: round {round}: a new publisher starts");
            publisher = Some(start_publisher()?);
        }
        if plan.retag_at == Some(round) {
            // Move the tenant to the spare profile: tag the new one, then retire the old one.
            let at = epoch(SystemTime::now());
            tag(&emu, "sparechat001", moved)?;
            tag(&emu, "tenantchat00", &archive)?;
            tagged_at = epoch(SystemTime::now());
            let published = publish(
                &publisher,
                json!({"Records": [{"messageId": "retag", "eventSource": "aws:sqs", "body": CLOUDTRAIL}]}),
            )?;
            retag = Some((at, published.map(epoch)));
            eprintln!("sim: round {round}: {moved} moved to the spare profile");
        } else if round % plan.schedule_every.max(1) == 0 {
            let published = publish(&publisher, json!({"source": "profile-resolver.schedule"}))?;
            if let (Some((_, p @ None)), Some(t)) = (retag.as_mut(), published) {
                *p = Some(epoch(t));
            }
        }
        for _ in 0..plan.invokes_per_round {
            let i = fastrand::usize(..sandboxes.len());
            let sb = &mut sandboxes[i];
            sb.lambda.invoke(Duration::from_secs(10))?;
            for _ in 0..3 {
                let tenant = TENANTS[fastrand::usize(..TENANTS.len())];
                let r = sb
                    .ext
                    .resolve(TOKEN, &json!({"tags": {"tenant": tenant, "app": "chat"}}))?;
                let now = epoch(SystemTime::now());
                match r.json()["profile"]["arn"].as_str() {
                    Some(a) if r.status == 200 => {
                        converse(&emu, a, tenant)?;
                        if tenant == moved && a == arn("sparechat001") && seen_retag[i].is_none() {
                            seen_retag[i] = retag.map(|(at, _)| now - at);
                        }
                        if let Some((at, _)) = retag.filter(|_| tenant == moved && a == arn("tenantchat00")) {
                            let answer = r.json();
                            let cache = answer["cache"].as_str().unwrap_or("").to_owned();
                            let age = answer["ageSeconds"].as_f64().unwrap_or(f64::NAN);
                            report.old_profile_answers.push((now - at, cache, age));
                        }
                    }
                    _ => errors.push(now),
                }
            }
            sb.lambda.freeze(sb.ext.proc.pid(), Duration::from_secs(30))?;
        }
        std::thread::sleep(plan.round_gap);
    }
    report.seconds = started.elapsed().as_secs_f64();
    let in_window = |t: f64| {
        retag.is_some_and(|(at, published)| {
            let end = match (plan.mode, published) {
                (Mode::S3, Some(p)) => p + ttl_window,
                (Mode::S3, None) => f64::INFINITY,
                (Mode::Direct, _) => at + ttl_window,
            };
            t >= at && t <= end
        })
    };
    report.errors = errors.iter().filter(|t| !in_window(**t)).count() as u64;
    // After the window, an old-profile answer must be stale-if-error: `cache: stale` with data
    // from before the retag.
    let retag_at = retag.map_or(0.0, |(at, _)| at);
    let late = report
        .old_profile_answers
        .iter()
        .filter(|(after, _, _)| !in_window(retag_at + after));
    let stale_if_error =
        |(after, cache, age): &&(f64, String, f64)| cache == "stale" && retag_at + after - age <= tagged_at + AGE_SLACK;
    report.stale_if_error = late.clone().filter(stale_if_error).count() as u64;
    report.overdue_answers = late.count() as u64 - report.stale_if_error;
    report.errors_in_window = errors.len() as u64 - report.errors;
    let usage = http::get(&emu.url, "/_emulator/usage")?.json();
    for call in usage["calls"].as_array().into_iter().flatten() {
        let asked = call["requestMetadata"]["tenant"].as_str().unwrap_or("");
        let billed = call["tags"]["tenant"].as_str().unwrap_or("(untagged)");
        let at = call["at"].as_f64().unwrap_or(0.0);
        report.model_calls += 1;
        if asked != billed {
            if in_window(at) {
                report.misbilled_in_window += 1;
            } else {
                report.misbilled += 1;
            }
        }
        let e = report.spend.entry(billed.to_owned()).or_default();
        *e = (
            e.0 + 1,
            e.1 + call["inputTokens"].as_u64().unwrap_or(0),
            e.2 + call["outputTokens"].as_u64().unwrap_or(0),
        );
    }
    report.get_resources = emu.calls("GetResources", REGION)?;
    report.publisher_get_resources = publisher_calls;
    let gets_after = (s3.gets("/us-east-1.json"), s3.gets("/us-east-1.heartbeat.json"));
    report.s3_gets = (
        gets_after.0.0 + gets_after.1.0 - gets_before.0.0 - gets_before.1.0,
        gets_after.0.1 + gets_after.1.1 - gets_before.0.1 - gets_before.1.1,
    );
    report.publishes = publishes;
    report.retag_seen_after = seen_retag.iter().flatten().copied().collect();
    let every = seen_retag.iter().all(Option::is_some) && retag.is_some();
    report.retag_seen_by_all_after = every.then(|| report.retag_seen_after.iter().copied().fold(0.0, f64::max));
    for mut sb in sandboxes {
        let _ = sb.lambda.shutdown();
        let _ = sb.ext.wait_exit(Duration::from_secs(2));
    }
    Ok(report)
}

/// The spend table, as Cost Explorer would group it by the `tenant` tag. The price is the
/// emulator's: $3 per million input tokens and $15 per million output tokens.
pub fn spend_table(report: &Report) -> String {
    let mut out =
        String::from("| tenant tag | calls | input tokens | output tokens | cost (USD) |\n|---|---|---|---|---|\n");
    for (tenant, (calls, input, output)) in &report.spend {
        let cost = *input as f64 * 3e-6 + *output as f64 * 15e-6;
        out.push_str(&format!("| {tenant} | {calls} | {input} | {output} | {cost:.4} |\n"));
    }
    out
}
