//! Incidents: recorded once, updated while their flagged days continue, marked when announced.

use anyhow::Context;
use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension};

use super::{day_str, Store};
use crate::model::Incident;

impl Store {
    /// The stored event this incident continues: same account and region (any family: bytes
    /// and requests of one place rising together are one event), and its days overlap, touch,
    /// or are one unflagged day apart (one quiet day does not make a new incident). The rule
    /// is `Incident::continued_by`'s, as SQL.
    fn continued(tx: &Connection, i: &Incident) -> rusqlite::Result<Option<(i64, String)>> {
        tx.query_row(
            "SELECT id, body FROM incidents
             WHERE account = ?1 AND region = ?2 AND end_day >= ?3 AND start_day <= ?4
             ORDER BY end_day DESC LIMIT 1",
            params![
                i.account,
                i.region,
                day_str(i.start - chrono::Days::new(2)),
                day_str(i.day)
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
    }

    /// Record incidents: a new one is inserted (pending announcement); one that continues a
    /// stored event is taken into it (`Incident::absorb`: its family's figures replace the
    /// stored ones, or join as a related family) and keeps its announcement state.
    /// Returns how many were new.
    pub fn record_incidents(&mut self, incidents: &[Incident]) -> anyhow::Result<usize> {
        let now = Utc::now().to_rfc3339();
        let tx = self.conn.transaction()?;
        let mut added = 0;
        for i in incidents {
            match Self::continued(&tx, i)? {
                Some((id, body)) => {
                    let mut merged: Incident =
                        serde_json::from_str(&body).context("reading a stored incident")?;
                    merged.absorb(i.clone());
                    tx.execute(
                        "UPDATE incidents SET start_day = ?2, end_day = max(end_day, ?3), body = ?4, updated_at = ?5
                         WHERE id = ?1",
                        params![id, day_str(merged.start), day_str(merged.last_day()), serde_json::to_string(&merged)?, now],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::incident::fixture::inc;
    use crate::model::Family;

    #[test]
    fn a_family_rising_after_another_continues_its_announced_event() {
        let mut store = Store::open_in_memory().unwrap();
        let bytes = inc("eu-west-1", Family::InternetOut, 2, 3, 30.0);
        assert_eq!(store.record_incidents(&[bytes]).unwrap(), 1);
        let ids: Vec<i64> = store
            .pending_incidents()
            .unwrap()
            .iter()
            .map(|p| p.0)
            .collect();
        store.mark_notified(&ids).unwrap();

        // The next day only GET requests are flagged: the same event, already announced.
        let requests = inc("eu-west-1", Family::GetRequests, 4, 4, 2.0);
        assert!(store.is_notified(&requests).unwrap());
        assert_eq!(store.record_incidents(&[requests]).unwrap(), 0);
        assert!(store.pending_incidents().unwrap().is_empty());
        let (body, end): (String, String) = store
            .conn
            .query_row("SELECT body, end_day FROM incidents", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        let event: Incident = serde_json::from_str(&body).unwrap();
        assert_eq!(event.family, Family::InternetOut);
        assert_eq!(event.related.len(), 1);
        assert_eq!(event.event_cost_usd(), 32.0);
        assert_eq!(end, "2026-03-04");

        // Another region, and the same region after two quiet days, are new incidents.
        let elsewhere = inc("us-east-1", Family::GetRequests, 4, 4, 2.0);
        let later = inc("eu-west-1", Family::GetRequests, 7, 7, 2.0);
        assert_eq!(store.record_incidents(&[elsewhere, later]).unwrap(), 2);
    }
}
