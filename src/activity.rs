//! S3 activity trends: daily counts of S3 API calls per (account, region, event, outcome) from
//! CloudTrail, judged by the same detector as the bill.
//!
//! Many attacks show first as calls, not bytes: a reconnaissance burst of `GetBucketAcl` from a
//! new principal, a wall of `AccessDenied` on `GetObject`, a first-ever `PutBucketReplication`.
//! Each day is scanned once and stored; a *rise* is a day that breaks its series' baseline by a
//! significant and material number of calls (naming who drove it); a *first-seen* is an S3 event
//! name never seen before in the account (once the account has enough history to say so).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::correlate::{scan_activity, ActivityCount, Query};
use crate::detect::online::{run as detect, Direction, OnlineParams};
use crate::sources::cloudtrail::TrailSource;
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
    /// Days of history an account needs before "first seen" means anything.
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

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub day: NaiveDate,
    pub account: String,
    pub region: String,
    pub event: String,
    pub outcome: String,
    /// `rise` or `first-seen`.
    pub kind: String,
    pub count: u64,
    pub expected: f64,
    pub score: f64,
    /// The (principal, source IP, user agent) that drove it, and its share of the day's calls.
    pub principal: String,
    pub source_ip: String,
    pub user_agent: String,
    pub share: f64,
    /// The principal made no such call in the history window.
    pub new_principal: bool,
    pub why: String,
}

/// Scan the days of `[from, to]` the store has not scanned yet (one pass over the trail) and
/// store their counts. Returns the number of days scanned.
pub async fn ensure_scanned(
    store: &mut Store,
    source: &TrailSource,
    ct: &crate::config::CloudTrailSettings,
    settings: &ActivitySettings,
    clients: &crate::sources::cloudtrail::Clients,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<usize> {
    let done = store.activity_days(from, to)?;
    let missing: Vec<NaiveDate> = from
        .iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| !done.contains(d))
        .collect();
    let (Some(first), Some(last)) = (missing.first().copied(), missing.last().copied()) else {
        return Ok(0);
    };
    let query = Query::days(first, last, None, None);
    let (rows, _) = scan_activity(source, &query, ct, clients, settings.ignore_events.clone())
        .await
        .context("counting S3 activity in CloudTrail")?;
    store.store_activity(&missing, &rows)?;
    Ok(missing.len())
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
                    crate::report::format::num(today.count as f64, 0)
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
        if v.anomaly && today.count >= min && today.count as f64 - v.expected >= s.min_excess {
            out.push(finding(
                "rise",
                format!(
                    "{event}{label}: {} calls vs {} expected; {driver_text}",
                    crate::report::format::num(today.count as f64, 0),
                    crate::report::format::num(v.expected, 0)
                ),
            ));
        }
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.event.cmp(&b.event)));
    Ok(out)
}
