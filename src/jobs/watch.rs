//! The hourly watch job (`egresswatch watch`) and its settlement by the daily run.
//!
//! `watch` judges the last complete hours of every bucket's downloads
//! (`detect::early_warning`), records the warnings not seen before, and announces them through
//! the outbox like incidents. The next daily run settles each open warning: confirmed by an
//! incident of the bill (same region, a day inside the incident) or closed.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::notify::queue_and_deliver;
use crate::detect::early_warning::{watch, CloudWatchSettings};
use crate::model::{EarlyWarning, Incident, SeriesKey};
use crate::report::sink::{outbox, NotifySettings};
use crate::sources::cloudwatch::MetricSource;
use crate::state::Store;

/// What `egresswatch watch` did, as `--format json` prints it.
#[derive(Debug, Default, Clone, Serialize)]
pub struct WatchReport {
    pub buckets_checked: usize,
    pub cloudwatch_calls: usize,
    pub warnings: Vec<EarlyWarning>,
    /// Warnings raised for the first time by this run.
    pub new_warnings: usize,
    /// Messages delivered.
    pub notified: usize,
    pub delivery_error: Option<String>,
}

/// The hourly job: judge, record, announce what is new (through the outbox, like incidents).
pub async fn run_watch<M: MetricSource>(
    cw: &CloudWatchSettings,
    threshold_z: f64,
    notify: &NotifySettings,
    src: &M,
    store: &mut Store,
    now: DateTime<Utc>,
) -> anyhow::Result<WatchReport> {
    let out = watch(cw, threshold_z, src, now).await?;
    let new = store.record_warnings(&out.warnings)?;
    let messages = outbox::build_warnings(notify, &new);
    let d = queue_and_deliver(notify, store, &messages, &[]).await?;
    Ok(WatchReport {
        buckets_checked: out.buckets_checked,
        cloudwatch_calls: out.cloudwatch_calls,
        new_warnings: new.len(),
        warnings: out.warnings,
        notified: d.delivered,
        delivery_error: d.errors.first().cloned(),
    })
}

/// The daily run's part: confirm open warnings the bill now shows as incidents (same region,
/// a day inside the incident), close those whose day the bill has settled without one. A
/// confirmed warning comes back with the confirming incident's series and first day.
#[allow(clippy::type_complexity)]
pub fn settle(
    store: &mut Store,
    incidents: &[Incident],
    evaluated_day: NaiveDate,
) -> anyhow::Result<Vec<(EarlyWarning, Option<(SeriesKey, NaiveDate)>)>> {
    let mut settled = Vec::new();
    for (id, w) in store.open_warnings()? {
        if w.day() > evaluated_day {
            continue; // not in the bill yet
        }
        let confirmed = incidents.iter().find(|i| {
            (w.region.is_empty() || i.region == w.region) && i.start <= w.day() && w.day() <= i.day
        });
        match confirmed {
            Some(i) => {
                let label = format!("{} from {}", i.key(), i.start);
                store.resolve_warning(id, "confirmed", Some(&label))?;
                settled.push((w, Some((i.key(), i.start))));
            }
            None => {
                store.resolve_warning(id, "closed", None)?;
                settled.push((w, None));
            }
        }
    }
    Ok(settled)
}
