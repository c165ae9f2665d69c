//! CloudWatch metrics from the extension, in Embedded Metric Format on stdout (Lambda ships an
//! extension's stdout to the function's log group, where EMF lines become metrics): per region,
//! the hits, stale hits, misses, refresh failures, `UpstreamUnavailable` answers and upstream
//! calls of the last interval, and the snapshot's age. At most one line per region a minute,
//! and a last one at SHUTDOWN. Each is published by `Region` and, inside Lambda, by
//! `FunctionName` and `Region` too, so an account with many functions can tell which one serves
//! stale data.
//!
//! Written by hand rather than with `metrics_cloudwatch_embedded`: the lines are a few fields of
//! counters the engine already keeps, and emission is driven by the Lambda lifecycle (a timer
//! does not fire in a frozen sandbox), not by a recorder.

use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use shared::Resolver;
use shared::stats::Counters;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The metrics namespace, shared with the function's metrics.
pub const NAMESPACE: &str = "ProfileResolver";
/// At most one emission per this interval (wall clock).
pub const INTERVAL: Duration = Duration::from_secs(60);

/// Emits EMF lines to a sink (stdout in Lambda, a buffer in tests).
pub struct Emf {
    sink: Mutex<Box<dyn Write + Send>>,
    function: Option<String>,
    last: Mutex<Last>,
}

#[derive(Default)]
struct Last {
    at: Option<SystemTime>,
    counters: BTreeMap<String, Counters>,
}

impl Emf {
    /// Metrics written to `sink`, also by `function` (`AWS_LAMBDA_FUNCTION_NAME`) when given.
    pub fn new(sink: Box<dyn Write + Send>, function: Option<String>) -> Self {
        Self {
            sink: Mutex::new(sink),
            function: function.filter(|f| !f.is_empty()),
            last: Mutex::default(),
        }
    }

    /// Emits if the last emission is at least [`INTERVAL`] old (or there was none).
    pub fn maybe_emit(&self, resolver: &Resolver, now: SystemTime) {
        let due = self
            .last
            .lock()
            .at
            .is_none_or(|t| now.duration_since(t).unwrap_or_default() >= INTERVAL);
        if due {
            self.emit(resolver, now);
        }
    }

    /// Emits one line per region now.
    pub fn emit(&self, resolver: &Resolver, now: SystemTime) {
        let counters = resolver.stats().by_region();
        let ages: BTreeMap<String, Option<f64>> = resolver
            .health()
            .into_iter()
            .map(|(region, h)| (region, h.age_seconds))
            .collect();
        let lines = {
            let mut last = self.last.lock();
            let lines = documents(&counters, &last.counters, &ages, self.function.as_deref(), now);
            last.at = Some(now);
            last.counters = counters;
            lines
        };
        let mut sink = self.sink.lock();
        for line in lines {
            // A failed metrics write must never disturb serving.
            let _ = writeln!(sink, "{line}");
        }
        let _ = sink.flush();
    }
}

