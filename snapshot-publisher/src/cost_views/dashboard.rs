//! A region's usage dashboard: for each tenant one line per graph, the sum of its current
//! profiles' `AWS/Bedrock` `Invocations`, `InputTokenCount` and `OutputTokenCount`, by the
//! `ModelId` dimension (a profile's id; see docs/costs.md).
//!
//! Every line is a metric math expression, `SUM([m0,m1,...])`, over hidden metrics of the same
//! graph. CloudWatch bounds a graph to [`MAX_GRAPH_ITEMS`] metrics and expressions, and a
//! dashboard to [`MAX_DASHBOARD_METRICS`] metrics, so:
//! - a tenant's sum references at most [`MAX_SUM_METRICS`] metrics; a tenant with more profiles
//!   has several lines, "acme (1 of 3)", ...;
//! - lines are packed into rows of three graphs (one per metric), as many rows as needed;
//! - what would pass the dashboard's limit is left off, and the dashboard's heading names the
//!   tenants left off (logged too).

use super::Tenant;
use serde_json::{Value, json};

/// Metrics and expressions one graph may hold.
pub const MAX_GRAPH_ITEMS: usize = 500;
/// Metrics one dashboard may hold, across its graphs.
pub const MAX_DASHBOARD_METRICS: usize = 2500;
/// Metrics one line's sum references (short expressions; a bound of this project's own).
pub const MAX_SUM_METRICS: usize = 100;
/// The runtime metrics shown, with their graphs' titles.
pub const METRICS: [(&str, &str); 3] = [
    ("Invocations", "Invocations"),
    ("InputTokenCount", "Input tokens"),
    ("OutputTokenCount", "Output tokens"),
];
/// The label of profiles without the tenant tag. Parentheses cannot occur in a tag value.
pub const UNTAGGED: &str = "(untagged)";

/// One line: a label and the profile ids it sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The tenant, `(untagged)`, or either with "(i of n)".
    pub label: String,
    /// The `ModelId` values summed.
    pub ids: Vec<String>,
}

/// The dashboard's body (JSON) for `tenants` (untagged last) in `region`.
pub fn body(region: &str, tenant_tag: &str, tenants: &[Tenant]) -> String {
    let mut rows: Vec<Vec<Line>> = Vec::new();
    let (mut row_items, mut total, mut left_off) = (0, 0, Vec::new());
    for tenant in tenants {
        let label = tenant.name.as_deref().unwrap_or(UNTAGGED);
        let lines = lines_of(label, tenant.profiles.iter().map(|p| p.id.clone()).collect());
        let cost: usize = lines.iter().map(|l| l.ids.len()).sum();
        if total + cost * METRICS.len() > MAX_DASHBOARD_METRICS {
            left_off.push(label.to_owned());
            continue;
        }
        total += cost * METRICS.len();
        for line in lines {
            let items = line.ids.len() + 1;
            if rows.is_empty() || row_items + items > MAX_GRAPH_ITEMS {
                rows.push(Vec::new());
                row_items = 0;
            }
            row_items += items;
            if let Some(row) = rows.last_mut() {
                row.push(line);
            }
        }
    }
    if !left_off.is_empty() {
        tracing::error!(region, tenants = ?left_off, "the usage dashboard is full; these tenants are left off");
    }
    let profiles: usize = tenants.iter().map(|t| t.profiles.len()).sum();
    let untagged = tenants
        .iter()
        .filter(|t| t.name.is_none())
        .map(|t| t.profiles.len())
        .sum::<usize>();
    let mut heading = format!(
        "## Bedrock usage per tenant, {region}\n\nOne line per value of the `{tenant_tag}` tag: the sum over \
         that tenant's application inference profiles. {} tenants, {profiles} profiles, {untagged} of them \
         without the tag ({UNTAGGED}). profile-resolver's publisher rewrites this dashboard when the \
         mapping changes: edits here are lost.",
        tenants.iter().filter(|t| t.name.is_some()).count()
    );
    if !left_off.is_empty() {
        heading.push_str(&format!(
            "\n\n**Left off (over CloudWatch's {MAX_DASHBOARD_METRICS} metrics per dashboard):** {}",
            left_off.join(", ")
        ));
    }
    let mut widgets = vec![json!({
        "type": "text", "x": 0, "y": 0, "width": 24, "height": 3,
        "properties": {"markdown": heading}
    })];
    let parts = rows.len();
    for (r, row) in rows.iter().enumerate() {
        for (c, (metric, title)) in METRICS.iter().enumerate() {
            let title = if parts > 1 {
                format!("{title} ({} of {parts})", r + 1)
            } else {
                (*title).to_owned()
            };
            widgets.push(json!({
                "type": "metric", "x": c * 8, "y": 3 + r * 6, "width": 8, "height": 6,
                "properties": {
                    "title": title, "region": region, "view": "timeSeries", "stacked": false,
                    "stat": "Sum", "period": 300, "metrics": graph_metrics(metric, row),
                }
            }));
        }
    }
    json!({"widgets": widgets}).to_string()
}

/// The lines of one tenant: one, or one per [`MAX_SUM_METRICS`] profiles.
fn lines_of(label: &str, ids: Vec<String>) -> Vec<Line> {
    let chunks: Vec<&[String]> = ids.chunks(MAX_SUM_METRICS).collect();
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, ids)| Line {
            label: if n > 1 {
                format!("{label} ({} of {n})", i + 1)
            } else {
                label.to_owned()
            },
            ids: ids.to_vec(),
        })
        .collect()
}

