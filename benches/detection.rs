//! Detection-quality benchmark: how well do the detectors find planted exfiltration in
//! realistic daily egress series, how often do they cry wolf, and how fast are they?
//!
//! Run with `cargo bench --bench detection` (release build, no external harness).
//!
//! # Why
//!
//! Unit tests show that a detector flags an obvious spike; they do not show how it trades
//! recall against false alarms across the messy shapes real S3 egress takes. This benchmark
//! generates a fixed, seeded population of labelled daily series and scores every detector on
//! exactly the same data in the same run, so that parameter changes can be judged by numbers.
//!
//! # The data
//!
//! Each series is two years of daily values (GB/day) starting 2024-01-01, built from a clean
//! signal (base level, weekly profile, smooth growth or decline, multiplicative noise, public
//! holidays at 30-60 %, and in some series a legitimate month-end batch or a permanent step
//! change) plus 1-3 planted, labelled anomalies after day 90:
//! - *spike*: 1-3 days at ×1.5, ×2, ×5 or ×20 of the day's clean value;
//! - *drip*: 10-21 days at +15 %, +30 % or +60 % (flat, or a linear ramp up to that level);
//! - *sparse*: in near-silent series, a burst of 5-500 GB for 1-3 days.
//!
//! The month-end batches, holidays and step changes are legitimate: flagging them is a false
//! alarm, and the table breaks false alarms down by these causes.
//!
//! # The detectors
//!
//! All of them see, for each day, only that day and the days before it (no look-ahead):
//! - `online`: [`egresswatch::detect::online`] with [`OnlineParams::daily`], flag = `anomaly`;
//! - `seasonal_mad`: the first detector, [`SeasonalMad`] over the previous 56 days through the
//!   [`Detector`] trait, flag = `significant` (no assessment = not flagged);
//! - `mean+3σ`: a naive baseline, flag if the value exceeds the mean plus three standard
//!   deviations of the previous 28 days.
//!
//! Only rises count: exfiltration raises egress. Materiality thresholds (minimum GB or dollars)
//! are deliberately not applied: this measures the statistics alone.
//!
//! # The metrics
//!
//! Scoring starts at day 56 (the detectors run on the whole series, warm-up included).
//! - *Recall*: an event counts as detected if any day in `[start, end + 2]` is flagged.
//! - *Chance*: the same windows scored on the clean series (no anomaly planted): the recall a
//!   detector gets for free from its false alarms. Read recall against it.
//! - *Delay*: first flagged day in that window minus the event's first day.
//! - *False incidents*: maximal runs of flagged days (runs separated by a single unflagged day
//!   merge into one) that touch no event window `[start, end + 2]` and no step-change allowance
//!   `[step, step + 14]`, per series-year of scored data, broken down by their likely cause
//!   (sparse series, month end or first day, holiday, after a step, other). A run that starts
//!   inside a step's allowance is forgiven however long it lasts: the step rows catch those.
//! - *Step changes*: the share of steps that raise at most one incident in `[step, step + 60]`,
//!   and the flagged days in `[step + 15, step + 60]`, when the new level should be normal.
//! - *Speed*: median over 5 repetitions of the time to run a detector over every series.

mod common;
use common::easter;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use egresswatch::detect::online::{self, OnlineParams};
use egresswatch::detect::seasonal_mad::SeasonalMad;
use egresswatch::detect::Detector;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

