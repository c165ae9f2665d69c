//! Fleet mode against direct mode, with the simulation of [`crate::sim`]: N sandboxes under the
//! freeze cycle at 2,000 profiles (20 `GetResources` pages) and 20 ms per emulator call, TTL 2 s.
//! Each round invokes up to 20 random sandboxes; a retag happens at the third round.

use super::Options;
use super::report::Report;
use crate::harness::fleet::{CountingProxy, Publisher, create_bucket};
use crate::harness::lambda::{Extension, Scratch};
use crate::harness::{Emulator, Moto, aws_env, http};
use crate::sim::{Mode, Plan, run};
use serde_json::json;
use std::time::{Duration, Instant};

const SECTION: &str = "7. fleet: direct against S3 mode (2,000 profiles, 20 ms per call, TTL 2 s)";

/// The fleet section: calls and requests per minute for each fleet size and mode, retag
/// propagation, and a cold reader's time to its first answer in each mode.
///
/// # Errors
/// When a simulation cannot run.
pub fn fleet(opts: &Options, report: &mut Report) -> anyhow::Result<()> {
    // BENCH_FLEET_SIZES=1,10,100 picks the fleet sizes (500 sandboxes take most of this
    // machine's memory and several minutes).
    let sizes: Vec<usize> = match std::env::var("BENCH_FLEET_SIZES") {
        Ok(list) => list.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) if opts.smoke => vec![1, 3],
        Err(_) => vec![1, 10, 100, 500],
    };
    for &n in &sizes {
        for mode in [Mode::Direct, Mode::S3] {
            eprintln!("bench: fleet, {n} sandboxes, {mode:?} mode");
            let r = run(&Plan {
                mode,
                sandboxes: n,
                rounds: if opts.smoke { 4 } else { 16 },
                invokes_per_round: n.min(20),
                round_gap: Duration::from_millis(500),
                ttl_seconds: 2,
                filler: if opts.smoke { 150 } else { 1995 },
                retag_at: Some(2),
                throttle: None,
                publisher_down: None,
                schedule_every: 4,
                latency_ms: 20,
            })?;
            let per_minute = |count: f64| count / r.seconds * 60.0;
            let m = format!("{mode:?}").to_lowercase();
            report.add(
                SECTION,
                &format!("N={n} {m}: GetResources calls per minute"),
                per_minute(r.get_resources as f64),
                "calls/min",
            );
            report.add(
                SECTION,
                &format!("N={n} {m}: S3 GETs per minute (200 + 304)"),
                per_minute((r.s3_gets.0 + r.s3_gets.1) as f64),
                "req/min",
            );
            let mut seen = r.retag_seen_after.clone();
            seen.sort_by(f64::total_cmp);
            if let (Some(p50), Some(max)) = (seen.get(seen.len() / 2), seen.last()) {
                report.add(
                    SECTION,
                    &format!("N={n} {m}: retag to answer, p50 over {} sandboxes", seen.len()),
                    *p50,
                    "s",
                );
                report.add(SECTION, &format!("N={n} {m}: retag to answer, max"), *max, "s");
            }
            report.add(
                SECTION,
                &format!("N={n} {m}: calls billed to the wrong tenant outside the retag window"),
                r.misbilled as f64,
                "calls",
            );
        }
    }
    let (direct, s3) = cold_reader(opts)?;
    report.add(
        SECTION,
        "cold reader, exec to first answer: direct (21 calls)",
        direct,
        "ms",
    );
    report.add(SECTION, "cold reader, exec to first answer: S3 (2 GETs)", s3, "ms");
    report.notes.push(
        "fleet: per-minute rates are measured at TTL 2 s over the run; at TTL 60 s divide direct mode's by 30 \
         (S3 mode's GetResources are the publisher's pages per publish, whatever the TTL); the parse-and-index \
         cost of a published snapshot is criterion's read_published_snapshot"
            .into(),
    );
    Ok(())
}

/// Milliseconds from exec to a first 200 answer, for a reader in direct and in S3 mode.
fn cold_reader(opts: &Options) -> anyhow::Result<(f64, f64)> {
    let scratch = Scratch::new("bench-cold-reader")?;
    let emu = Emulator::start(None)?;
    let filler = if opts.smoke { 150 } else { 1995 };
    emu.seed(
        &json!({"profiles": (0..filler).map(|i| json!({"region": "us-east-1", "name": format!("p-{i}"),
        "model": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        "tags": {"tenant": format!("t{i}"), "app": "chat"}})).collect::<Vec<_>>()}),
    )?;
    emu.set_fault(json!({"operation": "*", "latencyMs": 20}))?;
    let moto = Moto::start()?;
    create_bucket(&moto.url, "bench-cold")?;
    let s3 = CountingProxy::start(&moto.url)?;
    let mut env = aws_env(&emu.url, None, "us-east-1");
    env.extend([
        ("AWS_ENDPOINT_URL_S3".to_owned(), s3.url.clone()),
        ("PROFILE_RESOLVER_SSM_PREFIX".to_owned(), String::new()),
        ("PROFILE_RESOLVER_TOKEN".to_owned(), "bench".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL".to_owned(), "warn".to_owned()),
    ]);
    let mut s3_env = env.clone();
    s3_env.push(("PROFILE_RESOLVER_SNAPSHOT_URL".into(), "s3://bench-cold/p/".into()));
    Publisher::start(&scratch, &s3_env)?
        .invoke(json!({}))?
        .map_err(|e| anyhow::anyhow!("publish: {e}"))?;
    let first_answer = |env: &[(String, String)]| -> anyhow::Result<f64> {
        let start = Instant::now();
        let ext = Extension::start_free(&scratch, env)?;
        for _ in 0..2_000 {
            let r = http::request(
                &ext.url,
                "GET",
                "/v1/resolve?tag:tenant=t7",
                &[("x-profile-resolver-token", "bench")],
                b"",
            )?;
            if r.status == 200 {
                return Ok(start.elapsed().as_secs_f64() * 1000.0);
            }
        }
        anyhow::bail!("no answer")
    };
    Ok((first_answer(&env)?, first_answer(&s3_env)?))
}
