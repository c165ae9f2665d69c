//! The peers' method: `wrk -t1 -c1` and `wrk -t2 -c64`, the extension and the bare server
//! alternating A, B for several rounds, medians reported, the same response bytes. The
//! project's own closed-loop generator runs the same request in the same rounds, so the two
//! generators' ratios sit side by side.

use super::Options;
use super::load::{self, Run, Target};
use super::report::Report;
use super::scenarios::median;
use anyhow::{Context, bail};
use std::process::Command;
use std::time::Duration;

/// The own generator's request cap per run: above what 8 s can reach here.
const OWN_CAP: usize = 4_000_000;

/// What one wrk run printed that the report uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WrkRun {
    /// Requests per second.
    pub throughput: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
}

/// The `wrk` on the `PATH`, if any.
pub fn installed() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("wrk") || o.status.code() == Some(1))
}

/// Runs wrk once: `threads`, `connections`, for `time`, with `headers`, against `url`.
///
/// # Errors
/// When wrk cannot run, a request failed, or its output cannot be read.
pub fn run(
    url: &str,
    threads: usize,
    connections: usize,
    time: Duration,
    headers: &[(&str, &str)],
) -> anyhow::Result<WrkRun> {
    let mut cmd = Command::new("wrk");
    cmd.args(["--latency", "-t", &threads.to_string(), "-c", &connections.to_string()])
        .args(["-d", &format!("{}s", time.as_secs().max(1))]);
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    let out = cmd.arg(url).output().context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    parse(&text)
}

/// The lowest and highest of each round's own ratio `f(ext) / f(bare)`, rounds paired in the
/// order they ran; `None` without a round.
pub fn round_ratios(ext: &[WrkRun], bare: &[WrkRun], f: fn(&WrkRun) -> f64) -> Option<(f64, f64)> {
    ext.iter()
        .zip(bare)
        .map(|(e, b)| f(e) / f(b))
        .fold(None, |range, r| match range {
            None => Some((r, r)),
            Some((low, high)) => Some((r.min(low), r.max(high))),
        })
}

/// Reads wrk's `--latency` report.
///
/// # Errors
/// When a number is missing, or wrk counted non-2xx responses or socket errors.
pub fn parse(text: &str) -> anyhow::Result<WrkRun> {
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
    {
        bail!("wrk saw failures: {}", line.trim());
    }
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(str::trim)
            .with_context(|| format!("no `{prefix}` in wrk's output:\n{text}"))
    };
    Ok(WrkRun {
        throughput: field("Requests/sec:")?.parse()?,
        p50_us: micros(field("50%")?)?,
        p99_us: micros(field("99%")?)?,
    })
}

/// `24.00us`, `1.23ms`, `2.00s` in microseconds.
fn micros(v: &str) -> anyhow::Result<f64> {
    let split = v
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in {v}"))?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse()?;
    Ok(match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        "m" => n * 60e6,
        other => bail!("unknown unit {other} in {v}"),
    })
}

/// The extension and the bare server, both at `path` with `headers`.
pub struct Pair<'a> {
    /// The extension's base URL.
    pub ext_url: &'a str,
    /// The bare server's base URL.
    pub bare_url: &'a str,
    /// Path and query of the GET.
    pub path: &'a str,
    /// Request headers.
    pub headers: &'a [(&'a str, &'a str)],
}

