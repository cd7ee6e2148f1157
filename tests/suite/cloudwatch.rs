//! CloudWatch request metrics through aws-smithy-mocks (moto does not speak the current
//! CloudWatch protocol): discovery with pagination, batches above 500 queries, throttling with
//! retry, publishing, and `watch` finding a planted hourly burst within its first hour.

use std::time::Duration;

use aws_sdk_cloudwatch::operation::get_metric_data::{GetMetricDataError, GetMetricDataOutput};
use aws_sdk_cloudwatch::operation::list_metrics::ListMetricsOutput;
use aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataOutput;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataResult};
use aws_sdk_cloudwatch::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use egresswatch::config::Config;
use egresswatch::detect::early_warning::CloudWatchSettings;
use egresswatch::sources::cloudwatch::{BucketMetric, CloudWatch, MetricSource, BYTES, GETS};
use egresswatch::state::Store;

fn metric(bucket: &str) -> Metric {
    Metric::builder()
        .namespace("AWS/S3")
        .metric_name(BYTES)
        .dimensions(
            Dimension::builder()
                .name("BucketName")
                .value(bucket)
                .build(),
        )
        .dimensions(
            Dimension::builder()
                .name("FilterId")
                .value("EntireBucket")
                .build(),
        )
        .build()
}

fn cw(client: Client) -> CloudWatch {
    CloudWatch {
        client,
        attempts: 4,
        backoff: Duration::from_millis(5),
    }
}

const GB: f64 = 1_073_741_824.0;

/// Hourly bytes for a bucket at `t`: a daily cycle, a burst for `exports` from `burst_at`.
fn bytes_at(bucket: &str, t: i64, burst_at: i64) -> f64 {
    let hour = ((t / 3600) % 24) as f64;
    let base = if bucket == "exports" { 2.0 } else { 5.0 };
    let cycle = 1.0 + 0.5 * (hour * std::f64::consts::TAU / 24.0).sin();
    let wobble = 1.0 + (((t / 3600) * 7919 % 13) as f64 - 6.0) / 100.0;
    let mut v = base * cycle * wobble * GB;
    if bucket == "exports" && t >= burst_at {
        v += 150.0 * GB;
    }
    v
}

/// GetMetricData answered from the queries themselves: hourly points for [start, end).
fn metric_data_rule(burst_at: i64) -> aws_smithy_mocks::Rule {
    mock!(Client::get_metric_data).then_compute_output(move |req| {
        let start = req.start_time().unwrap().secs();
        let end = req.end_time().unwrap().secs();
        let period = i64::from(
            req.metric_data_queries()[0]
                .metric_stat()
                .unwrap()
                .period()
                .unwrap(),
        );
        let results = req
            .metric_data_queries()
            .iter()
            .map(|q| {
                let m = q.metric_stat().unwrap().metric().unwrap();
                let bucket = m
                    .dimensions()
                    .iter()
                    .find(|d| d.name() == Some("BucketName"))
                    .unwrap()
                    .value()
                    .unwrap()
                    .to_string();
                let mut b = MetricDataResult::builder().id(q.id().unwrap());
                let mut t = start;
                while t < end {
                    b = b
                        .timestamps(aws_smithy_types::DateTime::from_secs(t))
                        .values(bytes_at(&bucket, t, burst_at));
                    t += period;
                }
                b.build()
            })
            .collect::<Vec<_>>();
        GetMetricDataOutput::builder()
            .set_metric_data_results(Some(results))
            .build()
    })
}

#[tokio::test]
async fn discovery_follows_next_token() {
    let pages = mock!(Client::list_metrics)
        .sequence()
        .output(|| {
            ListMetricsOutput::builder()
                .metrics(metric("a"))
                .metrics(metric("b"))
                .next_token("t2")
                .build()
        })
        .output(|| ListMetricsOutput::builder().metrics(metric("c")).build())
        .build();
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [&pages]);
    let buckets = cw(client).buckets().await.unwrap();
    let names: Vec<&str> = buckets.iter().map(|b| b.bucket.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(pages.num_calls(), 2);
}

