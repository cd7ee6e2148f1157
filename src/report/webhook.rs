//! The generic webhook (and the JSON file sink): a documented, versioned JSON document.
//!
//! Schema `egresswatch.report/v1` (README, "Generic webhook"): fields are only ever added within
//! a version; a rename or removal makes `v2`. The same document is written to the file sink, one
//! per line, for SIEM ingestion. Strings are JSON-escaped by the serializer and never
//! interpreted: the receiver must treat them as data.

use serde_json::{json, Value};

use super::{Report, ReportIncident};
use crate::detect::Incident;

pub const SCHEMA: &str = "egresswatch.report/v1";

/// The document announcing `incidents` (or, with none, the digest).
pub fn document(report: &Report, incidents: &[Incident], id: &str) -> Value {
    let items: Vec<Value> = incidents
        .iter()
        .map(|i| {
            let full = report
                .full(i)
                .cloned()
                .unwrap_or_else(|| ReportIncident::bare(i.clone()));
            let mut v = serde_json::to_value(&full).unwrap_or(Value::Null);
            v["links"] = json!(super::links(i, report.runbook_url.as_deref())
                .into_iter()
                .map(|(title, url)| json!({"title": title, "url": url}))
                .collect::<Vec<_>>());
            v
        })
        .collect();
    let mut doc = json!({
        "schema": SCHEMA,
        "id": id,
        "kind": if incidents.is_empty() { "digest" } else { "incidents" },
        "run_date": report.run_date,
        "evaluated_day": report.evaluated_day,
        "total_excess_cost_usd": incidents.iter().map(|i| i.total_excess_cost_usd).sum::<f64>(),
        "incidents": items,
        "digest": report.digest,
        "data_quality": report.quality,
    });
    if !report.activity.is_empty() {
        // S3 activity findings (a new optional key: v1 consumers ignore it).
        doc["activity"] = json!(report.activity);
    }
    doc
}
