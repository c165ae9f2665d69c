//! Starts the emulator, moto's SSM server and the project's binaries on free 127.0.0.1 ports,
//! waits until they are ready (bounded), and stops them by PID when dropped.

pub mod fixtures;
pub mod fleet;
pub mod freeze;
pub mod http;
pub mod lambda;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A binary of this workspace, next to the running test's `deps/` folder.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(|d| {
        if d.ends_with("deps") {
            d.parent().unwrap_or(d)
        } else {
            d
        }
    });
    dir.map(|d| d.join(name)).unwrap_or_else(|| PathBuf::from(name))
}

/// A tool of the project-local venv (`make venv`).
pub fn venv_tool(name: &str) -> PathBuf {
    workspace_root().join(".venv/bin").join(name)
}

/// A free port on 127.0.0.1 (for tools that cannot bind port 0 themselves).
///
/// # Errors
/// When no port can be bound.
/// A port is handed out at most once per process, so that threads starting processes side by
/// side never get the same one (the kernel may return a port again as soon as it is released).
pub fn free_port() -> anyhow::Result<u16> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..1_000 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
    bail!("no free port found that this process had not used yet")
}

/// A child process killed by PID on drop.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    name: String,
}

impl Proc {
    /// Wraps a started child.
    pub fn new(child: Child, name: &str) -> Self {
        Self {
            child,
            name: name.to_owned(),
        }
    }

    /// The PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process now and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The underlying child, to read its pipes or send signals.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Its name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the child's first stdout line, within `timeout`.
///
/// # Errors
/// When the child exits or stays silent.
pub fn first_line(child: &mut Child, timeout: Duration) -> anyhow::Result<String> {
    let stdout = child.stdout.take().context("stdout not piped")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the child never blocks on a full pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    rx.recv_timeout(timeout)
        .map(|l| l.trim().to_owned())
        .context("no first line in time")
}

/// The running emulator.
#[derive(Debug)]
pub struct Emulator {
    /// Its process.
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl Emulator {
    /// Starts `aws-emulator --listen 127.0.0.1:0`, optionally seeded.
    ///
    /// # Errors
    /// When it does not start or announce its address.
    pub fn start(seed: Option<&Path>) -> anyhow::Result<Self> {
        Self::start_on("127.0.0.1:0", seed)
    }

    /// Starts it on a given address (to restart it where clients expect it).
    ///
    /// # Errors
    /// When it does not start or announce its address.
    pub fn start_on(listen: &str, seed: Option<&Path>) -> anyhow::Result<Self> {
        let mut cmd = Command::new(binary("aws-emulator"));
        cmd.args(["--listen", listen])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(seed) = seed {
            cmd.arg("--seed").arg(seed);
        }
        let mut child = cmd.spawn().context("spawning aws-emulator (is it built?)")?;
        let line = first_line(&mut child, Duration::from_secs(120));
        let proc = Proc::new(child, "aws-emulator");
        let line = line?;
        let url = line
            .strip_prefix("listening on ")
            .context("unexpected first line")?
            .to_owned();
        Ok(Self { proc, url })
    }

    fn admin(&self, method: &str, path: &str, body: &Value) -> anyhow::Result<http::Reply> {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let reply = http::request(
            &self.url,
            method,
            &format!("/_emulator{path}"),
            &[("content-type", "application/json")],
            &body,
        )?;
        if reply.status >= 300 {
            bail!("admin {method} {path}: {} {}", reply.status, reply.body);
        }
        Ok(reply)
    }

    /// Sets the fault of one operation (see the admin docs for the fields).
    ///
    /// # Errors
    /// When the emulator refuses it.
    pub fn set_fault(&self, fault: Value) -> anyhow::Result<()> {
        self.admin("POST", "/faults", &fault).map(drop)
    }

    /// Clears every fault.
    ///
    /// # Errors
    /// When the emulator is unreachable.
    pub fn clear_faults(&self) -> anyhow::Result<()> {
        self.admin("DELETE", "/faults", &Value::Null).map(drop)
    }

    /// Calls of `operation` in `region` so far.
    ///
    /// # Errors
    /// When the emulator is unreachable.
    pub fn calls(&self, operation: &str, region: &str) -> anyhow::Result<u64> {
        let v = self.admin("GET", "/calls", &Value::Null)?.json();
        Ok(v[operation][region].as_u64().unwrap_or(0))
    }

    /// Zeroes the call counts.
    ///
    /// # Errors
    /// When the emulator is unreachable.
    pub fn clear_calls(&self) -> anyhow::Result<()> {
        self.admin("DELETE", "/calls", &Value::Null).map(drop)
    }

    /// Adds profiles from a seed document.
    ///
    /// # Errors
    /// When the seed is refused.
    pub fn seed(&self, seed: &Value) -> anyhow::Result<()> {
        self.admin("POST", "/seed", seed).map(drop)
    }

    /// Removes every profile.
    ///
    /// # Errors
    /// When the emulator is unreachable.
    pub fn clear_seed(&self) -> anyhow::Result<()> {
        self.admin("DELETE", "/seed", &Value::Null).map(drop)
    }

    /// Changes tunables (`ghostSeconds`, `tokenTtlSeconds`).
    ///
    /// # Errors
    /// When refused.
    pub fn settings(&self, settings: Value) -> anyhow::Result<()> {
        self.admin("POST", "/settings", &settings).map(drop)
    }
}

/// moto's server, for SSM.
#[derive(Debug)]
pub struct Moto {
    /// Its process.
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl Moto {
    /// Starts `moto_server` from the project venv on a free port and waits until it answers.
    ///
    /// # Errors
    /// When moto is not installed (`make venv`) or does not come up within 30 s.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_on(None)
    }

