//! CloudTrail Lake: run the analysis query on an event data store, and fetch only the answer.
//!
//! StartQuery; GetQueryResults until the status is FINISHED (pausing as [`Poll`] says), then
//! page through the rest of the rows; FAILED, CANCELLED and TIMED_OUT end with the engine's
//! message, and our own timeout cancels the query (CancelQuery). Lake returns each row as a
//! list of one-entry maps, column name to text, in select order. Lake bills per GB scanned.

use std::time::Instant;

use anyhow::{bail, Context};
use aws_sdk_cloudtrail::types::QueryStatus;
use aws_sdk_cloudtrail::Client;

use crate::correlate::sql::{QueryStats, Rows};
use crate::sources::athena::Poll;

/// `[cloudtrail.lake]`: the event data store, and what its queries cost.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeSettings {
    /// The event data store's ARN or ID.
    pub event_data_store: String,
    pub region: Option<String>,
    pub poll: Poll,
    pub usd_per_gb: f64,
}

/// A CloudTrail Lake client with its settings.
#[derive(Debug, Clone)]
pub struct Lake {
    pub client: Client,
    pub settings: LakeSettings,
}

const GB: f64 = 1_073_741_824.0;

fn sdk_error<E: std::error::Error + 'static>(what: &str, e: E) -> anyhow::Error {
    anyhow::anyhow!(
        "CloudTrail Lake {what} failed: {}",
        aws_sdk_cloudtrail::error::DisplayErrorContext(e)
    )
}

impl Lake {
    pub async fn from_env(profile: Option<&str>, settings: LakeSettings) -> Self {
        let conf = crate::sources::sdk_config(profile, settings.region.as_deref()).await;
        Lake {
            client: Client::new(&conf),
            settings,
        }
    }

    /// Run `sql` and return its rows and what it scanned.
    pub async fn run(&self, sql: &str) -> anyhow::Result<(Rows, QueryStats)> {
        let s = &self.settings;
        let started = self
            .client
            .start_query()
            .query_statement(sql)
            .send()
            .await
            .map_err(|e| sdk_error("StartQuery", e))?;
        let id = started
            .query_id()
            .context("CloudTrail Lake returned no query ID")?
            .to_string();
        tracing::info!(query_id = %id, "CloudTrail Lake query started");
        let began = Instant::now();
        let mut pause = s.poll.first;
        let mut rows = Rows::default();
        let mut token: Option<String> = None;
        let mut bytes_scanned = 0u64;
        loop {
            let page = self
                .client
                .get_query_results()
                .query_id(&id)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_error("GetQueryResults", e))?;
            match page.query_status() {
                Some(QueryStatus::Finished) => {}
                Some(
                    st @ (QueryStatus::Failed | QueryStatus::Cancelled | QueryStatus::TimedOut),
                ) => {
                    bail!(
                        "CloudTrail Lake query {id} ended {}: {}",
                        st.as_str(),
                        page.error_message().unwrap_or("no reason given")
                    );
                }
                _ => {
                    if token.is_some() {
                        bail!("CloudTrail Lake query {id} went back to running while paging");
                    }
                    if began.elapsed() + pause > s.poll.timeout {
                        let cancelled = self
                            .client
                            .cancel_query()
                            .query_id(&id)
                            .send()
                            .await
                            .is_ok();
                        bail!(
                            "CloudTrail Lake query {id} did not finish within {} s ({}); raise cloudtrail.lake.timeout_seconds or narrow the window",
                            s.poll.timeout.as_secs_f64(),
                            if cancelled { "cancelled" } else { "cancelling it failed too" }
                        );
                    }
                    tokio::time::sleep(pause).await;
                    pause = s.poll.next(pause);
                    continue;
                }
            }
            if let Some(b) = page.query_statistics().and_then(|q| q.bytes_scanned()) {
                bytes_scanned = bytes_scanned.max(b.max(0) as u64);
            }
            for row in page.query_result_rows() {
                if rows.columns.is_empty() {
                    rows.columns = row.iter().flat_map(|cell| cell.keys().cloned()).collect();
                }
                let mut values = vec![None; rows.columns.len()];
                for cell in row {
                    for (k, v) in cell {
                        if let Some(i) = rows.columns.iter().position(|c| c == k) {
                            values[i] = Some(v.clone());
                        }
                    }
                }
                rows.rows.push(values);
            }
            match page.next_token() {
                Some(t) if Some(t) != token.as_deref() => token = Some(t.to_string()),
                Some(_) => bail!("CloudTrail Lake repeated a page token for query {id}"),
                None => break,
            }
        }
        let stats = QueryStats {
            engine: "cloudtrail-lake".into(),
            query_id: id,
            bytes_scanned,
            cost_usd: bytes_scanned as f64 / GB * s.usd_per_gb,
            rows: rows.rows.len() as u64,
        };
        tracing::info!(
            query_id = %stats.query_id,
            bytes_scanned,
            rows = stats.rows,
            elapsed_ms = began.elapsed().as_millis() as u64,
            "CloudTrail Lake query done"
        );
        Ok((rows, stats))
    }
}
