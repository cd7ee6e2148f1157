//! S3 activity trends: daily counts of S3 API calls per (account, region, event, outcome) from
//! CloudTrail, judged by the same detector as the bill.
//!
//! Many attacks show first as calls, not bytes: a reconnaissance burst of `GetBucketAcl` from a
//! new principal, a wall of `AccessDenied` on `GetObject`, a first-ever `PutBucketReplication`.
//! Each day is scanned once and stored; a *rise* is a day that breaks its series' baseline by a
//! significant and material number of calls (naming who drove it); a *first-seen* is an S3 event
//! name never seen before in the account (once the account has enough history to say so).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use serde::Deserialize;

use super::online::{run as detect, Direction, OnlineParams};
use crate::model::units::num;
use crate::model::{ActivityCount, Finding};
use crate::settings::{keys, with, Check};
use crate::state::Store;

/// `[activity]`: noise control.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivitySettings {
    /// Days of history behind a day's verdict.
    pub history_days: u32,
    /// A rise needs at least this many calls on the day...
    pub min_count: u64,
    /// ...and this many above expected.
    pub min_excess: f64,
    /// Per event name: a higher minimum for busy events (`GetObject = 10000`).
    pub min_count_by_event: BTreeMap<String, u64>,
    /// Per event name: a stricter (or looser) score threshold than `threshold_z`.
    pub threshold_z_by_event: BTreeMap<String, f64>,
    /// Event names never counted.
    pub ignore_events: Vec<String>,
    /// Days of trail (counted days) an account needs before "first seen" means anything, and
    /// before a rise can be told from the level: no finding before that.
    pub first_seen_after_days: u32,
    pub threshold_z: f64,
}

impl Default for ActivitySettings {
    fn default() -> Self {
        ActivitySettings {
            history_days: 28,
            min_count: 20,
            min_excess: 20.0,
            min_count_by_event: BTreeMap::new(),
            threshold_z_by_event: BTreeMap::new(),
            ignore_events: Vec::new(),
            first_seen_after_days: 7,
            threshold_z: 4.0,
        }
    }
}

/// The findings for `day` from the stored counts.
pub fn evaluate(
    store: &Store,
    day: NaiveDate,
    s: &ActivitySettings,
) -> anyhow::Result<Vec<Finding>> {
    let from = day - Days::new(u64::from(s.history_days));
    let scanned: Vec<NaiveDate> = store.activity_days(from, day)?.into_iter().collect();
    if !scanned.contains(&day) {
        return Ok(Vec::new());
    }
    let rows = store.activity_rows(from, day)?;
    // Series → day → row.
    let mut series: BTreeMap<
        (String, String, String, String),
        BTreeMap<NaiveDate, &ActivityCount>,
    > = BTreeMap::new();
    let mut seen_before: BTreeSet<(String, String)> = BTreeSet::new();
    let mut principals_before: BTreeSet<(String, String, String)> = BTreeSet::new();
    for r in &rows {
        if s.ignore_events.contains(&r.event) {
            continue;
        }
        series
            .entry((
                r.account.clone(),
                r.region.clone(),
                r.event.clone(),
                r.outcome.clone(),
            ))
            .or_default()
            .insert(r.day, r);
        if r.day < day {
            seen_before.insert((r.account.clone(), r.event.clone()));
            for (drv, _) in &r.drivers {
                let p = drv.split('\u{1f}').next().unwrap_or("").to_string();
                principals_before.insert((r.account.clone(), r.event.clone(), p));
            }
        }
    }
    let prior_days = scanned.iter().filter(|d| **d < day).count() as u32;
    let mut params = OnlineParams::daily();
    params.direction = Direction::Up;
    params.threshold_z = s.threshold_z;
    let mut out = Vec::new();
    let mut first_seen_done: BTreeSet<(String, String)> = BTreeSet::new();
    for ((account, region, event, outcome), by_day) in &series {
        let Some(today) = by_day.get(&day) else {
            continue;
        };
        let values: Vec<f64> = scanned
            .iter()
            .map(|d| by_day.get(d).map_or(0.0, |r| r.count as f64))
            .collect();
        let mut params = params.clone();
        params.threshold_z = s
            .threshold_z_by_event
            .get(event)
            .copied()
            .unwrap_or(s.threshold_z);
        let verdicts = detect(&values, Some(&scanned), &params);
        let v = verdicts.last().expect("the day is scanned");
        let (driver, n) = today.drivers.first().cloned().unwrap_or_default();
        let mut parts = driver.split('\u{1f}');
        let (principal, ip, ua) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let share = if today.count > 0 {
            n as f64 / today.count as f64
        } else {
            0.0
        };
        let new_principal =
            !principals_before.contains(&(account.clone(), event.clone(), principal.clone()));
        let finding = |kind: &str, why: String| Finding {
            day,
            account: account.clone(),
            region: region.clone(),
            event: event.clone(),
            outcome: outcome.clone(),
            kind: kind.into(),
            count: today.count,
            expected: v.expected,
            score: v.score,
            principal: principal.clone(),
            source_ip: ip.clone(),
            user_agent: ua.clone(),
            share,
            new_principal,
            why,
        };
        let driver_text = format!(
            "{:.0}% from {}{}, {}, {}",
            share * 100.0,
            principal,
            if new_principal { " (new)" } else { "" },
            if ip.is_empty() { "?" } else { &ip },
            if ua.is_empty() { "no user agent" } else { &ua }
        );
        if prior_days >= s.first_seen_after_days
            && !seen_before.contains(&(account.clone(), event.clone()))
            && first_seen_done.insert((account.clone(), event.clone()))
        {
            out.push(finding(
                "first-seen",
                format!(
                    "{event}: first ever in account {account} ({} calls, {outcome}); {driver_text}",
                    num(today.count as f64, 0)
                ),
            ));
        }
        let min = s
            .min_count_by_event
            .get(event)
            .copied()
            .unwrap_or(s.min_count);
        let label = if outcome == "success" {
            String::new()
        } else {
            format!(" {outcome}")
        };
        // A rise needs a known level: as many days of trail before it as "first seen" needs.
        let level_known = prior_days >= s.first_seen_after_days;
        if level_known
            && v.anomaly
            && today.count >= min
            && today.count as f64 - v.expected >= s.min_excess
        {
            out.push(finding(
                "rise",
                format!(
                    "{event}{label}: {} calls vs {} expected; {driver_text}",
                    num(today.count as f64, 0),
                    num(v.expected, 0)
                ),
            ));
        }
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.event.cmp(&b.event)));
    Ok(out)
}

