//! Early warning: the detector on hourly per-bucket S3 request metrics.
//!
//! Cost Explorer lags up to a day; CloudWatch request metrics arrive within minutes. [`watch`]
//! judges the last complete hours of every bucket's `BytesDownloaded` against its own hourly
//! baseline (daily seasonality) and raises an *early warning, not yet in billing* for what
//! breaks it by a significant and material amount. The next daily run confirms it (the bill
//! shows an incident for that region and day) or closes it. The same per-bucket metrics
//! attribute Cost Explorer incidents to buckets ([`attribute`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::online::{run as detect, Direction, OnlineParams, Seasonality};
use crate::model::units::{midnight, BYTES_PER_GB as GB};
use crate::model::{BucketGrowth, EarlyWarning};
use crate::settings::{keys, with, Check};
use crate::sources::cloudwatch::{BucketMetric, MetricSource, BYTES};

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
    // Each hour judged on its own: a second burst on the same bucket a day after the first is a
    // warning too (stream scoring's refractory period would hold it back for 120 hours).
    p.stream = None;
    p.floor_diff = 0.0;
    p.floor_quant = 0.0;
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

/// The buckets whose downloads grew over `[start, end]` against the `baseline_days` before.
pub async fn attribute<M: MetricSource>(
    src: &M,
    buckets: &[BucketMetric],
    start: NaiveDate,
    end: NaiveDate,
    baseline_days: u32,
) -> anyhow::Result<Vec<BucketGrowth>> {
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

/// `[cloudwatch]`: hourly early warnings and per-bucket attribution from S3 request metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudWatchSettings {
    /// The region whose buckets are read (CloudWatch is regional); `None`: the SDK's region.
    pub region: Option<String>,
    /// Days of hourly history behind an early warning.
    pub history_days: u32,
    /// The last complete hours judged by each `watch`.
    pub hours_checked: u32,
    /// Materiality of an early warning: GB above expected in the hour.
    pub min_excess_gb_per_hour: f64,
    /// Days before an incident that define a bucket's normal, for attribution.
    pub baseline_days: u32,
    /// Opt-in: publish each series' anomaly score and excess here (PutMetricData).
    pub publish_namespace: Option<String>,
}

impl Default for CloudWatchSettings {
    fn default() -> Self {
        CloudWatchSettings {
            region: None,
            history_days: 14,
            hours_checked: 2,
            min_excess_gb_per_hour: 1.0,
            baseline_days: 7,
            publish_namespace: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RawCloudWatch {
    pub region: Option<String>,
    pub history_days: Option<i64>,
    pub hours_checked: Option<i64>,
    pub min_excess_gb_per_hour: Option<f64>,
    pub baseline_days: Option<i64>,
    pub publish_namespace: Option<String>,
}

impl CloudWatchSettings {
    /// Validate `[cloudwatch]`.
    pub fn check(c: RawCloudWatch, ck: &mut Check<'_>) -> CloudWatchSettings {
        let base = keys(&["cloudwatch"]);
        let d = CloudWatchSettings::default();
        let namespace = c.publish_namespace.filter(|n| !n.trim().is_empty());
        if namespace.as_deref().is_some_and(|n| n.starts_with("AWS/")) {
            ck.fail(
                &with(&base, "publish_namespace"),
                "namespaces starting with AWS/ are reserved",
            );
        }
        CloudWatchSettings {
            region: c.region,
            history_days: ck.int(
                &with(&base, "history_days"),
                c.history_days,
                d.history_days,
                2,
                60,
            ),
            hours_checked: ck.int(
                &with(&base, "hours_checked"),
                c.hours_checked,
                d.hours_checked,
                1,
                48,
            ),
            min_excess_gb_per_hour: ck.num(
                &with(&base, "min_excess_gb_per_hour"),
                c.min_excess_gb_per_hour,
                d.min_excess_gb_per_hour,
                (0.0, f64::INFINITY),
                false,
            ),
            baseline_days: ck.int(
                &with(&base, "baseline_days"),
                c.baseline_days,
                d.baseline_days,
                1,
                60,
            ),
            publish_namespace: namespace,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::online;

    #[test]
    fn a_second_burst_a_day_later_is_a_warning_too() {
        // Three weeks of hourly GB with a daily cycle; a burst, and another 30 hours later on
        // the same bucket: each hour is judged on its own, both warn.
        let mut v: Vec<f64> = (0..24 * 21)
            .map(|h| {
                let wobble = ((h * 7919) % 13) as f64 / 13.0 - 0.5;
                2.0 + (h as f64 * std::f64::consts::TAU / 24.0).sin() + 0.2 * wobble
            })
            .collect();
        let (first, second) = (24 * 18 + 10, 24 * 18 + 40);
        v[first] += 40.0;
        v[second] += 40.0;
        let out = online::run(&v, None, &hourly_params(4.0));
        assert!(out[first].anomaly && out[second].anomaly);
        let flagged = out[24 * 4..].iter().filter(|o| o.anomaly).count();
        assert!(flagged <= 4, "{flagged} hours flagged");
    }
}
