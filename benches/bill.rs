//! Realistic-bill detection benchmark: the daily job, replayed morning by morning over whole
//! generated organisation bills with planted, labelled thefts, scored against two baselines.
//!
//! Run with `cargo bench --profile dev --bench bill` (debug build: about 140 s of CPU, the seeds
//! in parallel, so about 75 s on an idle two-core machine) or `cargo bench --bench bill`
//! (release build). Arguments go after `--`, e.g. `cargo bench --profile dev --bench bill -- --seeds 1,2`:
//! - `--seeds 1,2,3,4,5`: which bills (default 1,2,3,4; any u64 is a bill);
//! - `--pct0`: a row for egresswatch without its percent gate (one more replay per seed);
//! - `--thefts`: every theft, its $ and GB, and which detector caught it;
//! - `--false`: every egresswatch incident that touched no theft, with its cause;
//! - `--changes`: every rising legitimate change alerted on more than once, with its alerts;
//! - `--no-gaps`: the same bills without unanswered days and refused series-days;
//! - `--trace SEED SERIES DAY` (e.g. `--trace 1 prod-data/us-east-1/internet-out 2025-08-31`):
//!   no replay, but what the detector saw of one series on that morning, exactly as the daily
//!   run computes it, its last 90 days (observed, expected, σ, z, CUSUM, score, flag, and which
//!   days were thefts, batch exports, or came after a missing day).
//!
//! It also prints a ceiling: how many thefts a test at the same threshold would see if it knew
//! each series' true noise and theft-free expectation (no estimation error): recall above it
//! is not to be had without a lower threshold, i.e. more false incidents.
//!
//! # Why
//!
//! `benches/detection.rs` scores the statistics alone, one clean series at a time. What people
//! get is different: the daily job's evaluation over every series of an organisation at once, with the
//! materiality gates, Benjamini–Hochberg across the day's series, each series' whole history and
//! incidents grouped as backfill groups them (one per account and region), on a bill whose every oddity (batch exports,
//! December, migrations, a new account) is somebody's legitimate business. This benchmark
//! measures that whole pipeline on bills as nasty as the held-out one the issue tracker quotes,
//! so that a change to the detector or its gates can be judged by recall of thefts that cost
//! money and by false incidents a person would have read.
//!
//! # The data
//!
//! Each seed is one organisation's bill, 30 months of daily Cost Explorer data from 2023-07-01
//! (915 days), 6 accounts × 6 regions (us-east-1, us-west-2, eu-west-1, eu-central-1,
//! ap-northeast-1, ap-southeast-2) and 60 series:
//! - 36 `internet-out` (`DataTransfer-Out-Bytes`, unprefixed or `USE1-` in us-east-1, else
//!   `EU-`, `APN1-`…), one per account and region; tiered price by the organisation's
//!   month-to-date volume (consolidated billing): the first 100 GB of a month free, then $0.09,
//!   $0.085, $0.07, $0.05 per GB past 10, 50 and 150 TB (US and EU; Tokyo and Sydney at their
//!   own higher lists), so a day's $/GB falls as the month fills;
//! - 12 `inter-region-out` (`EU-USE1-AWS-Out-Bytes`…), $0.02/GB (Tokyo $0.09, Sydney $0.098);
//! - 12 `get-requests` (`EU-Requests-Tier2`…), $0.0004 per 1,000 (regional prices), driven by
//!   the same account and region's internet traffic (requests per GB vary by series).
//!
//! The accounts have fixed characters, their sizes, regions and oddities drawn per seed: a big
//! web account (thousands of $ a day in its main region), a data account and an analytics
//! account with month-end and quarter-end batch exports, a media account with a consumer
//! profile (weekends and holidays *up*), a dev sandbox (cents a day, many zero days), and a new
//! account whose first point comes 14-16 months in and which ramps up over 3-8 weeks. Every
//! account has quiet regions (cents a day, zero on 0-80% of days).
//!
//! A series' value is `signal × noise`. The signal: a level with growth or decline (-30% to
//! +80% a year, the rate changing once), a weekly profile (business weekends at 25-80% of a
//! weekday, consumer weekends at 105-140%, replication nearly flat, the dev sandbox near zero),
//! public holidays of the region (US, EU, Japan, Australia; business 30-70%, consumer 100-130%),
//! a late-December dip (from Dec 18 down to 40-75% by Dec 24, back a quarter of the way on Jan
//! 2, then linearly to normal over 2-6 weeks), a European August at 75-95%, and batch exports,
//! +1-4× the level on the month's last day or last business day (10% of months slip to the 1st)
//! and a further +2-6× at quarter-ends: the data account's main region (monthly, half on the
//! last business day; quarter-end), the analytics account's (monthly; half with quarter-end),
//! two other busy internet series (monthly), half the time one with quarter-end exports only,
//! and two inter-region backups (monthly). GET requests follow their internet traffic, batch
//! exports at a twentieth of the requests per GB (big objects). The noise: an i.i.d. Student-t
//! day noise (3-6 degrees of freedom, log scale), its standard deviation by size (5-12% from
//! 1000 GB a day, 7-18% from 30 GB, else 10-25%), times a slow AR(1) wander (ρ 0.9, standard
//! deviation 1-5%). The fat tails are the only legitimate outlier days: a t(3) day at 20% is
//! ×1.7 about once in 100 days, and such days are not thefts (there is no separate "legitimate
//! ×1.5 outlier" process).
//!
//! Legitimate changes, each labelled: 4 permanent steps (3 up ×1.4-3, one down ×0.4-0.7) on
//! internet or inter-region series, 2 announced migrations (85-100% of an account's traffic in
//! one region moves to another over 1-7 days), 3 quiet regions that become active (to 5-500
//! GB/day over 1-21 days), and the new account. Cost Explorer leaves 3 outages of 1-2 days
//! unanswered (missing from `known_days`) and refuses about one series-day in 700 (`gaps`);
//! neither falls on a theft day (a theft no one could see is not scored). Zero days are absent
//! from `values`, as the store builds them.
//!
//! 37 thefts per seed, from day 140 on (2023-11-18), each at least 14 days from another on the
//! same account and region and clear of legitimate changes there (`[change − 14, change + 60]`):
//! - 8 single-day bursts ×1.3-1.5 of the day's value (one on a public holiday of its region);
//! - 4 single-day bursts ×2 (one on Christmas Day), 4 single-day bursts ×3-10;
//! - 9 drips of +10-40% over 7-21 days (flat, or a linear ramp up to that level);
//! - 2 ×2 thefts on a batch-export day (one month-end, one quarter-end where a series has one);
//! - 6 multi-day exfiltrations, 2-5 days at ×1.5-4 (half of them starting on a Friday or
//!   Saturday);
//! - 4 bursts of 20-300 GB/day for 1-3 days from a quiet region.
//!
//! Internet and inter-region thefts read objects, so they also raise the account and region's
//! GET requests where that series exists; 15% of bursts are GET floods of small objects (10-100
//! KB) that add bytes to internet-out. A theft is *worth ≥ $1* when its excess cost, summed over
//! the series it touches, is at least $1 on its worst day.
//!
//! # The detectors
//!
//! - `egresswatch`: the daily job's verdict for every day from day 120 (2023-10-29), each with
//!   only the data up to it, with `DetectSettings::default()`: history from each account's first
//!   day, z ≥ 4 or the drift test, gates ≥ 10 GB (≥ 1M requests), ≥ $1 and ≥ 25% over expected
//!   (a drift: 10 GB and $1 in all since it began), BH at 1%.
//! - `mean+3σ`: flag if the day exceeds the mean plus three standard deviations of the 28
//!   days before it (the same history: unanswered and refused days skipped, zero days zero).
//! - `weekday MAD`: [`SeasonalMad`] through [`Detector`], the median of the same weekday over 8
//!   weeks plus 3 robust σ (1.4826 MAD, floored at 5% of the median).
//!
//! Both baselines apply the same materiality gates (GB or requests, $1), with and without the
//! percent gate (the default, 25%), and no BH (they have no p-value); their flagged days are grouped the same way.
//!
//! # The metrics
//!
//! Incidents are grouped as `backfill` groups them: a series' incident whose start is at most
//! 2 days after the last day of an earlier one continues it.
//! - *Recall*: a theft is detected if an incident on a series it touches is reported on a day in
//!   `[start, end + 2]`; per kind, all thefts, and thefts worth ≥ $1 (target ≥ 90%).
//! - *False incidents per series-year* (target ≤ 0.5): grouped incidents touching no theft
//!   window of their series and not starting within a legitimate change's allowance `[change,
//!   change + 14]`, over the series-days scored (answered, not refused, account started). Each
//!   is put down to the first matching cause: new-account ramp (up to 60 days after the ramp),
//!   quiet region waking or migration/step (within 60 days), quarter-end or month-end (the last
//!   3 days or the 1st), Jan 2-Feb 15 recovery, holiday (holiday to holiday + 2, or Dec 18-Jan
//!   1), other with an unanswered or refused day in the 120 days before it, other; all by the
//!   incident's first day; for egresswatch also by the evidence of its first report (drift or
//!   spike). `--false` lists them.
//! - *Alerts per step* (target ≤ 1): grouped incidents on the series of a rising legitimate
//!   change (step up, migration destination, waking region) overlapping `[change, change + 60]`.
//! - *Missed thefts worth ≥ $1*: for each, egresswatch's strongest verdict in the theft's window
//!   on every series it touches: score, observed against expected, the series' noise, and
//!   whether it was not significant, gated (which gate), or significant and material but not a
//!   discovery among the day's series (BH).
//!
//! The replay is one detector pass per series through [`evaluate_range`] (see `replay`), the
//! path backfill takes.

mod common;
use common::easter;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use egresswatch::detect::online::Evidence;
use egresswatch::detect::seasonal_mad::SeasonalMad;
use egresswatch::detect::thresholds::Materiality;
use egresswatch::detect::{self, evaluate_range, DayOutcome, DetectSettings, Detector};
use egresswatch::model::usage_type::classify;
use egresswatch::model::{DayValue, Family, Series, SeriesKey, SeriesSet};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, StudentT};

/// Seeds run when none are given.
const DEFAULT_SEEDS: [u64; 4] = [1, 2, 3, 4];
/// The first day of every bill, and its length.
const FIRST_DAY: (i32, u32, u32) = (2023, 7, 1);
const MONTHS: u32 = 30;
/// The first day replayed (the detector's 120 days of history are there by then).
const SCORE_FROM: usize = 120;
/// Thefts start at or after this day.
const THEFT_FROM: usize = 140;
/// A theft may be caught up to this many days after its last day.
const GRACE: usize = 2;
/// Days kept between two thefts' windows on one account and region.
const THEFT_SPACING: usize = 14;
/// Legitimate changes: an incident starting in `[change, change + ALLOWANCE]` is forgiven...
const ALLOWANCE: usize = 14;
/// ...and incidents over `[change, change + HORIZON]` are the change's alerts.
const HORIZON: usize = 60;
/// Thefts keep this many days before a legitimate change on their account and region.
const CLEAR_BEFORE: usize = 14;
/// Legitimate changes happen in `[CHANGE_FROM, days − HORIZON)`, 90 days apart on one pair.
const CHANGE_FROM: usize = 150;
const CHANGE_SPACING: usize = 90;
/// A false incident up to this many days after a holiday is put down to it.
const HOLIDAY_AFTER: usize = 2;
/// Days a theft's series must have been active (or quiet, for quiet-region thefts) around it.
const SETTLED: usize = 30;
/// A theft is worth ≥ this many dollars on its worst day to count in the main recall figure.
const WORTH_USD: f64 = 1.0;
/// The trailing baseline: window and standard deviations.
const TRAILING: usize = 28;
const TRAILING_SIGMAS: f64 = 3.0;
/// The seasonal baseline: same weekday over 8 weeks, 3 robust σ.
const MAD: SeasonalMad = SeasonalMad {
    weeks: 8,
    min_points: 4,
    threshold: 3.0,
};
const MAD_HISTORY_DAYS: i64 = 56;
/// GB and requests in a day's free tier and price tiers (GB of month-to-date volume).
const FREE_GB: f64 = 100.0;
const TIER_GB: [f64; 3] = [10_240.0, 51_200.0, 153_600.0];
/// `DetectSettings::default().history_days`: the window a day is judged from.
const HISTORY_DAYS: usize = 120;
const COMMAND: &str = "cargo bench --profile dev --bench bill";

// ---------------------------------------------------------------------------------------------
// Calendar
// ---------------------------------------------------------------------------------------------

/// Which public holidays a region keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HolidayGroup {
    Us,
    Eu,
    Jp,
    Au,
}

impl HolidayGroup {
    const ALL: [HolidayGroup; 4] = [
        HolidayGroup::Us,
        HolidayGroup::Eu,
        HolidayGroup::Jp,
        HolidayGroup::Au,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Use1,
    Usw2,
    Euw1,
    Euc1,
    Apn1,
    Aps2,
}

impl Region {
    const ALL: [Region; 6] = [
        Region::Use1,
        Region::Usw2,
        Region::Euw1,
        Region::Euc1,
        Region::Apn1,
        Region::Aps2,
    ];