/// Seed of the generator: the whole population follows from it.
const SEED: u64 = 20_240_101;
/// Number of generated series.
const SERIES: usize = 500;
/// Days per series (two years).
const DAYS: usize = 730;
/// Share of near-silent ("sparse") series.
const SPARSE_SHARE: f64 = 0.15;
/// Share of (non-sparse) series with a legitimate month-end batch.
const MONTH_END_SHARE: f64 = 0.30;
/// Share of (non-sparse) series with a legitimate permanent step change.
const STEP_SHARE: f64 = 0.20;
/// Planted events start at or after this day.
const FIRST_EVENT_DAY: usize = 91;
/// Step changes happen at or after this day.
const FIRST_STEP_DAY: usize = 121;
/// Unflagged days required between two planted event windows.
const EVENT_SPACING: usize = 7;
/// Days before the scoring starts (the detectors still see them).
const SCORE_FROM: usize = 56;
/// An event may be caught up to this many days after its last day.
const EVENT_GRACE: usize = 2;
/// Flags in `[step, step + STEP_ALLOWANCE]` are forgiven: the step is news once.
const STEP_ALLOWANCE: usize = 14;
/// Horizon over which step changes are judged.
const STEP_HORIZON: usize = 60;
/// A false incident up to this many days after a holiday is blamed on the holiday.
const HOLIDAY_AFTER: usize = 2;
/// Flag runs separated by at most this many unflagged days are one incident.
const MERGE_GAP: usize = 1;
/// History handed to the seasonal MAD detector (its 8 weeks).
const MAD_HISTORY: usize = 56;
/// Window of the naive trailing baseline.
const TRAILING: usize = 28;
/// Standard deviations above the trailing mean that the naive baseline flags.
const TRAILING_SIGMAS: f64 = 3.0;
/// Floor of the trailing standard deviation, so that a flat history stays finite.
const TRAILING_STD_FLOOR: f64 = 1e-9;
/// Timing repetitions per detector (the median is reported).
const REPETITIONS: usize = 5;
/// The command that prints this table.
const COMMAND: &str = "cargo bench --bench detection";

// ---------------------------------------------------------------------------------------------
// Labelled data
// ---------------------------------------------------------------------------------------------

/// The kind and magnitude of a planted anomaly: each is one row of the recall table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventClass {
    Spike1_5,
    Spike2,
    Spike5,
    Spike20,
    Drip15,
    Drip30,
    Drip60,
    Sparse,
}

impl EventClass {
    const ALL: [EventClass; 8] = [
        EventClass::Spike1_5,
        EventClass::Spike2,
        EventClass::Spike5,
        EventClass::Spike20,
        EventClass::Drip15,
        EventClass::Drip30,
        EventClass::Drip60,
        EventClass::Sparse,
    ];
    const SPIKES: [EventClass; 4] = [
        EventClass::Spike1_5,
        EventClass::Spike2,
        EventClass::Spike5,
        EventClass::Spike20,
    ];
    const DRIPS: [EventClass; 3] = [EventClass::Drip15, EventClass::Drip30, EventClass::Drip60];

    fn label(self) -> &'static str {
        match self {
            EventClass::Spike1_5 => "spike ×1.5",
            EventClass::Spike2 => "spike ×2",
            EventClass::Spike5 => "spike ×5",
            EventClass::Spike20 => "spike ×20",
            EventClass::Drip15 => "drip +15%",
            EventClass::Drip30 => "drip +30%",
            EventClass::Drip60 => "drip +60%",
            EventClass::Sparse => "sparse burst 5-500 GB",
        }
    }

    /// Multiplier of a spike, relative rise of a drip (unused for sparse bursts).
    fn magnitude(self) -> f64 {
        match self {
            EventClass::Spike1_5 => 1.5,
            EventClass::Spike2 => 2.0,
            EventClass::Spike5 => 5.0,
            EventClass::Spike20 => 20.0,
            EventClass::Drip15 => 0.15,
            EventClass::Drip30 => 0.30,
            EventClass::Drip60 => 0.60,
            EventClass::Sparse => 0.0,
        }
    }

    fn is_drip(self) -> bool {
        EventClass::DRIPS.contains(&self)
    }

    fn index(self) -> usize {
        EventClass::ALL
            .iter()
            .position(|c| *c == self)
            .expect("every class is listed in ALL")
    }
}

/// A planted anomaly: days `start..=end`.
#[derive(Debug, Clone, Copy)]
struct Event {
    class: EventClass,
    start: usize,
    end: usize,
}

impl Event {
    /// The days in which a flag counts as catching the event.
    fn window(&self) -> (usize, usize) {
        (self.start, self.end + EVENT_GRACE)
    }
}

/// One generated series with its labels.
#[derive(Debug, Clone)]
struct Series {
    /// Observed values: clean signal plus planted anomalies.
    values: Vec<f64>,
    /// The same series without the planted anomalies (magnitudes are relative to it).
    clean: Vec<f64>,
    sparse: bool,
    /// A legitimate batch on the last day of every month.
    month_end: bool,
    /// First day of a legitimate permanent step change.
    step: Option<usize>,
    events: Vec<Event>,
}