/// The EMF documents: one per region, with the counts since `previous` and the snapshot age,
/// by `Region` and, given `function`, by `FunctionName` and `Region`.
pub fn documents(
    now_counters: &BTreeMap<String, Counters>,
    previous: &BTreeMap<String, Counters>,
    ages: &BTreeMap<String, Option<f64>>,
    function: Option<&str>,
    at: SystemTime,
) -> Vec<Value> {
    let dimensions = match function {
        Some(_) => json!([["Region"], ["FunctionName", "Region"]]),
        None => json!([["Region"]]),
    };
    let ms = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    now_counters
        .iter()
        .map(|(region, c)| {
            let before = previous.get(region);
            let delta = |f: fn(&Counters) -> u64| f(c).saturating_sub(before.map_or(0, f));
            let mut values: Vec<(String, Value, &str)> = vec![
                ("Hits".into(), delta(|c| c.hits).into(), "Count"),
                ("StaleHits".into(), delta(|c| c.stale_hits).into(), "Count"),
                ("Misses".into(), delta(|c| c.misses).into(), "Count"),
                ("RefreshFailures".into(), delta(|c| c.refresh_failures).into(), "Count"),
                ("Unavailable".into(), delta(|c| c.unavailable).into(), "Count"),
            ];
            for (op, n) in &c.upstream_calls {
                let was = before.and_then(|b| b.upstream_calls.get(op)).copied().unwrap_or(0);
                values.push((format!("{op}Calls"), n.saturating_sub(was).into(), "Count"));
            }
            if let Some(Some(age)) = ages.get(region) {
                values.push((
                    "SnapshotAgeSeconds".into(),
                    json!((age * 1000.0).round() / 1000.0),
                    "Seconds",
                ));
            }
            let mut doc = Map::new();
            let metrics: Vec<Value> = values
                .iter()
                .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
                .collect();
            doc.insert(
                "_aws".into(),
                json!({"Timestamp": ms, "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE, "Dimensions": dimensions, "Metrics": metrics}]}),
            );
            doc.insert("Region".into(), json!(region));
            if let Some(function) = function {
                doc.insert("FunctionName".into(), json!(function));
            }
            for (name, value, _) in values {
                doc.insert(name, value);
            }
            Value::Object(doc)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(hits: u64, calls: u64) -> Counters {
        Counters {
            hits,
            stale_hits: 1,
            misses: 0,
            refreshes: 2,
            refresh_failures: 1,
            unavailable: 3,
            upstream_calls: [("GetResources", calls), ("ListInferenceProfiles", 1)]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn each_region_gets_one_document_with_the_counts_of_the_interval_and_the_snapshot_age() {
        let now: BTreeMap<String, Counters> = [("us-east-1".to_owned(), counters(10, 20))].into();
        let before: BTreeMap<String, Counters> = [("us-east-1".to_owned(), counters(4, 20))].into();
        let ages: BTreeMap<String, Option<f64>> = [("us-east-1".to_owned(), Some(12.5))].into();
        let docs = documents(&now, &before, &ages, None, UNIX_EPOCH + Duration::from_secs(3));
        assert_eq!(docs.len(), 1);
        let d = &docs[0];
        assert_eq!(d["_aws"]["Timestamp"], 3000);
        assert_eq!(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Region"]]));
        assert!(d.get("FunctionName").is_none(), "an agent has no function");
        assert_eq!((d["Region"].as_str(), d["Hits"].as_u64()), (Some("us-east-1"), Some(6)));
        assert_eq!(d["GetResourcesCalls"], 0, "no new calls in this interval");
        assert_eq!(d["StaleHits"], 0);
        assert_eq!(d["SnapshotAgeSeconds"], 12.5);
        let declared: Vec<&str> = d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in &declared {
            assert!(d.get(*name).is_some(), "{name} is declared and present");
        }
    }

    #[test]
    fn a_region_never_loaded_reports_no_age() {
        let now: BTreeMap<String, Counters> = [("eu-west-1".to_owned(), counters(0, 0))].into();
        let ages: BTreeMap<String, Option<f64>> = [("eu-west-1".to_owned(), None)].into();
        let docs = documents(&now, &BTreeMap::new(), &ages, None, UNIX_EPOCH);
        assert!(docs[0].get("SnapshotAgeSeconds").is_none());
        assert_eq!(docs[0]["RefreshFailures"], 1);
    }

    #[test]
    fn inside_lambda_each_metric_is_also_by_function_and_503s_are_counted() {
        let now: BTreeMap<String, Counters> = [("us-east-1".to_owned(), counters(1, 1))].into();
        let ages: BTreeMap<String, Option<f64>> = [("us-east-1".to_owned(), Some(1.0))].into();
        let docs = documents(&now, &BTreeMap::new(), &ages, Some("orders-fn"), UNIX_EPOCH);
        let d = &docs[0];
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Region"], ["FunctionName", "Region"]])
        );
        assert_eq!(
            (d["FunctionName"].as_str(), d["Region"].as_str()),
            (Some("orders-fn"), Some("us-east-1"))
        );
        assert_eq!(d["Unavailable"], 3);
    }
}
