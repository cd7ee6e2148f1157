//! Early warning: the detector on hourly per-bucket S3 request metrics.
//!
//! Cost Explorer lags up to a day; CloudWatch request metrics arrive within minutes. `watch`,
//! meant to run hourly, judges the last complete hours of every bucket's `BytesDownloaded` against
//! its own hourly baseline (daily seasonality) and raises an *early warning, not yet in billing*
//! for what breaks it by a significant and material amount. The next daily run confirms it (the
//! bill shows an incident for that region and day) or closes it. The same per-bucket metrics
//! attribute Cost Explorer incidents to buckets (see [`attribute`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::config::CloudWatchSettings;
use crate::detect::online::{run as detect, Direction, OnlineParams, Seasonality};
use crate::sources::cloudwatch::{BucketMetric, MetricSource, BYTES};

const GB: f64 = 1_073_741_824.0;

/// One early warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyWarning {
    pub bucket: String,
    pub filter_id: String,
    pub region: String,
    /// The start of the hour that broke the baseline (UTC).
    pub hour: DateTime<Utc>,
    pub observed_gb: f64,
    pub expected_gb: f64,
    pub upper_gb: f64,
    pub score: f64,
    pub robust_z: f64,
    pub reason: String,
}

impl EarlyWarning {
    pub fn day(&self) -> NaiveDate {
        self.hour.date_naive()
    }
}

/// What one `watch` found.
#[derive(Debug, Default, Clone, Serialize)]
pub struct WatchOutcome {
    pub buckets_checked: usize,
    pub cloudwatch_calls: usize,
    /// Warnings for the hours judged in this run (new or already known).
    pub warnings: Vec<EarlyWarning>,
}

/// The detector's parameters for hourly bytes.
pub fn hourly_params(threshold_z: f64) -> OnlineParams {
    let mut p = OnlineParams::for_interval(3600.0);
    p.seasonality = Seasonality::Fixed(24);
    p.direction = Direction::Up;
    p.threshold_z = threshold_z;
    // GB on a log scale: an hour of silence and an hour of 10 MB are both "nothing".
    p.log_offset = Some(0.01);
    p.abs_floor = 0.05;
    p
}

/// Judge the last `cfg.hours_checked` complete hours before `now` for every bucket.
pub async fn watch<M: MetricSource>(
    cfg: &CloudWatchSettings,
    threshold_z: f64,
    src: &M,
    now: DateTime<Utc>,
) -> anyhow::Result<WatchOutcome> {
    let end = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let start = end - Duration::days(i64::from(cfg.history_days));
    let buckets = src.buckets().await?;
    let fetched = src.fetch(&buckets, &[BYTES], start, end, 3600).await?;
    let hours = (end - start).num_hours() as usize;
    let params = hourly_params(threshold_z);
    let mut out = WatchOutcome {
        buckets_checked: buckets.len(),
        cloudwatch_calls: fetched.calls,
        warnings: Vec::new(),
    };
    for b in &buckets {
        let mut values = vec![0.0; hours];
        if let Some(points) =
            fetched
                .series
                .get(&(b.bucket.clone(), b.filter_id.clone(), BYTES.to_string()))
        {
            for (t, v) in points {
                let i = (t - start.timestamp()) / 3600;
                if (0..hours as i64).contains(&i) {
                    values[i as usize] += v / GB;
                }
            }
        }
        let verdicts = detect(&values, None, &params);
        for i in hours.saturating_sub(cfg.hours_checked as usize)..hours {
            let o = &verdicts[i];
            let excess = values[i] - o.expected;
            if !o.anomaly || excess < cfg.min_excess_gb_per_hour {
                continue;
            }
            let hour = start + Duration::hours(i as i64);
            out.warnings.push(EarlyWarning {
                bucket: b.bucket.clone(),
                filter_id: b.filter_id.clone(),
                region: cfg.region.clone().unwrap_or_default(),
                hour,
                observed_gb: values[i],
                expected_gb: o.expected,
                upper_gb: o.upper,
                score: o.score,
                robust_z: o.z,
                reason: format!(
                    "{:.1} GB downloaded in the hour from {} vs {:.1} GB expected for that hour of the day, {:.1} robust σ; early warning, not yet in billing",
                    values[i],
                    hour.format("%Y-%m-%d %H:%M UTC"),
                    o.expected,
                    o.z
                ),
            });
        }
    }
    Ok(out)
}

