//! Counted cost of a cache hit: instructions (callgrind) and syscalls (strace) per request,
//! server side, for the extension and for a bare hyper server answering the same bytes.
//!
//! Counts do not move with the machine's load, so hot-path changes are judged by them, and
//! wall-clock ratios stay context. The method: one keep-alive connection, a warm-up, the
//! counters zeroed (`callgrind_control -z`), a fixed number of identical GETs of one 3-key hit,
//! then a dump (`callgrind_control -d`). Valgrind reads its control file only while the process
//! runs code, so while a control command waits the client sends one more request; each command
//! therefore shifts at most one request across the window, under 0.1 % of it.

use super::report::Report;
use super::scenarios::{TOKEN, engine_env, query_path, seed, wait_ready};
use crate::harness::lambda::{Extension, Scratch};
use crate::harness::{Emulator, Proc, binary, free_port};
use anyhow::{Context, bail};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECTION: &str = "0. counted cost of a cache hit";
/// The hit's instructions against bare hyper's, at most: what this harness measured for the
/// extension before its hot-path special cases were weighed (1.39x), which removing them must
/// not raise.
pub const RATIO_TARGET: f64 = 1.40;

/// How many requests a count takes.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    /// Requests before the counters are zeroed.
    pub warmup: usize,
    /// Requests counted.
    pub measured: usize,
    /// Independent runs per contender (each a fresh process), to show repeatability.
    pub runs: usize,
}

impl Counts {
    /// The full benchmark's: 300 warm-up GETs, 2,000 counted, two runs.
    pub fn full() -> Self {
        Self {
            warmup: 300,
            measured: 2_000,
            runs: 2,
        }
    }

    /// The smoke run's.
    pub fn smoke() -> Self {
        Self {
            warmup: 5,
            measured: 20,
            runs: 1,
        }
    }
}

/// Whether valgrind and strace are on PATH.
pub fn tools_present() -> bool {
    ["valgrind", "callgrind_control", "strace"]
        .iter()
        .all(|t| which(t).is_some())
}

/// Runs the section: instructions and syscalls per hit for both contenders, and their ratios.
///
/// # Errors
/// When a process does not start, a request fails, or a tool's output cannot be read.
pub fn counted_hits(profiles: usize, counts: Counts, report: &mut Report, scratch: &Scratch) -> anyhow::Result<()> {
    let emu = Emulator::start(None)?;
    emu.seed(&seed(profiles))?;
    let path = query_path(profiles / 2);
    let extension = binary("cache-extension");
    let (mut ext_ir, mut bare_ir) = (Vec::new(), Vec::new());
    let mut answer = Vec::new();
    for run in 0..counts.runs {
        let (ext, out) = start_extension(scratch, &emu, &extension, true, run)?;
        let port = port_of(&ext.url)?;
        let ir = count_instructions(ext.proc.pid(), port, &path, counts, &out)?;
        answer = fetch(port, &path)?;
        drop(ext);
        ext_ir.push(ir);
        let body = scratch.path("count-answer.json");
        std::fs::write(&body, &answer)?;
        let (bare, port, out) = start_bare(scratch, &body, true, run)?;
        bare_ir.push(count_instructions(bare.pid(), port, &path, counts, &out)?);
    }
    let (ext, _) = start_extension(scratch, &emu, &extension, false, 0)?;
    let ext_sys = count_syscalls(ext.proc.pid(), port_of(&ext.url)?, &path, counts, scratch)?;
    drop(ext);
    let body = scratch.path("count-answer.json");
    let (bare, port, _) = start_bare(scratch, &body, false, 0)?;
    let bare_sys = count_syscalls(bare.pid(), port, &path, counts, scratch)?;
    drop(bare);

    report.add(SECTION, "answer size", answer.len() as f64, "bytes");
    for (i, ir) in ext_ir.iter().enumerate() {
        report.add(
            SECTION,
            &format!("extension instructions per hit, run {}", i + 1),
            *ir,
            "Ir",
        );
    }
    for (i, ir) in bare_ir.iter().enumerate() {
        report.add(
            SECTION,
            &format!("bare hyper instructions per hit, run {}", i + 1),
            *ir,
            "Ir",
        );
    }
    let spread = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
        (hi - lo) / lo * 100.0
    };
    if counts.runs > 1 {
        let s = spread(&ext_ir).max(spread(&bare_ir));
        report.check(SECTION, "run-to-run spread", s, "%", "<= 1", s <= 1.0);
    }
    let ratio = median(&ext_ir) / median(&bare_ir);
    report.check(
        SECTION,
        "instructions per hit, extension / bare",
        ratio,
        "x",
        &format!("<= {RATIO_TARGET}"),
        ratio <= RATIO_TARGET,
    );
    report.add(SECTION, "extension syscalls per hit", ext_sys, "calls");
    report.add(SECTION, "bare hyper syscalls per hit", bare_sys, "calls");
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The extension as an agent on a free port, under callgrind when `counted`.
fn start_extension(
    scratch: &Scratch,
    emu: &Emulator,
    extension: &Path,
    counted: bool,
    run: usize,
) -> anyhow::Result<(Extension, PathBuf)> {
    let out = scratch.path(&format!("callgrind-extension-{run}.out"));
    let env = engine_env(&emu.url, "3600");
    let ext = if counted {
        let wrapper = scratch.path("under-callgrind.sh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec {} {} {} \"$@\"\n",
                which("valgrind").context("valgrind is not on PATH")?.display(),
                callgrind_args(&out).join(" "),
                extension.display()
            ),
        )?;
        make_executable(&wrapper)?;
        Extension::start_free_binary(scratch, &env, &wrapper)?
    } else {
        Extension::start_free_binary(scratch, &env, extension)?
    };
    wait_ready(&ext, Duration::from_secs(300))?;
    Ok((ext, out))
}

