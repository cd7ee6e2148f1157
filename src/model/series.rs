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
    /// Each account's first stored point, ever (not only in the range). A series' history counts
    /// from its account's first point: before it the account was not billed (not silent: not
    /// there), after it a series without points is truly silent.
    pub first_days: BTreeMap<String, NaiveDate>,
    /// Known days on which a series' value is not known (a group of it was refused).
    pub gaps: BTreeMap<SeriesKey, BTreeSet<NaiveDate>>,
}

impl SeriesSet {
    /// The days `key`'s history counts in `[from, to]`: answered days from its account's first
    /// point on, less the days its own value is not known.
    pub fn days_of(&self, key: &SeriesKey, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        let first = self
            .first_days
            .get(&key.account)
            .copied()
            .unwrap_or(from)
            .max(from);
        if first > to {
            return Vec::new(); // the account starts later
        }
        let gaps = self.gaps.get(key);
        self.known_days
            .range(first..=to)
            .filter(|d| !gaps.is_some_and(|g| g.contains(d)))
            .copied()
            .collect()
    }
}
