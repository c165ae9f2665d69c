//! The benchmark: the counted cost of a cache hit (instructions and syscalls, the measure for
//! hot-path changes), cache hits against a bare server, the whole invoke path, upstream calls
//! per TTL window, cold start, memory and size. Wall-clock numbers are compared as ratios
//! measured in one run on the same machine, alternating the contenders over several rounds and
//! reporting medians and the spread of the rounds.
//! `make bench` runs it with release binaries; the test command runs `--smoke` with tiny counts
//! so that this code cannot rot.

pub mod count;
pub mod fleet;
pub mod lifecycle;
pub mod load;
pub mod memory;
pub mod report;
pub mod scenarios;
pub mod wrk;

use std::path::PathBuf;
use std::time::Duration;

/// How big a run is.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tiny counts, for the test command.
    pub smoke: bool,
    /// Where `benchmarks.md`, `benchmarks.json` go.
    pub out_dir: PathBuf,
    /// Alternating rounds per contender.
    pub rounds: usize,
    /// Time per round.
    pub round_time: Duration,
    /// Request cap per round.
    pub round_requests: usize,
    /// Profiles for the main runs.
    pub profiles: usize,
    /// Profiles for the large memory run.
    pub large_profiles: usize,
    /// Requests for the upstream-call runs (each).
    pub upstream_requests: usize,
    /// Invokes per round of the whole-path run.
    pub invokes: usize,
}

impl Options {
    /// The full benchmark.
    pub fn full(out_dir: PathBuf) -> Self {
        Self {
            smoke: false,
            out_dir,
            rounds: 5,
            round_time: Duration::from_secs(3),
            round_requests: 400_000,
            profiles: 2_000,
            large_profiles: 100_000,
            upstream_requests: 100_000,
            invokes: 200,
        }
    }

    /// The smoke run.
    pub fn smoke(out_dir: PathBuf) -> Self {
        Self {
            smoke: true,
            out_dir,
            rounds: 1,
            round_time: Duration::from_millis(300),
            round_requests: 200,
            profiles: 200,
            large_profiles: 1_000,
            upstream_requests: 300,
            invokes: 3,
        }
    }
}
