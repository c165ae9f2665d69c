//! The Lambda handler: an invoke's payload becomes a plan (see `trigger`), the plan's regions
//! are published, and the reports are the response. Any failed region fails the invoke with
//! `errorType` `PublishFailed`, so that SQS redelivers the batch (and, after its receive limit,
//! moves it to the dead-letter queue) and the Scheduler retries.

use crate::trigger::plan;
use crate::{Outcome, Publisher, Report, account_of};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};

/// A failed publish, as the invoke's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PublishFailed(pub String);

impl From<PublishFailed> for Diagnostic {
    fn from(e: PublishFailed) -> Self {
        Diagnostic {
            error_type: "PublishFailed".into(),
            error_message: e.0,
        }
    }
}

/// Handles one invoke.
///
/// # Errors
/// `PublishFailed`, naming each failed region and why.
pub async fn handle(
    publisher: &Publisher,
    allowed: &[String],
    fallback_account: Option<&str>,
    event: LambdaEvent<Value>,
) -> Result<Value, PublishFailed> {
    let account = account_of(&event.context.invoked_function_arn).or(fallback_account);
    let plan = plan(&event.payload, allowed);
    tracing::info!(regions = ?plan.regions, events = plan.events, "publishing");
    let reports = publisher.publish_all(&plan.regions, account).await;
    respond(plan.events, reports)
}

/// The response for a run's reports, or the error when any region failed.
///
/// # Errors
/// `PublishFailed` when any report failed.
pub fn respond(events: usize, reports: Vec<Report>) -> Result<Value, PublishFailed> {
    let failed: Vec<String> = reports
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Failed { error, .. } => Some(format!("{}: {error}", r.region)),
            _ => None,
        })
        .collect();
    if failed.is_empty() {
        Ok(json!({"events": events, "regions": reports}))
    } else {
        Err(PublishFailed(failed.join("; ")))
    }
}
