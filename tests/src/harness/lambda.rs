//! The Lambda side of the stack: `cargo lambda watch --only-lambda-apis` as the Runtime and
//! Extensions API emulator, the prebuilt `resolver-fn` polling it, the real `cache-extension`
//! attached to it, and `cargo lambda invoke` as the client.
//!
//! Watch never builds anything here: left to itself it runs `cargo run` in this workspace with
//! another feature set than the test build's, into the same target directory, and a build it
//! starts can outlive the watch process a test stops. The suites run the binaries `make` built.

use super::{Proc, binary, free_port, http, venv_tool, wait_serving, workspace_root};
use anyhow::{Context, bail};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A scratch folder for one test's logs and files, removed on drop.
#[derive(Debug)]
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new, empty folder under the system temp dir.
    ///
    /// # Errors
    /// When it cannot be made.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "profile-resolver-{name}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    /// A path inside it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `cargo lambda watch` on a free port, serving the Lambda APIs only, and `resolver-fn` run
/// from the workspace's own build against it.
#[derive(Debug)]
pub struct LambdaWatch {
    /// Its process.
    pub proc: Proc,
    /// The functions' processes.
    pub functions: Vec<Proc>,
    /// The invoke port.
    pub port: u16,
    /// Where its output (and the function's) goes.
    pub log: PathBuf,
}

impl LambdaWatch {
    /// Starts it with the function's environment.
    ///
    /// # Errors
    /// When it does not come up within 60 s.
    pub fn start(scratch: &Scratch, env: &[(String, String)]) -> anyhow::Result<Self> {
        Self::start_with(scratch, env, false)
    }

    /// As [`LambdaWatch::start`]; `release` runs the release build of the function
    /// (`target/release/resolver-fn`, which must exist) instead of the debug one.
    ///
    /// # Errors
    /// When it does not come up within 60 s, or the function's binary is missing.
    pub fn start_with(scratch: &Scratch, env: &[(String, String)], release: bool) -> anyhow::Result<Self> {
        Self::start_functions(scratch, env, release, &["resolver-fn"])
    }

