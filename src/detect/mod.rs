//! Detection: does a series' day break its baseline by a significant AND material amount?
//!
//! Two separate questions, answered by two separate pieces:
//! - a [`Detector`] says how unusual the day is (expected value, prediction interval, a score);
//!   the first one is [`seasonal_mad::SeasonalMad`], and the interface lets better ones slot in;
//! - [`thresholds::Materiality`] says whether the excess is worth a human's attention (GB or
//!   requests, dollars, percent). A 40σ jump from 1 MB to 3 MB wakes nobody.
//!
//! Only data up to and including the evaluated day is used, so a replay of a past day says
//! exactly what a run on the following morning would have said.

pub mod seasonal_mad;
pub mod thresholds;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::model::{Family, SeriesKey};
use crate::state::SeriesSet;
use thresholds::Materiality;

/// Settings of detection, validated by `config`.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectSettings {
    /// Weeks of same-weekday history the baseline looks at.
    pub baseline_weeks: u32,
    /// Fewer known baseline days than this and the series is "too young" to judge.
    pub min_baseline_points: u32,
    /// Robust z-score at or above which a day is statistically significant.
    pub min_robust_z: f64,
    pub materiality: Materiality,
    /// Families that are evaluated.
    pub families: Vec<Family>,
}

impl Default for DetectSettings {
    fn default() -> Self {
        DetectSettings {
            baseline_weeks: 8,
            min_baseline_points: 4,
            min_robust_z: 4.0,
            materiality: Materiality::default(),
            families: vec![
                Family::InternetOut,
                Family::InterRegionOut,
                Family::CloudfrontOut,
                Family::Regional,
                Family::GetRequests,
            ],
        }
    }
}

impl DetectSettings {
    /// How many days before the evaluated day the detector reads.
    pub fn history_days(&self) -> u64 {
        u64::from(self.baseline_weeks) * 7
    }
}

/// A detector's view of one day of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub expected: f64,
    /// Prediction interval at the significance threshold.
    pub lower: f64,
    pub upper: f64,
    /// Grows monotonically with how anomalous the day is, in [0, 1); 0.5 at the threshold.
    pub score: f64,
    /// The test statistic (for the first detector: the robust z-score).
    pub statistic: f64,
    pub significant: bool,
    /// How the baseline was formed, for the reason line.
    pub basis: String,
}

/// Anything that can judge a day against the days before it.
pub trait Detector {
    /// `history` holds the known days strictly before `day`, oldest first, zero where Cost
    /// Explorer reported no usage. `None`: too little history to judge.
    fn assess(
        &self,
        history: &[(NaiveDate, f64)],
        day: NaiveDate,
        observed: f64,
    ) -> Option<Assessment>;
}

/// A day that broke its baseline by a significant and material amount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    pub region: String,
    pub family: Family,
    pub day: NaiveDate,
    pub observed: f64,
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
    pub unit: String,
    pub excess_usage: f64,
    /// Excess in percent of expected; absent when nothing was expected.
    pub excess_pct: Option<f64>,
    pub excess_cost_usd: f64,
    pub observed_cost_usd: f64,
    pub score: f64,
    pub robust_z: f64,
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

/// What one evaluation of one day found across all series.
#[derive(Debug, Default, Clone)]
pub struct DayOutcome {
    pub day: Option<NaiveDate>,
    pub incidents: Vec<Incident>,
    /// Series evaluated.
    pub checked: usize,
    /// Series with too little history to judge.
    pub young: Vec<SeriesKey>,
    /// Series whose day was significant but not material (kept for the report's detail).
    pub immaterial: usize,
    /// Whether Cost Explorer has answered for the day at all.
    pub day_known: bool,
    /// Whether the day's data is still estimated.
    pub day_estimated: bool,
}