    /// Starts moto on `port` (a free one when `None`).
    ///
    /// # Errors
    /// When moto is not installed (`make venv`) or does not come up within 30 s.
    pub fn start_on(port: Option<u16>) -> anyhow::Result<Self> {
        let tool = std::env::var_os("MOTO_SERVER").map_or_else(|| venv_tool("moto_server"), PathBuf::from);
        let mut last = anyhow::anyhow!("not tried");
        for _ in 0..3 {
            let port = match port {
                Some(p) => p,
                None => free_port()?,
            };
            let child = Command::new(&tool)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("spawning {} (run `make venv`)", tool.display()))?;
            let mut proc = Proc::new(child, "moto_server");
            let url = format!("http://127.0.0.1:{port}");
            // moto's dashboard: a 200 in HTML that names moto.
            let moto = |r: &http::Reply| r.status == 200 && r.body.to_ascii_lowercase().contains("moto");
            match wait_serving(&mut proc, &url, "/moto-api/", Duration::from_secs(30), moto) {
                Ok(()) => return Ok(Self { proc, url }),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Puts one SSM parameter through moto's API.
    ///
    /// # Errors
    /// When moto refuses it.
    pub fn put_parameter(&self, region: &str, name: &str, value: &str) -> anyhow::Result<()> {
        let body = json!({"Name": name, "Value": value, "Type": "String", "Overwrite": true}).to_string();
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/{region}/ssm/aws4_request, SignedHeaders=host, Signature=0"
        );
        let reply = http::request(
            &self.url,
            "POST",
            "/",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "AmazonSSM.PutParameter"),
                ("authorization", &auth),
            ],
            body.as_bytes(),
        )?;
        if reply.status != 200 {
            bail!("PutParameter {name}: {} {}", reply.status, reply.body);
        }
        Ok(())
    }
}

/// Polls `GET path` until `ours` accepts the answer while `proc` still runs, bounded by
/// `timeout`. Another process may hold the port (the kernel can hand a port [`free_port`] let
/// go to any listener), so an answer alone does not prove that `proc` serves it: `ours` checks
/// that it is this server's, and a child that exits (its bind failed) ends the wait at once.
///
/// # Errors
/// When the child exits, or no accepted answer comes in time.
pub fn wait_serving(
    proc: &mut Proc,
    base: &str,
    path: &str,
    timeout: Duration,
    ours: impl Fn(&http::Reply) -> bool,
) -> anyhow::Result<()> {
    let start = Instant::now();
    for _ in 0..10_000 {
        if let Ok(Some(status)) = proc.child_mut().try_wait() {
            bail!("{} exited ({status}) before serving {base}{path}", proc.name());
        }
        if http::get(base, path).is_ok_and(|r| ours(&r)) {
            return Ok(());
        }
        if start.elapsed() > timeout {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{} did not serve {base}{path} within {timeout:?}", proc.name())
}

/// The environment that points the AWS SDKs at the emulator and moto, with dummy credentials.
pub fn aws_env(emulator: &str, moto: Option<&str>, region: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("AWS_REGION".into(), region.into()),
        ("AWS_DEFAULT_REGION".into(), region.into()),
        ("AWS_ACCESS_KEY_ID".into(), "AKIDTESTING".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing-secret".into()),
        ("AWS_ENDPOINT_URL_BEDROCK".into(), emulator.into()),
        ("AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API".into(), emulator.into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("AWS_CONFIG_FILE".into(), "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()),
    ];
    if let Some(moto) = moto {
        env.push(("AWS_ENDPOINT_URL_SSM".into(), moto.into()));
    }
    env
}
