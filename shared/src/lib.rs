//! # profile-resolver engine
//!
//! Maps tag queries (`tenant=acme`, `app=chatbot`) to Amazon Bedrock application inference
//! profile ARNs, from memory. The extension and the function are thin adapters around this
//! crate; resolution semantics live here and only here.
//!
//! - [`query`]: parsing and validating queries (JSON body, query string, batch).
//! - [`snapshot`] and [`index`]: one region's profiles with an inverted tag index.
//! - [`source`]: the Tagging API, Bedrock and SSM routes behind small traits.
//! - [`build`]: one region's snapshot from the sources (the resolver and the publisher).
//! - [`published`]: snapshots published to S3 for a fleet, and reading them back.
//! - [`resolver`]: TTL, single-flight refresh, stale-while-revalidate, stale-if-error, routes.
//! - [`answer`] and [`error`]: what clients receive.
//! - [`config`]: the environment, typed.

pub mod answer;
pub mod build;
pub mod clock;
pub mod config;
pub mod error;
pub mod https;
pub mod index;
pub mod logging;
pub mod profile;
pub mod published;
pub mod query;
pub mod resolver;
pub mod retry;
pub mod sigv4;
pub mod snapshot;
pub mod source;
pub mod stats;
pub mod wiring;

pub use answer::{BatchAnswer, CacheState, Resolution};
pub use build::Sources;
pub use error::{ApiError, ErrorCode};
pub use query::{MatchMode, Query};
pub use resolver::Resolver;
