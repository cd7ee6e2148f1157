//! Detection: does a series' day break its baseline by a significant AND material amount?
//!
//! - [`online`] is the detector: one series, one day at a time, no look-ahead; it gives every
//!   day an expected value, a prediction interval, a score and a flag (see its docs for the
//!   model). [`csvio`] runs it on any CSV series (`egresswatch detect`).
//! - [`thresholds`] holds the gates (significance, GB or requests, $, %, with per-series
//!   overrides) and Benjamini–Hochberg across the day's series.
//! - [`evaluate_day`] joins them for the daily job: it runs the detector over each series'
//!   history (from its account's first day, a fixed origin), gates the result, groups
//!   consecutive flagged days into one [`Incident`] with start, end, peak and totals, and writes
//!   the reason a person reads. [`evaluate_range`] (backfill) is the same code for many days at
//!   once: one detector pass per series, each day's outcome exactly `evaluate_day`'s.
//! - [`seasonal_mad`] is the first, simpler detector (same-weekday median and MAD), kept as a
//!   baseline in the detection benchmark.
//! - [`early_warning`] runs the detector on hourly per-bucket request metrics, and attributes
//!   incidents to buckets; [`activity`] runs it on daily CloudTrail call counts.
//! - [`settings`]: `[detect]` and its overrides, as written and as validated.
//!
//! Only data up to and including the evaluated day is used, and where the detector starts
//! does not depend on the day judged, so a replay of a past day says exactly what a run on the
//! following morning would have said.

pub mod activity;
pub mod csvio;
pub mod early_warning;
pub mod online;
pub mod seasonal_mad;
pub mod settings;
pub mod thresholds;

use chrono::{Datelike, NaiveDate};

use crate::model::units::{usage, usd};
use crate::model::{Incident, SeriesKey, SeriesSet};
use online::{Evidence, PointOutput};
use rayon::prelude::*;
pub use settings::DetectSettings;
use thresholds::{benjamini_hochberg, gates_for, Gates};

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
#[derive(Debug, Default, Clone, PartialEq)]
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

/// One series' detector output over its whole history: one pass from its origin (the first
/// day its account has data) to the last day asked for. Day `i`'s verdict uses only days
/// `..=i` (the detector has no look-ahead), so a prefix of this is what a run on that day saw.
struct Track<'a> {
    key: &'a SeriesKey,
    unit: String,
    days: Vec<NaiveDate>,
    values: Vec<f64>,
    costs: Vec<f64>,
    estimated: Vec<bool>,
    /// Whether the day's value is known (otherwise it is a gap: not judged, not flagged).
    known: Vec<bool>,
    /// The expected value, day by day.
    expected: Vec<f64>,
    /// The detector's whole verdict, kept only for the days judged (from `judged_from` on).
    out: Vec<PointOutput>,
    judged_from: usize,
    /// Significant and material, day by day.
    flags: Vec<bool>,
    /// Day by day, the first day of the rise the drift statistic is measuring (the day after
    /// it last stood at zero; the day itself when it stands at zero).
    onset: Vec<u32>,
    /// The first day with usage: before it the series is silent and is not judged.
    first_used: usize,
    gates: Gates,
}

/// One series judged on one day: its track and the day's index in it.
#[derive(Clone, Copy)]
struct Judged<'t, 'a> {
    t: &'t Track<'a>,
    i: usize,
}

fn excess_at(t: &Track<'_>, i: usize) -> (f64, f64, Option<f64>) {
    let excess = t.values[i] - t.expected[i];
    let price = if t.values[i] > 0.0 {
        t.costs[i] / t.values[i]
    } else {
        0.0
    };
    let pct = (t.expected[i] > 0.0).then(|| excess / t.expected[i] * 100.0);
    (excess, excess * price, pct)
}

