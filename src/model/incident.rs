//! An incident: consecutive flagged days of one series, what gets announced once.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Family, SeriesKey};

/// Consecutive flagged days of one series: what gets announced, once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub account: String,
    #[serde(default)]
    pub account_name: Option<String>,
    pub region: String,
    pub family: Family,
    /// The newest flagged day (the day evaluated).
    pub day: NaiveDate,
    /// The first flagged day of the run.
    pub start: NaiveDate,
    /// The day with the largest excess.
    pub peak_day: NaiveDate,
    /// Flagged days so far.
    pub days: u32,
    /// Observed and expected on `day`.
    pub observed: f64,
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
    pub unit: String,
    /// Excess on `day`.
    pub excess_usage: f64,
    /// Excess in percent of expected on `day`; absent when nothing was expected.
    pub excess_pct: Option<f64>,
    pub excess_cost_usd: f64,
    pub observed_cost_usd: f64,
    /// Over every flagged day from `start` to `day`.
    pub total_excess_usage: f64,
    pub total_excess_cost_usd: f64,
    pub score: f64,
    pub robust_z: f64,
    pub p_value: f64,
    /// `spike` (the day itself) or `drift` (a sustained rise).
    pub evidence: String,
    /// The baseline had little history: thresholds were raised.
    pub young: bool,
    /// Cost Explorer still calls the day estimated: the figures may move a little.
    pub estimated: bool,
    pub reason: String,
}

impl Incident {
    pub fn key(&self) -> SeriesKey {
        SeriesKey {
            account: self.account.clone(),
            region: self.region.clone(),
            family: self.family,
        }
    }
}

/// The one order incidents are read in, in every sink: egress incidents by dollars over
/// baseline, most first; then request incidents (a GET flood costs little) by excess requests.
pub fn reading_order(a: &Incident, b: &Incident) -> std::cmp::Ordering {
    let requests = |i: &Incident| !i.family.is_bytes();
    requests(a)
        .cmp(&requests(b))
        .then_with(|| {
            if requests(a) {
                b.total_excess_usage.total_cmp(&a.total_excess_usage)
            } else {
                b.total_excess_cost_usd.total_cmp(&a.total_excess_cost_usd)
            }
        })
        .then_with(|| a.key().cmp(&b.key()))
}
