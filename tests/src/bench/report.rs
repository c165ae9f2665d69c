//! The benchmark's table: printed, and written with the machine and the date to
//! `benchmarks.md` and `benchmarks.json` (the chart script reads the JSON).

use serde::Serialize;
use std::fmt::Write as _;

/// One measured line.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Section.
    pub section: String,
    /// What was measured.
    pub metric: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The target, if any.
    pub target: Option<String>,
    /// Whether the target is met (`None` without a target).
    pub met: Option<bool>,
}

/// All rows plus latency series for the chart.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: String,
    /// The date (UTC).
    pub date: String,
    /// Notes on how it was run.
    pub notes: Vec<String>,
    /// The rows.
    pub rows: Vec<Row>,
    /// Latency percentiles per contender and connection count, for the chart.
    pub series: Vec<Series>,
}

/// Latency percentiles of one contender.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// `bare` or `extension`.
    pub contender: String,
    /// Connections.
    pub connections: usize,
    /// (percentile, microseconds).
    pub points: Vec<(f64, f64)>,
}

impl Report {
    /// Adds a row without a target.
    pub fn add(&mut self, section: &str, metric: &str, value: f64, unit: &str) {
        self.rows.push(Row {
            section: section.into(),
            metric: metric.into(),
            value,
            unit: unit.into(),
            target: None,
            met: None,
        });
    }

    /// Adds a row with a target and whether it is met.
    pub fn check(&mut self, section: &str, metric: &str, value: f64, unit: &str, target: &str, met: bool) {
        self.rows.push(Row {
            section: section.into(),
            metric: metric.into(),
            value,
            unit: unit.into(),
            target: Some(target.into()),
            met: Some(met),
        });
    }

    /// The Markdown document.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Benchmarks\n\nMachine: {}  \nDate: {}\n", self.machine, self.date);
        for n in &self.notes {
            let _ = writeln!(s, "- {n}");
        }
        let _ = writeln!(
            s,
            "\n| section | metric | value | target | met |\n|---|---|---|---|---|"
        );
        let mut rows: Vec<&Row> = self.rows.iter().collect();
        rows.sort_by(|a, b| a.section.cmp(&b.section));
        for r in rows {
            let value = if r.value.abs() >= 100.0 || r.value.fract() == 0.0 {
                format!("{:.0} {}", r.value, r.unit)
            } else {
                format!("{:.3} {}", r.value, r.unit)
            };
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                r.section,
                r.metric,
                value,
                r.target.as_deref().unwrap_or(""),
                met
            );
        }
        let _ = writeln!(s, "\n![latency](benchmarks-latency.png)");
        s
    }
}

/// A one-line description of the machine: CPU model, cores, memory.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(String::new, |kb| format!(", {} GiB", kb / 1024 / 1024));
    format!("{cpu}, {cores} cores{mem}, {}", std::env::consts::ARCH)
}
