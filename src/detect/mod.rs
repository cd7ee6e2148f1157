//! Detection: does a series' day break its baseline by a significant AND material amount?
//!
//! - [`online`] is the detector: one series, one day at a time, no look-ahead; it gives every
//!   day an expected value, a prediction interval, a score and a flag (see its docs for the
//!   model). [`csvio`] runs it on any CSV series (`egresswatch detect`).
//! - [`thresholds`] holds the gates (significance, GB or requests, $, %, with per-series
//!   overrides) and Benjamini–Hochberg across the day's series.
//! - [`evaluate_day`] joins them for the daily job: it runs the detector over each series'
//!   history window, gates the result, groups consecutive flagged days into one [`Incident`]
//!   with start, end, peak and totals, and writes the reason a person reads.
//! - [`seasonal_mad`] is the first, simpler detector (same-weekday median and MAD), kept as a
//!   baseline in the detection benchmark.
//! - [`early_warning`] runs the detector on hourly per-bucket request metrics, and attributes
//!   incidents to buckets; [`activity`] runs it on daily CloudTrail call counts.
//! - [`settings`]: `[detect]` and its overrides, as written and as validated.
//!
//! Only data up to and including the evaluated day is used, so a replay of a past day says
//! exactly what a run on the following morning would have said.

pub mod activity;
pub mod csvio;
pub mod early_warning;
pub mod online;
pub mod seasonal_mad;
pub mod settings;
pub mod thresholds;

use chrono::{Datelike, Days, NaiveDate};

use crate::model::units::{usage, usd};
use crate::model::{Incident, SeriesKey, SeriesSet};
use online::{Evidence, PointOutput};
pub use settings::DetectSettings;
use thresholds::{benjamini_hochberg, gates_for};

/// The first detector's view of one day (kept for [`seasonal_mad`], the benchmark baseline).
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
    pub score: f64,
    pub statistic: f64,
    pub significant: bool,
    pub basis: String,
}

/// A detector that judges one day from the days before it (the first detector's interface).
pub trait Detector {
    fn assess(
        &self,
        history: &[(NaiveDate, f64)],
        day: NaiveDate,
        observed: f64,
    ) -> Option<Assessment>;
}

/// What one evaluation of one day found across all series.
#[derive(Debug, Default, Clone)]
pub struct DayOutcome {
    pub day: Option<NaiveDate>,
    pub incidents: Vec<Incident>,
    /// Series evaluated.
    pub checked: usize,
    /// Series with a young baseline.
    pub young: Vec<SeriesKey>,
    /// Significant but below a materiality gate.
    pub immaterial: usize,
    /// Significant and material for its series, but not a discovery among all series (BH).
    pub not_discoveries: usize,
    /// Whether Cost Explorer has answered for the day at all.
    pub day_known: bool,
    /// Whether the day's data is still estimated.
    pub day_estimated: bool,
    /// Every evaluated series: (key, score, excess over expected) on the day.
    pub verdicts: Vec<(SeriesKey, f64, f64)>,
}

/// One series' verdicts over its window.
struct Judged {
    key: SeriesKey,
    unit: String,
    days: Vec<NaiveDate>,
    values: Vec<f64>,
    costs: Vec<f64>,
    estimated: bool,
    out: Vec<PointOutput>,
    /// Significant and material, day by day.
    flags: Vec<bool>,
    immaterial_today: bool,
}

fn excess_at(j: &Judged, i: usize) -> (f64, f64, Option<f64>) {
    let excess = j.values[i] - j.out[i].expected;
    let price = if j.values[i] > 0.0 {
        j.costs[i] / j.values[i]
    } else {
        0.0
    };
    let pct = (j.out[i].expected > 0.0).then(|| excess / j.out[i].expected * 100.0);
    (excess, excess * price, pct)
}