    /// The usage-type prefix.
    fn code(self) -> &'static str {
        match self {
            Region::Use1 => "USE1",
            Region::Usw2 => "USW2",
            Region::Euw1 => "EU",
            Region::Euc1 => "EUC1",
            Region::Apn1 => "APN1",
            Region::Aps2 => "APS2",
        }
    }

    fn holidays(self) -> HolidayGroup {
        match self {
            Region::Use1 | Region::Usw2 => HolidayGroup::Us,
            Region::Euw1 | Region::Euc1 => HolidayGroup::Eu,
            Region::Apn1 => HolidayGroup::Jp,
            Region::Aps2 => HolidayGroup::Au,
        }
    }

    fn is_eu(self) -> bool {
        self.holidays() == HolidayGroup::Eu
    }

    /// $/GB to the internet in each tier.
    fn internet_tiers(self) -> [f64; 4] {
        match self {
            Region::Apn1 => [0.114, 0.089, 0.086, 0.084],
            Region::Aps2 => [0.114, 0.098, 0.094, 0.092],
            _ => [0.09, 0.085, 0.07, 0.05],
        }
    }

    /// $/GB to another region.
    fn inter_region_price(self) -> f64 {
        match self {
            Region::Apn1 => 0.09,
            Region::Aps2 => 0.098,
            _ => 0.02,
        }
    }

    /// $ per GET request.
    fn get_price(self) -> f64 {
        let per_thousand = match self {
            Region::Euc1 => 0.00043,
            Region::Apn1 => 0.00037,
            Region::Aps2 => 0.00044,
            _ => 0.0004,
        };
        per_thousand / 1000.0
    }
}

struct Calendar {
    days: Vec<NaiveDate>,
    /// Per holiday group, per day: the holiday's name.
    holidays: Vec<Vec<Option<&'static str>>>,
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

fn nth_weekday(y: i32, m: u32, w: Weekday, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(y, m, w, n).expect("a valid weekday of the month")
}

fn last_monday_of_may(y: i32) -> NaiveDate {
    (25..=31)
        .rev()
        .map(|d| ymd(y, 5, d))
        .find(|d| d.weekday() == Weekday::Mon)
        .expect("May ends with a Monday in its last week")
}

fn holidays_of(group: HolidayGroup, y: i32) -> Vec<(NaiveDate, &'static str)> {
    let e = easter(y);
    match group {
        HolidayGroup::Us => {
            let thanksgiving = nth_weekday(y, 11, Weekday::Thu, 4);
            vec![
                (ymd(y, 1, 1), "New Year's Day"),
                (nth_weekday(y, 1, Weekday::Mon, 3), "MLK Day"),
                (nth_weekday(y, 2, Weekday::Mon, 3), "Presidents' Day"),
                (last_monday_of_may(y), "Memorial Day"),
                (ymd(y, 6, 19), "Juneteenth"),
                (ymd(y, 7, 4), "Independence Day"),
                (nth_weekday(y, 9, Weekday::Mon, 1), "Labor Day"),
                (thanksgiving, "Thanksgiving"),
                (thanksgiving + Days::new(1), "Black Friday"),
                (ymd(y, 12, 24), "Christmas Eve"),
                (ymd(y, 12, 25), "Christmas Day"),
                (ymd(y, 12, 31), "New Year's Eve"),
            ]
        }
        HolidayGroup::Eu => vec![
            (ymd(y, 1, 1), "New Year's Day"),
            (e - Days::new(2), "Good Friday"),
            (e + Days::new(1), "Easter Monday"),
            (ymd(y, 5, 1), "May Day"),
            (e + Days::new(39), "Ascension"),
            (e + Days::new(50), "Whit Monday"),
            (ymd(y, 12, 24), "Christmas Eve"),
            (ymd(y, 12, 25), "Christmas Day"),
            (ymd(y, 12, 26), "Boxing Day"),
            (ymd(y, 12, 31), "New Year's Eve"),
        ],
        HolidayGroup::Jp => vec![
            (ymd(y, 1, 1), "Shōgatsu"),
            (ymd(y, 1, 2), "Shōgatsu"),
            (ymd(y, 1, 3), "Shōgatsu"),
            (nth_weekday(y, 1, Weekday::Mon, 2), "Coming of Age Day"),
            (ymd(y, 4, 29), "Golden Week"),
            (ymd(y, 5, 3), "Golden Week"),
            (ymd(y, 5, 4), "Golden Week"),
            (ymd(y, 5, 5), "Golden Week"),
            (ymd(y, 8, 13), "Obon"),
            (ymd(y, 8, 14), "Obon"),
            (ymd(y, 8, 15), "Obon"),
            (ymd(y, 12, 29), "Year-end"),
            (ymd(y, 12, 30), "Year-end"),
            (ymd(y, 12, 31), "Year-end"),
        ],
        HolidayGroup::Au => vec![
            (ymd(y, 1, 1), "New Year's Day"),
            (ymd(y, 1, 26), "Australia Day"),
            (e - Days::new(2), "Good Friday"),
            (e + Days::new(1), "Easter Monday"),
            (ymd(y, 4, 25), "Anzac Day"),
            (ymd(y, 12, 25), "Christmas Day"),
            (ymd(y, 12, 26), "Boxing Day"),
        ],
    }
}

impl Calendar {
    fn new() -> Self {
        let first = ymd(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2);
        let end = first
            .checked_add_months(Months::new(MONTHS))
            .expect("a valid end");
        let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d < end).collect();
        let holidays = HolidayGroup::ALL
            .iter()
            .map(|g| {
                let list: Vec<_> = (first.year()..=end.year())
                    .flat_map(|y| holidays_of(*g, y))
                    .collect();
                days.iter()
                    .map(|d| list.iter().find(|(h, _)| h == d).map(|(_, n)| *n))
                    .collect()
            })
            .collect();
        Calendar { days, holidays }
    }

    fn len(&self) -> usize {
        self.days.len()
    }

    fn holiday(&self, region: Region, i: usize) -> Option<&'static str> {
        self.holidays[region.holidays().index()][i]
    }

    fn weekend(&self, i: usize) -> bool {
        matches!(self.days[i].weekday(), Weekday::Sat | Weekday::Sun)
    }

    fn month_last(&self, i: usize) -> bool {
        let d = self.days[i];
        d.succ_opt().is_none_or(|n| n.month() != d.month())
    }

    /// One of the last `n` days of a month.
    fn month_end_within(&self, i: usize, n: u32) -> bool {
        let d = self.days[i];
        let last = d
            .with_day(1)
            .and_then(|f| f.checked_add_months(Months::new(1)))
            .and_then(|f| f.pred_opt())
            .expect("a month has a last day");
        last.day() - d.day() < n
    }

    fn quarter_month(&self, i: usize) -> bool {
        self.days[i].month().is_multiple_of(3)
    }

    /// The last weekday of its month.
    fn last_business_day(&self, i: usize) -> bool {
        if self.weekend(i) {
            return false;
        }
        let d = self.days[i];
        d.iter_days()
            .skip(1)
            .take_while(|n| n.month() == d.month())
            .all(|n| matches!(n.weekday(), Weekday::Sat | Weekday::Sun))
    }

    /// A month boundary: one of the last 3 days of a month or its 1st.
    fn month_boundary(&self, i: usize) -> bool {
        self.month_end_within(i, 3) || self.days[i].day() == 1
    }

    /// A quarter boundary: one of the last 3 days of Mar/Jun/Sep/Dec or Jan/Apr/Jul/Oct 1st.
    fn quarter_boundary(&self, i: usize) -> bool {
        let d = self.days[i];
        (self.month_end_within(i, 3) && d.month().is_multiple_of(3))
            || (d.day() == 1 && d.month() % 3 == 1)
    }

    /// Jan 2 to Feb 15: the recovery from the December dip.
    fn january_recovery(&self, i: usize) -> bool {
        let d = self.days[i];
        (d.month() == 1 && d.day() >= 2) || (d.month() == 2 && d.day() <= 15)
    }

    /// Dec 18 to Jan 1.
    fn year_end(&self, i: usize) -> bool {
        let d = self.days[i];
        (d.month() == 12 && d.day() >= 18) || (d.month() == 1 && d.day() == 1)
    }
}

// ---------------------------------------------------------------------------------------------
// The organisation
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    Web,
    Data,
    Analytics,
    Media,
    Dev,
    New,
}

/// The six accounts: id, name, character.
const ACCOUNTS: [(&str, &str, Profile); 6] = [
    ("401762384519", "prod-web", Profile::Web),
    ("512093847261", "prod-data", Profile::Data),
    ("623481957302", "analytics", Profile::Analytics),
    ("734590216843", "media", Profile::Media),
    ("845601327954", "dev-sandbox", Profile::Dev),
    ("956712438065", "ml-platform", Profile::New),
];

struct Account {
    id: &'static str,
    name: &'static str,
    profile: Profile,
    /// First day billed (0 for all but the new account).
    start: usize,
    /// The ramp-up: `[start, ramp_end]`.
    ramp_end: usize,
}

impl Account {
    /// Share of its eventual traffic the account has on day `i` (a smooth ramp after a week or
    /// two of testing).
    fn ramp(&self, i: usize, test_days: usize) -> f64 {
        if i < self.start {
            return 0.0;
        }
        if self.start == 0 {
            return 1.0;
        }
        let ramp_from = self.start + test_days;
        if i < ramp_from {
            return 0.02;
        }
        let x = ((i - ramp_from) as f64 / (self.ramp_end - ramp_from).max(1) as f64).min(1.0);
        0.02 + 0.98 * x * x * (3.0 - 2.0 * x)
    }
}

/// A series' role in its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Primary,
    Secondary,
    Quiet,
}

/// The deterministic part of a series: level, growth, week, holidays, December, August.
#[derive(Debug, Clone)]
struct Shape {
    base: f64,
    weekly: [f64; 7],
    /// Continuous growth rates per year, before and after `change`.
    rates: (f64, f64),
    change: usize,
    holiday: f64,
    dip: f64,
    recover_days: u32,
    august: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Character {
    Business,
    Consumer,
    Replication,
}

/// A range of GB a day, drawn log-uniformly.
type Band = (f64, f64);

fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    rng.random_range(lo.ln()..hi.ln()).exp()
}

fn growth_rate(rng: &mut StdRng) -> f64 {
    (1.0 + rng.random_range(-0.3..0.8f64)).ln()
}

impl Shape {
    fn new(rng: &mut StdRng, base: f64, character: Character, days: usize) -> Self {
        let (weekend, holiday, dip, recover_days, august) = match character {
            Character::Business => (
                rng.random_range(0.25..0.8),
                rng.random_range(0.3..0.7),
                rng.random_range(0.4..0.75),
                rng.random_range(14..=40),
                rng.random_range(0.75..0.95),
            ),
            Character::Consumer => (
                rng.random_range(1.05..1.4),
                rng.random_range(1.0..1.3),
                rng.random_range(0.85..1.05),
                rng.random_range(7..=20),
                rng.random_range(0.95..1.05),
            ),
            Character::Replication => (
                rng.random_range(0.6..1.0),
                rng.random_range(0.7..1.0),
                rng.random_range(0.7..0.95),
                rng.random_range(10..=30),
                rng.random_range(0.9..1.0),
            ),
        };
        let weekly = match character {
            Character::Consumer => [1.0, 0.97, 0.96, 0.99, 1.04, weekend, weekend * 0.97],
            _ => [
                1.05,
                1.04,
                1.02,
                1.0,
                0.93,
                weekend,
                weekend * rng.random_range(0.85..1.05),
            ],
        };
        Shape {
            base,
            weekly,
            rates: (growth_rate(rng), growth_rate(rng)),
            change: rng.random_range(0..days),
            holiday,
            dip,
            recover_days,
            august,
        }
    }

    /// The level on day `i`: base and growth only.
    fn level(&self, i: usize) -> f64 {
        let before = i.min(self.change) as f64 / 365.0;
        let after = i.saturating_sub(self.change) as f64 / 365.0;
        self.base * (self.rates.0 * before + self.rates.1 * after).exp()
    }

    /// The expected value of day `i` in `region`.
    fn day(&self, cal: &Calendar, region: Region, i: usize) -> f64 {
        let d = cal.days[i];
        let mut v = self.level(i) * self.weekly[d.weekday().num_days_from_monday() as usize];
        if cal.holiday(region, i).is_some() {
            v *= self.holiday;
        }
        v *= year_end_factor(d, self.dip, self.recover_days);
        if region.is_eu() {
            v *= august_factor(d, self.august);
        }
        v
    }
}