/// The dates shared by all series and their calendar features.
struct Calendar {
    days: Vec<NaiveDate>,
    /// Public holidays (the same dates each year).
    holiday: Vec<bool>,
    /// Last day of a month.
    month_last: Vec<bool>,
}

impl Calendar {
    fn new() -> Self {
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date");
        let days: Vec<NaiveDate> = (0..DAYS as u64).map(|i| start + Days::new(i)).collect();
        let holidays: Vec<NaiveDate> = [2024, 2025, 2026]
            .into_iter()
            .flat_map(holidays_of)
            .collect();
        let holiday = days.iter().map(|d| holidays.contains(d)).collect();
        let month_last = days
            .iter()
            .map(|d| d.succ_opt().is_some_and(|n| n.month() != d.month()))
            .collect();
        Calendar {
            days,
            holiday,
            month_last,
        }
    }

    fn month_first(&self, i: usize) -> bool {
        self.days[i].day() == 1
    }
}

/// Eight holidays a year: New Year, Good Friday, Easter Monday, May Day, 24-26 Dec, 31 Dec.
fn holidays_of(year: i32) -> Vec<NaiveDate> {
    let ymd = |m, d| NaiveDate::from_ymd_opt(year, m, d).expect("valid holiday");
    let e = easter(year);
    vec![
        ymd(1, 1),
        e - Days::new(2),
        e + Days::new(1),
        ymd(5, 1),
        ymd(12, 24),
        ymd(12, 25),
        ymd(12, 26),
        ymd(12, 31),
    ]
}

/// Log-uniform draw in `[lo, hi)`.
fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    rng.random_range(lo.ln()..hi.ln()).exp()
}

/// A start day for an event of `len` days whose window `[start, end + grace]` keeps
/// `EVENT_SPACING` days away from every window in `taken`; `None` if none was found.
fn place(rng: &mut StdRng, len: usize, taken: &[(usize, usize)]) -> Option<usize> {
    let last_start = DAYS - len - EVENT_GRACE;
    for _ in 0..200 {
        let start = rng.random_range(FIRST_EVENT_DAY..last_start);
        let (lo, hi) = (start, start + len - 1 + EVENT_GRACE);
        let clear = taken
            .iter()
            .all(|&(a, b)| hi + EVENT_SPACING < a || b + EVENT_SPACING < lo);
        if clear {
            return Some(start);
        }
    }
    None
}

/// A near-silent series: zero on most days, a few megabytes now and then, and 1-3 bursts.
fn sparse_series(rng: &mut StdRng) -> Series {
    let clean: Vec<f64> = (0..DAYS)
        .map(|_| {
            if rng.random_bool(0.1) {
                rng.random_range(0.001..0.05)
            } else {
                0.0
            }
        })
        .collect();
    let mut values = clean.clone();
    let mut taken = Vec::new();
    let mut events = Vec::new();
    for _ in 0..rng.random_range(1..=3) {
        let len = rng.random_range(1..=3);
        let Some(start) = place(rng, len, &taken) else {
            continue;
        };
        let size = log_uniform(rng, 5.0, 500.0);
        for v in &mut values[start..start + len] {
            *v += size * rng.random_range(0.8..1.2);
        }
        let ev = Event {
            class: EventClass::Sparse,
            start,
            end: start + len - 1,
        };
        taken.push(ev.window());
        events.push(ev);
    }
    Series {
        values,
        clean,
        sparse: true,
        month_end: false,
        step: None,
        events,
    }
}