/// The wrk section, with the own generator on the same request in the same rounds.
///
/// # Errors
/// When wrk is missing (outside a smoke run) or a run fails.
pub async fn section(opts: &Options, report: &mut Report, pair: &Pair<'_>) -> anyhow::Result<()> {
    let section = "1b. cache hit vs bare hyper, wrk (the peers' method) and own generator";
    if !installed() {
        if opts.smoke {
            report
                .notes
                .push("wrk is not installed: the wrk section was skipped".into());
            return Ok(());
        }
        bail!("wrk is not installed (make bench installs it from Debian's packages)");
    }
    let time = if opts.smoke {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(8)
    };
    let own = |url: &str| -> anyhow::Result<Target> {
        Ok(Target {
            addr: url.trim_start_matches("http://").parse()?,
            method: "GET",
            path: pair.path.into(),
            headers: pair.headers.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            bodies: vec![bytes::Bytes::new()],
        })
    };
    let (own_ext, own_bare) = (own(pair.ext_url)?, own(pair.bare_url)?);
    for (threads, conns) in [(1usize, 1usize), (2, 64)] {
        let (mut wb, mut we, mut ob, mut oe) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..opts.rounds.min(3) {
            let wrk = |base: &str| {
                let url = format!("{base}{}", pair.path);
                tokio::task::block_in_place(|| run(&url, threads, conns, time, pair.headers))
            };
            wb.push(wrk(pair.bare_url)?);
            we.push(wrk(pair.ext_url)?);
            ob.push(load::run(&own_bare, conns, OWN_CAP, time).await?);
            oe.push(load::run(&own_ext, conns, OWN_CAP, time).await?);
        }
        if let Some(r) = ob.iter().chain(&oe).find(|r| r.errors > 0) {
            bail!("{} failed requests at {conns} connections (own generator)", r.errors);
        }
        let w = |runs: &[WrkRun], f: fn(&WrkRun) -> f64| median(runs.iter().map(f).collect());
        let o = |runs: &[Run], f: &dyn Fn(&Run) -> f64| median(runs.iter().map(f).collect());
        let wrk_ratio = |f: fn(&WrkRun) -> f64| w(&we, f) / w(&wb, f);
        let own_ratio = |f: &dyn Fn(&Run) -> f64| o(&oe, f) / o(&ob, f);
        for (name, runs) in [("bare", &wb), ("extension", &we)] {
            report.add(
                section,
                &format!("wrk {name} throughput @{conns}"),
                w(runs, |r| r.throughput),
                "req/s",
            );
            report.add(
                section,
                &format!("wrk {name} p50 @{conns}"),
                w(runs, |r| r.p50_us),
                "µs",
            );
            report.add(
                section,
                &format!("wrk {name} p99 @{conns}"),
                w(runs, |r| r.p99_us),
                "µs",
            );
        }
        let tput = wrk_ratio(|r| r.throughput);
        let p50 = wrk_ratio(|r| r.p50_us);
        let own_tput = own_ratio(&Run::throughput);
        let own_p50 = own_ratio(&|r| r.quantile(0.5));
        let at = format!("@{conns}");
        // Context, not targets: the ratio of medians, as the peers report it, and each round's
        // own ratio, which shows how much the host's noise moves it.
        report.add(section, &format!("wrk throughput ratio {at}"), tput, "x");
        report.add(section, &format!("wrk p50 ratio {at}"), p50, "x");
        for (what, f) in [
            ("throughput", (|r| r.throughput) as fn(&WrkRun) -> f64),
            ("p50", |r| r.p50_us),
        ] {
            if let Some((low, high)) = round_ratios(&we, &wb, f) {
                report.add(section, &format!("wrk {what} ratio {at}, lowest round"), low, "x");
                report.add(section, &format!("wrk {what} ratio {at}, highest round"), high, "x");
            }
        }
        if conns == 1 {
            let p99 = wrk_ratio(|r| r.p99_us);
            report.add(section, &format!("wrk p99 ratio {at}"), p99, "x");
        }
        report.add(section, &format!("own generator throughput ratio {at}"), own_tput, "x");
        report.add(section, &format!("own generator p50 ratio {at}"), own_p50, "x");
        report.add(
            section,
            &format!("own generator bare throughput {at}"),
            o(&ob, &Run::throughput),
            "req/s",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 8s test @ http://127.0.0.1:1/v1/resolve
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  300.00us   9.00ms   90.00%
    Req/Sec    29.00k     1.00k   31.00k    70.00%
  Latency Distribution
     50%  987.00us
     75%    1.20ms
     90%    1.50ms
     99%    2.31ms
  463000 requests in 8.00s, 250.00MB read
Requests/sec:  57875.00
Transfer/sec:     31.25MB
";

    #[test]
    fn a_wrk_report_gives_its_throughput_and_percentiles_in_microseconds() {
        let r = parse(SAMPLE).expect("parses");
        assert_eq!(
            r,
            WrkRun {
                throughput: 57875.0,
                p50_us: 987.0,
                p99_us: 2310.0
            }
        );
    }

    #[test]
    fn each_rounds_ratio_pairs_the_rounds_in_the_order_they_ran() {
        let run = |throughput, p50_us| WrkRun {
            throughput,
            p50_us,
            p99_us: 1.0,
        };
        let bare = [run(100.0, 200.0), run(120.0, 300.0), run(80.0, 250.0)];
        let ext = [run(90.0, 300.0), run(120.0, 240.0), run(100.0, 250.0)];
        assert_eq!(round_ratios(&ext, &bare, |r| r.throughput), Some((0.9, 1.25)));
        assert_eq!(round_ratios(&ext, &bare, |r| r.p50_us), Some((0.8, 1.5)));
        assert_eq!(round_ratios(&[], &bare, |r| r.p50_us), None);
    }

    #[test]
    fn a_wrk_report_with_failed_requests_is_refused() {
        let failed = SAMPLE.replace("Requests/sec", "  Non-2xx or 3xx responses: 12\nRequests/sec");
        let err = parse(&failed).expect_err("refused").to_string();
        assert!(err.contains("Non-2xx"), "{err}");
        assert!(parse("garbage").is_err());
    }
}