#[tokio::test]
async fn more_than_500_queries_are_batched_and_pages_followed() {
    // 300 buckets × 2 metrics = 600 queries: two batches; the first answers in two pages.
    let buckets: Vec<BucketMetric> = (0..300)
        .map(|i| BucketMetric {
            bucket: format!("b{i:03}"),
            filter_id: "EntireBucket".into(),
        })
        .collect();
    let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = sizes.clone();
    let paged = mock!(Client::get_metric_data)
        .match_requests(|r| r.next_token().is_none() && r.metric_data_queries().len() == 500)
        .then_compute_output(move |r| {
            seen.lock().unwrap().push(r.metric_data_queries().len());
            let first = r.metric_data_queries()[0].id().unwrap().to_string();
            GetMetricDataOutput::builder()
                .metric_data_results(
                    MetricDataResult::builder()
                        .id(first)
                        .timestamps(aws_smithy_types::DateTime::from_secs(3600))
                        .values(1.0)
                        .build(),
                )
                .next_token("page-2")
                .build()
        });
    let page2 = mock!(Client::get_metric_data)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_compute_output(|r| {
            let last = r
                .metric_data_queries()
                .last()
                .unwrap()
                .id()
                .unwrap()
                .to_string();
            GetMetricDataOutput::builder()
                .metric_data_results(
                    MetricDataResult::builder()
                        .id(last)
                        .timestamps(aws_smithy_types::DateTime::from_secs(7200))
                        .values(2.0)
                        .build(),
                )
                .build()
        });
    let rest = mock!(Client::get_metric_data)
        .match_requests(|r| r.metric_data_queries().len() == 100)
        .then_compute_output(|r| {
            let id = r.metric_data_queries()[99].id().unwrap().to_string();
            GetMetricDataOutput::builder()
                .metric_data_results(
                    MetricDataResult::builder()
                        .id(id)
                        .timestamps(aws_smithy_types::DateTime::from_secs(3600))
                        .values(3.0)
                        .build(),
                )
                .build()
        });
    let client = mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        [&paged, &page2, &rest]
    );
    let start = Utc.timestamp_opt(0, 0).unwrap();
    let out = cw(client)
        .fetch(&buckets, &[BYTES, GETS], start, start + Span::days(1), 3600)
        .await
        .unwrap();
    assert_eq!(
        (paged.num_calls(), page2.num_calls(), rest.num_calls()),
        (1, 1, 1)
    );
    assert_eq!(out.calls, 3);
    // Results land on the right (bucket, metric): the first query, the 500th, and the 600th.
    assert_eq!(
        out.series[&("b000".into(), "EntireBucket".into(), BYTES.into())],
        vec![(3600, 1.0)]
    );
    assert_eq!(
        out.series[&("b249".into(), "EntireBucket".into(), GETS.into())],
        vec![(7200, 2.0)]
    );
    assert_eq!(
        out.series[&("b299".into(), "EntireBucket".into(), GETS.into())],
        vec![(3600, 3.0)]
    );
}

#[tokio::test]
async fn throttling_is_retried() {
    let throttled = mock!(Client::get_metric_data)
        .sequence()
        .error(|| {
            GetMetricDataError::generic(
                aws_sdk_cloudwatch::error::ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            )
        })
        .output(|| GetMetricDataOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [&throttled]);
    let b = vec![BucketMetric {
        bucket: "x".into(),
        filter_id: "EntireBucket".into(),
    }];
    let start = Utc.timestamp_opt(0, 0).unwrap();
    let out = cw(client)
        .fetch(&b, &[BYTES], start, start + Span::hours(2), 3600)
        .await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(throttled.num_calls(), 2, "one throttled call, one retry");
}

#[tokio::test]
async fn publishing_sends_score_and_excess_per_series() {
    let put = mock!(Client::put_metric_data)
        .match_requests(|r| r.namespace() == Some("Egresswatch") && r.metric_data().len() == 4)
        .then_output(|| PutMetricDataOutput::builder().build());
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&put]);
    let v = |f: &str| egresswatch::sources::cloudwatch::Verdict {
        account: "1".into(),
        region: "eu-west-1".into(),
        family: f.into(),
        time: Utc::now(),
        score: 0.9,
        excess: 12.0,
    };
    let calls = cw(client)
        .publish("Egresswatch", &[v("internet-out"), v("get-requests")])
        .await
        .unwrap();
    assert_eq!((calls, put.num_calls()), (1, 1));
}

