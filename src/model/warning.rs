//! Early warnings from hourly S3 request metrics, and a bucket's part in an incident's growth.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// One early warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyWarning {
    pub bucket: String,
    pub filter_id: String,
    pub region: String,
    /// The start of the hour that broke the baseline (UTC).
    pub hour: DateTime<Utc>,
    pub observed_gb: f64,
    pub expected_gb: f64,
    pub upper_gb: f64,
    pub score: f64,
    pub robust_z: f64,
    pub reason: String,
}

impl EarlyWarning {
    pub fn day(&self) -> NaiveDate {
        self.hour.date_naive()
    }
}

/// A bucket's part in an incident's growth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketGrowth {
    pub bucket: String,
    pub filter_id: String,
    /// GB downloaded over the incident's days.
    pub window_gb: f64,
    /// GB a day before the incident.
    pub baseline_gb_per_day: f64,
    /// Window GB above the baseline rate.
    pub growth_gb: f64,
    /// Share of the growth of all buckets that grew.
    pub share: f64,
}