/// `bench bare-server` on a free port, under callgrind when `counted`.
fn start_bare(scratch: &Scratch, body: &Path, counted: bool, run: usize) -> anyhow::Result<(Proc, u16, PathBuf)> {
    let out = scratch.path(&format!("callgrind-bare-{run}.out"));
    let port = free_port()?;
    let bench = binary("bench");
    let mut cmd = if counted {
        let mut c = Command::new("valgrind");
        c.args(callgrind_args(&out)).arg(&bench);
        c
    } else {
        Command::new(&bench)
    };
    let child = cmd
        .arg("bare-server")
        .arg(port.to_string())
        .arg(body)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the bare server")?;
    let proc = Proc::new(child, "bare-server");
    let deadline = Instant::now() + Duration::from_secs(60);
    while fetch(port, "/").is_err() {
        if Instant::now() > deadline {
            bail!("the bare server did not come up within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((proc, port, out))
}

fn callgrind_args(out: &Path) -> Vec<String> {
    vec![
        "--tool=callgrind".into(),
        "--dump-instr=no".into(),
        "--dump-line=no".into(),
        format!("--callgrind-out-file={}", out.display()),
    ]
}

/// Instructions per request in the window, from callgrind's dump.
fn count_instructions(pid: u32, port: u16, path: &str, counts: Counts, out: &Path) -> anyhow::Result<f64> {
    let mut conn = Conn::open(port)?;
    for _ in 0..counts.warmup {
        conn.get(path)?;
    }
    control(pid, "-z", &mut conn, path)?;
    for _ in 0..counts.measured {
        conn.get(path)?;
    }
    control(pid, "-d", &mut conn, path)?;
    let total = dumped_total(out)?;
    Ok(total as f64 / counts.measured as f64)
}

/// Runs `callgrind_control FLAG PID`, sending a request whenever it waits for the process.
fn control(pid: u32, flag: &str, conn: &mut Conn, path: &str) -> anyhow::Result<()> {
    let mut child: Child = Command::new("callgrind_control")
        .arg(flag)
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("running callgrind_control")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("callgrind_control {flag} {pid} failed: {status}");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("callgrind_control {flag} {pid} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(300));
        if child.try_wait()?.is_none() {
            conn.get(path)?;
        }
    }
}

/// The total of callgrind's last dump next to `out` (`OUT.N`, the highest N).
fn dumped_total(out: &Path) -> anyhow::Result<u64> {
    let dir = out.parent().context("no dump directory")?;
    let stem = out.file_name().and_then(|n| n.to_str()).context("bad dump name")?;
    let mut best: Option<(u32, PathBuf)> = None;
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        let Some(n) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(k) = n
            .strip_prefix(stem)
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|k| k.parse().ok())
        else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| k > *b) {
            best = Some((k, p));
        }
    }
    let (_, file) = best.context("callgrind wrote no dump")?;
    // BENCH_KEEP_DUMPS=DIR keeps each dump there, to see where the instructions went
    // (`callgrind_annotate DIR/FILE`).
    if let Some(keep) = std::env::var_os("BENCH_KEEP_DUMPS") {
        std::fs::create_dir_all(&keep)?;
        std::fs::copy(&file, Path::new(&keep).join(file.file_name().context("no name")?))?;
    }
    let text = std::fs::read_to_string(&file)?;
    text.lines()
        .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no totals in {}", file.display()))
}