fn config(dir: &std::path::Path) -> Config {
    Config {
        state_path: dir.join("state.db"),
        cloudwatch: Some(CloudWatchSettings {
            region: Some("eu-west-1".into()),
            ..Default::default()
        }),
        ..Config::default()
    }
}

#[tokio::test]
async fn watch_reports_the_bursting_bucket_within_the_first_hour() {
    let list = mock!(Client::list_metrics).then_output(|| {
        ListMetricsOutput::builder()
            .metrics(metric("exports"))
            .metrics(metric("assets"))
            .metrics(metric("logs"))
            .build()
    });
    // The burst starts at 03:00; the watch runs at 04:05, the first hour of the burst complete.
    let burst: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 6, 15, 3, 0, 0).unwrap();
    let data = metric_data_rule(burst.timestamp());
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&list, &data]);
    let src = cw(client);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let mut store = Store::open(&cfg.state_path).unwrap();
    let now = burst + Span::minutes(65);
    let r = egresswatch::jobs::watch::run_watch(
        cfg.cloudwatch.as_ref().unwrap(),
        cfg.detect.gates.min_robust_z,
        &cfg.notify,
        &src,
        &mut store,
        now,
    )
    .await
    .unwrap();
    assert_eq!(r.buckets_checked, 3);
    let flagged: Vec<&str> = r.warnings.iter().map(|w| w.bucket.as_str()).collect();
    assert_eq!(
        flagged,
        ["exports"],
        "only the bursting bucket: {:?}",
        r.warnings
    );
    assert_eq!(r.warnings[0].hour, burst, "the first hour of the burst");
    assert!(r.warnings[0].reason.contains("not yet in billing"));
    assert_eq!(r.new_warnings, 1);
    // An hour later the burst goes on: the known hour is not new; the next one is.
    let r2 = egresswatch::jobs::watch::run_watch(
        cfg.cloudwatch.as_ref().unwrap(),
        cfg.detect.gates.min_robust_z,
        &cfg.notify,
        &src,
        &mut store,
        now + Span::hours(1),
    )
    .await
    .unwrap();
    assert!(r2.warnings.iter().all(|w| w.bucket == "exports"));
    assert_eq!(
        r2.new_warnings,
        r2.warnings.len() - 1,
        "the first hour is not announced again"
    );

    // The daily run settles it: an incident in the region that day confirms, otherwise it closes.
    let incident = egresswatch::model::Incident {
        account: "1".into(),
        account_name: None,
        region: "eu-west-1".into(),
        family: egresswatch::model::Family::InternetOut,
        day: burst.date_naive(),
        start: burst.date_naive(),
        peak_day: burst.date_naive(),
        days: 1,
        observed: 1.0,
        expected: 0.0,
        lower: 0.0,
        upper: 0.0,
        unit: "GB".into(),
        excess_usage: 1.0,
        excess_pct: None,
        excess_cost_usd: 1.0,
        observed_cost_usd: 1.0,
        total_excess_usage: 1.0,
        total_excess_cost_usd: 1.0,
        score: 1.0,
        robust_z: 9.0,
        p_value: 1e-9,
        evidence: "spike".into(),
        young: false,
        estimated: false,
        reason: String::new(),
        related: Vec::new(),
    };
    let settled =
        egresswatch::jobs::watch::settle(&mut store, &[incident], burst.date_naive()).unwrap();
    assert!(!settled.is_empty() && settled.iter().all(|(_, c)| c.is_some()));
    let (status, by) = store
        .warning_status("exports", &burst.to_rfc3339())
        .unwrap()
        .unwrap();
    assert_eq!(status, "confirmed");
    assert!(by.unwrap().contains("eu-west-1"));
}
