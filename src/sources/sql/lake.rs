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

use aws_sdk_cloudtrail::operation::get_query_results::GetQueryResultsOutput;
use serde::Deserialize;

use super::{next_token, wait, Engine, Poll, QueryStats, Rows};
use crate::model::units::BYTES_PER_GB;
use crate::settings::{keys, with, Check};

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

const LAKE: Engine = Engine {
    name: "CloudTrail Lake",
    table: "lake",
    ended: "cancelled",
    ending: "cancelling",
};

fn sdk_error<E: std::error::Error + 'static>(what: &str, e: E) -> anyhow::Error {
    anyhow::anyhow!(
        "CloudTrail Lake {what} failed: {}",
        crate::settings::errors::human_error(&e)
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
        let client = &self.client;
        let fetch = async |token: Option<String>| {
            client
                .get_query_results()
                .query_id(&id)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_error("GetQueryResults", e))
        };
        // A finished query's status, or the error it ended with.
        let finished = |page: &GetQueryResultsOutput| -> anyhow::Result<bool> {
            match page.query_status() {
                Some(QueryStatus::Finished) => Ok(true),
                Some(
                    st @ (QueryStatus::Failed | QueryStatus::Cancelled | QueryStatus::TimedOut),
                ) => bail!(
                    "CloudTrail Lake query {id} ended {}: {}",
                    st.as_str(),
                    page.error_message().unwrap_or("no reason given")
                ),
                _ => Ok(false),
            }
        };
        let mut page = wait(
            &LAKE,
            &id,
            &s.poll,
            began,
            async || {
                let page = fetch(None).await?;
                Ok(finished(&page)?.then_some(page))
            },
            async || client.cancel_query().query_id(&id).send().await.is_ok(),
        )
        .await?;
        let mut rows = Rows::default();
        let mut token: Option<String> = None;
        let mut bytes_scanned = 0u64;
        loop {
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
            if !next_token(&LAKE, &id, &mut token, page.next_token())? {
                break;
            }
            page = fetch(token.clone()).await?;
            if !finished(&page)? {
                bail!("CloudTrail Lake query {id} went back to running while paging");
            }
        }
        let stats = QueryStats {
            engine: "cloudtrail-lake".into(),
            query_id: id,
            bytes_scanned,
            cost_usd: bytes_scanned as f64 / BYTES_PER_GB * s.usd_per_gb,
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

#[derive(Debug, Default, Deserialize)]
pub struct RawLake {
    pub event_data_store: Option<String>,
    pub region: Option<String>,
    pub timeout_seconds: Option<f64>,
    pub usd_per_gb: Option<f64>,
}

impl LakeSettings {
    /// Validate `[cloudtrail.lake]`.
    pub fn check(l: RawLake, c: &mut Check<'_>) -> Option<LakeSettings> {
        let base = keys(&["cloudtrail", "lake"]);
        let poll = super::check_poll(c, &base, l.timeout_seconds);
        let usd_per_gb = c.num(
            &with(&base, "usd_per_gb"),
            l.usd_per_gb,
            0.005,
            (0.0, 1000.0),
            false,
        );
        let Some(store) = l.event_data_store else {
            c.fail(
                &base,
                "`event_data_store` is required: the event data store's ARN or ID",
            );
            return None;
        };
        let id = store.rsplit('/').next().unwrap_or("");
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            c.fail(
                &with(&base, "event_data_store"),
                format!("`{store}` is not an event data store ARN or ID"),
            );
            return None;
        }
        Some(LakeSettings {
            event_data_store: store,
            region: l.region.filter(|r| !r.is_empty()),
            poll,
            usd_per_gb,
        })
    }
}
