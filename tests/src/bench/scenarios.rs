//! The benchmark scenarios, each against real processes on 127.0.0.1.

use super::Options;
use super::load::{self, Run, Target};
use super::memory::{Resident, memory_kb};
use super::report::{Report, Series};
use crate::harness::lambda::{Extension, LambdaWatch, Scratch, eventually};
use crate::harness::{Emulator, Proc, aws_env, binary, free_port, http, wait_serving};
use anyhow::{Context, bail};
use bytes::Bytes;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(super) const TOKEN: &str = "bench-token";
const REGION: &str = "us-east-1";

/// `n` profiles: 50 tenants x 8 apps x 5 models, so any (tenant, app, model) is unique up to
/// 2,000 profiles.
pub fn seed(n: usize) -> Value {
    let model = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
    let profiles: Vec<Value> = (0..n)
        .map(|i| {
            let (t, a, m) = triple(i);
            json!({"region": REGION, "name": format!("p{i:06}"), "model": model,
                   "tags": {"tenant": t, "app": a, "model": m, "dept": format!("dept-{}", i % 3)}})
        })
        .collect();
    json!({ "profiles": profiles })
}

fn triple(i: usize) -> (String, String, String) {
    (
        format!("tenant-{}", i % 50),
        format!("app-{}", (i / 50) % 8),
        format!("model-{}", (i / 400) % 5),
    )
}

/// The GET form of [`query_body`]: the same 3-key `match=all` hit as query parameters.
pub(super) fn query_path(i: usize) -> String {
    let (t, a, m) = triple(i);
    format!("/v1/resolve?tag:tenant={t}&tag:app={a}&tag:model={m}&match=all")
}

fn query_body(i: usize) -> Bytes {
    let (t, a, m) = triple(i);
    Bytes::from(json!({"tags": {"tenant": t, "app": a, "model": m}, "match": "all"}).to_string())
}