/// The late-December dip: down from Dec 18 to `depth` by Dec 24, flat to Jan 1, then a quarter
/// of the way back on Jan 2 and linearly to normal over `recover_days`.
fn year_end_factor(d: NaiveDate, depth: f64, recover_days: u32) -> f64 {
    let (m, day) = (d.month(), d.day());
    if m == 12 && day >= 18 {
        if day >= 24 {
            depth
        } else {
            1.0 - (1.0 - depth) * f64::from(day - 17) / 7.0
        }
    } else if m == 1 && day == 1 {
        depth
    } else {
        let k = (d - ymd(d.year(), 1, 2)).num_days();
        if (0..i64::from(recover_days)).contains(&k) {
            let from = depth + 0.25 * (1.0 - depth);
            from + (1.0 - from) * k as f64 / f64::from(recover_days)
        } else {
            1.0
        }
    }
}

/// A European August: down to `a` from the 6th to the 25th, with five-day ramps.
fn august_factor(d: NaiveDate, a: f64) -> f64 {
    if d.month() != 8 {
        return 1.0;
    }
    let x = match d.day() {
        1..=5 => f64::from(d.day()) / 6.0,
        6..=25 => 1.0,
        k => f64::from(32 - k) / 7.0,
    };
    1.0 - (1.0 - a) * x
}

/// Day noise and slow wander, as multipliers, for a series of `base` GB a day: big series are
/// smoother (standard deviation 5-12% from 1000 GB a day, 7-18% from 30 GB, else 10-25%).
fn noise(rng: &mut StdRng, days: usize, base: f64) -> (Vec<f64>, f64) {
    let (lo, hi) = if base >= 1000.0 {
        (0.05, 0.12)
    } else if base >= 30.0 {
        (0.07, 0.18)
    } else {
        (0.10, 0.25)
    };
    let sd = log_uniform(rng, lo, hi);
    let df: f64 = [3.0, 4.0, 5.0, 6.0][rng.random_range(0..4)];
    let wander = rng.random_range(0.01..0.05);
    let rho: f64 = 0.9;
    let t = StudentT::new(df).expect("valid degrees of freedom");
    let unit = ((df - 2.0) / df).sqrt();
    let normal = Normal::new(0.0, 1.0).expect("valid normal");
    let innovation = wander * (1.0 - rho * rho).sqrt();
    let mut a = 0.0;
    let out = (0..days)
        .map(|_| {
            a = rho * a + innovation * normal.sample(rng);
            let e = (sd * unit * t.sample(rng)).clamp(-6.0 * sd, 6.0 * sd);
            (a + e).exp()
        })
        .collect();
    (out, sd)
}

/// Batch exports of a series.
#[derive(Debug, Clone, Default)]
struct BatchPlan {
    /// ×(1 + factor) of the level on the month's batch day; on the last business day or not.
    monthly: Option<(f64, bool)>,
    /// A further factor × the level on the quarter's last day.
    quarterly: Option<f64>,
}

impl BatchPlan {
    fn any(&self) -> bool {
        self.monthly.is_some() || self.quarterly.is_some()
    }
}

/// Legitimate changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChangeKind {
    StepUp,
    StepDown,
    MigrationIn,
    MigrationOut,
    Waking,
}

impl ChangeKind {
    fn rising(self) -> bool {
        matches!(
            self,
            ChangeKind::StepUp | ChangeKind::MigrationIn | ChangeKind::Waking
        )
    }

    fn label(self) -> &'static str {
        match self {
            ChangeKind::StepUp => "step up",
            ChangeKind::StepDown => "step down",
            ChangeKind::MigrationIn => "migration (destination)",
            ChangeKind::MigrationOut => "migration (source)",
            ChangeKind::Waking => "quiet region waking",
        }
    }
}

#[derive(Debug, Clone)]
struct Change {
    kind: ChangeKind,
    day: usize,
    pair: usize,
    /// Series whose level it changes.
    series: Vec<usize>,
}

/// The kinds of theft: each is one column of the recall table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    BurstSmall,
    Burst2,
    BurstBig,
    Drip,
    BatchDay,
    MultiDay,
    Quiet,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::BurstSmall,
        Kind::Burst2,
        Kind::BurstBig,
        Kind::Drip,
        Kind::BatchDay,
        Kind::MultiDay,
        Kind::Quiet,
    ];

    /// How many of each kind a bill gets (37).
    fn planted(self) -> usize {
        match self {
            Kind::BurstSmall => 8,
            Kind::Burst2 => 4,
            Kind::BurstBig => 4,
            Kind::Drip => 9,
            Kind::BatchDay => 2,
            Kind::MultiDay => 6,
            Kind::Quiet => 4,
        }
    }

    fn column(self) -> &'static str {
        match self {
            Kind::BurstSmall => "×1.3-1.5",
            Kind::Burst2 => "×2",
            Kind::BurstBig => "×3-10",
            Kind::Drip => "drip",
            Kind::BatchDay => "batch×2",
            Kind::MultiDay => "multi",
            Kind::Quiet => "quiet",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A planted theft.
#[derive(Debug, Clone)]
struct Theft {
    kind: Kind,
    /// The series it touches, the primary one first.
    series: Vec<usize>,
    start: usize,
    end: usize,
    /// Multiplier (bursts), relative rise (drips) or GB a day (quiet).
    magnitude: f64,
    ramp: bool,
    /// Excess usage per touched series (same order), per day of `start..=end`.
    excess: Vec<Vec<f64>>,
    /// Excess $ on its worst day (over every touched series) and that day.
    worst_usd: f64,
    worst_day: usize,
    total_gb: f64,
    note: Option<&'static str>,
}

impl Theft {
    fn window(&self) -> (usize, usize) {
        (self.start, self.end + GRACE)
    }

    fn worth(&self) -> bool {
        self.worst_usd >= WORTH_USD
    }

    fn describe(&self) -> String {
        let days = self.end - self.start + 1;
        match self.kind {
            Kind::BurstSmall | Kind::Burst2 | Kind::BurstBig | Kind::BatchDay => {
                format!("burst ×{:.2}", self.magnitude)
            }
            Kind::MultiDay => format!("×{:.1} for {days} days", self.magnitude),
            Kind::Drip => format!(
                "drip +{:.0}% over {days} days{}",
                self.magnitude * 100.0,
                if self.ramp { " (ramp)" } else { "" }
            ),
            Kind::Quiet => format!("{:.0} GB/day for {days} day(s)", self.magnitude),
        }
    }
}

/// One generated series with everything known about it.
struct Gen {
    key: SeriesKey,
    label: String,
    account: usize,
    pair: usize,
    region: Region,
    family: Family,
    role: Role,
    shape: Shape,
    /// Share of days with any usage while quiet.
    p_nonzero: f64,
    batch: BatchPlan,
    /// Days with a batch export (monthly or quarterly).
    batch_days: BTreeSet<usize>,
    quarter_days: BTreeSet<usize>,
    /// GET requests per GB of the pair's internet traffic.
    rpg: f64,
    noise_sd: f64,
    /// Without batches (internet-out: what drives GET requests).
    organic: Vec<f64>,
    /// Batch volume.
    batch_volume: Vec<f64>,
    /// Usage without thefts, and with.
    clean: Vec<f64>,
    values: Vec<f64>,
    /// $ per unit on each day.
    price: Vec<f64>,
    /// Days this series counts as quiet (a quiet region before it wakes or is migrated into).
    quiet_until: Option<usize>,
    /// Active until (a migration's source).
    active_until: Option<usize>,
}

impl Gen {
    fn unit(&self) -> &'static str {
        if self.family.is_bytes() {
            "GB"
        } else {
            "Requests"
        }
    }

    /// Active (a meaningful, settled level) over `[from, to]`.
    fn active_over(&self, acct: &Account, from: usize, to: usize) -> bool {
        if self.role == Role::Quiet && self.quiet_until.is_none_or(|q| from < q + SETTLED) {
            return false;
        }
        if self.active_until.is_some_and(|a| to + CLEAR_BEFORE >= a) {
            return false;
        }
        from >= acct.ramp_end + SETTLED
    }

    /// Quiet over `[from − SETTLED, to + SETTLED]`.
    fn quiet_over(&self, acct: &Account, from: usize, to: usize) -> bool {
        self.role == Role::Quiet
            && self.quiet_until.is_none_or(|q| to + SETTLED < q)
            && from >= acct.ramp_end + SETTLED
    }
}

/// A whole generated bill.
struct Bill {
    seed: u64,
    accounts: Vec<Account>,
    series: Vec<Gen>,
    changes: Vec<Change>,
    thefts: Vec<Theft>,
    /// Planting attempts that found no place.
    unplaced: usize,
    unknown: BTreeSet<usize>,
    gaps: Vec<BTreeSet<usize>>,
    set: SeriesSet,
}

fn pick<T: Copy>(rng: &mut StdRng, v: &[T]) -> T {
    v[rng.random_range(0..v.len())]
}