fn judge(
    set: &SeriesSet,
    s: &crate::model::Series,
    day: NaiveDate,
    settings: &DetectSettings,
) -> Option<Judged> {
    let from = day - Days::new(settings.history_days());
    // History counts from the account's first point, and skips the days the value is not known.
    let days = set.days_of(&s.key, from, day);
    if days.last() != Some(&day) {
        return None; // not started yet, or its value today is not known
    }
    let values: Vec<f64> = days
        .iter()
        .map(|d| s.values.get(d).map_or(0.0, |v| v.usage))
        .collect();
    if values.iter().all(|v| *v == 0.0) {
        return None; // a silent series stayed silent
    }
    let costs = days
        .iter()
        .map(|d| s.values.get(d).map_or(0.0, |v| v.cost_usd))
        .collect();
    let gates = gates_for(&settings.gates, &settings.overrides, &s.key);
    let out = online::run(&values, Some(&days), &settings.params(&gates));
    let mut j = Judged {
        key: s.key.clone(),
        unit: if s.unit.is_empty() {
            "units".into()
        } else {
            s.unit.clone()
        },
        estimated: s.values.get(&day).is_some_and(|v| v.estimated),
        days,
        values,
        costs,
        out,
        flags: Vec::new(),
        immaterial_today: false,
    };
    let last = j.out.len() - 1;
    j.flags = (0..j.out.len())
        .map(|i| {
            if !j.out[i].anomaly {
                return false;
            }
            let (e, c, p) = excess_at(&j, i);
            let material = gates.materiality.check(j.key.family, e, c, p);
            if i == last {
                if let Err(why) = &material {
                    tracing::debug!(series = %j.key, %day, why, "significant but not material");
                }
            }
            material.is_ok()
        })
        .collect();
    j.immaterial_today = j.out[last].anomaly && !j.flags[last];
    Some(j)
}

fn incident(j: &Judged, settings: &DetectSettings) -> Incident {
    let last = j.out.len() - 1;
    // Walk back over the flagged days (a single unflagged day does not split an incident).
    let mut first = last;
    loop {
        if first >= 1 && j.flags[first - 1] {
            first -= 1;
        } else if first >= 2 && j.flags[first - 2] {
            first -= 2;
        } else {
            break;
        }
    }
    let (excess, cost, pct) = excess_at(j, last);
    let (mut total, mut total_cost, mut peak, mut peak_excess) = (0.0, 0.0, last, f64::MIN);
    for i in (first..=last).filter(|i| j.flags[*i]) {
        let (e, c, _) = excess_at(j, i);
        total += e.max(0.0);
        total_cost += c.max(0.0);
        if e > peak_excess {
            peak_excess = e;
            peak = i;
        }
    }
    let o = &j.out[last];
    let unit = &j.unit;
    let day = j.days[last];
    let history_weeks = j.days.len() / 7;
    let mut reason = format!(
        "{} vs {} expected ({} baseline, {} weeks of history), {:.1} robust σ, +{}",
        usage(j.values[last], unit),
        usage(o.expected, unit),
        day.weekday_name(),
        history_weeks,
        o.z,
        usd(cost)
    );
    if o.evidence == Evidence::Drift {
        reason = format!(
            "sustained rise: {reason}; drift {:.1} σ over the limit of {}",
            o.cusum, settings.drift_limit
        );
    }
    if last > first {
        reason.push_str(&format!(
            "; day {} of the incident, {} over baseline since {}",
            (j.days[last] - j.days[first]).num_days() + 1,
            usd(total_cost),
            j.days[first]
        ));
    }
    if o.young {
        reason.push_str(&format!(
            "; young baseline ({} days of history): threshold raised",
            j.days.len()
        ));
    }
    Incident {
        account: j.key.account.clone(),
        account_name: None,
        region: j.key.region.clone(),
        family: j.key.family,
        day,
        start: j.days[first],
        peak_day: j.days[peak],
        days: j.flags[first..=last].iter().filter(|f| **f).count() as u32,
        observed: j.values[last],
        expected: o.expected,
        lower: o.lower.max(0.0),
        upper: o.upper,
        unit: unit.clone(),
        excess_usage: excess,
        excess_pct: pct,
        excess_cost_usd: cost,
        observed_cost_usd: j.costs[last],
        total_excess_usage: total,
        total_excess_cost_usd: total_cost,
        score: o.score,
        robust_z: o.z,
        p_value: o.p_value,
        evidence: match o.evidence {
            Evidence::Drift => "drift",
            _ => "spike",
        }
        .into(),
        young: o.young,
        estimated: j.estimated,
        reason,
    }
}

