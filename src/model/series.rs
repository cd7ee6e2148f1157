//! Series as the detector reads them: one (account, region, family) a series, a value a day.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::SeriesKey;

/// One day of one series (summed over its usage types).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayValue {
    pub usage: f64,
    pub cost_usd: f64,
    pub estimated: bool,
}

/// A series as the detector sees it.
#[derive(Debug, Clone)]
pub struct Series {
    pub key: SeriesKey,
    pub unit: String,
    /// Days with usage. A known day (see [`SeriesSet::known_days`]) absent here had zero usage.
    pub values: BTreeMap<NaiveDate, DayValue>,
}

/// All series over a range, plus which days Cost Explorer has answered for.
#[derive(Debug, Clone, Default)]
pub struct SeriesSet {
    pub series: Vec<Series>,
    pub known_days: BTreeSet<NaiveDate>,
}
