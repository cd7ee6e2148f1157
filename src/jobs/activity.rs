//! The activity job (`egresswatch activity`, and the daily run's activity step): count the S3
//! events of the days the store has not counted yet, then judge each day of a range.
//!
//! Counting is the expensive part (a pass over the trail, or one SQL query), so each day is
//! counted once and stored; judging reads the stored counts (`detect::activity`).

use anyhow::Context;
use chrono::{Days, NaiveDate};

use crate::correlate::{scan_activity, CloudTrailSettings, Query};
use crate::detect::activity::{evaluate, ActivitySettings};
use crate::model::{ActivityCount, Finding};
use crate::sources::cloudtrail::{Clients, TrailSource};
use crate::state::Store;

/// Scan the days of `[from, to]` the store has not scanned yet (one pass over the trail) and
/// store their counts. Returns the number of days scanned.
pub async fn ensure_scanned(
    store: &mut Store,
    source: &TrailSource,
    ct: &CloudTrailSettings,
    settings: &ActivitySettings,
    clients: &Clients,
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

/// The first day whose counts judging `[from, ..]` reads (its history window).
pub fn history_from(from: NaiveDate, settings: &ActivitySettings) -> NaiveDate {
    from - Days::new(u64::from(settings.history_days))
}

/// What `egresswatch activity` found over a range.
#[derive(Debug, Default)]
pub struct ActivityOutcome {
    /// The stored counts of the range.
    pub rows: Vec<ActivityCount>,
    pub findings: Vec<Finding>,
}

/// Count what is missing of `[from, to]` and its history, then judge every day of it.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    store: &mut Store,
    source: &TrailSource,
    ct: &CloudTrailSettings,
    settings: &ActivitySettings,
    clients: &Clients,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<ActivityOutcome> {
    ensure_scanned(
        store,
        source,
        ct,
        settings,
        clients,
        history_from(from, settings),
        to,
    )
    .await?;
    let mut findings = Vec::new();
    for day in from.iter_days().take_while(|d| *d <= to) {
        findings.extend(evaluate(store, day, settings)?);
    }
    let rows = store.activity_rows(from, to)?;
    Ok(ActivityOutcome { rows, findings })
}
