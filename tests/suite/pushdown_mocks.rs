//! What moto cannot serve, through aws-smithy-mocks: an Athena query that FAILS (moto's
//! executions only ever succeed), Athena results over several pages (moto answers in one),
//! and CloudTrail Lake (not implemented in moto): waiting while queued, paging, failure, and
//! cancelling past the timeout.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_athena::operation::start_query_execution::StartQueryExecutionOutput;
use aws_sdk_athena::operation::stop_query_execution::StopQueryExecutionOutput;
use aws_sdk_athena::types::{
    AthenaError, ColumnInfo, Datum, QueryExecution, QueryExecutionState, QueryExecutionStatistics,
    QueryExecutionStatus, ResultSet, ResultSetMetadata, Row,
};
use aws_sdk_cloudtrail::operation::cancel_query::CancelQueryOutput;
use aws_sdk_cloudtrail::operation::get_query_results::GetQueryResultsOutput as LakeResults;
use aws_sdk_cloudtrail::operation::start_query::StartQueryOutput;
use aws_sdk_cloudtrail::types::{QueryStatistics, QueryStatus};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use egresswatch::sources::sql::athena::{Athena, AthenaSettings};
use egresswatch::sources::sql::lake::{Lake, LakeSettings};
use egresswatch::sources::sql::Poll;

fn fast(timeout_ms: u64) -> Poll {
    Poll {
        timeout: Duration::from_millis(timeout_ms),
        first: Duration::from_millis(5),
        max: Duration::from_millis(20),
    }
}

fn athena(client: aws_sdk_athena::Client) -> Athena {
    Athena {
        client,
        settings: AthenaSettings {
            poll: fast(5_000),
            ..AthenaSettings::default()
        },
    }
}

fn execution(state: QueryExecutionState) -> GetQueryExecutionOutput {
    let mut status = QueryExecutionStatus::builder().state(state.clone());
    if state == QueryExecutionState::Failed {
        status = status
            .state_change_reason("TABLE_NOT_FOUND: line 19:8: Table 'awsdatacatalog.default.cloudtrail_logs' does not exist")
            .athena_error(AthenaError::builder().error_category(2).error_type(1301).build());
    }
    GetQueryExecutionOutput::builder()
        .query_execution(
            QueryExecution::builder()
                .query_execution_id("q-1")
                .status(status.build())
                .statistics(
                    QueryExecutionStatistics::builder()
                        .data_scanned_in_bytes(123_456_789)
                        .build(),
                )
                .build(),
        )
        .build()
}

fn row(values: &[Option<&str>]) -> Row {
    let mut r = Row::builder();
    for v in values {
        let mut d = Datum::builder();
        if let Some(v) = v {
            d = d.var_char_value(*v);
        }
        r = r.data(d.build());
    }
    r.build()
}

fn page(rows: Vec<Row>, token: Option<&str>) -> GetQueryResultsOutput {
    let meta = ResultSetMetadata::builder()
        .column_info(
            ColumnInfo::builder()
                .name("section")
                .r#type("varchar")
                .build()
                .unwrap(),
        )
        .column_info(
            ColumnInfo::builder()
                .name("n")
                .r#type("bigint")
                .build()
                .unwrap(),
        )
        .build();
    let mut b = GetQueryResultsOutput::builder().result_set(
        ResultSet::builder()
            .set_rows(Some(rows))
            .result_set_metadata(meta)
            .build(),
    );
    if let Some(t) = token {
        b = b.next_token(t);
    }
    b.build()
}

#[tokio::test]
async fn a_failed_athena_query_says_why() {
    let start = mock!(aws_sdk_athena::Client::start_query_execution).then_output(|| {
        StartQueryExecutionOutput::builder()
            .query_execution_id("q-1")
            .build()
    });
    let states = mock!(aws_sdk_athena::Client::get_query_execution)
        .sequence()
        .output(|| execution(QueryExecutionState::Running))
        .output(|| execution(QueryExecutionState::Failed))
        .build();
    let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&start, &states]);
    let err = athena(client)
        .run("SELECT 1")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("Athena query q-1 failed"), "{err}");
    assert!(
        err.contains("TABLE_NOT_FOUND") && err.contains("[1301]"),
        "{err}"
    );
    assert_eq!(states.num_calls(), 2);
}