/// A busy series: level × weekly profile × growth × holidays × month-end × step × noise,
/// then 1-3 spikes or drips on top of that clean value.
fn busy_series(rng: &mut StdRng, cal: &Calendar) -> Series {
    let base = log_uniform(rng, 1.0, 1000.0);
    let weekend = rng.random_range(0.3..1.0);
    let growth: f64 = rng.random_range(-0.2..1.0);
    let noise = LogNormal::new(0.0, rng.random_range(0.03..0.15)).expect("valid noise");
    let batch = rng
        .random_bool(MONTH_END_SHARE)
        .then(|| rng.random_range(1.5..3.0));
    let step = rng.random_bool(STEP_SHARE).then(|| {
        (
            rng.random_range(FIRST_STEP_DAY..DAYS - STEP_HORIZON),
            rng.random_range(1.3..3.0),
        )
    });
    let clean: Vec<f64> = cal
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut v = base * (1.0 + growth).powf(i as f64 / 365.0);
            if matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
                v *= weekend;
            }
            if cal.holiday[i] {
                v *= rng.random_range(0.3..0.6);
            }
            if let Some(b) = batch {
                if cal.month_last[i] {
                    v *= b * rng.random_range(0.9..1.1);
                }
            }
            if let Some((at, factor)) = step {
                if i >= at {
                    v *= factor;
                }
            }
            v * noise.sample(rng)
        })
        .collect();

    let mut values = clean.clone();
    // Keep planted events out of the step's judging window, so that both are measured cleanly.
    let mut taken: Vec<(usize, usize)> = step
        .map(|(at, _)| vec![(at.saturating_sub(EVENT_SPACING), at + STEP_HORIZON)])
        .unwrap_or_default();
    let mut events = Vec::new();
    for _ in 0..rng.random_range(1..=3) {
        let class = if rng.random_bool(0.5) {
            EventClass::SPIKES[rng.random_range(0..EventClass::SPIKES.len())]
        } else {
            EventClass::DRIPS[rng.random_range(0..EventClass::DRIPS.len())]
        };
        let len = if class.is_drip() {
            rng.random_range(10..=21)
        } else {
            rng.random_range(1..=3)
        };
        let Some(start) = place(rng, len, &taken) else {
            continue;
        };
        let ramp = class.is_drip() && rng.random_bool(0.5);
        for k in 0..len {
            let i = start + k;
            values[i] = if class.is_drip() {
                let rise = if ramp {
                    class.magnitude() * (k + 1) as f64 / len as f64
                } else {
                    class.magnitude()
                };
                clean[i] * (1.0 + rise)
            } else {
                clean[i] * class.magnitude()
            };
        }
        let ev = Event {
            class,
            start,
            end: start + len - 1,
        };
        taken.push(ev.window());
        events.push(ev);
    }
    Series {
        values,
        clean,
        sparse: false,
        month_end: batch.is_some(),
        step: step.map(|(at, _)| at),
        events,
    }
}