fn shuffle<T>(rng: &mut StdRng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// Series `i`'s internet-out, inter-region and GET series ids, by pair.
struct Index {
    internet: Vec<usize>,
    inter_region: Vec<Option<usize>>,
    get: Vec<Option<usize>>,
}

fn generate(seed: u64, cal: &Calendar, with_gaps: bool) -> Bill {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = cal.len();

    // Accounts: the new one starts 14-16 months in and ramps over 3-8 weeks.
    let new_start = rng.random_range(425..=485);
    let new_ramp_end = new_start + rng.random_range(21..=56);
    let test_days = rng.random_range(7..=14);
    let accounts: Vec<Account> = ACCOUNTS
        .iter()
        .map(|&(id, name, profile)| {
            let (start, ramp_end) = if profile == Profile::New {
                (new_start, new_ramp_end)
            } else {
                (0, 0)
            };
            Account {
                id,
                name,
                profile,
                start,
                ramp_end,
            }
        })
        .collect();

    // Internet-out: one series per account and region, roles by the account's character.
    let mut series: Vec<Gen> = Vec::new();
    for (a, acct) in accounts.iter().enumerate() {
        let mut regions = Region::ALL;
        shuffle(&mut rng, &mut regions);
        let (character, primary, secondaries): (Character, Option<Band>, Vec<Band>) =
            match acct.profile {
                Profile::Web => (
                    Character::Business,
                    Some((5000.0, 40_000.0)),
                    vec![(50.0, 1000.0), (2.0, 30.0)],
                ),
                Profile::Data => (
                    Character::Business,
                    Some((200.0, 5000.0)),
                    vec![(30.0, 500.0)],
                ),
                Profile::Analytics => (Character::Business, Some((30.0, 800.0)), vec![(2.0, 30.0)]),
                Profile::Media => (
                    Character::Consumer,
                    Some((3000.0, 30_000.0)),
                    vec![(50.0, 1000.0), (50.0, 1000.0)],
                ),
                Profile::Dev => (Character::Business, None, vec![(1.0, 10.0)]),
                Profile::New => (
                    Character::Business,
                    Some((300.0, 6000.0)),
                    vec![(2.0, 30.0)],
                ),
            };
        let mut roles: Vec<(Role, f64)> = Vec::new();
        if let Some((lo, hi)) = primary {
            roles.push((Role::Primary, log_uniform(&mut rng, lo, hi)));
        }
        for (lo, hi) in secondaries {
            roles.push((Role::Secondary, log_uniform(&mut rng, lo, hi)));
        }
        while roles.len() < 6 {
            roles.push((Role::Quiet, log_uniform(&mut rng, 0.02, 1.0)));
        }
        let mut pairs: Vec<(Region, Role, f64)> = regions
            .iter()
            .zip(roles)
            .map(|(r, (role, base))| (*r, role, base))
            .collect();
        // Pairs in region order, so that series ids are stable by (account, region).
        pairs.sort_by_key(|(r, _, _)| Region::ALL.iter().position(|x| x == r));
        let us_prefixed = rng.random_bool(0.5);
        for (region, role, base) in pairs {
            let ch = if role == Role::Quiet {
                Character::Business
            } else {
                character
            };
            let mut shape = Shape::new(&mut rng, base, ch, n);
            if acct.profile == Profile::Dev && role != Role::Quiet {
                // Developers do not work weekends.
                shape.weekly[5] = rng.random_range(0.02..0.15);
                shape.weekly[6] = shape.weekly[5];
            }
            let usage_type = if region == Region::Use1 && !us_prefixed {
                "DataTransfer-Out-Bytes".to_string()
            } else {
                format!("{}-DataTransfer-Out-Bytes", region.code())
            };
            series.push(new_gen(
                &accounts,
                a,
                region,
                Family::InternetOut,
                role,
                shape,
                &usage_type,
                match role {
                    Role::Quiet => rng.random_range(0.2..1.0),
                    _ => 1.0,
                },
            ));
        }
    }
    let mut index = Index {
        internet: (0..36).collect(),
        inter_region: vec![None; 36],
        get: vec![None; 36],
    };

    // Inter-region (replication, backups) and GET series: 11 and 10 on active pairs, the rest
    // on quiet ones.
    let active_pairs: Vec<usize> = (0..36).filter(|p| series[*p].role != Role::Quiet).collect();
    let quiet_pairs: Vec<usize> = (0..36).filter(|p| series[*p].role == Role::Quiet).collect();
    for (family, active_count) in [(Family::InterRegionOut, 11), (Family::GetRequests, 10)] {
        let mut act = active_pairs.clone();
        shuffle(&mut rng, &mut act);
        let mut quiet = quiet_pairs.clone();
        shuffle(&mut rng, &mut quiet);
        let mut chosen: Vec<usize> = act.into_iter().take(active_count).collect();
        chosen.extend(quiet.into_iter().take(12 - active_count));
        chosen.sort_unstable();
        for p in chosen {
            let io = &series[p];
            let (a, region, role) = (io.account, io.region, io.role);
            let id = series.len();
            let g = if family == Family::InterRegionOut {
                let peers: Vec<Region> = Region::ALL
                    .iter()
                    .copied()
                    .filter(|r| *r != region)
                    .collect();
                let peer = pick(&mut rng, &peers);
                let base = io.shape.base * rng.random_range(0.05..0.5);
                let ch = if role == Role::Quiet {
                    Character::Business
                } else {
                    Character::Replication
                };
                let shape = Shape::new(&mut rng, base, ch, n);
                let p_nonzero = io.p_nonzero;
                index.inter_region[p] = Some(id);
                new_gen(
                    &accounts,
                    a,
                    region,
                    family,
                    role,
                    shape,
                    &format!("{}-{}-AWS-Out-Bytes", region.code(), peer.code()),
                    p_nonzero,
                )
            } else {
                let shape = io.shape.clone();
                let p_nonzero = io.p_nonzero;
                let usage_type = if region == Region::Use1 && rng.random_bool(0.5) {
                    "Requests-Tier2".to_string()
                } else {
                    format!("{}-Requests-Tier2", region.code())
                };
                index.get[p] = Some(id);
                let mut g = new_gen(
                    &accounts,
                    a,
                    region,
                    family,
                    role,
                    shape,
                    &usage_type,
                    p_nonzero,
                );
                g.rpg = log_uniform(&mut rng, 2_000.0, 200_000.0);
                g
            };
            series.push(g);
        }
    }
    assert_eq!(series.len(), 60);
    let series_of_pair = |index: &Index, p: usize| -> Vec<usize> {
        let mut v = vec![index.internet[p]];
        v.extend(index.inter_region[p]);
        v.extend(index.get[p]);
        v
    };

    // Batch exports.
    let mut active_io: Vec<usize> = active_pairs
        .iter()
        .copied()
        .filter(|p| accounts[series[*p].account].profile != Profile::Dev)
        .collect();
    shuffle(&mut rng, &mut active_io);
    for s in series.iter_mut().take(36) {
        let acct = &accounts[s.account];
        match (acct.profile, s.role) {
            (Profile::Data, Role::Primary) => {
                s.batch.monthly = Some((rng.random_range(1.0..3.0), rng.random_bool(0.5)));
                s.batch.quarterly = Some(rng.random_range(2.0..6.0));
            }
            (Profile::Analytics, Role::Primary) => {
                s.batch.monthly = Some((rng.random_range(2.0..4.0), false));
                if rng.random_bool(0.5) {
                    s.batch.quarterly = Some(rng.random_range(2.0..6.0));
                }
            }
            _ => {}
        }
    }
    let others: Vec<usize> = active_io
        .iter()
        .copied()
        .filter(|p| !series[*p].batch.any())
        .collect();
    for &p in others.iter().take(2) {
        series[p].batch.monthly = Some((rng.random_range(1.0..4.0), rng.random_bool(0.5)));
    }
    if let Some(&p) = others.get(2).filter(|_| rng.random_bool(0.5)) {
        series[p].batch.quarterly = Some(rng.random_range(2.0..6.0));
    }
    let mut iro: Vec<usize> = (36..48)
        .filter(|s| series[*s].role != Role::Quiet)
        .collect();
    shuffle(&mut rng, &mut iro);
    for &s in iro.iter().take(2) {
        series[s].batch.monthly = Some((rng.random_range(1.0..3.0), false));
    }

    // Legitimate changes: steps, migrations, waking regions.
    let mut changes: Vec<Change> = Vec::new();
    let last_change = n - HORIZON - 1;
    let pair_busy = |changes: &[Change], p: usize, day: usize| {
        changes
            .iter()
            .any(|c| c.pair == p && c.day.abs_diff(day) < CHANGE_SPACING)
    };
    // Steps: 3 up, 1 down, on active internet-out (70%) or inter-region series.
    let mut steps: Vec<(usize, usize, f64)> = Vec::new();
    for k in 0..4 {
        for _ in 0..200 {
            let s = if rng.random_bool(0.7) {
                pick(&mut rng, &active_io)
            } else {
                pick(&mut rng, &iro)
            };
            let day = rng.random_range(CHANGE_FROM..last_change);
            let g = &series[s];
            if day < accounts[g.account].ramp_end + HORIZON || pair_busy(&changes, g.pair, day) {
                continue;
            }
            let (kind, factor) = if k < 3 {
                (ChangeKind::StepUp, rng.random_range(1.4..3.0))
            } else {
                (ChangeKind::StepDown, rng.random_range(0.4..0.7))
            };
            let mut touched = vec![s];
            if g.family == Family::InternetOut {
                touched.extend(index.get[g.pair]);
            }
            changes.push(Change {
                kind,
                day,
                pair: g.pair,
                series: touched,
            });
            steps.push((s, day, factor));
            break;
        }
    }
    // Migrations: an account's traffic in one region moves to another of its regions.
    let mut migrations: Vec<(usize, usize, usize, usize, f64)> = Vec::new();
    for _ in 0..2 {
        for _ in 0..200 {
            let src = pick(&mut rng, &active_io);
            let a = series[src].account;
            if accounts[a].profile == Profile::New {
                continue;
            }
            let dests: Vec<usize> = (a * 6..a * 6 + 6)
                .filter(|p| *p != src && series[*p].role != Role::Primary)
                .collect();
            let dst = pick(&mut rng, &dests);
            let day = rng.random_range(CHANGE_FROM..last_change);
            if pair_busy(&changes, src, day) || pair_busy(&changes, dst, day) {
                continue;
            }
            let len = rng.random_range(1..=7);
            let share = rng.random_range(0.85..1.0);
            changes.push(Change {
                kind: ChangeKind::MigrationOut,
                day,
                pair: src,
                series: series_of_pair(&index, src)
                    .into_iter()
                    .filter(|s| series[*s].family != Family::InterRegionOut)
                    .collect(),
            });
            changes.push(Change {
                kind: ChangeKind::MigrationIn,
                day,
                pair: dst,
                series: series_of_pair(&index, dst)
                    .into_iter()
                    .filter(|s| series[*s].family != Family::InterRegionOut)
                    .collect(),
            });
            migrations.push((src, dst, day, len, share));
            if series[dst].role == Role::Quiet {
                series[dst].quiet_until = Some(day);
                if let Some(g) = index.get[dst] {
                    series[g].quiet_until = Some(day);
                }
            }
            series[src].active_until = Some(day);
            if let Some(g) = index.get[src] {
                series[g].active_until = Some(day);
            }
            break;
        }
    }
    // Quiet regions that become active.
    let mut wakes: Vec<(usize, usize, usize, Shape)> = Vec::new();
    for _ in 0..3 {
        for _ in 0..200 {
            let p = pick(&mut rng, &quiet_pairs);
            let g = &series[p];
            let day = rng.random_range(CHANGE_FROM..last_change);
            if g.quiet_until.is_some()
                || day < accounts[g.account].ramp_end + HORIZON
                || pair_busy(&changes, p, day)
            {
                continue;
            }
            let base = log_uniform(&mut rng, 5.0, 500.0);
            let shape = Shape::new(&mut rng, base, Character::Business, n);
            let len = rng.random_range(1..=21);
            changes.push(Change {
                kind: ChangeKind::Waking,
                day,
                pair: p,
                series: series_of_pair(&index, p)
                    .into_iter()
                    .filter(|s| series[*s].family != Family::InterRegionOut)
                    .collect(),
            });
            series[p].quiet_until = Some(day);
            if let Some(gs) = index.get[p] {
                series[gs].quiet_until = Some(day);
            }
            wakes.push((p, day, len, shape));
            break;
        }
    }

    // Signals: organic traffic (shape × account ramp × steps), then wakes and migrations, then
    // batch exports; GET requests follow their pair's internet traffic.
    let step_factor = |s: usize, i: usize| -> f64 {
        steps
            .iter()
            .filter(|(t, day, _)| *t == s && i >= *day)
            .map(|(_, _, f)| *f)
            .product()
    };
    let organic: Vec<Vec<f64>> = series[..48]
        .iter()
        .enumerate()
        .map(|(s, g)| {
            let acct = &accounts[g.account];
            (0..n)
                .map(|i| {
                    g.shape.day(cal, g.region, i) * acct.ramp(i, test_days) * step_factor(s, i)
                })
                .collect()
        })
        .collect();
    for (g, o) in series.iter_mut().zip(organic) {
        g.organic = o;
    }
    for (p, day, len, shape) in &wakes {
        let g = &mut series[*p];
        for i in *day..n {
            let x = ((i - day + 1) as f64 / *len as f64).min(1.0);
            g.organic[i] += x * shape.day(cal, g.region, i);
        }
    }
    // What is left of a migration source's traffic (its batch exports shrink with it).
    let mut keep = vec![vec![1.0; n]; 48];
    for &(src, dst, day, len, share) in &migrations {
        for (i, k) in keep[src].iter_mut().enumerate().skip(day) {
            let x = share * ((i - day + 1) as f64 / len as f64).min(1.0);
            let moved = x * series[src].organic[i];
            series[src].organic[i] -= moved;
            series[dst].organic[i] += moved;
            *k = 1.0 - x;
        }
    }
    for s in 0..48 {
        let mut volume = vec![0.0; n];
        let plan = series[s].batch.clone();
        if plan.any() {
            let g = &series[s];
            let acct = &accounts[g.account];
            let level = |i: usize| {
                g.shape.level(i) * acct.ramp(i, test_days) * step_factor(s, i) * keep[s][i]
            };
            let (mut days, mut quarter) = (BTreeSet::new(), BTreeSet::new());
            let slip = |rng: &mut StdRng, i: usize| {
                if rng.random_bool(0.1) && i + 1 < n {
                    i + 1
                } else {
                    i
                }
            };
            for last in (0..n).filter(|i| cal.month_last(*i)) {
                if let Some((factor, business)) = plan.monthly {
                    let mut day = last;
                    if business {
                        while !cal.last_business_day(day) {
                            day -= 1;
                        }
                    }
                    let day = slip(&mut rng, day);
                    volume[day] += factor * level(day);
                    days.insert(day);
                }
                if let (Some(factor), true) = (plan.quarterly, cal.quarter_month(last)) {
                    let day = slip(&mut rng, last);
                    volume[day] += factor * level(day);
                    days.insert(day);
                    quarter.insert(day);
                }
            }
            series[s].batch_days = days;
            series[s].quarter_days = quarter;
        }
        series[s].batch_volume = volume;
    }
    for s in 48..60 {
        let io = &series[index.internet[series[s].pair]];
        let rpg = series[s].rpg;
        let organic: Vec<f64> = io.organic.iter().map(|v| v * rpg).collect();
        let volume: Vec<f64> = io.batch_volume.iter().map(|v| v * rpg / 20.0).collect();
        let (days, quarter) = (io.batch_days.clone(), io.quarter_days.clone());
        series[s].batch_days = days;
        series[s].quarter_days = quarter;
        series[s].organic = organic;
        series[s].batch_volume = volume;
    }

    // Noise; quiet regions have usage on only some days (one draw per account and region).
    let silent: Vec<Vec<bool>> = (0..36)
        .map(|p| {
            let g = &series[p];
            (0..n)
                .map(|i| {
                    g.role == Role::Quiet
                        && g.quiet_until.is_none_or(|q| i < q)
                        && !rng.random_bool(g.p_nonzero)
                })
                .collect()
        })
        .collect();
    for g in series.iter_mut() {
        let (mult, sd) = noise(&mut rng, n, g.shape.base);
        g.noise_sd = sd;
        g.clean = (0..n)
            .map(|i| {
                if silent[g.pair][i] {
                    0.0
                } else {
                    (g.organic[i] + g.batch_volume[i]) * mult[i]
                }
            })
            .collect();
        g.values = g.clean.clone();
    }

    // Thefts.
    let mut thefts: Vec<Theft> = Vec::new();
    let mut unplaced = 0;
    let christmas: Vec<usize> = (THEFT_FROM..n - 3)
        .filter(|i| cal.days[*i].month() == 12 && cal.days[*i].day() == 25)
        .collect();
    for kind in Kind::ALL {
        for nth in 0..kind.planted() {
            match plant(
                &mut rng, cal, &accounts, &series, &index, &changes, &thefts, &christmas, kind, nth,
            ) {
                Some(t) => thefts.push(t),
                None => unplaced += 1,
            }
        }
    }
    for t in &thefts {
        for (k, s) in t.series.iter().enumerate() {
            for (d, e) in t.excess[k].iter().enumerate() {
                series[*s].values[t.start + d] += e;
            }
        }
    }

    // Prices: internet-out tiers by the organisation's month-to-date volume.
    let mut month_to_date = 0.0;
    let mut internet_price = vec![[0.0; 6]; n];
    for (i, prices) in internet_price.iter_mut().enumerate() {
        if cal.days[i].day() == 1 {
            month_to_date = 0.0;
        }
        let today: f64 = series[..36].iter().map(|g| g.values[i]).sum();
        for (r, region) in Region::ALL.iter().enumerate() {
            prices[r] = tiered_cost(region.internet_tiers(), month_to_date, today)
                / today.max(f64::MIN_POSITIVE);
            if today == 0.0 {
                prices[r] = region.internet_tiers()[0];
            }
        }
        month_to_date += today;
    }
    for g in series.iter_mut() {
        let r = Region::ALL.iter().position(|x| *x == g.region).unwrap();
        g.price = (0..n)
            .map(|i| match g.family {
                Family::InternetOut => internet_price[i][r],
                Family::InterRegionOut => g.region.inter_region_price(),
                _ => g.region.get_price(),
            })
            .collect();
    }
    for t in thefts.iter_mut() {
        let (mut worst, mut worst_day) = (f64::MIN, t.start);
        for d in 0..=t.end - t.start {
            let usd: f64 = t
                .series
                .iter()
                .enumerate()
                .map(|(k, s)| t.excess[k][d] * series[*s].price[t.start + d])
                .sum();
            if usd > worst {
                (worst, worst_day) = (usd, t.start + d);
            }
        }
        t.worst_usd = worst;
        t.worst_day = worst_day;
        t.total_gb = t
            .series
            .iter()
            .enumerate()
            .filter(|(_, s)| series[**s].family.is_bytes())
            .map(|(k, _)| t.excess[k].iter().sum::<f64>())
            .sum();
    }

    // Days Cost Explorer did not answer (3 outages of 1-2 days) and refused groups (gaps), never
    // on a theft day.
    let theft_day = |s: Option<usize>, i: usize| {
        thefts
            .iter()
            .any(|t| (t.start..=t.end).contains(&i) && s.is_none_or(|s| t.series.contains(&s)))
    };
    let mut unknown = BTreeSet::new();
    let mut outages = 0;
    while outages < 3 {
        let day = rng.random_range(10..n - 2);
        let len = rng.random_range(1..=2);
        if (day..day + len).any(|i| theft_day(None, i) || unknown.contains(&i)) {
            continue;
        }
        unknown.extend(day..day + len);
        outages += 1;
    }
    let mut gaps: Vec<BTreeSet<usize>> = (0..series.len())
        .map(|s| {
            (0..n)
                .filter(|i| !unknown.contains(i) && !theft_day(Some(s), *i))
                .filter(|_| rng.random_bool(1.0 / 700.0))
                .collect()
        })
        .collect();
    if !with_gaps {
        unknown.clear();
        gaps.iter_mut().for_each(BTreeSet::clear);
    }

    let set = series_set(cal, &series, &unknown, &gaps);
    Bill {
        seed,
        accounts,
        series,
        changes,
        thefts,
        unplaced,
        unknown,
        gaps,
        set,
    }
}

/// The cost of `volume` GB past `before` GB this month, in a tiered price list (first
/// [`FREE_GB`] free).
fn tiered_cost(tiers: [f64; 4], before: f64, volume: f64) -> f64 {
    let bounds = [FREE_GB, TIER_GB[0], TIER_GB[1], TIER_GB[2], f64::INFINITY];
    let prices = [0.0, tiers[0], tiers[1], tiers[2], tiers[3]];
    let (lo, hi) = (before, before + volume);
    let mut cost = 0.0;
    let mut from = 0.0;
    for (bound, price) in bounds.iter().zip(prices) {
        let a = lo.max(from);
        let b = hi.min(*bound);
        if b > a {
            cost += (b - a) * price;
        }
        from = *bound;
    }
    cost
}

/// The bill as the detector reads it: zero days absent, unanswered days unknown, refused
/// series-days in `gaps`, each account's first day its first point.
fn series_set(
    cal: &Calendar,
    series: &[Gen],
    unknown: &BTreeSet<usize>,
    gaps: &[BTreeSet<usize>],
) -> SeriesSet {
    let mut set = SeriesSet {
        known_days: (0..cal.len())
            .filter(|i| !unknown.contains(i))
            .map(|i| cal.days[i])
            .collect(),
        ..Default::default()
    };
    for (s, g) in series.iter().enumerate() {
        let values: BTreeMap<NaiveDate, DayValue> = (0..cal.len())
            .filter(|i| !unknown.contains(i) && !gaps[s].contains(i) && g.values[*i] > 0.0)
            .map(|i| {
                (
                    cal.days[i],
                    DayValue {
                        usage: g.values[i],
                        cost_usd: g.values[i] * g.price[i],
                        estimated: false,
                    },
                )
            })
            .collect();
        if let Some(first) = values.keys().next() {
            let e = set
                .first_days
                .entry(g.key.account.clone())
                .or_insert(*first);
            *e = (*e).min(*first);
        }
        if !gaps[s].is_empty() {
            set.gaps.insert(
                g.key.clone(),
                gaps[s].iter().map(|i| cal.days[*i]).collect(),
            );
        }
        set.series.push(Series {
            key: g.key.clone(),
            unit: g.unit().to_string(),
            values,
        });
    }
    set
}

/// Place one theft of `kind` (the `nth` of its kind), or `None` if no place was found.
#[allow(clippy::too_many_arguments)]
fn plant(
    rng: &mut StdRng,
    cal: &Calendar,
    accounts: &[Account],
    series: &[Gen],
    index: &Index,
    changes: &[Change],
    thefts: &[Theft],
    christmas: &[usize],
    kind: Kind,
    nth: usize,
) -> Option<Theft> {
    let n = cal.len();
    for _ in 0..2000 {
        // The primary series.
        let family = match kind {
            Kind::Quiet => Family::InternetOut,
            Kind::Drip | Kind::BatchDay => {
                if rng.random_bool(0.8) {
                    Family::InternetOut
                } else {
                    Family::InterRegionOut
                }
            }
            _ => match rng.random_range(0..20) {
                0..=13 => Family::InternetOut,
                14..=16 => Family::InterRegionOut,
                _ => Family::GetRequests,
            },
        };
        let candidates: Vec<usize> = (0..series.len())
            .filter(|s| series[*s].family == family)
            .filter(|s| kind != Kind::BatchDay || series[*s].batch.any())
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let s = pick(rng, &candidates);
        let g = &series[s];
        let acct = &accounts[g.account];
        let len = match kind {
            Kind::Drip => rng.random_range(7..=21),
            Kind::MultiDay => rng.random_range(2..=5),
            Kind::Quiet => rng.random_range(1..=3),
            _ => 1,
        };
        let last_start = n - len - GRACE - 1;
        let start = match (kind, nth) {
            (Kind::Burst2, 0) => pick(rng, christmas),
            (Kind::BurstSmall, 0) => {
                let hol: Vec<usize> = (THEFT_FROM..last_start)
                    .filter(|i| cal.holiday(g.region, *i).is_some())
                    .collect();
                pick(rng, &hol)
            }
            (Kind::BatchDay, _) => {
                let quarter = nth == 1 && !g.quarter_days.is_empty();
                let days: Vec<usize> = g
                    .batch_days
                    .iter()
                    .copied()
                    .filter(|d| (THEFT_FROM..last_start).contains(d))
                    .filter(|d| g.quarter_days.contains(d) == quarter)
                    .collect();
                if days.is_empty() {
                    continue;
                }
                pick(rng, &days)
            }
            (Kind::MultiDay, _) if rng.random_bool(0.5) => {
                let mut d = rng.random_range(THEFT_FROM..last_start - 7);
                while !matches!(cal.days[d].weekday(), Weekday::Fri | Weekday::Sat) {
                    d += 1;
                }
                d
            }
            _ => rng.random_range(THEFT_FROM..last_start),
        };
        let end = start + len - 1;
        let window = (start, end + GRACE);
        let settled = match kind {
            Kind::Quiet => g.quiet_over(acct, start, end),
            _ => g.active_over(acct, start, end),
        };
        let spaced = thefts.iter().all(|t| {
            series[t.series[0]].pair != g.pair
                || !overlaps(
                    (
                        t.start.saturating_sub(THEFT_SPACING),
                        t.end + GRACE + THEFT_SPACING,
                    ),
                    window,
                )
        });
        let clear = changes.iter().all(|c| {
            c.pair != g.pair
                || !overlaps(
                    (c.day.saturating_sub(CLEAR_BEFORE), c.day + HORIZON),
                    window,
                )
        });
        let batch_ok = kind == Kind::BatchDay || (start..=end).all(|d| !g.batch_days.contains(&d));
        if !(settled && spaced && clear && batch_ok) {
            continue;
        }

        // The excess, on the primary series and the ones a theft drags along.
        let (magnitude, ramp) = match kind {
            Kind::BurstSmall => (rng.random_range(1.3..=1.5), false),
            Kind::Burst2 | Kind::BatchDay => (2.0, false),
            Kind::BurstBig => (rng.random_range(3.0..=10.0), false),
            Kind::MultiDay => (rng.random_range(1.5..=4.0), false),
            Kind::Drip => (rng.random_range(0.10..=0.40), rng.random_bool(0.5)),
            Kind::Quiet => (rng.random_range(20.0..=300.0), false),
        };
        let primary: Vec<f64> = (0..len)
            .map(|k| {
                let clean = g.clean[start + k];
                match kind {
                    Kind::Drip if ramp => clean * magnitude * (k + 1) as f64 / len as f64,
                    Kind::Drip => clean * magnitude,
                    Kind::MultiDay => clean * (magnitude * rng.random_range(0.85..1.15) - 1.0),
                    Kind::Quiet => magnitude * rng.random_range(0.8..1.2),
                    _ => clean * (magnitude - 1.0),
                }
            })
            .collect();
        if primary.iter().all(|e| *e <= 0.0) {
            continue;
        }
        let mut touched = vec![s];
        let mut excess = vec![primary.clone()];
        if family == Family::GetRequests {
            // A GET flood of small objects: bytes to the internet too.
            let object_gb = rng.random_range(1e4..1e5) / 1_073_741_824.0;
            touched.push(index.internet[g.pair]);
            excess.push(primary.iter().map(|r| r * object_gb).collect());
        } else if let Some(get) = index.get[g.pair] {
            let rpg = series[get].rpg * log_uniform(rng, 0.3, 3.0);
            touched.push(get);
            excess.push(primary.iter().map(|e| e * rpg).collect());
        }
        let note = match (kind, nth) {
            (Kind::Burst2, 0) => Some("Christmas Day"),
            (Kind::BurstSmall, 0) => cal.holiday(g.region, start),
            (Kind::BatchDay, _) if g.quarter_days.contains(&start) => Some("quarter-end batch"),
            (Kind::BatchDay, _) => Some("month-end batch"),
            _ => None,
        };
        return Some(Theft {
            kind,
            series: touched,
            start,
            end,
            magnitude,
            ramp,
            excess,
            worst_usd: 0.0,
            worst_day: start,
            total_gb: 0.0,
            note,
        });
    }
    None
}

#[allow(clippy::too_many_arguments)]
fn new_gen(
    accounts: &[Account],
    account: usize,
    region: Region,
    family: Family,
    role: Role,
    shape: Shape,
    usage_type: &str,
    p_nonzero: f64,
) -> Gen {
    // The key comes from the usage type's real name, as the Cost Explorer source derives it.
    let info = classify(usage_type);
    assert_eq!(info.family, family, "{usage_type}");
    let key = SeriesKey {
        account: accounts[account].id.to_string(),
        region: info.region,
        family,
    };
    let label = format!("{}/{}/{}", accounts[account].name, key.region, family);
    let pair = account * 6 + Region::ALL.iter().position(|r| *r == region).unwrap();
    Gen {
        key,
        label,
        account,
        pair,
        region,
        family,
        role,
        shape,
        p_nonzero,
        batch: BatchPlan::default(),
        batch_days: BTreeSet::new(),
        quarter_days: BTreeSet::new(),
        rpg: 0.0,
        noise_sd: 0.0,
        organic: Vec::new(),
        batch_volume: Vec::new(),
        clean: Vec::new(),
        values: Vec::new(),
        price: Vec::new(),
        quiet_until: None,
        active_until: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Detectors
// ---------------------------------------------------------------------------------------------

/// The daily job's verdict on every day of `[from, to]`, as backfill replays it: one detector
/// pass per series ([`evaluate_range`] says of each day exactly what `evaluate_day` would have
/// said that morning).
fn replay(
    set: &SeriesSet,
    from: NaiveDate,
    to: NaiveDate,
    settings: &DetectSettings,
) -> Vec<DayOutcome> {
    evaluate_range(set, from, to, settings)
}

/// One day's report of an incident.
#[derive(Debug, Clone, Copy)]
struct Report {
    series: usize,
    day: usize,
    /// The incident's first flagged day.
    start: usize,
    drift: bool,
}

/// An incident as backfill groups it: one event per account and region, every family
/// flagged in it inside (the product's `Incident::continued_by`).
#[derive(Debug, Clone)]
struct Group {
    /// The series flagged in it, the first reported first.
    series: Vec<usize>,
    start: usize,
    last: usize,
    /// The evidence of its first report.
    drift: bool,
}

/// The detectors in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Egresswatch,
    /// egresswatch with `min_excess_pct = 0` (`--pct0`).
    EgresswatchPct0,
    /// Trailing mean + 3σ, with the percent gate or not.
    Trailing(bool),
    /// Same-weekday median + 3 MAD, with the percent gate or not.
    Mad(bool),
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Egresswatch => "egresswatch",
            Method::EgresswatchPct0 => "egresswatch, no % gate",
            Method::Trailing(true) => "mean+3σ (28 d)",
            Method::Trailing(false) => "mean+3σ, no % gate",
            Method::Mad(true) => "weekday MAD",
            Method::Mad(false) => "weekday MAD, no % gate",
        }
    }

    fn settings(self) -> DetectSettings {
        let mut s = DetectSettings::default();
        if self == Method::EgresswatchPct0 {
            s.gates.materiality.min_excess_pct = 0.0;
        }
        s
    }
}