pub(super) fn engine_env(emulator: &str, ttl: &str) -> Vec<(String, String)> {
    let mut env = aws_env(emulator, None, REGION);
    env.extend(
        [
            ("PROFILE_RESOLVER_TOKEN", TOKEN),
            ("PROFILE_RESOLVER_TTL_SECONDS", ttl),
            ("PROFILE_RESOLVER_SSM_PREFIX", ""),
            ("PROFILE_RESOLVER_MAX_CONNECTIONS", "1024"),
            ("AWS_LAMBDA_LOG_LEVEL", "warn"),
            // As template.yaml deploys it: mimalloc returns a large build's memory at once.
            ("MIMALLOC_PURGE_DELAY", "0"),
            ("MIMALLOC_ABANDONED_PAGE_PURGE", "1"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    env
}

pub(super) fn wait_ready(ext: &Extension, limit: Duration) -> anyhow::Result<()> {
    eventually(limit, || {
        let h = http::get(&ext.url, "/health").ok()?.json();
        (h["regions"][REGION]["ready"] == true).then_some(())
    })
    .context("the extension never got its snapshot")
}

fn addr(url: &str) -> anyhow::Result<SocketAddr> {
    Ok(url.trim_start_matches("http://").parse()?)
}

fn resolve_target(url: &str, bodies: Vec<Bytes>) -> anyhow::Result<Target> {
    Ok(Target {
        addr: addr(url)?,
        method: "POST",
        path: "/v1/resolve".into(),
        headers: vec![
            ("x-profile-resolver-token".into(), TOKEN.into()),
            ("content-type".into(), "application/json".into()),
        ],
        bodies,
    })
}

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Samples a process's RSS until stopped; returns the peak.
fn sampler(pid: u32) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut peak = 0;
        for _ in 0..100_000 {
            if flag.load(Ordering::Relaxed) {
                break;
            }
            if let Some((rss, _)) = memory_kb(pid) {
                peak = peak.max(rss);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    (stop, handle)
}

/// `BENCH_ONLY=memory`: the extension's idle memory at the main size and where it lives,
/// without the load runs, for quick comparisons of builds.
pub async fn idle_memory(opts: &Options, report: &mut Report, scratch: &Scratch) -> anyhow::Result<()> {
    idle_memory_of(opts, report, scratch, &binary("cache-extension"), "")
}

/// Where `cargo lambda build --extension` leaves the layer's binary (`make bench` builds it for
/// x86_64, the architecture it runs on).
pub fn layer_binary() -> std::path::PathBuf {
    crate::harness::workspace_root().join("target/lambda/extensions/cache-extension")
}

/// Section 6: the idle memory of the Lambda layer's build, which `cargo lambda` links with zig
/// and its own link order (cache-extension/build.rs); skipped, with a note, when it is not built.
pub async fn layer_idle_memory(opts: &Options, report: &mut Report, scratch: &Scratch) -> anyhow::Result<()> {
    let layer = layer_binary();
    if !layer.is_file() {
        report.notes.push(format!(
            "the Lambda layer's idle memory was not measured: no {}",
            layer.display()
        ));
        return Ok(());
    }
    idle_memory_of(opts, report, scratch, &layer, ", the Lambda layer")
}

fn idle_memory_of(
    opts: &Options,
    report: &mut Report,
    scratch: &Scratch,
    binary: &std::path::Path,
    build: &str,
) -> anyhow::Result<()> {
    let emu = Emulator::start(None)?;
    emu.seed(&seed(opts.profiles))?;
    let ext = Extension::start_free_binary(scratch, &engine_env(&emu.url, "3600"), binary)?;
    wait_ready(&ext, Duration::from_secs(60))?;
    let (idle_rss, _) = memory_kb(ext.proc.pid()).unwrap_or_default();
    let parts = Resident::of(ext.proc.pid(), "cache-extension").context("reading smaps")?;
    parts.report_idle(report, "6. memory and size", idle_rss, opts.profiles, build);
    Ok(())
}

/// Section 1, 3 and 6: hits against a bare server, upstream calls, memory at the main size.
pub async fn hits_and_upstream(
    opts: &Options,
    report: &mut Report,
    scratch: &Scratch,
) -> anyhow::Result<(Emulator, Extension)> {
    let emu = Emulator::start(None)?;
    emu.seed(&seed(opts.profiles))?;
    let ext = Extension::start_free(scratch, &engine_env(&emu.url, "3600"))?;
    wait_ready(&ext, Duration::from_secs(60))?;
    let (idle_rss, _) = memory_kb(ext.proc.pid()).unwrap_or_default();
    let idle_parts = Resident::of(ext.proc.pid(), "cache-extension").unwrap_or_default();

    let k = opts.profiles / 2;
    let hit = query_body(k);
    let first = ext.resolve(TOKEN, &serde_json::from_slice(&hit)?)?;
    if first.status != 200 || first.json()["profiles"].as_array().map(Vec::len) != Some(1) {
        bail!("the benchmark query should hit exactly one profile: {}", first.body);
    }
    // The bare server answers the very same bytes.
    let body_file = scratch.path("answer.json");
    std::fs::write(&body_file, &first.body)?;
    let bare_port = free_port()?;
    let mut bare = spawn_bare(bare_port, &body_file)?;
    let bare_url = format!("http://127.0.0.1:{bare_port}");
    let ours = |r: &http::Reply| r.status == 200 && r.body == first.body;
    wait_serving(&mut bare, &bare_url, "/", Duration::from_secs(5), ours)?;

    let mut ext_target = resolve_target(&ext.url, vec![hit.clone()])?;
    // BENCH_GET=1 sends the same query as GET parameters with no body, to tell the cost of
    // reading a request body apart from the rest (a diagnosis knob, off by default).
    if std::env::var("BENCH_GET").is_ok_and(|v| v == "1") {
        ext_target.method = "GET";
        ext_target.path = query_path(k);
        ext_target.bodies = vec![Bytes::new()];
    }
    let bare_target = Target {
        addr: addr(&bare_url)?,
        ..ext_target.clone()
    };
    let section = "1. cache hit vs bare hyper";
    let (stop, peak) = sampler(ext.proc.pid());
    for conns in [1usize, 64] {
        let (mut b, mut e): (Vec<Run>, Vec<Run>) = (Vec::new(), Vec::new());
        for _ in 0..opts.rounds {
            b.push(load::run(&bare_target, conns, opts.round_requests, opts.round_time).await?);
            e.push(load::run(&ext_target, conns, opts.round_requests, opts.round_time).await?);
        }
        let errors: u64 = e.iter().chain(&b).map(|r| r.errors).sum();
        if errors > 0 {
            bail!("{errors} failed requests at {conns} connections");
        }
        let med = |runs: &[Run], f: &dyn Fn(&Run) -> f64| median(runs.iter().map(f).collect());
        for (name, runs) in [("bare", &b), ("extension", &e)] {
            report.add(
                section,
                &format!("{name} p50 @{conns}"),
                med(runs, &|r| r.quantile(0.5)),
                "µs",
            );
            report.add(
                section,
                &format!("{name} p99 @{conns}"),
                med(runs, &|r| r.quantile(0.99)),
                "µs",
            );
            report.add(
                section,
                &format!("{name} p99.9 @{conns}"),
                med(runs, &|r| r.quantile(0.999)),
                "µs",
            );
            report.add(
                section,
                &format!("{name} throughput @{conns}"),
                med(runs, &Run::throughput),
                "req/s",
            );
            let points = [0.5, 0.9, 0.99, 0.999]
                .map(|q| (q * 100.0, med(runs, &|r| r.quantile(q))))
                .to_vec();
            report.series.push(Series {
                contender: name.into(),
                connections: conns,
                points,
            });
        }
        let tput = med(&e, &Run::throughput) / med(&b, &Run::throughput);
        let p50 = med(&e, &|r| r.quantile(0.5)) / med(&b, &|r| r.quantile(0.5));
        // Wall-clock ratios are context, not targets (the counted section is the measure):
        // each with the lowest and highest of its rounds' own ratios.
        report.add(section, &format!("throughput ratio @{conns}"), tput, "x");
        report.add(section, &format!("p50 ratio @{conns}"), p50, "x");
        for (what, f) in [
            ("throughput", (|r| r.throughput()) as fn(&Run) -> f64),
            ("p50", |r| r.quantile(0.5)),
        ] {
            let rounds: Vec<f64> = e.iter().zip(&b).map(|(e, b)| f(e) / f(b)).collect();
            let (low, high) = rounds
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
            report.add(section, &format!("{what} ratio @{conns}, lowest round"), low, "x");
            report.add(section, &format!("{what} ratio @{conns}, highest round"), high, "x");
        }
    }
    let (t, a, m) = triple(k);
    let get_path = format!("/v1/resolve?tag:tenant={t}&tag:app={a}&tag:model={m}&match=all");
    let got = http::request(&ext.url, "GET", &get_path, &[("x-profile-resolver-token", TOKEN)], b"")?;
    if got.status != 200 || got.json()["profiles"] != first.json()["profiles"] {
        bail!("the GET and the POST should answer the same profile: {}", got.body);
    }
    let pair = super::wrk::Pair {
        ext_url: &ext.url,
        bare_url: &bare_url,
        path: &get_path,
        headers: &[("x-profile-resolver-token", TOKEN)],
    };
    super::wrk::section(opts, report, &pair).await?;
    stop.store(true, Ordering::Relaxed);
    let load_rss = peak.join().unwrap_or(0);
    bare.kill();

    let section = "4. upstream calls in one TTL window";
    let gr_pages = opts.profiles.div_ceil(100) as u64;
    let lip_pages = opts.profiles.div_ceil(1000) as u64;
    let distinct: Vec<Bytes> = (0..1000).map(|i| query_body(i * 2 % opts.profiles.max(1))).collect();
    let known = load::run(
        &resolve_target(&ext.url, distinct)?,
        16,
        opts.upstream_requests,
        Duration::from_secs(120),
    )
    .await?;
    let unknown_bodies: Vec<Bytes> = (0..opts.upstream_requests.min(100_000))
        .map(|i| {
            Bytes::from(format!(
                r#"{{"tags": {{"tenant": "nobody-{i}-{}"}}}}"#,
                fastrand::u64(..)
            ))
        })
        .collect();
    let unknown = load::run(
        &resolve_target(&ext.url, unknown_bodies)?,
        16,
        opts.upstream_requests,
        Duration::from_secs(120),
    )
    .await?;
    let gr = emu.calls("GetResources", REGION)?;
    let lip = emu.calls("ListInferenceProfiles", REGION)?;
    report.add(
        section,
        "requests over 1,000 distinct queries",
        known.latencies_us.len() as f64,
        "",
    );
    report.add(
        section,
        "requests with random unknown queries",
        unknown.latencies_us.len() as f64,
        "",
    );
    report.check(
        section,
        "GetResources calls",
        gr as f64,
        "",
        &format!("= {gr_pages} (pages of one build)"),
        gr == gr_pages,
    );
    report.check(
        section,
        "ListInferenceProfiles calls",
        lip as f64,
        "",
        &format!("= {lip_pages}"),
        lip == lip_pages,
    );

    let section = "6. memory and size";
    let mib = |kb: u64| kb as f64 / 1024.0;
    idle_parts.report_idle(report, section, idle_rss, opts.profiles, "");
    report.add(
        section,
        &format!("RSS peak under 64-connection load, {} profiles", opts.profiles),
        mib(load_rss),
        "MiB",
    );
    Ok((emu, ext))
}

/// A bare hyper server in its own process (this binary, `bare-server PORT FILE`).
/// The project's bare hyper server (`bench bare-server PORT BODY`), killed on drop.
fn spawn_bare(port: u16, body: &std::path::Path) -> anyhow::Result<Proc> {
    let exe = std::env::current_exe()?;
    let bench = if exe.file_stem().is_some_and(|s| s == "bench") {
        exe
    } else {
        binary("bench")
    };
    let child = Command::new(bench)
        .arg("bare-server")
        .arg(port.to_string())
        .arg(body)
        .stdout(Stdio::null())
        .spawn()?;
    Ok(Proc::new(child, "bare-server"))
}

/// Section 5: exec to registered, serving and first answer, with 20 ms per upstream call.
pub async fn cold_start(opts: &Options, report: &mut Report, emu: &Emulator) -> anyhow::Result<()> {
    let section = "5. cold start (20 ms per upstream call)";
    emu.set_fault(json!({"operation": "*", "latencyMs": 20}))?;
    let (registered_at, api) = fake_extensions_api().await?;
    let (mut reg, mut serve, mut answer) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..opts.rounds.clamp(1, 3) {
        registered_at.store(0, Ordering::SeqCst);
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let t0 = Instant::now();
        let epoch = std::time::SystemTime::now();
        let mut child = Command::new(binary("cache-extension"))
            .env_clear()
            .envs(engine_env(&emu.url, "3600"))
            .env("PROFILE_RESOLVER_PORT", port.to_string())
            .env("AWS_LAMBDA_RUNTIME_API", &api)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let body = serde_json::from_slice::<Value>(&query_body(opts.profiles / 2))?.to_string();
        let serving = poll_every_ms(10_000, || http::get(&url, "/health").ok().map(|_| t0.elapsed()));
        let answered = poll_every_ms(60_000, || {
            let r = http::request(
                &url,
                "POST",
                "/v1/resolve",
                &[("x-profile-resolver-token", TOKEN)],
                body.as_bytes(),
            );
            r.ok().filter(|r| r.status == 200).map(|_| t0.elapsed())
        });
        let reg_ms = registered_at.load(Ordering::SeqCst);
        let _ = child.kill();
        let _ = child.wait();
        let since_spawn = epoch
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        reg.push(reg_ms.saturating_sub(since_spawn) as f64);
        serve.push(serving.context("never served")?.as_secs_f64() * 1000.0);
        answer.push(answered.context("never answered")?.as_secs_f64() * 1000.0);
    }
    emu.clear_faults()?;
    report.add(section, "exec to registered", median(reg), "ms");
    report.add(section, "exec to serving (/health answers)", median(serve), "ms");
    report.add(
        section,
        &format!("exec to first answered resolve ({} profiles)", opts.profiles),
        median(answer),
        "ms",
    );
    Ok(())
}

/// Polls `check` every millisecond, at most `tries` times: the interval bounds the precision.
fn poll_every_ms<T>(tries: usize, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..tries {
        if let Some(v) = check() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// A stand-in Extensions API that records when `register` arrives (epoch ms) and never sends
/// an event, so the extension sits in its event loop.
async fn fake_extensions_api() -> anyhow::Result<(Arc<AtomicU64>, String)> {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?.to_string();
    let registered = Arc::new(AtomicU64::new(0));
    let flag = registered.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let flag = flag.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let flag = flag.clone();
                    async move {
                        if req.uri().path().ends_with("/register") {
                            let now = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_millis() as u64);
                            flag.store(now, Ordering::SeqCst);
                            // As Lambda answers a registration (the extension's client reads it).
                            let body = br#"{"functionName":"bench","functionVersion":"$LATEST","handler":"bootstrap"}"#;
                            let resp = hyper::Response::builder()
                                .header("Lambda-Extension-Identifier", "bench")
                                .body(http_body_util::Full::new(Bytes::from_static(body)));
                            return resp;
                        }
                        // event/next: park until the extension is killed.
                        std::future::pending::<()>().await;
                        hyper::Response::builder().body(http_body_util::Full::new(Bytes::new()))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((registered, api))
}

/// Section 6 at the large size: RSS idle and under load.
pub async fn large(opts: &Options, report: &mut Report, scratch: &Scratch) -> anyhow::Result<()> {
    let section = "6. memory and size";
    let seed_file = scratch.path("large-seed.json");
    std::fs::write(&seed_file, seed(opts.large_profiles).to_string())?;
    let emu = Emulator::start(Some(&seed_file))?;
    let started = Instant::now();
    let ext = Extension::start_free(scratch, &engine_env(&emu.url, "3600"))?;
    wait_ready(&ext, Duration::from_secs(300))?;
    report.add(
        section,
        &format!("first snapshot of {} profiles (pages of 100)", opts.large_profiles),
        started.elapsed().as_secs_f64(),
        "s",
    );
    let (after_build, _) = memory_kb(ext.proc.pid()).unwrap_or_default();
    // Idle: the allocator returns a build's garbage once the process is active again; one
    // request and a few quiet seconds later is what an idle extension holds.
    let _ = ext.resolve(TOKEN, &serde_json::from_slice(&query_body(1))?)?;
    tokio::time::sleep(if opts.smoke {
        Duration::ZERO
    } else {
        Duration::from_secs(5)
    })
    .await;
    let (idle, _) = memory_kb(ext.proc.pid()).unwrap_or_default();
    let (stop, peak) = sampler(ext.proc.pid());
    let bodies: Vec<Bytes> = (0..100).map(query_body).collect();
    load::run(
        &resolve_target(&ext.url, bodies)?,
        64,
        opts.round_requests,
        opts.round_time,
    )
    .await?;
    stop.store(true, Ordering::Relaxed);
    let peak = peak.join().unwrap_or(0);
    let mib = |kb: u64| kb as f64 / 1024.0;
    report.add(
        section,
        &format!("RSS right after the first snapshot, {} profiles", opts.large_profiles),
        mib(after_build),
        "MiB",
    );
    report.check(
        section,
        &format!("RSS idle (one request, 5 s later), {} profiles", opts.large_profiles),
        mib(idle),
        "MiB",
        "<= 80",
        mib(idle) <= 80.0,
    );
    report.add(
        section,
        &format!("RSS peak under load, {} profiles", opts.large_profiles),
        mib(peak),
        "MiB",
    );
    let size = std::fs::metadata(binary("cache-extension"))?.len();
    report.check(
        section,
        "cache-extension binary (stripped)",
        size as f64 / 1e6,
        "MB",
        "<= 10",
        size <= 10_000_000,
    );
    Ok(())
}

/// Section 2: a direct invoke through resolver-fn and the extension under `cargo lambda watch`,
/// against a no-op function under the same emulator.
pub async fn whole_path(
    opts: &Options,
    report: &mut Report,
    scratch: &Scratch,
    emu: &Emulator,
    ext: &Extension,
) -> anyhow::Result<()> {
    let section = "2. whole path under cargo lambda watch";
    let mut env = engine_env(&emu.url, "3600");
    env.push(("PROFILE_RESOLVER_EXTENSION_URL".into(), ext.url.clone()));
    let watch = LambdaWatch::start_functions(scratch, &env, !opts.smoke, &["noop-fn", "resolver-fn"])?;
    let body = query_body(opts.profiles / 2);
    let invoke = |name: &str| -> anyhow::Result<Duration> {
        let t = Instant::now();
        let r = http::request(
            &format!("http://127.0.0.1:{}", watch.port),
            "POST",
            &format!("/2015-03-31/functions/{name}/invocations"),
            &[],
            &body,
        )?;
        if r.status != 200 {
            bail!("{name}: {} {}", r.status, r.body);
        }
        Ok(t.elapsed())
    };
    // The first invoke of each reaches it once it polls.
    for name in ["noop-fn", "resolver-fn"] {
        eventually(Duration::from_secs(900), || invoke(name).ok())
            .with_context(|| format!("{name} never answered: {}", watch.output()))?;
    }
    let (mut noop, mut resolver) = (Vec::new(), Vec::new());
    for _ in 0..opts.rounds {
        for _ in 0..opts.invokes {
            noop.push(invoke("noop-fn")?.as_secs_f64() * 1e6);
        }
        for _ in 0..opts.invokes {
            resolver.push(invoke("resolver-fn")?.as_secs_f64() * 1e6);
        }
    }
    let q = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    let (n50, n99, r50, r99) = (
        q(&mut noop, 0.5),
        q(&mut noop, 0.99),
        q(&mut resolver, 0.5),
        q(&mut resolver, 0.99),
    );
    report.add(section, "no-op function p50", n50, "µs");
    report.add(section, "no-op function p99", n99, "µs");
    report.add(section, "resolver-fn p50", r50, "µs");
    report.add(section, "resolver-fn p99", r99, "µs");
    report.add(section, "added by the resolver, p50", r50 - n50, "µs");
    Ok(())
}
