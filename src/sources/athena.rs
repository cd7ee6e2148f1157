//! Athena: run the analysis query where the trail already is, and fetch only the answer.
//!
//! StartQueryExecution in the configured workgroup, database and output location; poll
//! GetQueryExecution with a growing pause until the query succeeds, fails, is cancelled or the
//! timeout passes (then StopQueryExecution, so an abandoned query stops billing); page
//! GetQueryResults 1,000 rows at a time. Athena puts the column names in the first row of the
//! first page of a SELECT: that row is dropped. The bytes the query scanned come from the
//! execution's statistics; the cost is Athena's price per TB (10 MB minimum per query).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
use aws_sdk_athena::Client;

use crate::correlate::sql::{AthenaTable, QueryStats, Rows};

/// How to wait for a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Poll {
    /// Give up (and cancel the query) after this long.
    pub timeout: Duration,
    /// The first pause between status checks; it grows by half each time, up to `max`.
    pub first: Duration,
    pub max: Duration,
}

impl Default for Poll {
    fn default() -> Self {
        Poll {
            timeout: Duration::from_secs(600),
            first: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

impl Poll {
    /// The pause after `pause`.
    pub fn next(&self, pause: Duration) -> Duration {
        (pause + pause / 2).min(self.max)
    }
}

/// `[cloudtrail.athena]`: the table, where queries run, and what they cost.
#[derive(Debug, Clone, PartialEq)]
pub struct AthenaSettings {
    pub table: AthenaTable,
    pub workgroup: String,
    /// Where Athena writes results; the workgroup's own setting when `None`.
    pub output_location: Option<String>,
    /// The region Athena runs in; the SDK's default region when `None`.
    pub region: Option<String>,
    pub poll: Poll,
    pub usd_per_tb: f64,
}

impl Default for AthenaSettings {
    fn default() -> Self {
        AthenaSettings {
            table: AthenaTable::default(),
            workgroup: "primary".into(),
            output_location: None,
            region: None,
            poll: Poll::default(),
            usd_per_tb: 5.0,
        }
    }
}

/// Bytes in the TB Athena bills by.
const TB: f64 = 1_099_511_627_776.0;
/// Athena bills at least 10 MB per query.
const MIN_BILLED: u64 = 10 * 1024 * 1024;

/// What a query costs at `usd_per_tb`.
pub fn cost(bytes_scanned: u64, usd_per_tb: f64) -> f64 {
    bytes_scanned.max(MIN_BILLED) as f64 / TB * usd_per_tb
}

/// An Athena client with its settings.
#[derive(Debug, Clone)]
pub struct Athena {
    pub client: Client,
    pub settings: AthenaSettings,
}

/// One value of a result row, without copying the SDK's types around.
fn row_values(row: &aws_sdk_athena::types::Row) -> Vec<Option<String>> {
    row.data()
        .iter()
        .map(|d| d.var_char_value().map(str::to_string))
        .collect()
}

impl Athena {
    pub async fn from_env(profile: Option<&str>, settings: AthenaSettings) -> Self {
        let conf = crate::sources::sdk_config(profile, settings.region.as_deref()).await;
        Athena {
            client: Client::new(&conf),
            settings,
        }
    }

    /// Run `sql` and return its rows and what it scanned.
    pub async fn run(&self, sql: &str) -> anyhow::Result<(Rows, QueryStats)> {
        let s = &self.settings;
        let mut start = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&s.workgroup)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .catalog(&s.table.catalog)
                    .database(&s.table.database)
                    .build(),
            );
        if let Some(out) = &s.output_location {
            start = start
                .result_configuration(ResultConfiguration::builder().output_location(out).build());
        }
        let started = start.send().await.map_err(|e| {
            anyhow::anyhow!(
                "Athena StartQueryExecution failed: {}",
                aws_sdk_athena::error::DisplayErrorContext(e)
            )
        })?;
        let id = started
            .query_execution_id()
            .context("Athena returned no query execution ID")?
            .to_string();
        tracing::info!(query_id = %id, workgroup = %s.workgroup, "Athena query started");
        let began = Instant::now();
        let mut pause = s.poll.first;
        let bytes_scanned = loop {
            let got = self
                .client
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "Athena GetQueryExecution {id} failed: {}",
                        aws_sdk_athena::error::DisplayErrorContext(e)
                    )
                })?;
            let exec = got.query_execution();
            let status = exec.and_then(|e| e.status());
            let state = status.and_then(|s| s.state()).cloned();
            match state {
                Some(QueryExecutionState::Succeeded) => {
                    break exec
                        .and_then(|e| e.statistics())
                        .and_then(|s| s.data_scanned_in_bytes())
                        .unwrap_or(0)
                        .max(0) as u64;
                }
                Some(QueryExecutionState::Failed) | Some(QueryExecutionState::Cancelled) => {
                    let reason = status
                        .and_then(|s| s.state_change_reason())
                        .unwrap_or("no reason given");
                    let kind = status
                        .and_then(|s| s.athena_error())
                        .and_then(|e| e.error_type())
                        .map(|t| format!(" [{t}]"))
                        .unwrap_or_default();
                    bail!(
                        "Athena query {id} {}: {reason}{kind}",
                        if state == Some(QueryExecutionState::Failed) {
                            "failed"
                        } else {
                            "was cancelled"
                        }
                    );
                }
                _ => {}
            }
            if began.elapsed() + pause > s.poll.timeout {
                let stopped = self
                    .client
                    .stop_query_execution()
                    .query_execution_id(&id)
                    .send()
                    .await
                    .is_ok();
                bail!(
                    "Athena query {id} did not finish within {} s ({}); raise cloudtrail.athena.timeout_seconds or narrow the window",
                    s.poll.timeout.as_secs_f64(),
                    if stopped { "stopped" } else { "stopping it failed too" }
                );
            }
            tokio::time::sleep(pause).await;
            pause = s.poll.next(pause);
        };
        let mut rows = Rows::default();
        let mut token: Option<String> = None;
        let mut first_page = true;
        loop {
            let page = self
                .client
                .get_query_results()
                .query_execution_id(&id)
                .max_results(1000)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "Athena GetQueryResults {id} failed: {}",
                        aws_sdk_athena::error::DisplayErrorContext(e)
                    )
                })?;
            let Some(set) = page.result_set() else { break };
            if first_page {
                rows.columns = set
                    .result_set_metadata()
                    .map(|m| {
                        m.column_info()
                            .iter()
                            .map(|c| c.name().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
            }
            for (i, r) in set.rows().iter().enumerate() {
                let values = row_values(r);
                if first_page && i == 0 {
                    // The header row: column names (and the columns, if the metadata had none).
                    if rows.columns.is_empty() {
                        rows.columns = values.into_iter().map(|v| v.unwrap_or_default()).collect();
                    }
                    continue;
                }
                rows.rows.push(values);
            }
            first_page = false;
            match page.next_token() {
                Some(t) if Some(t) != token.as_deref() => token = Some(t.to_string()),
                Some(_) => bail!("Athena repeated a page token for query {id}"),
                None => break,
            }
        }
        let stats = QueryStats {
            engine: "athena".into(),
            query_id: id,
            bytes_scanned,
            cost_usd: cost(bytes_scanned, s.usd_per_tb),
            rows: rows.rows.len() as u64,
        };
        tracing::info!(
            query_id = %stats.query_id,
            bytes_scanned,
            rows = stats.rows,
            elapsed_ms = began.elapsed().as_millis() as u64,
            "Athena query done"
        );
        Ok((rows, stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_has_a_floor_and_scales() {
        assert!((cost(0, 5.0) - 10.0 * 1024.0 * 1024.0 / TB * 5.0).abs() < 1e-12);
        assert!((cost(TB as u64, 5.0) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn pauses_grow_to_a_cap() {
        let p = Poll {
            timeout: Duration::from_secs(1),
            first: Duration::from_millis(100),
            max: Duration::from_millis(200),
        };
        assert_eq!(
            p.next(Duration::from_millis(100)),
            Duration::from_millis(150)
        );
        assert_eq!(
            p.next(Duration::from_millis(150)),
            Duration::from_millis(200)
        );
        assert_eq!(
            p.next(Duration::from_millis(200)),
            Duration::from_millis(200)
        );
    }
}