/// Per series, per day: the detector's score and excess (usage) where it judged the series.
type Verdicts = Vec<Vec<Option<(f64, f64)>>>;

fn day_index(cal: &Calendar, d: NaiveDate) -> usize {
    (d - cal.days[0]).num_days() as usize
}

fn run_egresswatch(
    bill: &Bill,
    cal: &Calendar,
    settings: &DetectSettings,
) -> (Vec<Report>, Verdicts, Duration) {
    let t0 = Instant::now();
    let outcomes = replay(
        &bill.set,
        cal.days[SCORE_FROM],
        *cal.days.last().expect("days"),
        settings,
    );
    let time = t0.elapsed();
    let ids: HashMap<&SeriesKey, usize> = bill
        .series
        .iter()
        .enumerate()
        .map(|(i, g)| (&g.key, i))
        .collect();
    let mut reports = Vec::new();
    let mut verdicts: Verdicts = vec![vec![None; cal.len()]; bill.series.len()];
    for out in &outcomes {
        let Some(day) = out.day else { continue };
        let day = day_index(cal, day);
        // One report per flagged series (an event's related families included); `group`
        // joins them into events as the product does.
        for i in out.incidents.iter().flat_map(|i| i.families()) {
            reports.push(Report {
                series: ids[&i.key()],
                day,
                start: day_index(cal, i.start),
                drift: i.evidence == "drift",
            });
        }
        for (key, score, excess) in &out.verdicts {
            verdicts[ids[key]][day] = Some((*score, *excess));
        }
    }
    (reports, verdicts, time)
}