/// A graph's `metrics`: every line's hidden metrics, then its expression.
fn graph_metrics(metric: &str, lines: &[Line]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = 0;
    for (l, line) in lines.iter().enumerate() {
        let mut refs = Vec::with_capacity(line.ids.len());
        for id in &line.ids {
            let m = format!("m{next}");
            next += 1;
            out.push(json!(["AWS/Bedrock", metric, "ModelId", id, {"id": m, "visible": false}]));
            refs.push(m);
        }
        out.push(
            json!([{"expression": format!("SUM([{}])", refs.join(",")), "label": line.label, "id": format!("e{l}")}]),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost_views::TenantProfile;

    fn tenant(name: Option<&str>, n: usize) -> Tenant {
        Tenant {
            name: name.map(str::to_owned),
            profiles: (0..n)
                .map(|i| TenantProfile {
                    arn: format!("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/{i}"),
                    id: format!("{}-{i}", name.unwrap_or("u")),
                    limit: None,
                })
                .collect(),
        }
    }

    fn graphs(body: &str) -> Vec<Value> {
        let v: Value = serde_json::from_str(body).unwrap();
        v["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["type"] == "metric")
            .cloned()
            .collect()
    }

    /// Each expression's label and the `ModelId`s of the metrics it sums, in one graph.
    fn sums(graph: &Value) -> Vec<(String, Vec<String>)> {
        let metrics = graph["properties"]["metrics"].as_array().unwrap();
        let by_id = |id: &str| {
            metrics
                .iter()
                .find(|m| m.as_array().unwrap().last().unwrap()["id"] == id)
                .unwrap()[3]
                .as_str()
                .unwrap()
                .to_owned()
        };
        metrics
            .iter()
            .filter_map(|m| {
                m[0].get("expression")
                    .map(|e| (m[0]["label"].as_str().unwrap().to_owned(), e))
            })
            .map(|(label, e)| {
                let inner = e.as_str().unwrap().trim_start_matches("SUM([").trim_end_matches("])");
                (label, inner.split(',').map(by_id).collect())
            })
            .collect()
    }

    #[test]
    fn each_tenant_is_one_line_summing_exactly_its_profiles_in_each_of_three_graphs() {
        let tenants = [tenant(Some("acme"), 2), tenant(Some("globex"), 1), tenant(None, 1)];
        let body = body("us-east-1", "tenant", &tenants);
        let graphs = graphs(&body);
        assert_eq!(graphs.len(), 3);
        for (graph, (metric, _)) in graphs.iter().zip(METRICS) {
            assert_eq!(graph["properties"]["region"], "us-east-1");
            assert!(
                graph["properties"]["metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| m[0] != "AWS/Bedrock" || m[1] == metric)
            );
            assert_eq!(
                sums(graph),
                vec![
                    ("acme".to_owned(), vec!["acme-0".to_owned(), "acme-1".to_owned()]),
                    ("globex".to_owned(), vec!["globex-0".to_owned()]),
                    (UNTAGGED.to_owned(), vec!["u-0".to_owned()]),
                ]
            );
        }
    }

    #[test]
    fn a_large_organisation_splits_lines_and_graphs_within_cloudwatch_limits() {
        let tenants = [
            tenant(Some("big"), 250),
            tenant(Some("mid"), 300),
            tenant(Some("small"), 3),
        ];
        let graphs = graphs(&body("us-east-1", "tenant", &tenants));
        assert_eq!(graphs.len() % 3, 0);
        assert!(graphs.len() > 3, "more than one row");
        let mut summed: Vec<String> = Vec::new();
        for g in graphs.iter().step_by(3) {
            let items = g["properties"]["metrics"].as_array().unwrap().len();
            assert!(items <= MAX_GRAPH_ITEMS, "{items}");
            for (label, ids) in sums(g) {
                assert!(ids.len() <= MAX_SUM_METRICS, "{label}");
                summed.extend(ids);
            }
        }
        assert_eq!(summed.len(), 553, "every profile in exactly one line");
        summed.sort();
        summed.dedup();
        assert_eq!(summed.len(), 553);
        let labels: Vec<String> = graphs.iter().step_by(3).flat_map(sums).map(|(l, _)| l).collect();
        assert!(labels.contains(&"big (3 of 3)".to_owned()), "{labels:?}");
    }

    #[test]
    fn tenants_past_the_dashboards_metric_limit_are_left_off_and_named() {
        let tenants = [tenant(Some("a"), 800), tenant(Some("b"), 100), tenant(Some("c"), 5)];
        let body = body("us-east-1", "tenant", &tenants);
        let total: usize = graphs(&body)
            .iter()
            .map(|g| sums(g).iter().map(|(_, ids)| ids.len()).sum::<usize>())
            .sum();
        assert!(total <= MAX_DASHBOARD_METRICS);
        let v: Value = serde_json::from_str(&body).unwrap();
        let heading = v["widgets"][0]["properties"]["markdown"].as_str().unwrap();
        assert!(heading.ends_with("metrics per dashboard):** b"), "{heading}");
        let labels: Vec<String> = graphs(&body).iter().step_by(3).flat_map(sums).map(|(l, _)| l).collect();
        assert!(
            labels.iter().any(|l| l.starts_with('c')),
            "a later tenant that fits is kept: {labels:?}"
        );
        assert!(!labels.iter().any(|l| l.starts_with('b')));
    }
}
