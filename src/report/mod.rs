//! Reports: one model per run, rendered by each output.
//!
//! The [`Report`] is built once from what the run found; [`text`] renders it for a terminal or
//! log, [`slack`] as a Block Kit message and delivers it. Every string that came from AWS (account
//! names, usage types) is escaped by the renderer that knows the target's syntax.

pub mod format;
pub mod slack;
pub mod text;

use chrono::NaiveDate;
use serde::Serialize;

use crate::detect::Incident;

/// An incident as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportIncident {
    #[serde(flatten)]
    pub incident: Incident,
    /// Announced by an earlier run: listed, not announced again.
    pub already_notified: bool,
}

/// What a run found and did, for every renderer.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The day the run acted as (`--date`, or today).
    pub run_date: NaiveDate,
    /// The newest complete day, the one evaluated.
    pub evaluated_day: NaiveDate,
    pub incidents: Vec<ReportIncident>,
    pub quality: DataQuality,
}

/// What the reader should know about the data behind the verdict.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DataQuality {
    /// Series evaluated.
    pub series_checked: usize,
    /// Series too young to judge (too little same-weekday history).
    pub young_series: usize,
    /// Significant but below the materiality thresholds.
    pub immaterial: usize,
    /// Significant and material alone, but not discoveries among all series checked (BH).
    pub not_discoveries: usize,
    /// Whether Cost Explorer had answered for the evaluated day at all.
    pub day_known: bool,
    /// Whether its figures are still estimated.
    pub day_estimated: bool,
    /// Usage types this version does not classify (stored as family `other`).
    pub unknown_usage_types: Vec<String>,
    /// Response groups that could not be read and were skipped.
    pub skipped_groups: usize,
}

impl Report {
    pub fn total_excess_usd(&self) -> f64 {
        self.incidents
            .iter()
            .map(|i| i.incident.total_excess_cost_usd)
            .sum()
    }

    /// One line of data-quality notes, or `None` when there is nothing to say.
    pub fn quality_line(&self) -> Option<String> {
        let q = &self.quality;
        let mut parts = Vec::new();
        if !q.day_known {
            parts.push(format!(
                "Cost Explorer has no data for {} yet",
                self.evaluated_day
            ));
        } else if q.day_estimated {
            parts.push(format!(
                "{} is still estimated by Cost Explorer",
                self.evaluated_day
            ));
        }
        if q.young_series > 0 {
            parts.push(format!(
                "{} series too young for a baseline",
                q.young_series
            ));
        }
        if !q.unknown_usage_types.is_empty() {
            parts.push(format!(
                "{} unclassified usage type(s) stored as `other`: {}",
                q.unknown_usage_types.len(),
                q.unknown_usage_types.join(", ")
            ));
        }
        if q.skipped_groups > 0 {
            parts.push(format!(
                "{} unreadable Cost Explorer group(s) skipped",
                q.skipped_groups
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// "Prod data (111111111111)" or just the id.
pub fn account_label(i: &Incident) -> String {
    match &i.account_name {
        Some(n) if !n.is_empty() => format!("{n} ({})", i.account),
        _ => i.account.clone(),
    }
}