#[tokio::test]
async fn athena_results_are_paged_and_the_header_dropped_once() {
    let start = mock!(aws_sdk_athena::Client::start_query_execution).then_output(|| {
        StartQueryExecutionOutput::builder()
            .query_execution_id("q-1")
            .build()
    });
    let done = mock!(aws_sdk_athena::Client::get_query_execution)
        .then_output(|| execution(QueryExecutionState::Succeeded));
    let p1 = mock!(aws_sdk_athena::Client::get_query_results)
        .match_requests(|r| r.next_token().is_none() && r.max_results() == Some(1000))
        .then_output(|| {
            page(
                vec![
                    row(&[Some("section"), Some("n")]),
                    row(&[Some("get"), Some("1")]),
                    row(&[Some("base"), None]),
                ],
                Some("t2"),
            )
        });
    // A later page whose first row looks like a header is data all the same.
    let p2 = mock!(aws_sdk_athena::Client::get_query_results)
        .match_requests(|r| r.next_token() == Some("t2"))
        .then_output(|| {
            page(
                vec![
                    row(&[Some("section"), Some("n")]),
                    row(&[Some("cp"), Some("3")]),
                ],
                Some("t3"),
            )
        });
    let p3 = mock!(aws_sdk_athena::Client::get_query_results)
        .match_requests(|r| r.next_token() == Some("t3"))
        .then_output(|| page(vec![row(&[Some("del"), Some("4")])], None));
    let client = mock_client!(
        aws_sdk_athena,
        RuleMode::MatchAny,
        [&start, &done, &p1, &p2, &p3]
    );
    let (rows, stats) = athena(client).run("SELECT 1").await.unwrap();
    assert_eq!(rows.columns, ["section", "n"]);
    let first: Vec<Option<&str>> = rows.rows.iter().map(|r| r[0].as_deref()).collect();
    assert_eq!(
        first,
        [
            Some("get"),
            Some("base"),
            Some("section"),
            Some("cp"),
            Some("del")
        ]
    );
    assert_eq!(rows.rows[1][1], None, "a NULL stays NULL");
    assert_eq!((stats.bytes_scanned, stats.rows), (123_456_789, 5));
    assert!((stats.cost_usd - 123_456_789.0 / 1_099_511_627_776.0 * 5.0).abs() < 1e-12);
    assert_eq!((p1.num_calls(), p2.num_calls(), p3.num_calls()), (1, 1, 1));
}

#[tokio::test]
async fn athena_stops_what_it_stops_waiting_for() {
    let start = mock!(aws_sdk_athena::Client::start_query_execution).then_output(|| {
        StartQueryExecutionOutput::builder()
            .query_execution_id("q-9")
            .build()
    });
    let queued = mock!(aws_sdk_athena::Client::get_query_execution)
        .then_output(|| execution(QueryExecutionState::Queued));
    let stop = mock!(aws_sdk_athena::Client::stop_query_execution)
        .match_requests(|r| r.query_execution_id() == Some("q-9"))
        .then_output(|| StopQueryExecutionOutput::builder().build());
    let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&start, &queued, &stop]);
    let mut a = athena(client);
    a.settings.poll = fast(60);
    let err = a.run("SELECT 1").await.unwrap_err().to_string();
    assert!(
        err.contains("q-9 did not finish") && err.contains("(stopped)"),
        "{err}"
    );
    assert_eq!(stop.num_calls(), 1);
    assert!(queued.num_calls() >= 2);
}

fn lake(client: aws_sdk_cloudtrail::Client, timeout_ms: u64) -> Lake {
    Lake {
        client,
        settings: LakeSettings {
            event_data_store: "eds-1".into(),
            region: None,
            poll: fast(timeout_ms),
            usd_per_gb: 0.005,
        },
    }
}

fn lake_row(section: &str, n: &str) -> Vec<HashMap<String, String>> {
    vec![
        HashMap::from([("section".to_string(), section.to_string())]),
        HashMap::from([("n".to_string(), n.to_string())]),
    ]
}

