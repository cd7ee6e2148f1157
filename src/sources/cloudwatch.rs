//! CloudWatch S3 request metrics: hours, not days, and per bucket.
//!
//! Buckets with request metrics turned on publish `BytesDownloaded` and `GetRequests` (namespace
//! `AWS/S3`, dimensions `BucketName` and `FilterId`) within minutes. This module finds them
//! (`ListMetrics`, following `NextToken`), fetches them with `GetMetricData` (at most 500 queries
//! per call, following `NextToken`), retries throttling with backoff, and publishes egresswatch's
//! own verdicts (`PutMetricData`) when asked.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, Context};
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types::{
    Dimension, DimensionFilter, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit,
};
use aws_sdk_cloudwatch::Client;
use chrono::{DateTime, Utc};

pub const NAMESPACE: &str = "AWS/S3";
pub const BYTES: &str = "BytesDownloaded";
pub const GETS: &str = "GetRequests";
/// GetMetricData takes at most 500 queries per call.
pub const MAX_QUERIES: usize = 500;
/// PutMetricData takes at most 1,000 data points per call.
const MAX_DATUMS: usize = 1000;

/// One bucket (and request-metrics filter) that publishes request metrics.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BucketMetric {
    pub bucket: String,
    pub filter_id: String,
}

/// Fetched series: (bucket, filter, metric) → (epoch seconds, value), oldest first.
#[derive(Debug, Default, Clone)]
pub struct Fetched {
    pub series: BTreeMap<(String, String, String), Vec<(i64, f64)>>,
    /// API calls made (GetMetricData pages).
    pub calls: usize,
}

/// Something that serves S3 request metrics: CloudWatch, or bundled data (the demo).
pub trait MetricSource {
    fn buckets(&self) -> impl Future<Output = anyhow::Result<Vec<BucketMetric>>>;
    /// `metrics` of `buckets` over `[start, end)` at `period` seconds, summed.
    fn fetch(
        &self,
        buckets: &[BucketMetric],
        metrics: &[&str],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        period: i32,
    ) -> impl Future<Output = anyhow::Result<Fetched>>;
    /// Publish verdicts under `namespace`; the number of calls made.
    fn publish(
        &self,
        namespace: &str,
        verdicts: &[Verdict],
    ) -> impl Future<Output = anyhow::Result<usize>>;
}

/// The live source.
#[derive(Debug, Clone)]
pub struct CloudWatch {
    pub client: Client,
    /// Attempts per call when CloudWatch throttles (or fails with a 5xx).
    pub attempts: u32,
    pub backoff: Duration,
}

impl CloudWatch {
    pub async fn from_env(profile: Option<&str>, region: Option<&str>) -> Self {
        let conf = crate::sources::sdk_config(profile, region).await;
        CloudWatch::new(Client::new(&conf))
    }

    pub fn new(client: Client) -> Self {
        CloudWatch {
            client,
            attempts: 5,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Whether an error is worth another try: throttling, or the service failing.
fn retryable<E: ProvideErrorMetadata>(
    e: &aws_sdk_cloudwatch::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    let code = e.code().unwrap_or_default();
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    matches!(
        code,
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequestsException"
    ) || status == 429
        || (500..600).contains(&status)
}

/// Run `call` until it succeeds, retrying what [`retryable`] allows.
macro_rules! with_retry {
    ($cw:expr, $what:expr, $call:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            match $call.await {
                Ok(v) => break Ok(v),
                Err(e) if attempt < $cw.attempts && retryable(&e) => {
                    let wait = $cw.backoff.saturating_mul(1 << (attempt - 1).min(10));
                    tracing::warn!(
                        attempt,
                        what = $what,
                        "CloudWatch throttled or failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    break Err(anyhow!(
                        "{}: {}",
                        $what,
                        crate::settings::errors::human_error(&e)
                    ))
                }
            }
        }
    }};
}

fn ts(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(t.timestamp())
}