fn generate(rng: &mut StdRng, cal: &Calendar) -> Vec<Series> {
    (0..SERIES)
        .map(|_| {
            if rng.random_bool(SPARSE_SHARE) {
                sparse_series(rng)
            } else {
                busy_series(rng, cal)
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Detectors
// ---------------------------------------------------------------------------------------------

/// The detectors under comparison, in column order.
#[derive(Debug, Clone, Copy)]
enum Method {
    Online,
    SeasonalMad,
    Trailing,
}

impl Method {
    const ALL: [Method; 3] = [Method::Online, Method::SeasonalMad, Method::Trailing];

    fn name(self) -> &'static str {
        match self {
            Method::Online => "online",
            Method::SeasonalMad => "seasonal_mad",
            Method::Trailing => "mean+3σ (28d)",
        }
    }

    /// The flag of every day of `values`, each computed from that day and the ones before.
    fn flags(self, values: &[f64], days: &[NaiveDate]) -> Vec<bool> {
        match self {
            Method::Online => online_flags(values, days),
            Method::SeasonalMad => seasonal_mad_flags(values, days),
            Method::Trailing => trailing_flags(values),
        }
    }
}

fn online_flags(values: &[f64], days: &[NaiveDate]) -> Vec<bool> {
    online::run(values, Some(days), &OnlineParams::daily())
        .iter()
        .map(|p| p.anomaly)
        .collect()
}

fn seasonal_mad_flags(values: &[f64], days: &[NaiveDate]) -> Vec<bool> {
    let detector = SeasonalMad {
        weeks: 8,
        min_points: 4,
        threshold: 4.0,
    };
    let history: Vec<(NaiveDate, f64)> = days.iter().copied().zip(values.iter().copied()).collect();
    history
        .iter()
        .enumerate()
        .map(|(i, &(day, observed))| {
            let past = &history[i.saturating_sub(MAD_HISTORY)..i];
            detector
                .assess(past, day, observed)
                .is_some_and(|a| a.significant)
        })
        .collect()
}

fn trailing_flags(values: &[f64]) -> Vec<bool> {
    let n = TRAILING as f64;
    values
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if i < TRAILING {
                return false;
            }
            let window = &values[i - TRAILING..i];
            let mean = window.iter().sum::<f64>() / n;
            let var = window.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            x > mean + TRAILING_SIGMAS * var.sqrt().max(TRAILING_STD_FLOOR)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scoring
// ---------------------------------------------------------------------------------------------

/// Maximal runs of flagged scored days, `(first, last)`, merging runs split by `MERGE_GAP`
/// or fewer unflagged days.
fn incidents(flags: &[bool]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, _) in flags
        .iter()
        .enumerate()
        .skip(SCORE_FROM)
        .filter(|(_, f)| **f)
    {
        match runs.last_mut() {
            Some(last) if i <= last.1 + MERGE_GAP + 1 => last.1 = i,
            _ => runs.push((i, i)),
        }
    }
    runs
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// Why a false incident probably happened (the first matching cause, in this order, wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FalseCause {
    Sparse,
    MonthEndBatch,
    MonthBoundary,
    Holiday,
    AfterStep,
    Other,
}

impl FalseCause {
    const ALL: [FalseCause; 6] = [
        FalseCause::Sparse,
        FalseCause::MonthEndBatch,
        FalseCause::MonthBoundary,
        FalseCause::Holiday,
        FalseCause::AfterStep,
        FalseCause::Other,
    ];

    fn label(self) -> &'static str {
        match self {
            FalseCause::Sparse => "  in sparse series",
            FalseCause::MonthEndBatch => "  month end/1st, series with batch",
            FalseCause::MonthBoundary => "  month end/1st, series without batch",
            FalseCause::Holiday => "  holiday .. holiday+2",
            FalseCause::AfterStep => "  after a step (step+15 .. step+60)",
            FalseCause::Other => "  other",
        }
    }

    fn classify(run: (usize, usize), s: &Series, cal: &Calendar) -> Self {
        let mut days = run.0..=run.1;
        if s.sparse {
            return FalseCause::Sparse;
        }
        if days
            .clone()
            .any(|i| cal.month_last[i] || cal.month_first(i))
        {
            return if s.month_end {
                FalseCause::MonthEndBatch
            } else {
                FalseCause::MonthBoundary
            };
        }
        if days.any(|i| (i.saturating_sub(HOLIDAY_AFTER)..=i).any(|h| cal.holiday[h])) {
            return FalseCause::Holiday;
        }
        if s.step
            .is_some_and(|at| overlaps(run, (at + STEP_ALLOWANCE + 1, at + STEP_HORIZON)))
        {
            return FalseCause::AfterStep;
        }
        FalseCause::Other
    }

    fn index(self) -> usize {
        FalseCause::ALL
            .iter()
            .position(|c| *c == self)
            .expect("every cause is listed in ALL")
    }
}

/// Everything measured for one detector.
#[derive(Debug, Default)]
struct Scores {
    /// Per event class: events planted, detected, and "detected" in the clean series.
    planted: [usize; EventClass::ALL.len()],
    detected: [usize; EventClass::ALL.len()],
    chance: [usize; EventClass::ALL.len()],
    delays: Vec<usize>,
    drip_delays: Vec<usize>,
    false_by_cause: [usize; FalseCause::ALL.len()],
    series_years: f64,
    steps: usize,
    /// Steps with at most one incident over the judged horizon.
    steps_quiet: usize,
    /// Steps with any flag after the allowance.
    steps_late: usize,
    late_step_flags: usize,
    time: Duration,
}

impl Scores {
    fn false_total(&self) -> usize {
        self.false_by_cause.iter().sum()
    }

    fn rate(&self, count: usize) -> f64 {
        count as f64 / self.series_years
    }

    fn sum(counts: &[usize], classes: &[EventClass]) -> usize {
        classes.iter().map(|c| counts[c.index()]).sum()
    }
}

/// The first flagged day of the event's window, if any.
fn first_flag(ev: &Event, flags: &[bool]) -> Option<usize> {
    let (lo, hi) = ev.window();
    (lo..=hi.min(DAYS - 1)).find(|&i| flags[i])
}

/// Score `flags` (from the observed series) and `clean_flags` (from the same series without
/// the planted anomalies, for the chance rate).
fn score(
    series: &[Series],
    flags: &[Vec<bool>],
    clean_flags: &[Vec<bool>],
    cal: &Calendar,
) -> Scores {
    let mut sc = Scores::default();
    for ((s, f), cf) in series.iter().zip(flags).zip(clean_flags) {
        sc.series_years += (DAYS - SCORE_FROM) as f64 / 365.0;
        for ev in &s.events {
            let c = ev.class.index();
            sc.planted[c] += 1;
            if first_flag(ev, cf).is_some() {
                sc.chance[c] += 1;
            }
            if let Some(first) = first_flag(ev, f) {
                sc.detected[c] += 1;
                sc.delays.push(first - ev.start);
                if ev.class.is_drip() {
                    sc.drip_delays.push(first - ev.start);
                }
            }
        }
        let runs = incidents(f);
        for &run in &runs {
            let near_event = s.events.iter().any(|ev| overlaps(run, ev.window()));
            let near_step = s
                .step
                .is_some_and(|at| overlaps(run, (at, at + STEP_ALLOWANCE)));
            if !near_event && !near_step {
                sc.false_by_cause[FalseCause::classify(run, s, cal).index()] += 1;
            }
        }
        if let Some(at) = s.step {
            sc.steps += 1;
            let judged = (at, at + STEP_HORIZON);
            if runs.iter().filter(|r| overlaps(**r, judged)).count() <= 1 {
                sc.steps_quiet += 1;
            }
            let late = f[at + STEP_ALLOWANCE + 1..=at + STEP_HORIZON]
                .iter()
                .filter(|x| **x)
                .count();
            sc.late_step_flags += late;
            sc.steps_late += usize::from(late > 0);
        }
    }
    sc
}

/// Run `method` over every series `REPETITIONS` times; the flags and the median time.
fn run_timed(method: Method, series: &[Series], cal: &Calendar) -> (Vec<Vec<bool>>, Duration) {
    let mut times = Vec::with_capacity(REPETITIONS);
    let mut kept = None;
    for _ in 0..REPETITIONS {
        let t0 = Instant::now();
        let flags: Vec<Vec<bool>> = series
            .iter()
            .map(|s| method.flags(black_box(&s.values), &cal.days))
            .collect();
        times.push(t0.elapsed());
        kept.get_or_insert(black_box(flags));
    }
    times.sort();
    (
        kept.expect("at least one repetition"),
        times[REPETITIONS / 2],
    )
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

fn median(v: &[usize]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2] as f64),
        _ => Some((v[n / 2 - 1] + v[n / 2]) as f64 / 2.0),
    }
}

