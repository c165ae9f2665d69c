//! `bench`: the benchmark (see the `bench` module). `bench [--smoke] [--out DIR]` runs it and
//! writes `DIR/benchmarks.{md,json}`; `bench bare-server PORT FILE` is the bare baseline.

use anyhow::Context;
use harness::bench::{Options, report, scenarios};
use harness::harness::lambda::Scratch;
use std::io::Write;
use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("bare-server") {
        let port: u16 = args.get(1).context("bare-server PORT FILE")?.parse()?;
        let body = std::fs::read(args.get(2).context("bare-server PORT FILE")?)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        harness::bench::load::bare_server(listener, body.into()).await;
        return Ok(());
    }
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| PathBuf::from("docs"), PathBuf::from);
    let opts = if args.iter().any(|a| a == "--smoke") {
        Options::smoke(out)
    } else {
        Options::full(out)
    };
    let scratch = Scratch::new("bench")?;
    let mut rep = report::Report {
        machine: report::machine(),
        date: chrono_free_date(),
        notes: vec![
            format!(
                "{} alternating rounds per contender, medians reported; {} s or {} requests per round",
                opts.rounds,
                opts.round_time.as_secs_f64(),
                opts.round_requests
            ),
            "all processes on 127.0.0.1; the bare server is a separate hyper process answering the same bytes".into(),
            "wall-clock ratios are context: on a shared host their rounds spread widely; section 0's counts are the measure".into(),
            if opts.smoke {
                "SMOKE RUN: tiny counts, debug binaries; numbers are meaningless".into()
            } else {
                "release binaries (make bench)".into()
            },
        ],
        ..Default::default()
    };
    // A failed section is reported and the others still run; the exit status tells.
    let mut failed = Vec::new();
    // BENCH_ONLY=hits runs the first section alone, for quick comparisons while tuning;
    // BENCH_ONLY=lifecycle the lifecycle section alone; BENCH_ONLY=fleet the fleet section;
    // BENCH_ONLY=large the large-snapshot section (memory at 100,000 profiles, binary size);
    // BENCH_ONLY=memory the idle memory at the main size and where it lives, natively and, when
    // it is built, for the Lambda layer (target/lambda); BENCH_ONLY=count the counted cost of a
    // cache hit (callgrind and strace).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let only_hits = only == "hits";
    if only == "fleet" {
        tokio::task::block_in_place(|| harness::bench::fleet::fleet(&opts, &mut rep))?;
        std::io::stdout().lock().write_all(rep.markdown().as_bytes())?;
        return Ok(());
    }
    if only == "large" {
        scenarios::large(&opts, &mut rep, &scratch).await?;
        std::io::stdout().lock().write_all(rep.markdown().as_bytes())?;
        return Ok(());
    }
    if only == "memory" {
        scenarios::idle_memory(&opts, &mut rep, &scratch).await?;
        scenarios::layer_idle_memory(&opts, &mut rep, &scratch).await?;
        std::io::stdout().lock().write_all(rep.markdown().as_bytes())?;
        return Ok(());
    }
    if only == "count" {
        count(&opts, &mut rep, &scratch)?;
        std::io::stdout().lock().write_all(rep.markdown().as_bytes())?;
        return Ok(());
    }
    if only == "lifecycle" {
        let emu = harness::harness::Emulator::start(None)?;
        emu.seed(&scenarios::seed(opts.profiles))?;
        harness::bench::lifecycle::invoke_overhead(&opts, &mut rep, &emu).await?;
        std::io::stdout().lock().write_all(rep.markdown().as_bytes())?;
        return Ok(());
    }
    if !only_hits {
        eprintln!("== bench: the counted cost of a cache hit (callgrind, strace)");
        if let Err(e) = count(&opts, &mut rep, &scratch) {
            failed.push(format!("counted hits: {e:#}"));
        }
    }
    eprintln!("== bench: cache hits against the bare server, and upstream calls");
    match scenarios::hits_and_upstream(&opts, &mut rep, &scratch).await {
        Ok(_) if only_hits => {}
        Ok((emu, ext)) => {
            eprintln!("== bench: the whole invoke path under cargo lambda watch");
            if let Err(e) = scenarios::whole_path(&opts, &mut rep, &scratch, &emu, &ext).await {
                failed.push(format!("whole path: {e:#}"));
            }
            eprintln!("== bench: cold start");
            if let Err(e) = scenarios::cold_start(&opts, &mut rep, &emu).await {
                failed.push(format!("cold start: {e:#}"));
            }
            eprintln!("== bench: the lifecycle's cost per invoke");
            if let Err(e) = harness::bench::lifecycle::invoke_overhead(&opts, &mut rep, &emu).await {
                failed.push(format!("lifecycle: {e:#}"));
            }
        }
        Err(e) => failed.push(format!("cache hits and upstream calls: {e:#}")),
    }
    // A smoke run (debug binaries) has no layer to compare with.
    if !only_hits && !opts.smoke {
        eprintln!("== bench: the Lambda layer's idle memory");
        if let Err(e) = scenarios::layer_idle_memory(&opts, &mut rep, &scratch).await {
            failed.push(format!("the layer's idle memory: {e:#}"));
        }
    }
    if only_hits {
    } else if let Err(e) = {
        eprintln!("== bench: the large snapshot");
        scenarios::large(&opts, &mut rep, &scratch).await
    } {
        failed.push(format!("large snapshot: {e:#}"));
    }
    if !only_hits {
        eprintln!("== bench: fleet mode against direct mode");
        if let Err(e) = tokio::task::block_in_place(|| harness::bench::fleet::fleet(&opts, &mut rep)) {
            failed.push(format!("fleet: {e:#}"));
        }
    }
    rep.notes.extend(failed.iter().map(|f| format!("FAILED: {f}")));
    let md = rep.markdown();
    // A partial run (BENCH_ONLY=hits) prints its table and leaves the full run's files alone.
    if !only_hits {
        std::fs::create_dir_all(&opts.out_dir)?;
        std::fs::write(opts.out_dir.join("benchmarks.md"), &md)?;
        std::fs::write(
            opts.out_dir.join("benchmarks.json"),
            serde_json::to_string_pretty(&rep)?,
        )?;
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(md.as_bytes())?;
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} section(s) failed", failed.len())
    }
}

/// The counted section, or a note that it was skipped because its tools are missing (the smoke
/// run in the test command; `make bench` installs them).
fn count(opts: &Options, rep: &mut report::Report, scratch: &Scratch) -> anyhow::Result<()> {
    use harness::bench::count::{Counts, counted_hits, tools_present};
    if !tools_present() {
        anyhow::ensure!(opts.smoke, "valgrind and strace are needed (make bench installs them)");
        rep.notes
            .push("counted hits skipped: valgrind or strace is not on PATH".into());
        return Ok(());
    }
    let counts = if opts.smoke { Counts::smoke() } else { Counts::full() };
    tokio::task::block_in_place(|| counted_hits(opts.profiles, counts, rep, scratch))
}

/// Today's UTC date and time, from the system clock.
fn chrono_free_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    harness::emulator::state::iso8601(secs as f64)
        .chars()
        .take(16)
        .collect::<String>()
        .replace('T', " ")
        + " UTC"
}
