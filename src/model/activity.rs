//! S3 activity: daily CloudTrail call counts per event and outcome, and what stands out in them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One day of one S3 activity series.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ActivityCount {
    /// The UTC day.
    pub day: NaiveDate,
    pub account: String,
    pub region: String,
    pub event: String,
    /// `success` or the error code.
    pub outcome: String,
    pub count: u64,
    /// The heaviest (principal, source IP, user agent) callers, `\u{1f}`-joined, with counts.
    pub drivers: Vec<(String, u64)>,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub day: NaiveDate,
    pub account: String,
    pub region: String,
    pub event: String,
    pub outcome: String,
    /// `rise` or `first-seen`.
    pub kind: String,
    pub count: u64,
    pub expected: f64,
    pub score: f64,
    /// The (principal, source IP, user agent) that drove it, and its share of the day's calls.
    pub principal: String,
    pub source_ip: String,
    pub user_agent: String,
    pub share: f64,
    /// The principal made no such call in the history window.
    pub new_principal: bool,
    pub why: String,
}