/// The days of series `s` its history counts (answered, not refused, from its account's first
/// point), as `evaluate_day` reads them.
fn history_days(bill: &Bill, cal: &Calendar, s: usize) -> Vec<usize> {
    let g = &bill.series[s];
    let Some(first) = bill.set.first_days.get(&g.key.account) else {
        return Vec::new();
    };
    (day_index(cal, *first)..cal.len())
        .filter(|i| !bill.unknown.contains(i) && !bill.gaps[s].contains(i))
        .collect()
}

fn run_baseline(bill: &Bill, cal: &Calendar, method: Method) -> Vec<Report> {
    let with_pct = matches!(method, Method::Trailing(true) | Method::Mad(true));
    let mut gate: Materiality = DetectSettings::default().gates.materiality;
    if !with_pct {
        gate.min_excess_pct = 0.0;
    }
    let mut reports = Vec::new();
    for (s, g) in bill.series.iter().enumerate() {
        let days = history_days(bill, cal, s);
        let values: Vec<f64> = days.iter().map(|d| g.values[*d]).collect();
        let mut flags = vec![false; days.len()];
        let mut from = 0;
        for (j, &d) in days.iter().enumerate() {
            while cal.days[days[from]] < cal.days[d] - Days::new(MAD_HISTORY_DAYS as u64) {
                from += 1;
            }
            if d < SCORE_FROM {
                continue;
            }
            let x = values[j];
            let expected = match method {
                Method::Trailing(_) => {
                    if j < TRAILING {
                        continue;
                    }
                    let w = &values[j - TRAILING..j];
                    let mean = w.iter().sum::<f64>() / TRAILING as f64;
                    let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / TRAILING as f64;
                    if x <= mean + TRAILING_SIGMAS * var.sqrt().max(1e-9) {
                        continue;
                    }
                    mean
                }
                _ => {
                    let history: Vec<(NaiveDate, f64)> =
                        (from..j).map(|k| (cal.days[days[k]], values[k])).collect();
                    match MAD.assess(&history, cal.days[d], x) {
                        Some(a) if a.significant => a.expected,
                        _ => continue,
                    }
                }
            };
            let excess = x - expected;
            let pct = (expected > 0.0).then(|| excess / expected * 100.0);
            flags[j] = gate
                .check(g.family, excess, excess * g.price[d], pct)
                .is_ok();
        }
        for j in (0..days.len()).filter(|j| flags[*j]) {
            // Walk back over the flagged days as `evaluate_day` does (one quiet day allowed).
            let mut first = j;
            loop {
                if first >= 1 && flags[first - 1] {
                    first -= 1;
                } else if first >= 2 && flags[first - 2] {
                    first -= 2;
                } else {
                    break;
                }
            }
            reports.push(Report {
                series: s,
                day: days[j],
                start: days[first],
                drift: false,
            });
        }
    }
    reports
}

/// Group reports as backfill does: a report whose start is at most 2 days after the last day
/// of an earlier incident of its series continues it.
fn group(bill: &Bill, reports: &[Report]) -> Vec<Group> {
    let mut sorted = reports.to_vec();
    sorted.sort_by_key(|r| (r.day, r.series));
    // (place, start) → the event.
    let mut found: BTreeMap<(usize, usize), Group> = BTreeMap::new();
    for r in sorted {
        let place = bill.series[r.series].pair;
        let earlier = found
            .range((place, 0)..=(place, usize::MAX))
            .filter(|(_, g)| g.last + 2 >= r.start)
            .map(|((_, s), _)| *s)
            .next_back();
        match earlier {
            Some(s) => {
                let g = found.get_mut(&(place, s)).expect("found above");
                g.last = g.last.max(r.day);
                if !g.series.contains(&r.series) {
                    g.series.push(r.series);
                }
            }
            None => {
                found.insert(
                    (place, r.start),
                    Group {
                        series: vec![r.series],
                        start: r.start,
                        last: r.day,
                        drift: r.drift,
                    },
                );
            }
        }
    }
    found.into_values().collect()
}

impl Group {
    /// The series first reported in the event.
    fn lead(&self) -> usize {
        self.series[0]
    }

    /// Whether the event touches any of `series`.
    fn touches(&self, series: &[usize]) -> bool {
        self.series.iter().any(|s| series.contains(s))
    }
}

// ---------------------------------------------------------------------------------------------
// Scoring
// ---------------------------------------------------------------------------------------------

/// Why a false incident probably happened (the first that fits, in this order, by its first
/// day unless said otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    NewAccount,
    Waking,
    Step,
    QuarterEnd,
    MonthEnd,
    JanRecovery,
    Holiday,
    /// Another cause, with an unanswered or refused day in the series' history window.
    MissingDay,
    Other,
}

impl Cause {
    const ALL: [Cause; 9] = [
        Cause::NewAccount,
        Cause::Waking,
        Cause::Step,
        Cause::QuarterEnd,
        Cause::MonthEnd,
        Cause::JanRecovery,
        Cause::Holiday,
        Cause::MissingDay,
        Cause::Other,
    ];

    fn label(self) -> &'static str {
        match self {
            Cause::NewAccount => "new-account ramp",
            Cause::Waking => "quiet region waking (+60 d)",
            Cause::Step => "migration/step (+15..60 d)",
            Cause::QuarterEnd => "quarter-end (last 3 d, 1st)",
            Cause::MonthEnd => "month-end (last 3 d, 1st)",
            Cause::JanRecovery => "Jan 2-Feb 15 recovery",
            Cause::Holiday => "holiday (+2 d), Dec 18-Jan 1",
            Cause::MissingDay => "other, a day missing in window",
            Cause::Other => "other",
        }
    }

    fn of(bill: &Bill, cal: &Calendar, g: &Group) -> Cause {
        let s = &bill.series[g.lead()];
        let acct = &bill.accounts[s.account];
        if acct.profile == Profile::New && g.start <= acct.ramp_end + HORIZON {
            return Cause::NewAccount;
        }
        if let Some(c) = bill
            .changes
            .iter()
            .find(|c| g.touches(&c.series) && overlaps((g.start, g.last), (c.day, c.day + HORIZON)))
        {
            return if c.kind == ChangeKind::Waking {
                Cause::Waking
            } else {
                Cause::Step
            };
        }
        let i = g.start;
        if cal.quarter_boundary(i) {
            Cause::QuarterEnd
        } else if cal.month_boundary(i) {
            Cause::MonthEnd
        } else if cal.january_recovery(i) {
            Cause::JanRecovery
        } else if cal.year_end(i)
            || (i.saturating_sub(HOLIDAY_AFTER)..=i).any(|h| cal.holiday(s.region, h).is_some())
        {
            Cause::Holiday
        } else if (i.saturating_sub(HISTORY_DAYS)..i).any(|d| {
            bill.unknown.contains(&d) || g.series.iter().any(|s| bill.gaps[*s].contains(&d))
        }) {
            Cause::MissingDay
        } else {
            Cause::Other
        }
    }
}

/// The rising legitimate changes, for alerts per change.
const RISING: [ChangeKind; 3] = [
    ChangeKind::StepUp,
    ChangeKind::MigrationIn,
    ChangeKind::Waking,
];

/// Everything measured for one detector on one or more bills.
#[derive(Debug, Clone, Default)]
struct Scores {
    planted: [usize; Kind::ALL.len()],
    found: [usize; Kind::ALL.len()],
    worth: usize,
    worth_found: usize,
    /// Per cause: [spike, drift].
    false_by: [[usize; 2]; Cause::ALL.len()],
    series_years: f64,
    /// Per rising change kind: changes, alerts, and the most alerts at one.
    changes: [usize; RISING.len()],
    alerts: [usize; RISING.len()],
    most_alerts: usize,
    time: Duration,
}

impl Scores {
    fn add(&mut self, o: &Scores) {
        for k in 0..Kind::ALL.len() {
            self.planted[k] += o.planted[k];
            self.found[k] += o.found[k];
        }
        self.worth += o.worth;
        self.worth_found += o.worth_found;
        for c in 0..Cause::ALL.len() {
            for e in 0..2 {
                self.false_by[c][e] += o.false_by[c][e];
            }
        }
        self.series_years += o.series_years;
        for k in 0..RISING.len() {
            self.changes[k] += o.changes[k];
            self.alerts[k] += o.alerts[k];
        }
        self.most_alerts = self.most_alerts.max(o.most_alerts);
        self.time += o.time;
    }

    fn falses(&self) -> usize {
        self.false_by.iter().map(|c| c[0] + c[1]).sum()
    }

    fn all(&self) -> (usize, usize) {
        (self.found.iter().sum(), self.planted.iter().sum())
    }
}

/// Whether `g` starts within a legitimate change's allowance on its series: the change's news.
fn forgiven(bill: &Bill, g: &Group) -> bool {
    bill.changes
        .iter()
        .any(|c| g.touches(&c.series) && (c.day..=c.day + ALLOWANCE).contains(&g.start))
}

/// Series-years of scored data: answered, not refused days from the account's first point.
fn series_years(bill: &Bill, cal: &Calendar) -> f64 {
    (0..bill.series.len())
        .map(|s| {
            history_days(bill, cal, s)
                .iter()
                .filter(|d| **d >= SCORE_FROM)
                .count()
        })
        .sum::<usize>() as f64
        / 365.0
}

/// Which thefts `reports` caught.
fn caught(bill: &Bill, reports: &[Report]) -> Vec<bool> {
    bill.thefts
        .iter()
        .map(|t| {
            let (lo, hi) = t.window();
            reports
                .iter()
                .any(|r| t.series.contains(&r.series) && (lo..=hi).contains(&r.day))
        })
        .collect()
}