#[derive(Debug, Default, Deserialize)]
pub struct RawActivity {
    pub history_days: Option<i64>,
    pub min_count: Option<i64>,
    pub min_excess: Option<f64>,
    pub min_count_by_event: Option<std::collections::BTreeMap<String, i64>>,
    pub ignore_events: Option<Vec<String>>,
    pub first_seen_after_days: Option<i64>,
    pub threshold_z: Option<f64>,
    pub threshold_z_by_event: Option<std::collections::BTreeMap<String, f64>>,
}

impl ActivitySettings {
    /// Validate `[activity]`; `threshold_z` defaults to the detector's (`detect.min_robust_z`).
    pub fn check(a: RawActivity, default_threshold_z: f64, c: &mut Check<'_>) -> ActivitySettings {
        let base = keys(&["activity"]);
        let d = ActivitySettings::default();
        let mut by_event = std::collections::BTreeMap::new();
        for (event, n) in a.min_count_by_event.unwrap_or_default() {
            if n < 0 {
                c.fail(
                    &with(&with(&base, "min_count_by_event"), &event),
                    "must be at least 0",
                );
            } else {
                by_event.insert(event, n as u64);
            }
        }
        let mut z_by_event = std::collections::BTreeMap::new();
        for (event, z) in a.threshold_z_by_event.unwrap_or_default() {
            let z = c.num(
                &with(&with(&base, "threshold_z_by_event"), &event),
                Some(z),
                0.0,
                (0.0, 1.0e6),
                true,
            );
            z_by_event.insert(event, z);
        }
        ActivitySettings {
            history_days: c.int(
                &with(&base, "history_days"),
                a.history_days,
                d.history_days,
                7,
                90,
            ),
            min_count: u64::from(c.int(
                &with(&base, "min_count"),
                a.min_count,
                d.min_count as u32,
                0,
                100_000_000,
            )),
            min_excess: c.num(
                &with(&base, "min_excess"),
                a.min_excess,
                d.min_excess,
                (0.0, f64::INFINITY),
                false,
            ),
            min_count_by_event: by_event,
            threshold_z_by_event: z_by_event,
            ignore_events: a.ignore_events.unwrap_or_default(),
            first_seen_after_days: c.int(
                &with(&base, "first_seen_after_days"),
                a.first_seen_after_days,
                d.first_seen_after_days,
                1,
                90,
            ),
            threshold_z: c.num(
                &with(&base, "threshold_z"),
                a.threshold_z,
                default_threshold_z,
                (0.0, 1.0e6),
                true,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(counts: &[u64]) -> (Store, NaiveDate) {
        let mut store = Store::open_in_memory().unwrap();
        let first = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        let days: Vec<NaiveDate> = (0..counts.len() as u64)
            .map(|i| first + Days::new(i))
            .collect();
        let rows: Vec<ActivityCount> = days
            .iter()
            .zip(counts)
            .map(|(d, n)| ActivityCount {
                day: *d,
                account: "111111111111".into(),
                region: "eu-west-1".into(),
                event: "GetBucketAcl".into(),
                outcome: "success".into(),
                count: *n,
                drivers: vec![(
                    "arn:aws:iam::111111111111:user/x\u{1f}198.51.100.1\u{1f}curl".into(),
                    *n,
                )],
            })
            .collect();
        store.store_activity(&days, &rows).unwrap();
        (store, *days.last().unwrap())
    }

    #[test]
    fn a_rise_needs_the_days_of_trail_its_settings_promise() {
        let mut counts = vec![20; 10];
        counts.push(5000);
        let (store, day) = store_with(&counts);
        let rises = |after: u32| {
            let s = ActivitySettings {
                first_seen_after_days: after,
                ..ActivitySettings::default()
            };
            evaluate(&store, day, &s)
                .unwrap()
                .into_iter()
                .filter(|f| f.kind == "rise")
                .count()
        };
        assert_eq!(
            rises(7),
            1,
            "ten days of a steady level: the burst is a rise"
        );
        assert_eq!(
            rises(12),
            0,
            "fewer days of trail than promised: no finding yet"
        );
        // Two days of trail only: with the default, nothing is judged.
        let (store, day) = store_with(&[20, 5000]);
        let found = evaluate(&store, day, &ActivitySettings::default()).unwrap();
        assert!(found.is_empty(), "{found:?}");
    }
}