/// English weekday names for reasons.
trait WeekdayName {
    fn weekday_name(&self) -> &'static str;
}

impl WeekdayName for NaiveDate {
    fn weekday_name(&self) -> &'static str {
        [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ][self.weekday().num_days_from_monday() as usize]
    }
}

/// Evaluate `day` for every series in `set`.
pub fn evaluate_day(set: &SeriesSet, day: NaiveDate, settings: &DetectSettings) -> DayOutcome {
    let mut out = DayOutcome {
        day: Some(day),
        day_known: set.known_days.contains(&day),
        ..Default::default()
    };
    if !out.day_known {
        return out;
    }
    let judged: Vec<Judged> = set
        .series
        .iter()
        .filter(|s| settings.families.contains(&s.key.family))
        .filter_map(|s| judge(set, s, day, settings))
        .collect();
    out.checked = judged.len();
    let p_values: Vec<f64> = judged
        .iter()
        .map(|j| j.out.last().map_or(1.0, |o| o.p_value))
        .collect();
    let discoveries = benjamini_hochberg(&p_values, settings.false_discovery_rate);
    for (j, discovered) in judged.iter().zip(discoveries) {
        let last = j.out.len() - 1;
        out.day_estimated |= j.estimated;
        out.verdicts.push((
            j.key.clone(),
            j.out[last].score,
            j.values[last] - j.out[last].expected,
        ));
        if j.out[last].young {
            out.young.push(j.key.clone());
        }
        if j.immaterial_today {
            out.immaterial += 1;
        }
        if !j.flags[last] {
            continue;
        }
        if !discovered {
            out.not_discoveries += 1;
            continue;
        }
        out.incidents.push(incident(j, settings));
    }
    // Biggest money first (request floods by requests, after): the order people read in.
    out.incidents.sort_by(crate::model::incident::reading_order);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DayValue, Family, Series};
    use std::collections::{BTreeMap, BTreeSet};
    use thresholds::Override;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn wobble(i: u64) -> f64 {
        ((i * 7919) % 11) as f64 - 5.0 // deterministic ±5
    }

    /// 120 days of a weekly pattern (weekdays ~100 GB, weekends ~30 GB) ending on `last`,
    /// with `overrides` replacing some days' values.
    fn series(
        key: SeriesKey,
        last: NaiveDate,
        overrides: &[(NaiveDate, f64)],
    ) -> (Series, BTreeSet<NaiveDate>) {
        let mut values = BTreeMap::new();
        let mut known = BTreeSet::new();
        for i in 0..120u64 {
            let day = last - Days::new(119 - i);
            let base = if day.weekday().num_days_from_monday() >= 5 {
                30.0
            } else {
                100.0
            };
            let usage = overrides
                .iter()
                .find(|(d, _)| *d == day)
                .map_or(base + wobble(i), |(_, v)| *v);
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
        (
            Series {
                key,
                unit: "GB".into(),
                values,
            },
            known,
        )
    }

    fn key(account: &str) -> SeriesKey {
        SeriesKey {
            account: account.into(),
            region: "eu-west-1".into(),
            family: Family::InternetOut,
        }
    }

    fn set_of(series: Vec<(Series, BTreeSet<NaiveDate>)>) -> SeriesSet {
        let known = series[0].1.clone();
        SeriesSet {
            series: series.into_iter().map(|(s, _)| s).collect(),
            known_days: known,
            ..Default::default()
        }
    }

    #[test]
    fn a_material_spike_is_an_incident_with_cost_and_a_readable_reason() {
        let day = d("2026-06-10"); // a Wednesday
        let set = set_of(vec![series(key("1"), day, &[(day, 900.0)])]);
        let out = evaluate_day(&set, day, &DetectSettings::default());
        assert_eq!(out.incidents.len(), 1, "{out:?}");
        let i = &out.incidents[0];
        assert!((i.expected - 100.0).abs() <= 10.0, "{}", i.expected);
        assert!((i.excess_cost_usd - i.excess_usage * 0.09).abs() < 1e-9);
        assert!(i.score > 0.5 && i.score <= 1.0);
        assert_eq!((i.start, i.day, i.peak_day, i.days), (day, day, day, 1));
        assert!(i.reason.starts_with("900.0 GB vs "), "{}", i.reason);
        assert!(
            i.reason
                .contains("expected (Wednesday baseline, 17 weeks of history)"),
            "{}",
            i.reason
        );
        assert!(i.reason.contains("robust σ, +$"), "{}", i.reason);
    }

    #[test]
    fn consecutive_days_are_one_incident_with_totals() {
        let day = d("2026-06-10");
        let spikes: Vec<_> = (0..3).map(|k| (day - Days::new(k), 700.0)).collect();
        let set = set_of(vec![series(key("1"), day, &spikes)]);
        let out = evaluate_day(&set, day, &DetectSettings::default());
        let i = &out.incidents[0];
        assert_eq!(i.start, day - Days::new(2));
        assert_eq!(i.days, 3);
        assert!(
            i.total_excess_usage > 2.0 * i.excess_usage,
            "{} vs {}",
            i.total_excess_usage,
            i.excess_usage
        );
        assert!(i.reason.contains("day 3 of the incident"), "{}", i.reason);
    }

    #[test]
    fn an_ordinary_weekend_is_quiet_and_overrides_gate_per_series() {
        let sat = d("2026-06-13");
        let set = set_of(vec![series(key("1"), sat, &[])]);
        let out = evaluate_day(&set, sat, &DetectSettings::default());
        assert!(out.incidents.is_empty(), "{:?}", out.incidents);
        assert_eq!(out.checked, 1);
        // Weekday level on a Saturday: +230%, 70 GB, $6.3: an incident by default...
        let set = set_of(vec![series(key("1"), sat, &[(sat, 100.0)])]);
        assert_eq!(
            evaluate_day(&set, sat, &DetectSettings::default())
                .incidents
                .len(),
            1
        );
        // ...but not where an override asks for $50.
        let mut s = DetectSettings::default();
        s.overrides.push(Override {
            account: Some("1".into()),
            min_excess_usd: Some(50.0),
            ..Default::default()
        });
        let out = evaluate_day(&set, sat, &s);
        assert!(out.incidents.is_empty());
        assert_eq!(out.immaterial, 1);
    }

    #[test]
    fn many_series_chance_findings_are_controlled() {
        // 300 series, one with a real spike; a borderline (z ≈ 4.2) wobble in another is a
        // discovery alone but not among 300 at the default false discovery rate.
        let day = d("2026-06-10");
        let mut all = vec![];
        for a in 0..300 {
            let ov = match a {
                0 => vec![(day, 900.0)],
                _ => vec![],
            };
            all.push(series(key(&a.to_string()), day, &ov));
        }
        let set = set_of(all);
        let out = evaluate_day(&set, day, &DetectSettings::default());
        assert_eq!(out.incidents.len(), 1);
        assert_eq!(out.incidents[0].account, "0");
        let p = out.incidents[0].p_value;
        assert!(p < 1e-6, "{p}");
        // BH: a p-value that passes alone can fail among many.
        let mut lone = thresholds::benjamini_hochberg(&[2e-5], 0.01);
        assert!(lone.pop().unwrap());
    }

    #[test]
    fn unknown_day_is_not_judged_and_young_series_say_so() {
        let day = d("2026-06-10");
        let (s, mut known) = series(key("1"), day, &[(day, 900.0)]);
        known.remove(&day);
        let out = evaluate_day(
            &SeriesSet {
                series: vec![s.clone()],
                known_days: known,
                ..Default::default()
            },
            day,
            &DetectSettings::default(),
        );
        assert!(!out.day_known && out.incidents.is_empty());
        // Only 20 days of history: the baseline is young, and a huge spike still gets through
        // with the reason saying so.
        let known: BTreeSet<_> = (0..20u64).map(|k| day - Days::new(k)).collect();
        let out = evaluate_day(
            &SeriesSet {
                series: vec![s],
                known_days: known,
                ..Default::default()
            },
            day,
            &DetectSettings::default(),
        );
        assert_eq!(out.young.len(), 1);
        assert!(
            out.incidents
                .iter()
                .all(|i| i.young && i.reason.contains("young baseline")),
            "{:?}",
            out.incidents
        );
    }
}