fn score(bill: &Bill, cal: &Calendar, reports: &[Report], groups: &[Group]) -> Scores {
    let mut sc = Scores {
        series_years: series_years(bill, cal),
        ..Default::default()
    };
    for (t, hit) in bill.thefts.iter().zip(caught(bill, reports)) {
        let k = t.kind.index();
        sc.planted[k] += 1;
        sc.found[k] += usize::from(hit);
        if t.worth() {
            sc.worth += 1;
            sc.worth_found += usize::from(hit);
        }
    }
    for g in groups {
        let theft = bill
            .thefts
            .iter()
            .any(|t| g.touches(&t.series) && overlaps((g.start, g.last), t.window()));
        if !theft && !forgiven(bill, g) {
            let c = Cause::ALL
                .iter()
                .position(|c| *c == Cause::of(bill, cal, g))
                .expect("listed");
            sc.false_by[c][usize::from(g.drift)] += 1;
        }
    }
    for c in bill.changes.iter().filter(|c| c.kind.rising()) {
        let k = RISING.iter().position(|r| *r == c.kind).expect("rising");
        let alerts = groups
            .iter()
            .filter(|g| {
                g.touches(&c.series) && overlaps((g.start, g.last), (c.day, c.day + HORIZON))
            })
            .count();
        sc.changes[k] += 1;
        sc.alerts[k] += alerts;
        sc.most_alerts = sc.most_alerts.max(alerts);
    }
    sc
}

