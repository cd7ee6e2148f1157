//! Early warnings: recorded once, then confirmed by an incident or closed by the daily run.

use chrono::Utc;
use rusqlite::{params, OptionalExtension};

use super::Store;
use crate::model::EarlyWarning;

impl Store {
    /// Record early warnings; returns those not recorded before.
    pub fn record_warnings(
        &mut self,
        warnings: &[EarlyWarning],
    ) -> anyhow::Result<Vec<EarlyWarning>> {
        let now = Utc::now().to_rfc3339();
        let tx = self.conn.transaction()?;
        let mut new = Vec::new();
        {
            let mut ins = tx.prepare(
                "INSERT OR IGNORE INTO early_warnings (bucket, filter_id, hour, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for w in warnings {
                if ins.execute(params![
                    w.bucket,
                    w.filter_id,
                    w.hour.to_rfc3339(),
                    serde_json::to_string(w)?,
                    now
                ])? == 1
                {
                    new.push(w.clone());
                }
            }
        }
        tx.commit()?;
        Ok(new)
    }

    /// Warnings the bill has not confirmed or closed yet, with their ids.
    pub fn open_warnings(&self) -> anyhow::Result<Vec<(i64, EarlyWarning)>> {
        self.id_bodies(
            "SELECT id, body FROM early_warnings WHERE status = 'open' ORDER BY hour",
            "reading a stored early warning",
        )
    }

    /// Mark a warning `confirmed` (with the incident that confirmed it) or `closed`.
    pub fn resolve_warning(
        &mut self,
        id: i64,
        status: &str,
        incident: Option<&str>,
    ) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE early_warnings SET status = ?2, incident = ?3 WHERE id = ?1",
            params![id, status, incident],
        )?;
        Ok(())
    }

    /// A warning's status and the incident that confirmed it, by bucket and hour (RFC 3339).
    pub fn warning_status(
        &self,
        bucket: &str,
        hour: &str,
    ) -> anyhow::Result<Option<(String, Option<String>)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT status, incident FROM early_warnings WHERE bucket = ?1 AND hour = ?2",
                params![bucket, hour],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}
