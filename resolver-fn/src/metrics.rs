//! One CloudWatch Embedded Metric Format line per invocation: resolve latency, outcome, source
//! and cache state, with the dimensions function name and outcome.

use parking_lot::Mutex;
use serde_json::json;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The metrics namespace.
pub const NAMESPACE: &str = "ProfileResolver";

/// What one invocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `OK`, `Batch`, or the error code.
    pub outcome: String,
    /// `tagging-api` or `parameter-store`, when known.
    pub source: Option<String>,
    /// `hit`, `stale` or `miss`, when known.
    pub cache: Option<String>,
    /// `extension` or `in-process`.
    pub via: &'static str,
}

/// Writes EMF lines to a sink (stdout in Lambda, a buffer in tests).
pub struct Metrics {
    function: String,
    sink: Mutex<Box<dyn Write + Send>>,
}

impl Metrics {
    /// Metrics for `function` written to `sink`.
    pub fn new(function: impl Into<String>, sink: Box<dyn Write + Send>) -> Self {
        Self {
            function: function.into(),
            sink: Mutex::new(sink),
        }
    }

    /// The EMF document for one invocation.
    pub fn document(&self, outcome: &Outcome, latency: Duration, at: SystemTime) -> serde_json::Value {
        let ms = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        json!({
            "_aws": {
                "Timestamp": ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName", "Outcome"], ["FunctionName"]],
                    "Metrics": [
                        {"Name": "ResolveLatency", "Unit": "Milliseconds"},
                        {"Name": "UpstreamUnavailable", "Unit": "Count"},
                        {"Name": "InProcessFallback", "Unit": "Count"}
                    ]
                }]
            },
            "FunctionName": self.function,
            "Outcome": outcome.outcome,
            "ResolveLatency": (latency.as_secs_f64() * 1_000_000.0).round() / 1000.0,
            "UpstreamUnavailable": u8::from(outcome.outcome == "UpstreamUnavailable"),
            "InProcessFallback": u8::from(outcome.via == "in-process"),
            "Source": outcome.source,
            "Cache": outcome.cache,
            "Via": outcome.via,
        })
    }

    /// Writes the line.
    pub fn emit(&self, outcome: &Outcome, latency: Duration) {
        let line = self.document(outcome, latency, SystemTime::now()).to_string();
        let mut sink = self.sink.lock();
        // A failed metrics write must never fail the invocation.
        let _ = writeln!(sink, "{line}");
        let _ = sink.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_declares_its_metrics_and_dimensions() {
        let m = Metrics::new("fn", Box::new(std::io::sink()));
        let outcome = Outcome {
            outcome: "UpstreamUnavailable".into(),
            source: None,
            cache: None,
            via: "in-process",
        };
        let doc = m.document(
            &outcome,
            Duration::from_micros(1500),
            UNIX_EPOCH + Duration::from_secs(2),
        );
        assert_eq!(doc["_aws"]["Timestamp"], 2000);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["FunctionName", "Outcome"])
        );
        assert_eq!(doc["ResolveLatency"], 1.5);
        assert_eq!(doc["UpstreamUnavailable"], 1);
        assert_eq!(doc["InProcessFallback"], 1);
        assert_eq!(doc["FunctionName"], "fn");
    }
}