/// Why egresswatch missed `t`: its strongest verdict in the theft's window on each series
/// the theft touches (the primary first).
fn why_missed(bill: &Bill, cal: &Calendar, t: &Theft, verdicts: &Verdicts) -> String {
    let (lo, hi) = t.window();
    let gate = DetectSettings::default().gates.materiality;
    t.series
        .iter()
        .map(|&s| {
            let g = &bill.series[s];
            let best = (lo..=hi.min(cal.len() - 1))
                .filter_map(|d| verdicts[s][d].map(|(score, excess)| (d, score, excess)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let Some((d, score, excess)) = best else {
                return format!("{}: never judged", g.family);
            };
            let observed = g.values[d];
            let expected = observed - excess;
            let pct = (expected > 0.0).then(|| excess / expected * 100.0);
            let usd = excess * g.price[d];
            let what = format!(
                "{} {} score {score:.2}, {} vs {} ({}, ${usd:.2}, noise {:.0}%)",
                g.family,
                cal.days[d].format("%m-%d"),
                amount(observed, g.family),
                amount(expected, g.family),
                pct.map_or("new".to_string(), |p| format!("{p:+.0}%")),
                g.noise_sd * 100.0
            );
            match (score >= 0.5, gate.check(g.family, excess, usd, pct)) {
                (false, _) => format!("{what}: not significant"),
                (true, Err(why)) => format!("{what}: gated, {why}"),
                (true, Ok(())) => format!("{what}: significant, material, not a BH discovery"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n      ")
}

/// The threshold of the ceiling line: egresswatch's daily `threshold_z`.
const ORACLE_Z: f64 = 4.0;

/// How many σ of its series' true day noise the theft's own rise is, on the series it touches
/// most clearly: its largest day, or its days together (the sum of z over √days, what a
/// matched test over the theft's known days would see).
fn oracle_z(bill: &Bill, t: &Theft) -> f64 {
    t.series
        .iter()
        .zip(&t.excess)
        .map(|(&s, excess)| {
            let g = &bill.series[s];
            let z: Vec<f64> = excess
                .iter()
                .enumerate()
                .map(|(k, e)| {
                    let clean = g.clean[t.start + k];
                    ((clean + e.max(0.0) + 1.0) / (clean + 1.0)).ln() / g.noise_sd
                })
                .collect();
            let max = z.iter().copied().fold(0.0, f64::max);
            let summed = z.iter().sum::<f64>() / (z.len() as f64).sqrt();
            max.max(summed)
        })
        .fold(0.0, f64::max)
}

fn amount(v: f64, family: Family) -> String {
    if family.is_bytes() {
        format!("{v:.1} GB")
    } else {
        format!("{:.2}M req", v / 1e6)
    }
}

// ---------------------------------------------------------------------------------------------
// One seed
// ---------------------------------------------------------------------------------------------

struct SeedResult {
    bill: Bill,
    scores: Vec<(Method, Scores)>,
    /// Per method, which thefts it caught.
    caught: Vec<Vec<bool>>,
    missed: Vec<String>,
    false_list: Vec<String>,
    /// Rising legitimate changes egresswatch alerted on more than once, with those alerts.
    repeated: Vec<String>,
}

fn run_seed(seed: u64, cal: &Calendar, methods: &[Method], with_gaps: bool) -> SeedResult {
    let bill = generate(seed, cal, with_gaps);
    let mut scores = Vec::new();
    let mut caught_by = Vec::new();
    let mut missed = Vec::new();
    let mut false_list = Vec::new();
    let mut repeated = Vec::new();
    for &m in methods {
        let t0 = Instant::now();
        let (reports, verdicts) = match m {
            Method::Egresswatch | Method::EgresswatchPct0 => {
                let (r, v, _) = run_egresswatch(&bill, cal, &m.settings());
                (r, Some(v))
            }
            _ => (run_baseline(&bill, cal, m), None),
        };
        let groups = group(&bill, &reports);
        let mut sc = score(&bill, cal, &reports, &groups);
        sc.time = t0.elapsed();
        let hits = caught(&bill, &reports);
        if let (Method::Egresswatch, Some(v)) = (m, &verdicts) {
            for (t, hit) in bill.thefts.iter().zip(&hits) {
                if !hit && t.worth() {
                    let g = &bill.series[t.series[0]];
                    missed.push(format!(
                        "  seed {seed} {:<40} {} {:<9} {:<36} ${:>9.2}{}\n      {}",
                        g.label,
                        cal.days[t.start],
                        t.kind.column(),
                        t.describe(),
                        t.worst_usd,
                        t.note.map_or(String::new(), |n| format!(" ({n})")),
                        why_missed(&bill, cal, t, v)
                    ));
                }
            }
            for gr in &groups {
                let theft = bill
                    .thefts
                    .iter()
                    .any(|t| gr.touches(&t.series) && overlaps((gr.start, gr.last), t.window()));
                if !theft {
                    let g = &bill.series[gr.lead()];
                    let seen = v[gr.lead()][gr.start].map_or(String::new(), |(score, excess)| {
                        let x = g.values[gr.start];
                        format!(
                            "score {score:.2}, {} vs {}",
                            amount(x, g.family),
                            amount(x - excess, g.family)
                        )
                    });
                    let cause = if forgiven(&bill, gr) {
                        "(forgiven: a change's news)"
                    } else {
                        Cause::of(&bill, cal, gr).label()
                    };
                    false_list.push(format!(
                        "  seed {seed} {:<40} {} {}..{} {:<5} {cause:<30} {seen}",
                        g.label,
                        cal.days[gr.start].format("%a"),
                        cal.days[gr.start],
                        cal.days[gr.last].format("%m-%d"),
                        if gr.drift { "drift" } else { "spike" },
                    ));
                }
            }
        }
        if m == Method::Egresswatch {
            for c in bill.changes.iter().filter(|c| c.kind.rising()) {
                let alerts: Vec<String> = groups
                    .iter()
                    .filter(|g| {
                        g.touches(&c.series)
                            && overlaps((g.start, g.last), (c.day, c.day + HORIZON))
                    })
                    .map(|g| {
                        format!(
                            "{} {}..{} {}",
                            g.series
                                .iter()
                                .map(|s| bill.series[*s].label.as_str())
                                .collect::<Vec<_>>()
                                .join(" + "),
                            cal.days[g.start],
                            cal.days[g.last].format("%m-%d"),
                            if g.drift { "drift" } else { "spike" }
                        )
                    })
                    .collect();
                if alerts.len() > 1 {
                    repeated.push(format!(
                        "  seed {seed} {:?} on {}: {} alerts\n      {}",
                        c.kind,
                        cal.days[c.day],
                        alerts.len(),
                        alerts.join("\n      ")
                    ));
                }
            }
        }
        scores.push((m, sc));
        caught_by.push(hits);
    }
    SeedResult {
        bill,
        scores,
        caught: caught_by,
        missed,
        false_list,
        repeated,
    }
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

const LABEL: usize = 32;
const CELL: usize = 11;

fn row(label: &str, cells: impl IntoIterator<Item = String>) {
    let mut line = format!("{label:<LABEL$}");
    for c in cells {
        line.push_str(&format!("{c:>CELL$}"));
    }
    println!("{}", line.trim_end());
}

fn ratio(part: usize, whole: usize, pct: bool) -> String {
    match (whole, pct) {
        (0, _) => "-".to_string(),
        (_, false) => format!("{part}/{whole}"),
        (_, true) => format!("{:.0}%", 100.0 * part as f64 / whole as f64),
    }
}

/// The main table: one row per detector.
fn table(title: &str, scores: &[(Method, Scores)], pct: bool) {
    println!("{title}");
    let mut head: Vec<String> = Kind::ALL.iter().map(|k| k.column().to_string()).collect();
    head.extend(["all", "≥$1", "false/s-y", "alerts/chg"].map(String::from));
    row("", head);
    if pct {
        let s = &scores[0].1;
        let mut ns: Vec<String> = Kind::ALL
            .iter()
            .map(|k| format!("n={}", s.planted[k.index()]))
            .collect();
        ns.push(format!("n={}", s.all().1));
        ns.push(format!("n={}", s.worth));
        ns.push(format!("{:.0} s-y", s.series_years));
        ns.push(format!("n={}", s.changes.iter().sum::<usize>()));
        row("", ns);
    }
    for (m, s) in scores {
        let mut cells: Vec<String> = Kind::ALL
            .iter()
            .map(|k| ratio(s.found[k.index()], s.planted[k.index()], pct))
            .collect();
        let (found, all) = s.all();
        cells.push(ratio(found, all, pct));
        cells.push(ratio(s.worth_found, s.worth, pct));
        cells.push(format!("{:.2}", s.falses() as f64 / s.series_years));
        let changes: usize = s.changes.iter().sum();
        let alerts: usize = s.alerts.iter().sum();
        cells.push(if changes == 0 {
            "-".to_string()
        } else {
            format!("{:.2}", alerts as f64 / changes as f64)
        });
        row(&format!("  {}", m.name()), cells);
    }
}

fn summary(r: &SeedResult, cal: &Calendar) {
    let b = &r.bill;
    let n = cal.len();
    let months = MONTHS as f64;
    let total = |f: Family| -> f64 {
        b.series
            .iter()
            .filter(|g| g.family == f)
            .map(|g| (0..n).map(|i| g.values[i] * g.price[i]).sum::<f64>())
            .sum::<f64>()
            / months
    };
    let mut sizes = [0usize; 4];
    for g in &b.series {
        let mut usd: Vec<f64> = (SCORE_FROM..n).map(|i| g.clean[i] * g.price[i]).collect();
        usd.sort_by(f64::total_cmp);
        let median = usd[usd.len() / 2];
        let k = [0.10, 10.0, 1000.0]
            .iter()
            .filter(|x| median >= **x)
            .count();
        sizes[k] += 1;
    }
    let count = |k: ChangeKind| b.changes.iter().filter(|c| c.kind == k).count();
    let new = b
        .accounts
        .iter()
        .find(|a| a.profile == Profile::New)
        .expect("a new account");
    let batch = b.series.iter().filter(|g| g.batch.any()).count();
    let quarter = b
        .series
        .iter()
        .filter(|g| g.batch.quarterly.is_some())
        .count();
    let worth = b.thefts.iter().filter(|t| t.worth()).count();
    let batches: Vec<String> = b
        .series
        .iter()
        .filter(|g| g.batch.any())
        .map(|g| {
            let mut plan = Vec::new();
            if let Some((f, business)) = g.batch.monthly {
                let when = if business {
                    "last business day"
                } else {
                    "last day"
                };
                plan.push(format!("+{f:.1}× {when}"));
            }
            if let Some(q) = g.batch.quarterly {
                plan.push(format!("+{q:.1}× quarter-end"));
            }
            format!("{} ({})", g.label, plan.join(", "))
        })
        .collect();
    println!(
        "  seed {}: ${:.0}/month (internet ${:.0}, inter-region ${:.0}, GET ${:.0}); series by \
         median $/day: {} < $0.10, {} < $10, {} < $1000, {} ≥ $1000",
        b.seed,
        total(Family::InternetOut) + total(Family::InterRegionOut) + total(Family::GetRequests),
        total(Family::InternetOut),
        total(Family::InterRegionOut),
        total(Family::GetRequests),
        sizes[0],
        sizes[1],
        sizes[2],
        sizes[3]
    );
    println!(
        "          {batch} with batch exports ({quarter} quarter-end); {} steps up, {} down, {} \
         migrations, {} waking regions; {} from {} (ramp to {}); {} unanswered days, {} refused \
         series-days; {} thefts ({} unplaced), {worth} worth ≥ $1; replay {:.1} s",
        count(ChangeKind::StepUp),
        count(ChangeKind::StepDown),
        count(ChangeKind::MigrationIn),
        count(ChangeKind::Waking),
        new.name,
        cal.days[new.start],
        cal.days[new.ramp_end],
        b.unknown.len(),
        b.gaps.iter().map(BTreeSet::len).sum::<usize>(),
        b.thefts.len(),
        b.unplaced,
        r.scores[0].1.time.as_secs_f64()
    );
    println!("          batch exports: {}", batches.join("; "));
}

fn causes(pooled: &[(Method, Scores)]) {
    println!("False incidents by cause, all seeds: count (egresswatch: drift + spike)");
    row(
        "",
        pooled
            .iter()
            .map(|(m, _)| short(*m).to_string())
            .collect::<Vec<_>>(),
    );
    for (c, cause) in Cause::ALL.iter().enumerate() {
        row(
            &format!("  {}", cause.label()),
            pooled.iter().map(|(m, s)| {
                let [spike, drift] = s.false_by[c];
                if matches!(m, Method::Egresswatch | Method::EgresswatchPct0) {
                    format!("{drift}+{spike}")
                } else {
                    (spike + drift).to_string()
                }
            }),
        );
    }
    row(
        "  all",
        pooled.iter().map(|(m, s)| {
            let drift: usize = s.false_by.iter().map(|c| c[1]).sum();
            if matches!(m, Method::Egresswatch | Method::EgresswatchPct0) {
                format!("{drift}+{}", s.falses() - drift)
            } else {
                s.falses().to_string()
            }
        }),
    );
    println!("Alerts per rising legitimate change in [change, change+{HORIZON}]");
    for (k, kind) in RISING.iter().enumerate() {
        row(
            &format!("  {} (n={})", kind.label(), pooled[0].1.changes[k]),
            pooled.iter().map(|(_, s)| {
                if s.changes[k] == 0 {
                    "-".to_string()
                } else {
                    format!("{:.2}", s.alerts[k] as f64 / s.changes[k] as f64)
                }
            }),
        );
    }
    row(
        "  most at one change",
        pooled.iter().map(|(_, s)| s.most_alerts.to_string()),
    );
}

fn short(m: Method) -> &'static str {
    match m {
        Method::Egresswatch => "egressw.",
        Method::EgresswatchPct0 => "ew no%",
        Method::Trailing(true) => "mean+3σ",
        Method::Trailing(false) => "m3σ no%",
        Method::Mad(true) => "MAD",
        Method::Mad(false) => "MAD no%",
    }
}

fn list_thefts(r: &SeedResult, cal: &Calendar) {
    let b = &r.bill;
    println!(
        "  seed {} thefts (caught by: {})",
        b.seed,
        r.scores
            .iter()
            .map(|(m, _)| short(*m))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (i, t) in b.thefts.iter().enumerate() {
        let marks: String = r
            .caught
            .iter()
            .map(|c| if c[i] { " ✓" } else { " ·" })
            .collect();
        println!(
            "   {marks}  {:<40} {} {:<9} {:<36} ${:>9.2} {:>9.1} GB{}",
            b.series[t.series[0]].label,
            cal.days[t.start],
            t.kind.column(),
            t.describe(),
            t.worst_usd,
            t.total_gb,
            t.note.map_or(String::new(), |n| format!(" ({n})"))
        );
    }
}

/// `--trace`: what the detector saw of one series on the morning of `day` (no replay).
/// How many days `--trace` prints, up to the day asked for.
const TRACE_DAYS: usize = 90;

fn trace(bill: &Bill, cal: &Calendar, label: &str, day: NaiveDate) -> Result<(), String> {
    let s = bill
        .series
        .iter()
        .position(|g| g.label == label)
        .ok_or_else(|| {
            let labels: Vec<&str> = bill.series.iter().map(|g| g.label.as_str()).collect();
            format!(
                "no series `{label}` in seed {}: {}",
                bill.seed,
                labels.join(", ")
            )
        })?;
    let (g, set) = (&bill.series[s], &bill.set);
    if day < cal.days[0] || day > cal.days[cal.len() - 1] {
        return Err(format!("{day} is outside the bill"));
    }
    if set.first_days.get(&g.key.account).is_some_and(|f| *f > day) {
        return Err(format!("{} is not billed yet on {day}", g.key.account));
    }
    let settings = DetectSettings::default();
    // Exactly the daily run's pass: from the account's first day, unknown days as gaps.
    let tr = detect::trace_series(set, &g.key, day, &settings)
        .ok_or_else(|| format!("{label} is silent up to {day}"))?;
    let (days, values, out) = (&tr.days, &tr.values, &tr.out);
    println!(
        "seed {} {} ({}), {} days of history to {day} (the last {TRACE_DAYS} shown); noise {:.0}%",
        bill.seed,
        label,
        g.key,
        days.len(),
        g.noise_sd * 100.0
    );
    println!("  marks: T theft, B batch export, M an unanswered or refused day just before");
    println!(
        "  {:<14} {:>14} {:>14} {:>6} {:>6} {:>6} {:>5}  evidence",
        "day", "observed", "expected", "σ", "z", "cusum", "score"
    );
    let mut prev: Option<usize> = None;
    // The last TRACE_DAYS days of the pass (it runs from the account's first day).
    let skip = days.len().saturating_sub(TRACE_DAYS);
    for (((d, x), o), flag) in days.iter().zip(values).zip(out).zip(&tr.flags).skip(skip) {
        let i = day_index(cal, *d);
        let theft = bill
            .thefts
            .iter()
            .any(|t| t.series.contains(&s) && (t.start..=t.end).contains(&i));
        let marks = format!(
            "{}{}{}",
            if theft { "T" } else { "" },
            if g.batch_days.contains(&i) { "B" } else { "" },
            if prev.is_some_and(|p| i > p + 1) {
                "M"
            } else {
                ""
            }
        );
        prev = Some(i);
        println!(
            "  {} {} {:<3} {:>14} {:>14} {:>6.3} {:>6.1} {:>6.1} {:>5.2}  {}",
            d,
            d.format("%a"),
            marks,
            amount(*x, g.family),
            amount(o.expected, g.family),
            o.sigma,
            o.z,
            o.cusum,
            o.score,
            match (o.anomaly, o.evidence, flag) {
                (false, _, _) => "",
                (true, Evidence::Drift, true) => "drift, material",
                (true, Evidence::Drift, false) => "drift, gated",
                (true, _, true) => "spike, material",
                (true, _, false) => "spike, gated",
            }
        );
    }
    Ok(())
}

struct Args {
    seeds: Vec<u64>,
    pct0: bool,
    thefts: bool,
    falses: bool,
    changes: bool,
    no_gaps: bool,
    trace: Option<(u64, String, NaiveDate)>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        seeds: DEFAULT_SEEDS.to_vec(),
        pct0: false,
        thefts: false,
        falses: false,
        changes: false,
        no_gaps: false,
        trace: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            "--seeds" => {
                let v = it.next().ok_or("--seeds needs a list, e.g. 1,2,3,4")?;
                a.seeds = v
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<u64>()
                            .map_err(|e| format!("--seeds {v}: {e}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--pct0" => a.pct0 = true,
            "--thefts" => a.thefts = true,
            "--false" => a.falses = true,
            "--changes" => a.changes = true,
            "--no-gaps" => a.no_gaps = true,
            "--trace" => {
                let usage = "--trace SEED SERIES DAY, e.g. --trace 1 prod-data/us-east-1/internet-out 2025-08-31";
                let (Some(seed), Some(label), Some(day)) = (it.next(), it.next(), it.next()) else {
                    return Err(usage.into());
                };
                let seed = seed.parse().map_err(|_| usage.to_string())?;
                let day =
                    NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|_| usage.to_string())?;
                a.trace = Some((seed, label, day));
            }
            "--help" | "-h" => {
                println!(
                    "{COMMAND} [-- [--seeds 1,2,3,4] [--pct0] [--thefts] [--false] [--changes] [--no-gaps] \
                     [--trace SEED SERIES DAY]]\n(see the top of benches/bill.rs)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    if a.seeds.is_empty() {
        return Err("--seeds: at least one seed".into());
    }
    Ok(a)
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bill: {e}");
            std::process::exit(2);
        }
    };
    let mut methods = vec![Method::Egresswatch];
    if a.pct0 {
        methods.push(Method::EgresswatchPct0);
    }
    methods.extend([
        Method::Trailing(true),
        Method::Trailing(false),
        Method::Mad(true),
        Method::Mad(false),
    ]);
    let cal = Calendar::new();
    if let Some((seed, label, day)) = &a.trace {
        let bill = generate(*seed, &cal, !a.no_gaps);
        if let Err(e) = trace(&bill, &cal, label, *day) {
            eprintln!("bill: {e}");
            std::process::exit(2);
        }
        return;
    }
    let t0 = Instant::now();
    let results: Vec<SeedResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = a
            .seeds
            .iter()
            .map(|&seed| {
                let (cal, methods) = (&cal, &methods);
                scope.spawn(move || run_seed(seed, cal, methods, !a.no_gaps))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a seed's thread"))
            .collect()
    });
    let wall = t0.elapsed();

    let seeds: Vec<String> = a.seeds.iter().map(u64::to_string).collect();
    println!("egresswatch realistic-bill benchmark");
    println!("  command : {COMMAND} [-- --seeds 1,2,3,4 --pct0 --thefts --false --no-gaps]");
    println!(
        "  bills   : seeds {}; {}..{} ({} days), 6 accounts × 6 regions, 60 series each",
        seeds.join(","),
        cal.days[0],
        cal.days[cal.len() - 1],
        cal.len()
    );
    println!(
        "  replay  : evaluate_day each morning from {} (day {SCORE_FROM}), \
         DetectSettings::default(); baselines with the same GB/requests and $1 gates",
        cal.days[SCORE_FROM]
    );
    println!(
        "  caught  : an incident on a series the theft touches, reported in [start, end+{GRACE}]; \
         false: a grouped incident touching no theft, not starting in [change, change+{ALLOWANCE}]"
    );
    for r in &results {
        summary(r, &cal);
    }
    println!();
    for r in &results {
        table(&format!("Seed {}", r.bill.seed), &r.scores, false);
    }
    println!();
    let mut pooled: Vec<(Method, Scores)> =
        methods.iter().map(|m| (*m, Scores::default())).collect();
    for r in &results {
        for (p, (_, s)) in pooled.iter_mut().zip(&r.scores) {
            p.1.add(s);
        }
    }
    table(
        &format!(
            "All seeds ({}): recall per kind, all, worth ≥ $1",
            seeds.join(",")
        ),
        &pooled,
        true,
    );
    println!();
    causes(&pooled);
    // The ceiling: what a test at egresswatch's threshold would see if it knew each series' true
    // noise and expectation exactly (no estimation error), and at lower thresholds.
    let zs: Vec<(Kind, f64)> = results
        .iter()
        .flat_map(|r| {
            r.bill
                .thefts
                .iter()
                .filter(|t| t.worth())
                .map(|t| (t.kind, oracle_z(&r.bill, t)))
        })
        .collect();
    let seen = |z: f64| zs.iter().filter(|(_, o)| *o >= z).count();
    println!(
        "Ceiling: a test knowing each series' true day noise (its Student-t scale) and the \
         theft-free expectation, by the theft's own rise (its largest day, or z summed over its \
         days / √days), sees of the {} thefts worth ≥ $1: at {ORACLE_Z}σ {} ({:.0}%; per kind {}), \
         at 3.5σ {}, at 3σ {}",
        zs.len(),
        seen(ORACLE_Z),
        100.0 * seen(ORACLE_Z) as f64 / zs.len().max(1) as f64,
        Kind::ALL
            .iter()
            .map(|k| {
                let of = zs.iter().filter(|(kk, _)| kk == k);
                let hit = of.clone().filter(|(_, o)| *o >= ORACLE_Z).count();
                format!("{} {hit}/{}", k.column(), of.count())
            })
            .collect::<Vec<_>>()
            .join(", "),
        seen(3.5),
        seen(3.0)
    );
    println!();
    let missed: Vec<&String> = results.iter().flat_map(|r| &r.missed).collect();
    println!(
        "Thefts worth ≥ $1 that egresswatch missed ({}): series, start, kind, what, worst-day $",
        missed.len()
    );
    for m in missed {
        println!("{m}");
    }
    if a.thefts {
        println!();
        println!("Every theft");
        for r in &results {
            list_thefts(r, &cal);
        }
    }
    if a.changes {
        println!();
        println!("Rising legitimate changes alerted on more than once: each alert in [change, change+{HORIZON}]");
        for r in &results {
            for c in &r.repeated {
                println!("{c}");
            }
        }
    }
    if a.falses {
        println!();
        println!(
            "egresswatch's incidents touching no theft: series, first day, evidence, cause, \
             the detector on the first day"
        );
        for r in &results {
            for f in &r.false_list {
                println!("{f}");
            }
        }
    }
    println!();
    println!(
        "Time: {:.1} s wall for {} seed(s) in parallel; egresswatch replays {:.1} s summed",
        wall.as_secs_f64(),
        results.len(),
        pooled[0].1.time.as_secs_f64()
    );
}