impl MetricSource for CloudWatch {
    async fn buckets(&self) -> anyhow::Result<Vec<BucketMetric>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = with_retry!(
                self,
                "CloudWatch ListMetrics",
                self.client
                    .list_metrics()
                    .namespace(NAMESPACE)
                    .metric_name(BYTES)
                    .dimensions(DimensionFilter::builder().name("FilterId").build())
                    .set_next_token(token.clone())
                    .send()
            )?;
            for m in resp.metrics() {
                let dim = |n: &str| {
                    m.dimensions()
                        .iter()
                        .find(|d| d.name() == Some(n))
                        .and_then(|d| d.value())
                        .map(str::to_string)
                };
                if let (Some(bucket), Some(filter_id)) = (dim("BucketName"), dim("FilterId")) {
                    out.push(BucketMetric { bucket, filter_id });
                }
            }
            match resp.next_token() {
                Some(t) if !t.is_empty() && Some(t) != token.as_deref() => {
                    token = Some(t.to_string())
                }
                _ => break,
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn publish(&self, namespace: &str, verdicts: &[Verdict]) -> anyhow::Result<usize> {
        publish(self, namespace, verdicts).await
    }

    async fn fetch(
        &self,
        buckets: &[BucketMetric],
        metrics: &[&str],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        period: i32,
    ) -> anyhow::Result<Fetched> {
        let mut wanted: Vec<(String, String, String)> = Vec::new();
        for b in buckets {
            for m in metrics {
                wanted.push((b.bucket.clone(), b.filter_id.clone(), m.to_string()));
            }
        }
        let mut out = Fetched::default();
        for (chunk_no, chunk) in wanted.chunks(MAX_QUERIES).enumerate() {
            let queries: Vec<MetricDataQuery> = chunk
                .iter()
                .enumerate()
                .map(|(i, (bucket, filter, metric))| {
                    let metric = Metric::builder()
                        .namespace(NAMESPACE)
                        .metric_name(metric)
                        .dimensions(
                            Dimension::builder()
                                .name("BucketName")
                                .value(bucket)
                                .build(),
                        )
                        .dimensions(Dimension::builder().name("FilterId").value(filter).build())
                        .build();
                    MetricDataQuery::builder()
                        .id(format!("q{chunk_no}_{i}"))
                        .metric_stat(
                            MetricStat::builder()
                                .metric(metric)
                                .period(period)
                                .stat("Sum")
                                .build(),
                        )
                        .return_data(true)
                        .build()
                })
                .collect();
            let mut token: Option<String> = None;
            loop {
                let resp = with_retry!(
                    self,
                    "CloudWatch GetMetricData",
                    self.client
                        .get_metric_data()
                        .set_metric_data_queries(Some(queries.clone()))
                        .start_time(ts(start))
                        .end_time(ts(end))
                        .set_next_token(token.clone())
                        .send()
                )?;
                out.calls += 1;
                for r in resp.metric_data_results() {
                    let Some(i) = r
                        .id()
                        .and_then(|id| id.rsplit('_').next())
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|i| *i < chunk.len())
                    else {
                        continue;
                    };
                    let points = out.series.entry(chunk[i].clone()).or_default();
                    for (t, v) in r.timestamps().iter().zip(r.values()) {
                        points.push((t.secs(), *v));
                    }
                }
                match resp.next_token() {
                    Some(t) if !t.is_empty() && Some(t) != token.as_deref() => {
                        token = Some(t.to_string())
                    }
                    _ => break,
                }
            }
        }
        for points in out.series.values_mut() {
            points.sort_by_key(|(t, _)| *t);
            points.dedup_by_key(|(t, _)| *t);
        }
        Ok(out)
    }
}

/// One verdict to publish: a series, its anomaly score and its excess.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub account: String,
    pub region: String,
    pub family: String,
    pub time: DateTime<Utc>,
    pub score: f64,
    pub excess: f64,
}

/// Publish verdicts as `AnomalyScore` and `ExcessUsage` under `namespace` (dimensions Account,
/// Region, Family). Returns the number of calls made.
async fn publish(cw: &CloudWatch, namespace: &str, verdicts: &[Verdict]) -> anyhow::Result<usize> {
    let mut data = Vec::with_capacity(verdicts.len() * 2);
    for v in verdicts {
        let dims = vec![
            Dimension::builder()
                .name("Account")
                .value(&v.account)
                .build(),
            Dimension::builder().name("Region").value(&v.region).build(),
            Dimension::builder().name("Family").value(&v.family).build(),
        ];
        for (name, value) in [("AnomalyScore", v.score), ("ExcessUsage", v.excess)] {
            data.push(
                MetricDatum::builder()
                    .metric_name(name)
                    .set_dimensions(Some(dims.clone()))
                    .timestamp(ts(v.time))
                    .value(value)
                    .unit(StandardUnit::None)
                    .build(),
            );
        }
    }
    let mut calls = 0;
    for chunk in data.chunks(MAX_DATUMS) {
        with_retry!(
            cw,
            "CloudWatch PutMetricData",
            cw.client
                .put_metric_data()
                .namespace(namespace)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
        )
        .context("publishing verdicts")?;
        calls += 1;
    }
    Ok(calls)
}
