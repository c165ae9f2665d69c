//! Structured logs through `tracing`, as Lambda wants them: the level from `AWS_LAMBDA_LOG_LEVEL`
//! (`TRACE` to `FATAL`, default `INFO`) and JSON or text from `AWS_LAMBDA_LOG_FORMAT`. Logs go to
//! stderr, which Lambda ships to CloudWatch like stdout.

use crate::config::ConfigError;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `AWS_LAMBDA_LOG_LEVEL`
pub const LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
/// `AWS_LAMBDA_LOG_FORMAT`
pub const LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";

/// The log settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A `tracing` level name.
    pub level: &'static str,
    /// JSON lines rather than text.
    pub json: bool,
}

impl LogConfig {
    /// Reads the two variables through `lookup`.
    ///
    /// # Errors
    /// An unknown level or format.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let level = match lookup(LOG_LEVEL).map(|l| l.to_ascii_uppercase()).as_deref() {
            None | Some("INFO") => "info",
            Some("TRACE") => "trace",
            Some("DEBUG") => "debug",
            Some("WARN") => "warn",
            Some("ERROR" | "FATAL") => "error",
            Some(_) => return Err(ConfigError::new(LOG_LEVEL, "TRACE, DEBUG, INFO, WARN, ERROR or FATAL")),
        };
        let json = match lookup(LOG_FORMAT).map(|f| f.to_ascii_uppercase()).as_deref() {
            None | Some("TEXT") => false,
            Some("JSON") => true,
            Some(_) => return Err(ConfigError::new(LOG_FORMAT, "JSON or Text")),
        };
        Ok(Self { level, json })
    }

    /// Installs the global subscriber. A second call is a no-op.
    pub fn init(&self) {
        // Our crates at the chosen level, every other (the SDK, hyper) at WARN. A fixed list of
        // targets, not an `EnvFilter`, whose regex engine added about 0.3 MB to each binary.
        let level = self.level.parse::<LevelFilter>().unwrap_or(LevelFilter::INFO);
        let filter = ["shared", "cache_extension", "resolver_fn", "snapshot_publisher"]
            .into_iter()
            .fold(Targets::new().with_default(LevelFilter::WARN), |t, target| {
                t.with_target(target, level)
            });
        // The builder's own filter (INFO unless told) sits under `filter`: open it fully, so
        // that `filter` alone decides.
        let builder = tracing_subscriber::fmt()
            .with_max_level(LevelFilter::TRACE)
            .with_writer(std::io::stderr)
            .with_target(false);
        let _ = if self.json {
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .finish()
                .with(filter)
                .try_init()
        } else {
            builder.without_time().with_ansi(false).finish().with(filter).try_init()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_level_and_format_names_are_understood() {
        let c = LogConfig::from_lookup(|k| match k {
            LOG_LEVEL => Some("debug".into()),
            LOG_FORMAT => Some("JSON".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            c,
            LogConfig {
                level: "debug",
                json: true
            }
        );
        let err = LogConfig::from_lookup(|k| (k == LOG_FORMAT).then(|| "yaml".into())).unwrap_err();
        assert_eq!(err.variable, LOG_FORMAT);
    }
}