#[tokio::test]
async fn lake_waits_pages_and_counts_bytes() {
    let start = mock!(aws_sdk_cloudtrail::Client::start_query)
        .match_requests(|r| r.query_statement() == Some("SELECT 1"))
        .then_output(|| StartQueryOutput::builder().query_id("lq-1").build());
    let first = mock!(aws_sdk_cloudtrail::Client::get_query_results)
        .match_requests(|r| r.next_token().is_none())
        .sequence()
        .output(|| {
            LakeResults::builder()
                .query_status(QueryStatus::Queued)
                .build()
        })
        .output(|| {
            LakeResults::builder()
                .query_status(QueryStatus::Running)
                .build()
        })
        .output(|| {
            LakeResults::builder()
                .query_status(QueryStatus::Finished)
                .query_result_rows(lake_row("get", "2"))
                .query_result_rows(lake_row("base", "5"))
                .query_statistics(
                    QueryStatistics::builder()
                        .bytes_scanned(2 * 1_073_741_824)
                        .build(),
                )
                .next_token("n2")
                .build()
        })
        .build();
    let second = mock!(aws_sdk_cloudtrail::Client::get_query_results)
        .match_requests(|r| r.next_token() == Some("n2"))
        .then_output(|| {
            LakeResults::builder()
                .query_status(QueryStatus::Finished)
                .query_result_rows(lake_row("cp", "1"))
                .query_statistics(
                    QueryStatistics::builder()
                        .bytes_scanned(2 * 1_073_741_824)
                        .build(),
                )
                .build()
        });
    let client = mock_client!(
        aws_sdk_cloudtrail,
        RuleMode::MatchAny,
        [&start, &first, &second]
    );
    let (rows, stats) = lake(client, 5_000).run("SELECT 1").await.unwrap();
    assert_eq!(rows.columns, ["section", "n"]);
    let got: Vec<(Option<&str>, Option<&str>)> = rows
        .rows
        .iter()
        .map(|r| (r[0].as_deref(), r[1].as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (Some("get"), Some("2")),
            (Some("base"), Some("5")),
            (Some("cp"), Some("1"))
        ]
    );
    assert_eq!(stats.engine, "cloudtrail-lake");
    assert_eq!(stats.bytes_scanned, 2 * 1_073_741_824);
    assert!((stats.cost_usd - 0.01).abs() < 1e-12);
    assert_eq!((first.num_calls(), second.num_calls()), (3, 1));
}

#[tokio::test]
async fn lake_failures_and_timeouts_are_clear() {
    let start = mock!(aws_sdk_cloudtrail::Client::start_query)
        .then_output(|| StartQueryOutput::builder().query_id("lq-2").build());
    let failed = mock!(aws_sdk_cloudtrail::Client::get_query_results).then_output(|| {
        LakeResults::builder()
            .query_status(QueryStatus::Failed)
            .error_message("Query failed: column 'eventtime' cannot be resolved")
            .build()
    });
    let client = mock_client!(aws_sdk_cloudtrail, RuleMode::MatchAny, [&start, &failed]);
    let err = lake(client, 5_000)
        .run("SELECT 1")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lq-2 ended FAILED") && err.contains("cannot be resolved"),
        "{err}"
    );

    let start = mock!(aws_sdk_cloudtrail::Client::start_query)
        .then_output(|| StartQueryOutput::builder().query_id("lq-3").build());
    let running = mock!(aws_sdk_cloudtrail::Client::get_query_results).then_output(|| {
        LakeResults::builder()
            .query_status(QueryStatus::Running)
            .build()
    });
    let cancel = mock!(aws_sdk_cloudtrail::Client::cancel_query)
        .match_requests(|r| r.query_id() == Some("lq-3"))
        .then_output(|| {
            CancelQueryOutput::builder()
                .query_id("lq-3")
                .query_status(QueryStatus::Cancelled)
                .build()
                .unwrap()
        });
    let client = mock_client!(
        aws_sdk_cloudtrail,
        RuleMode::MatchAny,
        [&start, &running, &cancel]
    );
    let err = lake(client, 60)
        .run("SELECT 1")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lq-3 did not finish") && err.contains("(cancelled)"),
        "{err}"
    );
    assert_eq!(cancel.num_calls(), 1);
}
