//! Athena: run the analysis query where the trail already is, and fetch only the answer.
//!
//! StartQueryExecution in the configured workgroup, database and output location; poll
//! GetQueryExecution with a growing pause until the query succeeds, fails, is cancelled or the
//! timeout passes (then StopQueryExecution, so an abandoned query stops billing); page
//! GetQueryResults 1,000 rows at a time. Athena puts the column names in the first row of the
//! first page of a SELECT: that row is dropped. The bytes the query scanned come from the
//! execution's statistics; the cost is Athena's price per TB (10 MB minimum per query).

use std::time::Instant;

use anyhow::{bail, Context};
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
use aws_sdk_athena::Client;

use serde::Deserialize;

use super::{next_token, wait, Engine, Poll, QueryStats, Rows};
use crate::settings::{keys, with, Check};

/// An Athena table over the trail bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaTable {
    pub catalog: String,
    pub database: String,
    pub table: String,
    /// The date partition column (`timestamp` with partition projection), if any.
    pub date_partition: Option<String>,
    /// Its format, in the projection's Java pattern (`yyyy/MM/dd`).
    pub date_partition_format: String,
    /// Or year, month and day partition columns (AWS's manual-partitioning layout, values
    /// `2026`, `06`, `15`), instead of one date column.
    pub ymd_partitions: Option<[String; 3]>,
    /// The region partition column, if any.
    pub region_partition: Option<String>,
}

impl Default for AthenaTable {
    fn default() -> Self {
        AthenaTable {
            catalog: "AwsDataCatalog".into(),
            database: "default".into(),
            table: "cloudtrail_logs".into(),
            date_partition: Some("timestamp".into()),
            date_partition_format: "yyyy/MM/dd".into(),
            ymd_partitions: None,
            region_partition: Some("region".into()),
        }
    }
}

/// `yyyy/MM/dd` (the projection's pattern) as a chrono format.
pub fn java_date_format(p: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("yyyy") {
            out.push_str("%Y");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("MM") {
            out.push_str("%m");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("dd") {
            out.push_str("%d");
            rest = r;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            if c.is_ascii_alphanumeric() {
                return Err(format!(
                    "`{p}`: only yyyy, MM and dd and separators are understood"
                ));
            }
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
    }
    if !(out.contains("%Y") && out.contains("%m") && out.contains("%d")) {
        return Err(format!("`{p}` must name yyyy, MM and dd"));
    }
    Ok(out)
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

const ATHENA: Engine = Engine {
    name: "Athena",
    table: "athena",
    ended: "stopped",
    ending: "stopping",
};

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
                crate::settings::errors::human_error(&e)
            )
        })?;
        let id = started
            .query_execution_id()
            .context("Athena returned no query execution ID")?
            .to_string();
        tracing::info!(query_id = %id, workgroup = %s.workgroup, "Athena query started");
        let began = Instant::now();
        let client = &self.client;
        let bytes_scanned = wait(
            &ATHENA,
            &id,
            &s.poll,
            began,
            async || {
                let got = client
                    .get_query_execution()
                    .query_execution_id(&id)
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "Athena GetQueryExecution {id} failed: {}",
                            crate::settings::errors::human_error(&e)
                        )
                    })?;
                let exec = got.query_execution();
                let status = exec.and_then(|e| e.status());
                let state = status.and_then(|s| s.state()).cloned();
                match state {
                    Some(QueryExecutionState::Succeeded) => Ok(Some(
                        exec.and_then(|e| e.statistics())
                            .and_then(|s| s.data_scanned_in_bytes())
                            .unwrap_or(0)
                            .max(0) as u64,
                    )),
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
                    _ => Ok(None),
                }
            },
            async || {
                client
                    .stop_query_execution()
                    .query_execution_id(&id)
                    .send()
                    .await
                    .is_ok()
            },
        )
        .await?;
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
                        crate::settings::errors::human_error(&e)
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
            if !next_token(&ATHENA, &id, &mut token, page.next_token())? {
                break;
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

impl AthenaSettings {
    /// Validate `[cloudtrail.athena]`.
    pub fn check(a: RawAthena, c: &mut Check<'_>) -> AthenaSettings {
        let base = keys(&["cloudtrail", "athena"]);
        let mut s = AthenaSettings::default();
        let name = |v: &mut Check<'_>, key: &str, value: Option<String>, out: &mut String| {
            if let Some(x) = value {
                if x.trim().is_empty() || x.chars().any(char::is_control) {
                    v.fail(&with(&base, key), "must be a non-empty name");
                } else {
                    *out = x;
                }
            }
        };
        name(c, "catalog", a.catalog, &mut s.table.catalog);
        name(c, "database", a.database, &mut s.table.database);
        name(c, "table", a.table, &mut s.table.table);
        name(c, "workgroup", a.workgroup, &mut s.workgroup);
        if let Some(out) = a.output_location {
            if out.starts_with("s3://") && out.len() > 5 {
                s.output_location = Some(out);
            } else {
                c.fail(
                    &with(&base, "output_location"),
                    format!("`{out}` is not an s3://BUCKET/PREFIX/ location"),
                );
            }
        }
        s.region = a.region.filter(|r| !r.is_empty());
        // "" turns a partition off: a table without partitions is read whole (and billed so).
        if let Some(p) = &a.date_partition {
            s.table.date_partition = (!p.is_empty()).then(|| p.clone());
        }
        if let Some(p) = a.region_partition {
            s.table.region_partition = (!p.is_empty()).then_some(p);
        }
        if let Some(cols) = a.date_partitions {
            match <[String; 3]>::try_from(cols) {
            Ok(cols) if cols.iter().all(|x| !x.is_empty()) => {
                if s.table.date_partition.is_some() && a.date_partition.is_some() {
                    c.fail(
                        &with(&base, "date_partitions"),
                        "set either date_partition (one column) or date_partitions (year, month, day), not both",
                    );
                }
                s.table.date_partition = None;
                s.table.ymd_partitions = Some(cols);
            }
            _ => c.fail(
                &with(&base, "date_partitions"),
                "must name three columns: year, month and day (like [\"year\", \"month\", \"day\"])",
            ),
        }
        }
        if let Some(f) = a.date_partition_format {
            match java_date_format(&f) {
                Ok(_) => s.table.date_partition_format = f,
                Err(e) => c.fail(&with(&base, "date_partition_format"), e),
            }
        }
        s.poll = super::check_poll(c, &base, a.timeout_seconds);
        s.usd_per_tb = c.num(
            &with(&base, "usd_per_tb"),
            a.usd_per_tb,
            s.usd_per_tb,
            (0.0, 1000.0),
            false,
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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

#[derive(Debug, Default, Deserialize)]
pub struct RawAthena {
    pub catalog: Option<String>,
    pub database: Option<String>,
    pub table: Option<String>,
    pub workgroup: Option<String>,
    pub output_location: Option<String>,
    pub region: Option<String>,
    pub date_partition: Option<String>,
    pub date_partition_format: Option<String>,
    pub date_partitions: Option<Vec<String>>,
    pub region_partition: Option<String>,
    pub timeout_seconds: Option<f64>,
    pub usd_per_tb: Option<f64>,
}
