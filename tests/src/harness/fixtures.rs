//! The real example events shipped in the `aws_lambda_events` crate, read from the crate this
//! workspace depends on (located with `cargo metadata`), so tests start from AWS's own shapes.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn fixtures_dir() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let rustc = Command::new("rustc").arg("-vV").output().ok()?;
        let host = String::from_utf8_lossy(&rustc.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--offline",
                "--filter-platform",
                &host,
                "--manifest-path",
            ])
            .arg(super::workspace_root().join("Cargo.toml"))
            .output()
            .ok()?;
        let meta: Value = serde_json::from_slice(&out.stdout).ok()?;
        let manifest = meta["packages"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == "aws_lambda_events")?["manifest_path"]
            .as_str()?;
        Some(PathBuf::from(manifest).parent()?.join("src/fixtures"))
    })
    .as_ref()
}

/// One example event by file name, e.g. `example-apigw-v2-request-jwt-authorizer.json`.
///
/// # Panics
/// When the fixture cannot be found or parsed: a test without its input cannot run.
#[allow(clippy::expect_used)]
pub fn event(name: &str) -> Value {
    let dir = fixtures_dir().expect("the aws_lambda_events sources are found with cargo metadata");
    let text = std::fs::read_to_string(dir.join(name)).expect("the fixture exists");
    serde_json::from_str(&text).expect("the fixture is JSON")
}
