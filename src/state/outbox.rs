//! The outbox: messages queued in the transaction that marks their incidents announced, and
//! every attempt to deliver them.

use chrono::Utc;
use rusqlite::params;

use super::Store;

impl Store {
    /// Queue messages and mark the incidents they announce, in one transaction: from here on
    /// the incidents are announced exactly by these messages (re-sent, never rebuilt). A
    /// message whose idempotency key is already queued is not queued again.
    pub fn queue_messages(
        &mut self,
        messages: &[NewMessage],
        announces: &[i64],
    ) -> anyhow::Result<usize> {
        let now = Utc::now().to_rfc3339();
        let tx = self.conn.transaction()?;
        let mut added = 0;
        {
            let mut ins = tx.prepare(
                "INSERT OR IGNORE INTO outbox (sink, idempotency_key, payload, summary, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for m in messages {
                added += ins.execute(params![
                    m.sink,
                    m.idempotency_key,
                    m.payload,
                    m.summary,
                    now
                ])?;
            }
            let mut upd = tx.prepare(
                "UPDATE incidents SET notified_at = ?2 WHERE id = ?1 AND notified_at IS NULL",
            )?;
            for id in announces {
                upd.execute(params![id, now])?;
            }
        }
        tx.commit()?;
        Ok(added)
    }

    fn messages_where(&self, clause: &str, arg: Option<i64>) -> anyhow::Result<Vec<OutboxMessage>> {
        let sql = format!(
            "SELECT id, sink, idempotency_key, payload, summary, created_at, attempts, last_error, sent_at, dropped_at
             FROM outbox WHERE {clause} ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let map = |r: &rusqlite::Row| {
            Ok(OutboxMessage {
                id: r.get(0)?,
                sink: r.get(1)?,
                idempotency_key: r.get(2)?,
                payload: r.get(3)?,
                summary: r.get(4)?,
                created_at: r.get(5)?,
                attempts: r.get(6)?,
                last_error: r.get(7)?,
                sent_at: r.get(8)?,
                dropped_at: r.get(9)?,
            })
        };
        let rows = match arg {
            Some(a) => stmt
                .query_map([a], map)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            None => stmt
                .query_map([], map)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
        };
        Ok(rows)
    }

    /// Messages not yet delivered (and not dropped), oldest first.
    pub fn unsent_messages(&self) -> anyhow::Result<Vec<OutboxMessage>> {
        self.messages_where("sent_at IS NULL AND dropped_at IS NULL", None)
    }

    /// Every message, or only the undelivered ones.
    pub fn list_messages(&self, all: bool) -> anyhow::Result<Vec<OutboxMessage>> {
        if all {
            self.messages_where("1 = 1", None)
        } else {
            self.unsent_messages()
        }
    }

    pub fn message(&self, id: i64) -> anyhow::Result<Option<OutboxMessage>> {
        Ok(self.messages_where("id = ?1", Some(id))?.pop())
    }

    /// Record one delivery attempt: `None` is success.
    pub fn record_attempt(&mut self, id: i64, error: Option<&str>) -> anyhow::Result<()> {
        let now = Utc::now().to_rfc3339();
        match error {
            None => self.conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?2, sent_at = ?2, last_error = NULL WHERE id = ?1",
                params![id, now],
            )?,
            Some(e) => self.conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                params![id, now, e],
            )?,
        };
        Ok(())
    }

    /// Give up on an undelivered message (`outbox drop`). Returns whether there was one.
    pub fn drop_message(&mut self, id: i64) -> anyhow::Result<bool> {
        let now = Utc::now().to_rfc3339();
        Ok(self.conn.execute(
            "UPDATE outbox SET dropped_at = ?2 WHERE id = ?1 AND sent_at IS NULL AND dropped_at IS NULL",
            params![id, now],
        )? == 1)
    }
}

/// A message waiting in (or gone through) the outbox.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutboxMessage {
    pub id: i64,
    pub sink: String,
    pub idempotency_key: String,
    #[serde(skip)]
    pub payload: String,
    /// One line for people (`outbox list`).
    pub summary: String,
    pub created_at: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
    pub dropped_at: Option<String>,
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub sink: String,
    pub idempotency_key: String,
    pub payload: String,
    pub summary: String,
}
