//! The benchmark with tiny counts, so that its code cannot rot. Its numbers mean nothing and
//! nothing is asserted about speed; it checks that every scenario runs and reports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn the_benchmark_runs_end_to_end_with_tiny_counts() {
    let out_dir = std::env::temp_dir().join(format!("profile-resolver-bench-smoke-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["--smoke", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let md = std::fs::read_to_string(out_dir.join("benchmarks.md")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("benchmarks.json")).unwrap()).unwrap();
    for section in [
        "1. cache hit",
        "2. whole path",
        "4. upstream calls",
        "5. cold start",
        "6. memory and size",
    ] {
        assert!(md.contains(section), "{section} missing from the report");
    }
    let upstream_ok = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["section"].as_str().unwrap().starts_with("4."))
        .filter(|r| r["met"].is_boolean())
        .all(|r| r["met"] == true);
    assert!(
        upstream_ok,
        "even a smoke run must make only the pages of one snapshot build: {md}"
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}