fn mean(v: &[usize]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<usize>() as f64 / v.len() as f64)
}

fn pct(part: usize, whole: usize) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

fn median_mean(v: &[usize]) -> String {
    match (median(v), mean(v)) {
        (Some(md), Some(mn)) => format!("{md:.1} / {mn:.2}"),
        _ => "-".to_string(),
    }
}

const LABEL_WIDTH: usize = 42;
const CELL_WIDTH: usize = 16;

fn section(title: &str) {
    println!("{title}");
}

fn row(label: &str, cells: impl IntoIterator<Item = String>) {
    let mut line = format!("{label:<LABEL_WIDTH$}");
    for c in cells {
        line.push_str(&format!("{c:>CELL_WIDTH$}"));
    }
    println!("{}", line.trim_end());
}

fn print_report(series: &[Series], results: &[(Method, Scores)]) {
    let points = series.len() * DAYS;
    let sparse = series.iter().filter(|s| s.sparse).count();
    let month_end = series.iter().filter(|s| s.month_end).count();
    let steps = series.iter().filter(|s| s.step.is_some()).count();
    let events: usize = series.iter().map(|s| s.events.len()).sum();
    let first = &results[0].1;

    println!("egresswatch detection benchmark");
    println!("  command   : {COMMAND}");
    println!("  seed      : {SEED}");
    println!(
        "  series    : {} ({sparse} sparse, {month_end} with a month-end batch, \
         {steps} with a step change)",
        series.len()
    );
    println!(
        "  points    : {points} ({DAYS} days each from 2024-01-01); scored from day \
         {SCORE_FROM}: {:.1} series-years",
        first.series_years
    );
    println!(
        "  events    : {events} planted after day {}, rises only",
        FIRST_EVENT_DAY - 1
    );
    println!("  detectors : online = OnlineParams::daily(), flag = anomaly");
    println!(
        "              seasonal_mad = SeasonalMad {{ weeks: 8, min_points: 4, threshold: 4.0 }} \
         on the previous {MAD_HISTORY} days"
    );
    println!(
        "              mean+3σ = x > mean + {TRAILING_SIGMAS}·std of the previous {TRAILING} days"
    );
    println!("  no materiality filter: statistics only, every flag counts");
    println!();

    let rule = "-".repeat(LABEL_WIDTH + CELL_WIDTH * results.len());
    row("", results.iter().map(|(m, _)| m.name().to_string()));
    println!("{rule}");

    let all = EventClass::ALL;
    section(&format!("Recall: any flag in [start, end+{EVENT_GRACE}]"));
    row(
        &format!("  all events (n={})", Scores::sum(&first.planted, &all)),
        results.iter().map(|(_, s)| {
            pct(
                Scores::sum(&s.detected, &all),
                Scores::sum(&s.planted, &all),
            )
        }),
    );
    for class in all {
        let c = class.index();
        row(
            &format!("  {} (n={})", class.label(), first.planted[c]),
            results
                .iter()
                .map(|(_, s)| pct(s.detected[c], s.planted[c])),
        );
    }

    section("Chance: same windows, anomaly not planted");
    for (label, classes) in [
        ("  spike windows (1-3 days + 2)", &EventClass::SPIKES[..]),
        ("  drip windows (10-21 days + 2)", &EventClass::DRIPS[..]),
        ("  sparse windows", &[EventClass::Sparse][..]),
    ] {
        row(
            label,
            results.iter().map(|(_, s)| {
                pct(
                    Scores::sum(&s.chance, classes),
                    Scores::sum(&s.planted, classes),
                )
            }),
        );
    }

    section("Delay in days, detected events: median / mean");
    row(
        "  all detected events",
        results.iter().map(|(_, s)| median_mean(&s.delays)),
    );
    row(
        "  drips",
        results.iter().map(|(_, s)| median_mean(&s.drip_delays)),
    );

    section("False incidents per series-year (count)");
    let rate = |s: &Scores, n: usize| format!("{:.3} ({n})", s.rate(n));
    row(
        "  all",
        results.iter().map(|(_, s)| rate(s, s.false_total())),
    );
    for cause in FalseCause::ALL {
        row(
            cause.label(),
            results
                .iter()
                .map(|(_, s)| rate(s, s.false_by_cause[cause.index()])),
        );
    }

    section(&format!("Step changes (n={})", first.steps));
    row(
        &format!("  ≤ 1 incident in [step, step+{STEP_HORIZON}]"),
        results.iter().map(|(_, s)| pct(s.steps_quiet, s.steps)),
    );
    let late = format!("[step+{}, step+{STEP_HORIZON}]", STEP_ALLOWANCE + 1);
    row(
        &format!("  steps with a flag in {late}"),
        results.iter().map(|(_, s)| pct(s.steps_late, s.steps)),
    );
    row(
        &format!("  flagged days in {late}"),
        results.iter().map(|(_, s)| s.late_step_flags.to_string()),
    );

    section(&format!(
        "Speed: median of {REPETITIONS} runs over all series"
    ));
    row(
        "  total, ms",
        results
            .iter()
            .map(|(_, s)| format!("{:.1}", s.time.as_secs_f64() * 1e3)),
    );
    row(
        "  per point, ns",
        results
            .iter()
            .map(|(_, s)| format!("{:.0}", s.time.as_secs_f64() * 1e9 / points as f64)),
    );
    println!("{rule}");
}

fn main() {
    let cal = Calendar::new();
    let mut rng = StdRng::seed_from_u64(SEED);
    let series = generate(&mut rng, &cal);

    let results: Vec<(Method, Scores)> = Method::ALL
        .iter()
        .map(|&m| {
            let (flags, time) = run_timed(m, &series, &cal);
            let clean_flags: Vec<Vec<bool>> = series
                .iter()
                .map(|s| m.flags(&s.clean, &cal.days))
                .collect();
            let mut sc = score(&series, &flags, &clean_flags, &cal);
            sc.time = time;
            (m, sc)
        })
        .collect();

    print_report(&series, &results);
}