/// Run the detector once over `s`'s history up to `to` and gate every day (the days from
/// `from` on are judged). `None`: nothing to judge (no known day, or silent throughout).
fn track<'a>(
    set: &SeriesSet,
    s: &'a crate::model::Series,
    (from, to): (NaiveDate, NaiveDate),
    settings: &DetectSettings,
) -> Option<Track<'a>> {
    // History counts from the account's first point (a fixed origin, whatever the day judged).
    // Every calendar day from there takes its place: a day whose value is not known (Cost
    // Explorer has not answered, or refused the series' rows) is a gap the detector steps over,
    // not a day dropped, so Saturday stays Saturday and month-ends stay month-ends after it.
    let known_days = set.days_of(&s.key, NaiveDate::MIN, to);
    let days: Vec<NaiveDate> = match known_days.first() {
        Some(first) => first.iter_days().take_while(|d| *d <= to).collect(),
        None => Vec::new(),
    };
    // The stored values on those days (a known day without one is a zero), in one walk.
    let (mut values, mut costs, mut estimated, mut known) = (
        Vec::with_capacity(days.len()),
        Vec::with_capacity(days.len()),
        Vec::with_capacity(days.len()),
        Vec::with_capacity(days.len()),
    );
    let mut stored = s.values.range(..=to).peekable();
    let mut known_iter = known_days.iter().peekable();
    for d in &days {
        let is_known = known_iter.next_if(|k| *k == d).is_some();
        while stored.next_if(|(sd, _)| *sd < d).is_some() {}
        let v = stored.next_if(|(sd, _)| *sd == d).map(|(_, v)| *v);
        let nan = if is_known { 0.0 } else { f64::NAN };
        values.push(v.filter(|_| is_known).map_or(nan, |v| v.usage));
        costs.push(v.filter(|_| is_known).map_or(nan, |v| v.cost_usd));
        estimated.push(v.is_some_and(|v| v.estimated));
        known.push(is_known);
    }
    // Silent so far: nothing to judge.
    let first_used = values.iter().position(|v| v.is_finite() && *v != 0.0)?;
    let gates = gates_for(&settings.gates, &settings.overrides, &s.key);
    let mut out = online::run(&values, Some(&days), &settings.params(&gates));
    let judged_from = days.partition_point(|d| *d < from);
    let mut t = Track {
        key: &s.key,
        unit: if s.unit.is_empty() {
            "units".into()
        } else {
            s.unit.clone()
        },
        days,
        values,
        costs,
        estimated,
        known,
        expected: out.iter().map(|o| o.expected).collect(),
        out: Vec::new(),
        judged_from,
        flags: Vec::new(),
        onset: Vec::new(),
        first_used,
        gates,
    };
    // A drift is judged by what it has added up to since its statistic last stood at zero: a
    // drip of +20% a day for two weeks is material by its total (GB and $), though no single
    // day clears the per-day percentage.
    let mut since_onset = (0.0, 0.0);
    let mut onset = 0;
    t.onset = Vec::with_capacity(out.len());
    t.flags = (0..out.len())
        .map(|i| {
            if !t.known[i] {
                // A gap neither adds to a rise nor ends it.
                t.onset.push(onset as u32);
                return false;
            }
            let (e, c, _) = excess_at(&t, i);
            if out[i].cusum > 0.0 {
                if i == 0 || out[i - 1].cusum <= 0.0 {
                    onset = i;
                }
                since_onset = (since_onset.0 + e, since_onset.1 + c);
            } else {
                onset = i;
                since_onset = (0.0, 0.0);
            }
            t.onset.push(onset as u32);
            out[i].anomaly
                && (materiality(&t, i).is_ok()
                    || (out[i].evidence == Evidence::Drift
                        && t.gates
                            .materiality
                            .check_total(t.key.family, since_onset.0, since_onset.1)
                            .is_ok()))
        })
        .collect();
    // A daily run judges one day of a long history: keep the whole verdicts of the judged
    // days only.
    t.out = out.split_off(judged_from);
    Some(t)
}

impl Track<'_> {
    /// Day `i`'s verdict (a judged day: `i >= judged_from`).
    fn out(&self, i: usize) -> &PointOutput {
        &self.out[i - self.judged_from]
    }
}