/// Syscalls per request, every thread, from `strace -c`.
fn count_syscalls(pid: u32, port: u16, path: &str, counts: Counts, scratch: &Scratch) -> anyhow::Result<f64> {
    let mut conn = Conn::open(port)?;
    for _ in 0..counts.warmup {
        conn.get(path)?;
    }
    let out = scratch.path(&format!("strace-{pid}.txt"));
    let mut strace = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(&out)
        .arg("-p")
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting strace")?;
    // strace says on stderr when it has attached ("Process N attached with K threads"),
    // before it counts anything.
    let mut err = BufReader::new(strace.stderr.take().context("strace stderr")?);
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !line.contains("attached") {
        line.clear();
        if err.read_line(&mut line)? == 0 || Instant::now() > deadline {
            bail!("strace did not attach to {pid}");
        }
    }
    for _ in 0..counts.measured {
        conn.get(path)?;
    }
    // SIGINT: strace detaches and writes its summary.
    Command::new("kill").args(["-INT", &strace.id().to_string()]).status()?;
    let _ = strace.wait();
    let text = std::fs::read_to_string(&out)?;
    if let Some(keep) = std::env::var_os("BENCH_KEEP_DUMPS") {
        std::fs::write(Path::new(&keep).join(format!("strace-{pid}.txt")), &text)?;
    }
    let total: u64 = text
        .lines()
        .find(|l| l.trim_end().ends_with("total"))
        // "100.00  SECONDS  USECS/CALL  CALLS  [ERRORS]  total"
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .with_context(|| format!("no total in strace's summary: {text}"))?;
    Ok(total as f64 / counts.measured as f64)
}

/// One keep-alive HTTP/1.1 connection, one request at a time.
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(port: u16) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Self {
            reader: BufReader::new(stream),
        })
    }

    /// GETs `path` and returns the body of a 200.
    fn get(&mut self, path: &str) -> anyhow::Result<Vec<u8>> {
        let req = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-profile-resolver-token: {TOKEN}\r\n\r\n");
        self.reader.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        if !line.starts_with("HTTP/1.1 200") {
            bail!("expected a 200, got {line:?}");
        }
        let mut length = None;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("the connection closed mid-response");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = Some(v.trim().parse::<usize>()?);
            }
        }
        let mut body = vec![0; length.context("no content-length")?];
        self.reader.read_exact(&mut body)?;
        Ok(body)
    }
}

fn fetch(port: u16, path: &str) -> anyhow::Result<Vec<u8>> {
    Conn::open(port)?.get(path)
}

fn port_of(url: &str) -> anyhow::Result<u16> {
    Ok(url.rsplit(':').next().context("no port")?.parse()?)
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(tool)).find(|p| p.is_file())
}

fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}