/// A bucket's part in an incident's growth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketGrowth {
    pub bucket: String,
    pub filter_id: String,
    /// GB downloaded over the incident's days.
    pub window_gb: f64,
    /// GB a day before the incident.
    pub baseline_gb_per_day: f64,
    /// Window GB above the baseline rate.
    pub growth_gb: f64,
    /// Share of the growth of all buckets that grew.
    pub share: f64,
}

/// The buckets whose downloads grew over `[start, end]` against the `baseline_days` before.
pub async fn attribute<M: MetricSource>(
    src: &M,
    buckets: &[BucketMetric],
    start: NaiveDate,
    end: NaiveDate,
    baseline_days: u32,
) -> anyhow::Result<Vec<BucketGrowth>> {
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    let from = midnight(start) - Duration::days(i64::from(baseline_days));
    let until = midnight(end) + Duration::days(1);
    let fetched = src.fetch(buckets, &[BYTES], from, until, 86_400).await?;
    let window_days = ((end - start).num_days() + 1) as f64;
    let mut rows = Vec::new();
    for b in buckets {
        let mut window = 0.0;
        let mut base = 0.0;
        if let Some(points) =
            fetched
                .series
                .get(&(b.bucket.clone(), b.filter_id.clone(), BYTES.to_string()))
        {
            for (t, v) in points {
                if *t >= midnight(start).timestamp() {
                    window += v / GB;
                } else {
                    base += v / GB;
                }
            }
        }
        let per_day = if baseline_days > 0 {
            base / f64::from(baseline_days)
        } else {
            0.0
        };
        rows.push(BucketGrowth {
            bucket: b.bucket.clone(),
            filter_id: b.filter_id.clone(),
            window_gb: window,
            baseline_gb_per_day: per_day,
            growth_gb: window - per_day * window_days,
            share: 0.0,
        });
    }
    let total: f64 = rows.iter().map(|r| r.growth_gb.max(0.0)).sum();
    rows.retain(|r| r.growth_gb > 0.0);
    for r in &mut rows {
        r.share = if total > 0.0 {
            r.growth_gb / total
        } else {
            0.0
        };
    }
    rows.sort_by(|a, b| b.growth_gb.total_cmp(&a.growth_gb));
    Ok(rows)
}

/// Warnings of a day, by bucket (for the report).
pub fn by_bucket(warnings: &[EarlyWarning]) -> BTreeMap<String, Vec<&EarlyWarning>> {
    let mut m: BTreeMap<String, Vec<&EarlyWarning>> = BTreeMap::new();
    for w in warnings {
        m.entry(w.bucket.clone()).or_default().push(w);
    }
    m
}

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
    cfg: &crate::config::Config,
    src: &M,
    store: &mut crate::state::Store,
    now: DateTime<Utc>,
) -> anyhow::Result<WatchReport> {
    use crate::report::outbox;
    let cw = cfg
        .cloudwatch
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("watch needs a [cloudwatch] table in the config"))?;
    let out = watch(cw, cfg.detect.gates.min_robust_z, src, now).await?;
    let new = store.record_warnings(&out.warnings)?;
    let messages = outbox::build_warnings(cfg, &new);
    store.queue_messages(&messages, &[])?;
    let d = outbox::deliver_all(cfg, store).await?;
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
/// a day inside the incident), close those whose day the bill has settled without one.
pub fn settle(
    store: &mut crate::state::Store,
    incidents: &[crate::detect::Incident],
    evaluated_day: NaiveDate,
) -> anyhow::Result<Vec<(EarlyWarning, Option<String>)>> {
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
                settled.push((w, Some(label)));
            }
            None => {
                store.resolve_warning(id, "closed", None)?;
                settled.push((w, None));
            }
        }
    }
    Ok(settled)
}
