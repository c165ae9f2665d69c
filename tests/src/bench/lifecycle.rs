//! What the lifecycle costs an invoke: the time from an INVOKE event to the extension's next
//! `/next` (the part of the invoke the extension adds), when no refresh is due and when one
//! is, under the freeze cycle of [`crate::harness::freeze`], with 20 ms per upstream call.

use super::Options;
use super::report::Report;
use super::scenarios::{TOKEN, engine_env, median};
use crate::harness::Emulator;
use crate::harness::freeze::FakeLambda;
use crate::harness::lambda::{Extension, Scratch};
use serde_json::json;
use std::time::{Duration, Instant};

const SECTION: &str = "6. lifecycle: INVOKE to the extension's next /next (20 ms per upstream call)";
const BACK: Duration = Duration::from_secs(60);

/// Runs both cases and adds their rows.
///
/// # Errors
/// When a process does not start or does not come back to `/next`.
pub async fn invoke_overhead(opts: &Options, report: &mut Report, emu: &Emulator) -> anyhow::Result<()> {
    emu.set_fault(json!({"operation": "*", "latencyMs": 20}))?;
    let (quick, smoke) = (if opts.smoke { 5 } else { 200 }, opts.smoke);
    let measured = tokio::task::spawn_blocking({
        let url = emu.url.clone();
        move || -> anyhow::Result<_> {
            let not_due = cycle(&url, "3600", quick, Duration::ZERO)?;
            let due = cycle(&url, "1", if smoke { 2 } else { 8 }, Duration::from_millis(1300))?;
            Ok((not_due, due))
        }
    })
    .await??;
    emu.clear_faults()?;
    let ((init_ms, not_due), (_, due)) = measured;
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let pct = |v: &[Duration], p: f64| {
        let mut v: Vec<f64> = v.iter().map(ms).collect();
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    report.add(
        SECTION,
        &format!(
            "init: exec to the first /next, first load awaited ({} profiles)",
            opts.profiles
        ),
        init_ms,
        "ms",
    );
    report.add(SECTION, "invoke, no refresh due: p50", pct(&not_due, 0.5), "ms");
    report.add(SECTION, "invoke, no refresh due: p99", pct(&not_due, 0.99), "ms");
    report.add(
        SECTION,
        "invoke with a refresh due (once per TTL): median",
        median(due.iter().map(ms).collect()),
        "ms",
    );
    report.add(SECTION, "invoke with a refresh due: max", pct(&due, 1.0), "ms");
    Ok(())
}

/// One extension under the freeze cycle: `invokes` invokes, each after `frozen`, each asking
/// one query as the function would. Returns the init time and the per-invoke times.
fn cycle(emulator: &str, ttl: &str, invokes: usize, frozen: Duration) -> anyhow::Result<(f64, Vec<Duration>)> {
    let scratch = Scratch::new("bench-lifecycle")?;
    let mut lambda = FakeLambda::start()?;
    let mut env = engine_env(emulator, ttl);
    env.push(("AWS_LAMBDA_RUNTIME_API".into(), lambda.runtime_api.clone()));
    let started = Instant::now();
    let ext = Extension::start_free(&scratch, &env)?;
    lambda.freeze(ext.proc.pid(), BACK)?;
    let init_ms = started.elapsed().as_secs_f64() * 1000.0;
    for _ in 0..invokes {
        std::thread::sleep(frozen);
        lambda.invoke(Duration::from_secs(30))?;
        let reply = ext.resolve(
            TOKEN,
            &json!({"tags": {"tenant": "tenant-1", "app": "app-0", "model": "model-0"}}),
        )?;
        anyhow::ensure!(reply.status == 200, "resolve answered {}: {}", reply.status, reply.body);
        lambda.freeze(ext.proc.pid(), BACK)?;
    }
    Ok((init_ms, lambda.returned_after()))
}