    /// As [`LambdaWatch::start_with`], running each of the workspace's binaries `functions` as
    /// a function of its name, all with `env`.
    ///
    /// # Errors
    /// When it does not come up within 60 s, or a function's binary is missing.
    pub fn start_functions(
        scratch: &Scratch,
        env: &[(String, String)],
        release: bool,
        functions: &[&str],
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let log = scratch.path("watch.log");
        let out = fs::File::create(&log)?;
        let child = Command::new(venv_tool("cargo-lambda"))
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .current_dir(workspace_root())
            .stdout(out.try_clone()?)
            .stderr(out.try_clone()?)
            .stdin(Stdio::null())
            .spawn()
            .context("spawning cargo lambda watch (run `make venv`)")?;
        let proc = Proc::new(child, "cargo-lambda-watch");
        let base = format!("http://127.0.0.1:{port}");
        // Any HTTP answer means the runtime server is up (an extension's `next` without an id is
        // answered at once; `/` would wait for an invoke).
        let start = Instant::now();
        while http::get(&base, "/.rt/2020-01-01/extension/event/next").is_err() {
            if start.elapsed() > Duration::from_secs(60) {
                bail!(
                    "cargo lambda watch did not start: {}",
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut procs = Vec::new();
        for name in functions {
            let exe = if release {
                workspace_root().join("target/release").join(name)
            } else {
                binary(name)
            };
            if !exe.exists() {
                bail!("{} is missing: build the workspace's binaries first", exe.display());
            }
            let child = Command::new(&exe)
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("AWS_LAMBDA_RUNTIME_API", format!("{base}/.rt/{name}"))
                .env("AWS_LAMBDA_FUNCTION_NAME", name)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .stdout(out.try_clone()?)
                .stderr(out.try_clone()?)
                .stdin(Stdio::null())
                .spawn()
                .with_context(|| format!("spawning {}", exe.display()))?;
            procs.push(Proc::new(child, name));
        }
        Ok(Self {
            proc,
            functions: procs,
            port,
            log,
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for extensions.
    pub fn runtime_api(&self) -> String {
        format!("http://127.0.0.1:{}/.rt", self.port)
    }

    /// What watch and the function printed so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Invokes `function` with `cargo lambda invoke --data-file`.
    ///
    /// # Errors
    /// Only when the command cannot run; a function error is `Ok(Err(..))`.
    pub fn invoke(
        &self,
        scratch: &Scratch,
        function: &str,
        payload: &Value,
    ) -> anyhow::Result<Result<Value, Invocation>> {
        let file = scratch.path(&format!("payload-{}.json", fastrand::u32(..)));
        fs::write(&file, payload.to_string())?;
        let out = Command::new(venv_tool("cargo-lambda"))
            .args([
                "lambda",
                "invoke",
                function,
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &self.port.to_string(),
            ])
            .args(["--output-format", "json", "--data-file"])
            .arg(&file)
            .current_dir(workspace_root())
            .output()
            .context("running cargo lambda invoke")?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            return Ok(Ok(
                serde_json::from_str(stdout.trim()).with_context(|| format!("not JSON: {stdout}"))?
            ));
        }
        let error_type = stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("Error: ").map(|t| t.trim().to_owned()))
            .unwrap_or_default();
        Ok(Err(Invocation {
            error_type,
            output: stderr,
        }))
    }
}

/// A failed invoke as `cargo lambda invoke` reports it.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The function error's `errorType`.
    pub error_type: String,
    /// Everything it printed.
    pub output: String,
}

/// The real `cache-extension`.
#[derive(Debug)]
pub struct Extension {
    /// Its process.
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Its captured logs.
    pub log: PathBuf,
}

impl Extension {
    /// Starts the extension on a free port with `env`, and waits until it serves `/health`.
    /// A port taken between [`free_port`] and the extension's bind (another test's listener
    /// may get it from the kernel) is retried on a new one, at most three times.
    ///
    /// # Errors
    /// When it exits, or does not come up within 30 s.
    pub fn start_free(scratch: &Scratch, env: &[(String, String)]) -> anyhow::Result<Self> {
        Self::start_free_binary(scratch, env, &super::binary("cache-extension"))
    }

    /// [`Self::start_free`] with another build of the extension (the Lambda layer's).
    ///
    /// # Errors
    /// As [`Self::start_free`].
    pub fn start_free_binary(scratch: &Scratch, env: &[(String, String)], binary: &Path) -> anyhow::Result<Self> {
        let mut last = anyhow::anyhow!("not tried");
        for _ in 0..3 {
            match Self::start_binary(scratch, env, free_port()?, binary) {
                Ok(ext) => return Ok(ext),
                Err(e) if format!("{e:#}").contains("cannot bind") => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Starts the extension on `port` with `env`, and waits until this process, not another
    /// one that holds the port, serves `/health`: a 200 with `"status": "ok"`, while the child
    /// still runs.
    ///
    /// # Errors
    /// When it exits (its log is in the error), or does not come up within 30 s.
    pub fn start(scratch: &Scratch, env: &[(String, String)], port: u16) -> anyhow::Result<Self> {
        Self::start_binary(scratch, env, port, &super::binary("cache-extension"))
    }

    fn start_binary(scratch: &Scratch, env: &[(String, String)], port: u16, binary: &Path) -> anyhow::Result<Self> {
        let log = scratch.path(&format!("extension-{port}.log"));
        let out = fs::File::create(&log)?;
        let child = Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PROFILE_RESOLVER_PORT", port.to_string())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdout(out.try_clone()?)
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .context("spawning cache-extension")?;
        let mut ext = Self {
            proc: Proc::new(child, "cache-extension"),
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let ours = |r: &http::Reply| {
            r.status == 200
                && serde_json::from_str::<Value>(&r.body).is_ok_and(|b| b["status"] == "ok" && b["regions"].is_object())
        };
        // An upper bound only (a start under qemu on a loaded machine takes seconds).
        wait_serving(&mut ext.proc, &ext.url, "/health", Duration::from_secs(30), ours).with_context(|| ext.logs())?;
        Ok(ext)
    }

    /// Its logs so far.
    pub fn logs(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `POST /v1/resolve` with the token.
    ///
    /// # Errors
    /// Transport failures.
    pub fn resolve(&self, token: &str, query: &Value) -> anyhow::Result<http::Reply> {
        Ok(http::request(
            &self.url,
            "POST",
            "/v1/resolve",
            &[
                ("x-profile-resolver-token", token),
                ("content-type", "application/json"),
            ],
            query.to_string().as_bytes(),
        )?)
    }

    /// Waits until the process exits, at most `limit`; returns how long it took and whether it
    /// exited successfully.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(Duration, bool)> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.proc.child_mut().try_wait() {
                return Some((start.elapsed(), status.success()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

/// Polls `check` every 100 ms until it returns `Some`, at most `limit`.
pub fn eventually<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a Python script of `tests/python` with the venv's interpreter.
///
/// # Errors
/// When it fails; its output is in the error.
pub fn python(script: &str, args: &[&str], env: &[(String, String)]) -> anyhow::Result<String> {
    let out = Command::new(venv_tool("python"))
        .arg(workspace_root().join("tests/python").join(script))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()?;
    if !out.status.success() {
        bail!(
            "{script} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