/// Evaluate `day` for every series in `set` with the given detector and settings.
pub fn evaluate_day<D: Detector>(
    set: &SeriesSet,
    day: NaiveDate,
    settings: &DetectSettings,
    detector: &D,
) -> DayOutcome {
    let mut out = DayOutcome {
        day: Some(day),
        day_known: set.known_days.contains(&day),
        ..Default::default()
    };
    if !out.day_known {
        return out;
    }
    let from = day - Days::new(settings.history_days());
    for s in set
        .series
        .iter()
        .filter(|s| settings.families.contains(&s.key.family))
    {
        let today = s.values.get(&day);
        let observed = today.map_or(0.0, |v| v.usage);
        out.day_estimated |= today.is_some_and(|v| v.estimated);
        let history: Vec<(NaiveDate, f64)> = set
            .known_days
            .range(from..day)
            .map(|d| (*d, s.values.get(d).map_or(0.0, |v| v.usage)))
            .collect();
        if observed == 0.0 && history.iter().all(|(_, v)| *v == 0.0) {
            continue; // a silent series stayed silent
        }
        out.checked += 1;
        let Some(a) = detector.assess(&history, day, observed) else {
            out.young.push(s.key.clone());
            continue;
        };
        if !a.significant {
            continue;
        }
        let excess = observed - a.expected;
        let unit_price = match today {
            Some(v) if v.usage > 0.0 => v.cost_usd / v.usage,
            _ => 0.0,
        };
        let excess_cost = excess * unit_price;
        let excess_pct = (a.expected > 0.0).then(|| excess / a.expected * 100.0);
        if let Err(why) = settings
            .materiality
            .check(s.key.family, excess, excess_cost, excess_pct)
        {
            tracing::debug!(series = %s.key, %day, why, "significant but not material");
            out.immaterial += 1;
            continue;
        }
        let unit = if s.unit.is_empty() {
            "units".to_string()
        } else {
            s.unit.clone()
        };
        let pct = excess_pct.map_or("new".to_string(), |p| format!("+{p:.0}%"));
        out.incidents.push(Incident {
            account: s.key.account.clone(),
            account_name: None,
            region: s.key.region.clone(),
            family: s.key.family,
            day,
            observed,
            expected: a.expected,
            lower: a.lower,
            upper: a.upper,
            unit: unit.clone(),
            excess_usage: excess,
            excess_pct,
            excess_cost_usd: excess_cost,
            observed_cost_usd: today.map_or(0.0, |v| v.cost_usd),
            score: a.score,
            robust_z: a.statistic,
            estimated: today.is_some_and(|v| v.estimated),
            reason: format!(
                "robust z {:.1} (threshold {}) against {}; excess {:.2} {unit} ({pct}), ${:.2}",
                a.statistic, settings.min_robust_z, a.basis, excess, excess_cost
            ),
        });
    }
    // Biggest money first: that is the order people read in.
    out.incidents
        .sort_by(|a, b| b.excess_cost_usd.total_cmp(&a.excess_cost_usd));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{DayValue, Series};
    use std::collections::{BTreeMap, BTreeSet};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// 63 days of a weekly pattern (weekdays 100 GB, weekends 30 GB) ending on `last`.
    fn weekly(last: NaiveDate, last_value: f64) -> SeriesSet {
        let mut values = BTreeMap::new();
        let mut known = BTreeSet::new();
        for i in 0..63u64 {
            let day = last - Days::new(62 - i);
            use chrono::Datelike;
            let wd = day.weekday().num_days_from_monday();
            let base = if wd >= 5 { 30.0 } else { 100.0 };
            let noise = ((i * 7919) % 11) as f64 - 5.0; // deterministic ±5
            let usage = if day == last {
                last_value
            } else {
                base + noise
            };
            values.insert(
                day,
                DayValue {
                    usage,
                    cost_usd: usage * 0.09,
                    estimated: false,
                },
            );
            known.insert(day);
        }
        SeriesSet {
            series: vec![Series {
                key: SeriesKey {
                    account: "1".into(),
                    region: "eu-west-1".into(),
                    family: Family::InternetOut,
                },
                unit: "GB".into(),
                values,
            }],
            known_days: known,
        }
    }

    fn run(set: &SeriesSet, day: NaiveDate) -> DayOutcome {
        let s = DetectSettings::default();
        evaluate_day(set, day, &s, &seasonal_mad::SeasonalMad::from_settings(&s))
    }

    #[test]
    fn flags_a_material_spike_with_cost() {
        let day = d("2026-06-10"); // a Wednesday
        let out = run(&weekly(day, 900.0), day);
        assert_eq!(out.incidents.len(), 1, "{out:?}");
        let i = &out.incidents[0];
        assert!((i.expected - 100.0).abs() <= 5.0, "{}", i.expected);
        assert!((i.excess_cost_usd - i.excess_usage * 0.09).abs() < 1e-9);
        assert!(i.score > 0.5 && i.score < 1.0);
        assert!(i.reason.contains("robust z"), "{}", i.reason);
    }

    #[test]
    fn weekly_pattern_does_not_alert() {
        // A Saturday at its usual low and a Monday at its usual high: both normal.
        for day in [d("2026-06-13"), d("2026-06-15")] {
            let normal = if day.format("%a").to_string() == "Sat" {
                31.0
            } else {
                102.0
            };
            let out = run(&weekly(day, normal), day);
            assert!(out.incidents.is_empty(), "{day}: {:?}", out.incidents);
            assert_eq!(out.checked, 1);
        }
    }

    #[test]
    fn weekday_level_on_a_weekend_alerts_only_if_material() {
        // 100 GB on a Saturday is +230% but only 70 GB × $0.09 = $6.3 excess: material by
        // default thresholds (10 GB, $1, 50%).
        let sat = d("2026-06-13");
        assert_eq!(run(&weekly(sat, 100.0), sat).incidents.len(), 1);
        // With a $50 minimum it is significant but not material.
        let mut s = DetectSettings::default();
        s.materiality.min_excess_usd = 50.0;
        let out = evaluate_day(
            &weekly(sat, 100.0),
            sat,
            &s,
            &seasonal_mad::SeasonalMad::from_settings(&s),
        );
        assert!(out.incidents.is_empty());
        assert_eq!(out.immaterial, 1);
    }

    #[test]
    fn unknown_day_is_not_judged() {
        let day = d("2026-06-10");
        let mut set = weekly(day, 900.0);
        set.known_days.remove(&day);
        let out = run(&set, day);
        assert!(!out.day_known);
        assert!(out.incidents.is_empty());
    }

    #[test]
    fn young_series_is_reported_not_flagged() {
        let day = d("2026-06-10");
        let mut set = weekly(day, 900.0);
        // keep only the last 10 days: one same-weekday point
        let cut = day - Days::new(10);
        set.known_days.retain(|d| *d > cut);
        let out = run(&set, day);
        assert!(out.incidents.is_empty());
        assert_eq!(out.young.len(), 1);
    }
}
