//! `fleet-sim [--sandboxes N] [--mode s3|direct]`: runs the fleet simulation (see
//! `harness::sim`) with a retag, throttling and a publisher restart, and prints what happened and
//! the spend per tenant. `make demo` ends with it.

use harness::sim::{Mode, Plan, run, spend_table};
use std::io::Write;
use std::time::Duration;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
    let sandboxes = value("--sandboxes").map_or(Ok(10), |v| v.parse())?;
    let mode = match value("--mode").map(String::as_str) {
        None | Some("s3") => Mode::S3,
        Some("direct") => Mode::Direct,
        Some(other) => anyhow::bail!("--mode must be s3 or direct, not {other}"),
    };
    let plan = Plan {
        mode,
        sandboxes,
        rounds: 20,
        invokes_per_round: 6,
        round_gap: Duration::from_millis(250),
        ttl_seconds: 2,
        filler: 150,
        retag_at: Some(5),
        throttle: Some((2, 8, 0.3)),
        publisher_down: Some((10, 14)),
        schedule_every: 4,
        latency_ms: 0,
    };
    let r = run(&plan)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} sandboxes ({} mode) under the freeze cycle, {:.1} s: {} model calls; billed to the wrong tenant: {} \
         outside the retag window ({} stale-if-error answers there), {} inside it; resolve errors: {} outside, {} inside",
        r.sandboxes,
        r.mode,
        r.seconds,
        r.model_calls,
        r.misbilled,
        r.stale_if_error,
        r.misbilled_in_window,
        r.errors,
        r.errors_in_window
    )?;
    writeln!(
        out,
        "GetResources calls: {} ({} by the publisher); S3 GETs by readers: {} answered 200, {} answered 304",
        r.get_resources, r.publisher_get_resources, r.s3_gets.0, r.s3_gets.1
    )?;
    writeln!(
        out,
        "\nSpend per tenant tag, as Cost Explorer would group it:\n\n{}",
        spend_table(&r)
    )?;
    anyhow::ensure!(
        r.overdue_answers == 0 && r.misbilled <= r.stale_if_error && r.errors == 0,
        "calls were billed to the wrong tenant"
    );
    Ok(())
}
