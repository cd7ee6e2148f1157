//! Incidents: recorded once, updated while their flagged days continue, marked when announced.

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{day_str, parse_day, Store};
use crate::model::Incident;

impl Store {
    /// The stored incident this one continues: same series, and its days overlap, touch, or
    /// are one unflagged day apart (one quiet day does not make a new incident).
    fn continued(tx: &Connection, i: &Incident) -> rusqlite::Result<Option<(i64, NaiveDate)>> {
        tx.query_row(
            "SELECT id, start_day FROM incidents
             WHERE account = ?1 AND region = ?2 AND family = ?3 AND end_day >= ?4 AND start_day <= ?5
             ORDER BY end_day DESC LIMIT 1",
            params![
                i.account,
                i.region,
                i.family.as_str(),
                day_str(i.start - chrono::Days::new(2)),
                day_str(i.day)
            ],
            |r| Ok((r.get(0)?, parse_day(&r.get::<_, String>(1)?)?)),
        )
        .optional()
    }

    /// Record incidents: a new one is inserted (pending announcement); one that continues a
    /// stored incident updates it (its end, totals and text) and keeps its announcement state.
    /// Returns how many were new.
    pub fn record_incidents(&mut self, incidents: &[Incident]) -> anyhow::Result<usize> {
        let now = Utc::now().to_rfc3339();
        let tx = self.conn.transaction()?;
        let mut added = 0;
        for i in incidents {
            match Self::continued(&tx, i)? {
                Some((id, start)) => {
                    let mut merged = i.clone();
                    merged.start = merged.start.min(start);
                    tx.execute(
                        "UPDATE incidents SET start_day = ?2, end_day = max(end_day, ?3), body = ?4, updated_at = ?5
                         WHERE id = ?1",
                        params![id, day_str(merged.start), day_str(i.day), serde_json::to_string(&merged)?, now],
                    )?;
                }
                None => {
                    tx.execute(
                        "INSERT INTO incidents
                         (account, region, family, start_day, end_day, body, detected_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                        params![
                            i.account,
                            i.region,
                            i.family.as_str(),
                            day_str(i.start),
                            day_str(i.day),
                            serde_json::to_string(i)?,
                            now
                        ],
                    )?;
                    added += 1;
                }
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// Rows of `(id, JSON body)` from `sql`, the bodies parsed (`what` names them in errors).
    pub(super) fn id_bodies<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        what: &str,
    ) -> anyhow::Result<Vec<(i64, T)>> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row?;
            out.push((id, serde_json::from_str(&body).context(what.to_string())?));
        }
        Ok(out)
    }

    /// Incidents recorded but not yet announced, with their ids, oldest first.
    pub fn pending_incidents(&self) -> anyhow::Result<Vec<(i64, Incident)>> {
        self.id_bodies(
            "SELECT id, body FROM incidents WHERE notified_at IS NULL
             ORDER BY start_day, account, region, family",
            "reading a stored incident",
        )
    }

    /// Whether this incident (or the one it continues) has already been announced.
    pub fn is_notified(&self, i: &Incident) -> anyhow::Result<bool> {
        let Some((id, _)) = Self::continued(&self.conn, i)? else {
            return Ok(false);
        };
        Ok(self.conn.query_row(
            "SELECT notified_at IS NOT NULL FROM incidents WHERE id = ?1",
            [id],
            |r| r.get::<_, bool>(0),
        )?)
    }

    /// Mark incidents as announced, in one transaction.
    pub fn mark_notified(&mut self, ids: &[i64]) -> anyhow::Result<()> {
        let now = Utc::now().to_rfc3339();
        let tx = self.conn.transaction()?;
        {
            let mut upd = tx.prepare("UPDATE incidents SET notified_at = ?2 WHERE id = ?1")?;
            for id in ids {
                upd.execute(params![id, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