/// Whether day `i`'s excess passes the series' materiality gates (or the first that it fails).
fn materiality(t: &Track<'_>, i: usize) -> Result<(), String> {
    let (e, c, p) = excess_at(t, i);
    t.gates.materiality.check(t.key.family, e, c, p)
}

impl<'t, 'a> Judged<'t, 'a> {
    /// `t` judged on `day`: the day must be one of its known days, after its first usage.
    fn on(t: &'t Track<'a>, day: NaiveDate, cursor: &mut usize) -> Option<Self> {
        while *cursor < t.days.len() && t.days[*cursor] < day {
            *cursor += 1;
        }
        let i = *cursor;
        // Not started yet, its value today is not known, or silent so far.
        (t.days.get(i) == Some(&day) && t.known[i] && i >= t.first_used).then_some(Judged { t, i })
    }

    fn out(&self) -> &PointOutput {
        self.t.out(self.i)
    }

    fn flagged(&self) -> bool {
        self.t.flags[self.i]
    }

    fn immaterial(&self) -> bool {
        self.out().anomaly && !self.flagged()
    }
}

/// Unflagged days that may sit inside one incident.
const QUIET_INSIDE: usize = 3;

fn incident(j: Judged<'_, '_>, settings: &DetectSettings) -> Incident {
    let (t, last) = (j.t, j.i);
    // Walk back over the flagged days: up to QUIET_INSIDE unflagged days (a weekend, on
    // which a new level may sit inside the band) do not split an incident.
    let mut first = last;
    while let Some(back) = (1..=QUIET_INSIDE + 1).find(|b| first >= *b && t.flags[first - b]) {
        first -= back;
    }
    let (excess, cost, pct) = excess_at(t, last);
    let (mut total, mut total_cost, mut peak, mut peak_excess) = (0.0, 0.0, last, f64::MIN);
    for i in (first..=last).filter(|i| t.flags[*i]) {
        let (e, c, _) = excess_at(t, i);
        total += e.max(0.0);
        total_cost += c.max(0.0);
        if e > peak_excess {
            peak_excess = e;
            peak = i;
        }
    }
    let o = t.out(last);
    let unit = &t.unit;
    let day = t.days[last];
    // Days of history the detector had on `day`, that day included.
    let history = last + 1;
    let mut reason = format!(
        "{} vs {} expected ({} baseline, {} weeks of history), {:.1} robust σ, +{}",
        usage(t.values[last], unit),
        usage(o.expected, unit),
        day.weekday_name(),
        history / 7,
        o.z,
        usd(cost)
    );
    if o.evidence == Evidence::Drift {
        let onset = t.onset[last] as usize;
        let (gb, dollars) = (onset..=last).fold((0.0, 0.0), |(g, d), i| {
            let (e, c, _) = excess_at(t, i);
            (g + e, d + c)
        });
        reason = format!(
            "sustained rise: {reason}; drift {:.1} σ over the limit of {}; {} and {} over \
             baseline since the rise began on {}",
            o.cusum,
            settings.drift_limit,
            usage(gb, unit),
            usd(dollars),
            t.days[onset]
        );
    }
    if last > first {
        reason.push_str(&format!(
            "; day {} of the incident, {} over baseline since {}",
            (t.days[last] - t.days[first]).num_days() + 1,
            usd(total_cost),
            t.days[first]
        ));
    }
    if o.young {
        reason.push_str(&format!(
            "; young baseline ({history} days of history): threshold raised"
        ));
    }
    Incident {
        account: t.key.account.clone(),
        account_name: None,
        region: t.key.region.clone(),
        family: t.key.family,
        day,
        start: t.days[first],
        peak_day: t.days[peak],
        days: t.flags[first..=last].iter().filter(|f| **f).count() as u32,
        observed: t.values[last],
        expected: o.expected,
        lower: o.lower.max(0.0),
        upper: o.upper,
        unit: unit.clone(),
        excess_usage: excess,
        excess_pct: pct,
        excess_cost_usd: cost,
        observed_cost_usd: t.costs[last],
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
        estimated: t.estimated[last],
        reason,
        related: Vec::new(),
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

/// One series' detector verdicts over its whole history to `to`, exactly as the daily run
/// computes them (same origin, unknown days as gaps): for explaining a verdict day by day.
#[derive(Debug, Clone)]
pub struct SeriesTrace {
    pub days: Vec<NaiveDate>,
    /// The day's usage (NaN: not known, a gap).
    pub values: Vec<f64>,
    pub out: Vec<PointOutput>,
    /// Significant and material (what the daily run would report), day by day.
    pub flags: Vec<bool>,
}

/// The [`SeriesTrace`] of `key` up to `to` (`None`: unknown series, or silent so far).
pub fn trace_series(
    set: &SeriesSet,
    key: &SeriesKey,
    to: NaiveDate,
    settings: &DetectSettings,
) -> Option<SeriesTrace> {
    let s = set.series.iter().find(|s| &s.key == key)?;
    let t = track(set, s, (NaiveDate::MIN, to), settings)?;
    Some(SeriesTrace {
        days: t.days,
        values: t.values,
        out: t.out,
        flags: t.flags,
    })
}

/// Evaluate `day` for every series in `set`: [`evaluate_range`] over that one day.
pub fn evaluate_day(set: &SeriesSet, day: NaiveDate, settings: &DetectSettings) -> DayOutcome {
    evaluate_range(set, day, day, settings)
        .pop()
        .expect("a one-day range has one outcome")
}

/// Evaluate every day of `[from, to]`, in order, one [`DayOutcome`] a day (an unknown day's
/// says so): exactly what [`evaluate_day`] says of each day, for the cost of one detector pass
/// per series.
pub fn evaluate_range(
    set: &SeriesSet,
    from: NaiveDate,
    to: NaiveDate,
    settings: &DetectSettings,
) -> Vec<DayOutcome> {
    let mut all = Vec::new();
    evaluate_each(set, from, to, settings, |o| all.push(o));
    all
}

/// [`evaluate_range`], handing each day's outcome to `each` as soon as it is judged (a long
/// replay need not hold every day's verdicts at once).
///
/// Each series' detector starts at its origin, the first day its account has data (see
/// [`SeriesSet::days_of`]), and runs once up to `to`. Since the detector never looks ahead,
/// its output for a day is the same whichever later day the pass stops at; the gates, the
/// incident grouping and Benjamini–Hochberg then read only that day and the days before it.
pub fn evaluate_each(
    set: &SeriesSet,
    from: NaiveDate,
    to: NaiveDate,
    settings: &DetectSettings,
    mut each: impl FnMut(DayOutcome),
) {
    if from > to {
        return;
    }
    // One detector pass per series, on every core (each series' pass is independent).
    let tracks: Vec<Track<'_>> = set
        .series
        .par_iter()
        .filter(|s| settings.families.contains(&s.key.family))
        .filter_map(|s| track(set, s, (from, to), settings))
        .collect();
    // Where each series stands in the range (days are walked in order).
    let mut cursors: Vec<usize> = tracks.iter().map(|t| t.judged_from).collect();
    for day in from.iter_days().take_while(|d| *d <= to) {
        let mut out = DayOutcome {
            day: Some(day),
            day_known: set.known_days.contains(&day),
            ..Default::default()
        };
        if out.day_known {
            let judged: Vec<Judged<'_, '_>> = tracks
                .iter()
                .zip(cursors.iter_mut())
                .filter_map(|(t, c)| Judged::on(t, day, c))
                .collect();
            judge_day(&mut out, &judged, settings);
        }
        each(out);
    }
}

/// The day's verdicts from its judged series: Benjamini–Hochberg across them, then each one's
/// gate and incident.
fn judge_day(out: &mut DayOutcome, judged: &[Judged<'_, '_>], settings: &DetectSettings) {
    out.checked = judged.len();
    let p_values: Vec<f64> = judged.iter().map(|j| j.out().p_value).collect();
    let discoveries = benjamini_hochberg(&p_values, settings.false_discovery_rate);
    for (j, discovered) in judged.iter().zip(discoveries) {
        let o = j.out();
        out.day_estimated |= j.t.estimated[j.i];
        out.verdicts
            .push((j.t.key.clone(), o.score, j.t.values[j.i] - o.expected));
        if o.young {
            out.young.push(j.t.key.clone());
        }
        if j.immaterial() {
            out.immaterial += 1;
            if let Err(why) = materiality(j.t, j.i) {
                tracing::debug!(series = %j.t.key, day = %j.t.days[j.i], why, "significant but not material");
            }
        }
        if !j.flagged() {
            continue;
        }
        if !discovered {
            out.not_discoveries += 1;
            continue;
        }
        out.incidents.push(incident(*j, settings));
    }
    // One event per account and region (its families inside), biggest money first (request
    // floods by requests, after): the order people read in.
    out.incidents = crate::model::incident::by_place(std::mem::take(&mut out.incidents));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DayValue, Family, Series};
    use chrono::Days;
    use proptest::prelude::*;
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
    fn a_drip_below_the_daily_percentage_is_judged_by_its_total() {
        // +15% every day for the last fourteen days: no day clears the 25% gate, the drift
        // test fires, and what the drip added up to is material.
        let day = d("2026-06-10");
        let (mut s, known) = series(key("1"), day, &[]);
        for k in 0..14 {
            let v = s.values.get_mut(&(day - Days::new(k))).unwrap();
            v.usage *= 1.15;
            v.cost_usd *= 1.15;
        }
        let set = set_of(vec![(s, known)]);
        let settings = DetectSettings::default();
        let outcomes = evaluate_range(&set, day - Days::new(13), day, &settings);
        let drift: Vec<_> = outcomes
            .iter()
            .flat_map(|o| &o.incidents)
            .filter(|i| i.evidence == "drift")
            .collect();
        assert!(!drift.is_empty(), "the drip is found");
        assert!(drift.iter().all(|i| i.excess_pct.unwrap() < 25.0));
        assert!(
            drift[0]
                .reason
                .contains("over baseline since the rise began on"),
            "{}",
            drift[0].reason
        );
        // The same drip at a fiftieth of the volume adds up to less than the 10 GB gate.
        let (mut s, known) = series(key("1"), day, &[]);
        for v in s.values.values_mut() {
            v.usage /= 50.0;
            v.cost_usd /= 50.0;
        }
        for k in 0..14 {
            let v = s.values.get_mut(&(day - Days::new(k))).unwrap();
            v.usage *= 1.15;
            v.cost_usd *= 1.15;
        }
        let set = set_of(vec![(s, known)]);
        let small = evaluate_range(&set, day - Days::new(13), day, &settings);
        assert!(
            small.iter().all(|o| o.incidents.is_empty()),
            "{:?}",
            small.iter().flat_map(|o| &o.incidents).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_day_cost_explorer_did_not_answer_keeps_the_week_in_place() {
        // Weekdays at 100, weekends at 30; one day forty days back is unknown. Dropping it
        // would judge every later Monday against Sundays; as a gap, the weeks stay in place.
        let day = d("2026-06-10");
        let (s, mut known) = series(key("1"), day, &[]);
        known.remove(&(day - Days::new(40)));
        let set = set_of(vec![(s, known)]);
        let outcomes = evaluate_range(&set, day - Days::new(38), day, &DetectSettings::default());
        let incidents: Vec<_> = outcomes.iter().flat_map(|o| &o.incidents).collect();
        assert!(incidents.is_empty(), "{incidents:?}");
        let sunday = d("2026-06-07");
        let verdict = outcomes
            .iter()
            .find(|o| o.day == Some(sunday))
            .and_then(|o| o.verdicts.first())
            .unwrap();
        assert!(
            verdict.2.abs() < 15.0,
            "a Sunday expected as a Sunday: {verdict:?}"
        );
        assert!(!outcomes.iter().any(|o| o.day == Some(day - Days::new(40))));
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

    #[test]
    fn history_counts_from_the_accounts_first_day_not_a_window() {
        // 300 days of history: the detector reads all of them (the reason says so), and an
        // account whose first day comes later is not judged before it.
        let day = d("2026-06-10");
        let (mut s, _) = series(key("1"), day, &[(day, 900.0)]);
        let first = day - Days::new(299);
        for i in 0..300u64 {
            let dd = first + Days::new(i);
            s.values.entry(dd).or_insert(DayValue {
                usage: 100.0 + wobble(i),
                cost_usd: (100.0 + wobble(i)) * 0.09,
                estimated: false,
            });
        }
        let (mut later, _) = series(key("2"), day, &[]);
        later.values.retain(|dd, _| *dd > day - Days::new(10));
        let set = SeriesSet {
            series: vec![s, later],
            known_days: (0..300u64).map(|i| first + Days::new(i)).collect(),
            first_days: [("1".into(), first), ("2".into(), day - Days::new(9))].into(),
            ..Default::default()
        };
        let out = evaluate_day(&set, day, &DetectSettings::default());
        assert_eq!(out.incidents.len(), 1, "{out:?}");
        assert!(
            out.incidents[0].reason.contains("42 weeks of history"),
            "{}",
            out.incidents[0].reason
        );
        let before = evaluate_day(&set, day - Days::new(20), &DetectSettings::default());
        assert_eq!(before.checked, 1, "account 2 has not started: {before:?}");
    }

    /// A small deterministic generator (tests must not depend on a crate's RNG stream).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn unit(&mut self) -> f64 {
            (self.next() % 1_000_001) as f64 / 1_000_000.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const START: &str = "2025-09-01";
    const LEN: u64 = 220;

    /// Many series over `LEN` days: accounts starting on different days, unknown days (for all
    /// series, and per series), silent series that wake up, zero days, spikes, multi-day leaks
    /// with a quiet day inside, a slow drip, young baselines and estimated days at the end.
    fn busy_set(seed: u64, accounts: usize) -> SeriesSet {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let start = d(START);
        let day = |i: u64| start + Days::new(i);
        let mut set = SeriesSet::default();
        for i in 0..LEN {
            if r.unit() > 0.03 {
                set.known_days.insert(day(i));
            }
        }
        for a in 0..accounts {
            let account = format!("{}", 100_000 + a);
            // The last account starts inside the evaluated range (young when judged).
            let begins = if a + 1 == accounts {
                LEN - 40 - r.below(20)
            } else {
                r.below(60)
            };
            for region in ["eu-west-1", "us-east-1"] {
                for family in [Family::InternetOut, Family::GetRequests] {
                    let key = SeriesKey {
                        account: account.clone(),
                        region: region.into(),
                        family,
                    };
                    let (level, price, unit) = match family {
                        Family::GetRequests => (3e6 * (0.5 + r.unit()), 4e-7, "Requests"),
                        _ => (200.0 * (0.2 + r.unit()), 0.09, "GB"),
                    };
                    // Some series are silent for a while after their account starts.
                    let wakes =
                        (begins + if r.unit() < 0.25 { r.below(80) } else { 0 }).min(LEN - 1);
                    let spikes: Vec<u64> = (0..3).map(|_| r.below(LEN)).collect();
                    let leak = r.below(LEN - 5);
                    let drip = r.below(LEN - 14);
                    let mut values = BTreeMap::new();
                    for i in wakes..LEN {
                        let weekday = day(i).weekday().num_days_from_monday();
                        let mut u = level
                            * if weekday >= 5 { 0.4 } else { 1.0 }
                            * (1.0 + 0.1 * (r.unit() - 0.5));
                        if r.unit() < 0.02 {
                            u = 0.0;
                        }
                        if spikes.contains(&i) {
                            u *= 4.0 + 12.0 * r.unit();
                        }
                        // A 5-day leak with a quiet third day: one incident.
                        if (leak..leak + 5).contains(&i) && i != leak + 2 {
                            u *= 6.0;
                        }
                        if (drip..drip + 14).contains(&i) {
                            u *= 1.4;
                        }
                        if u == 0.0 && r.unit() < 0.5 {
                            continue; // a known day without points is a zero
                        }
                        values.insert(
                            day(i),
                            DayValue {
                                usage: u,
                                cost_usd: u * price,
                                estimated: i + 2 >= LEN,
                            },
                        );
                    }
                    let gaps: BTreeSet<NaiveDate> =
                        (0..4).map(|_| day(wakes + r.below(LEN - wakes))).collect();
                    set.gaps.insert(key.clone(), gaps);
                    set.series.push(Series {
                        key,
                        unit: unit.into(),
                        values,
                    });
                }
            }
            set.first_days.insert(account, day(begins));
        }
        set
    }

    /// What the store gives a run on the morning after `day`: every day up to it, nothing
    /// later (and each account's first day as of then).
    fn as_of(set: &SeriesSet, day: NaiveDate) -> SeriesSet {
        let mut out = set.clone();
        for s in &mut out.series {
            s.values.retain(|d, _| *d <= day);
        }
        out.known_days.retain(|d| *d <= day);
        out.first_days.retain(|_, d| *d <= day);
        for g in out.gaps.values_mut() {
            g.retain(|d| *d <= day);
        }
        out
    }

    /// `evaluate_range` is `evaluate_day` of each day, and `evaluate_day` of a day is the same
    /// whether the set ends there (the daily run) or goes on (a replay).
    fn assert_range_is_each_day(
        set: &SeriesSet,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<DayOutcome> {
        let s = DetectSettings::default();
        let range = evaluate_range(set, from, to, &s);
        let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
        assert_eq!(range.len(), days.len());
        for (out, day) in range.iter().zip(&days) {
            assert_eq!(out.day, Some(*day));
            assert_eq!(out, &evaluate_day(set, *day, &s), "{day}: range vs day");
            assert_eq!(
                out,
                &evaluate_day(&as_of(set, *day), *day, &s),
                "{day}: range vs the set as of that morning"
            );
        }
        range
    }

    #[test]
    fn a_range_says_exactly_what_each_day_says() {
        let set = busy_set(7, 4);
        let (from, to) = (d(START) + Days::new(130), d(START) + Days::new(LEN - 1));
        let range = assert_range_is_each_day(&set, from, to);
        // The comparison covers every kind of day and verdict.
        let incidents: Vec<&Incident> = range.iter().flat_map(|o| &o.incidents).collect();
        assert!(range.iter().any(|o| !o.day_known), "an unknown day");
        assert!(range.iter().any(|o| o.day_estimated), "an estimated day");
        assert!(incidents.len() >= 5, "{} incidents", incidents.len());
        assert!(
            incidents.iter().any(|i| i.days >= 3),
            "a multi-day incident"
        );
        assert!(incidents.iter().any(|i| i.evidence == "drift"), "a drip");
        assert!(range.iter().any(|o| !o.young.is_empty()), "a young series");
        assert!(range.iter().any(|o| o.immaterial > 0), "an immaterial day");
        let checked: BTreeSet<usize> = range.iter().map(|o| o.checked).collect();
        assert!(checked.len() > 2, "series come and go: {checked:?}");
        // An empty range, and one day.
        assert!(evaluate_range(&set, to, from, &DetectSettings::default()).is_empty());
        assert_eq!(
            evaluate_range(&set, to, to, &DetectSettings::default()),
            vec![evaluate_day(&set, to, &DetectSettings::default())]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(6))]
        #[test]
        fn any_range_says_exactly_what_each_day_says(
            seed in 1u64..u64::MAX,
            accounts in 1usize..4,
            first in 100u64..200,
            len in 1u64..20,
        ) {
            let set = busy_set(seed, accounts);
            let from = d(START) + Days::new(first);
            let to = (from + Days::new(len)).min(d(START) + Days::new(LEN - 1));
            assert_range_is_each_day(&set, from, to);
        }
    }
}
