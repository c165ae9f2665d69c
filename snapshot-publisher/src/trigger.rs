//! What an invoke asks for: which regions to publish.
//!
//! - An SQS batch (the change path: EventBridge rules → queue → publisher, with a batching
//!   window) names the regions of the events in its records; 50 events about one region are one
//!   build of it.
//! - An EventBridge event delivered directly names its region.
//! - Anything else (the EventBridge Scheduler's payload, `{}`) publishes every allowed region.
//! - `{"regions": ["us-east-1"]}` publishes those.
//!
//! A record that cannot be read publishes every region: a needless build costs a few pages, a
//! missed one leaves readers on old data until the next schedule.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;
use std::collections::BTreeSet;

/// The regions to publish, of the allowed ones, and how many change events asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Allowed regions to publish, sorted.
    pub regions: BTreeSet<String>,
    /// Change events in the invoke (SQS records or one direct event).
    pub events: usize,
}

/// Reads an invoke's payload against the allow-list.
pub fn plan(payload: &Value, allowed: &[String]) -> Plan {
    let all = || allowed.iter().cloned().collect::<BTreeSet<_>>();
    let keep = |regions: BTreeSet<String>| -> BTreeSet<String> {
        regions
            .into_iter()
            .filter(|r| {
                let ok = allowed.contains(r);
                if !ok {
                    tracing::warn!(region = %r, "an event for a region outside PROFILE_RESOLVER_REGIONS; ignored");
                }
                ok
            })
            .collect()
    };
    if payload.get("Records").is_some() {
        let Ok(batch) = serde_json::from_value::<SqsEvent>(payload.clone()) else {
            tracing::warn!("an SQS-like payload that does not parse; publishing every region");
            return Plan {
                regions: all(),
                events: 0,
            };
        };
        let mut regions = BTreeSet::new();
        for record in &batch.records {
            match record.body.as_deref().and_then(event_region) {
                Some(r) => {
                    regions.insert(r);
                }
                None => {
                    tracing::warn!(message = ?record.message_id, "a record that is not an EventBridge event; publishing every region");
                    return Plan {
                        regions: all(),
                        events: batch.records.len(),
                    };
                }
            }
        }
        return Plan {
            regions: keep(regions),
            events: batch.records.len(),
        };
    }
    if let Some(list) = payload.get("regions").and_then(Value::as_array) {
        let named = list.iter().filter_map(Value::as_str).map(str::to_owned).collect();
        return Plan {
            regions: keep(named),
            events: 0,
        };
    }
    let scheduled = matches!(
        payload.get("source").and_then(Value::as_str),
        Some("aws.events" | "aws.scheduler")
    );
    if payload.get("detail-type").is_some()
        && !scheduled
        && let Some(r) = event_region(&payload.to_string())
    {
        return Plan {
            regions: keep(BTreeSet::from([r])),
            events: 1,
        };
    }
    Plan {
        regions: all(),
        events: 0,
    }
}

/// The region of an EventBridge event, given as JSON text.
fn event_region(body: &str) -> Option<String> {
    let event: EventBridgeEvent<Value> = serde_json::from_str(body).ok()?;
    event.region.filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOUDTRAIL: &str = include_str!("../tests/fixtures/cloudtrail-bedrock-tag-resource.json");
    const TAG_CHANGE: &str = include_str!("../tests/fixtures/tag-change-on-resource.json");
    const SCHEDULE: &str = include_str!("../tests/fixtures/scheduler.json");

    fn allowed() -> Vec<String> {
        vec!["us-east-1".into(), "eu-west-1".into()]
    }

    /// An SQS batch as Lambda delivers it: the crate's own fixture, with these bodies.
    fn sqs(bodies: &[&str]) -> Value {
        let mut batch: Value =
            serde_json::from_str(include_str!("../tests/fixtures/sqs-event.json")).unwrap_or_default();
        let template = batch["Records"][0].clone();
        batch["Records"] = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let mut r = template.clone();
                r["messageId"] = Value::from(format!("m{i}"));
                r["body"] = Value::from(*body);
                r
            })
            .collect();
        batch
    }

    fn regions(p: &Plan) -> Vec<&str> {
        p.regions.iter().map(String::as_str).collect()
    }

    #[test]
    fn a_burst_of_fifty_change_events_in_one_region_is_one_build_of_it() {
        let p = plan(&sqs(&[CLOUDTRAIL; 50]), &allowed());
        assert_eq!((regions(&p), p.events), (vec!["us-east-1"], 50));
    }

    #[test]
    fn cloudtrail_and_tag_change_events_name_their_regions() {
        let p = plan(&sqs(&[CLOUDTRAIL, TAG_CHANGE]), &allowed());
        assert_eq!(regions(&p), ["eu-west-1", "us-east-1"]);
        let direct = plan(&serde_json::from_str(TAG_CHANGE).unwrap_or_default(), &allowed());
        assert_eq!((regions(&direct), direct.events), (vec!["eu-west-1"], 1));
    }

    #[test]
    fn the_schedule_publishes_every_allowed_region() {
        let p = plan(&serde_json::from_str(SCHEDULE).unwrap_or_default(), &allowed());
        assert_eq!(regions(&p), ["eu-west-1", "us-east-1"]);
    }

    #[test]
    fn an_event_from_a_region_outside_the_allow_list_builds_nothing() {
        let p = plan(&sqs(&[CLOUDTRAIL]), &["eu-west-1".to_owned()]);
        assert!(p.regions.is_empty());
    }

    #[test]
    fn an_unreadable_record_publishes_every_region_rather_than_miss_a_change() {
        let p = plan(&sqs(&[CLOUDTRAIL, "not json"]), &allowed());
        assert_eq!(regions(&p), ["eu-west-1", "us-east-1"]);
    }
}
