//! The SQLite store: everything egresswatch remembers between runs.
//!
//! Cost Explorer charges per request, so fetched days are kept and never fetched again once
//! final; incidents are kept so that nothing is announced twice and an announcement that failed
//! is retried on the next run. The schema is versioned (`PRAGMA user_version`) and migrated
//! forward on open. Every write that belongs together is one transaction: a crash leaves the
//! store as it was or fully updated, never half.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::detect::Incident;
use crate::model::{CostPoint, Family, SeriesKey};

/// Schema migrations, in order. Index + 1 is the `user_version` after applying it.
/// Never edit a released step: add a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE cost_points (
    day        TEXT NOT NULL,
    account    TEXT NOT NULL,
    region     TEXT NOT NULL,
    family     TEXT NOT NULL,
    usage_type TEXT NOT NULL,
    usage      REAL NOT NULL,
    unit       TEXT NOT NULL,
    cost_usd   REAL NOT NULL,
    estimated  INTEGER NOT NULL,
    PRIMARY KEY (day, account, region, family, usage_type)
) WITHOUT ROWID;
-- Days Cost Explorer has answered for (a day with no S3 usage has no points but is known).
CREATE TABLE fetched_days (
    day        TEXT PRIMARY KEY,
    final      INTEGER NOT NULL,
    fetched_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE accounts (
    account TEXT PRIMARY KEY,
    name    TEXT NOT NULL
) WITHOUT ROWID;
-- One row per ranged GetCostAndUsage call; `pages` requests were billed for it.
CREATE TABLE ce_requests (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    start_day  TEXT NOT NULL,
    end_day    TEXT NOT NULL,
    pages      INTEGER NOT NULL
);
-- Consecutive flagged days of one series. Announced once; later days update it.
CREATE TABLE incidents (
    id          INTEGER PRIMARY KEY,
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    family      TEXT NOT NULL,
    start_day   TEXT NOT NULL,
    end_day     TEXT NOT NULL,
    body        TEXT NOT NULL,   -- the newest version of the incident, as JSON
    detected_at TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    notified_at TEXT             -- NULL: not yet announced (retried by the next run)
);
CREATE INDEX incidents_by_series ON incidents (account, region, family, end_day);
"#,
    r#"
-- The transactional outbox: a message is stored (with the incidents it announces marked) before
-- it is sent, and marked sent only after the receiver said yes. Unsent messages go out first on
-- the next run, byte for byte the same, under the same idempotency key.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    sink            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    summary         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at TEXT,
    sent_at         TEXT,
    dropped_at      TEXT
);
"#,
    r#"
-- Early warnings from hourly S3 request metrics, until the bill confirms or closes them.
CREATE TABLE early_warnings (
    id          INTEGER PRIMARY KEY,
    bucket      TEXT NOT NULL,
    filter_id   TEXT NOT NULL,
    hour        TEXT NOT NULL,
    body        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open',   -- open | confirmed | closed
    incident    TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (bucket, filter_id, hour)
);
"#,
    r#"
-- S3 activity from CloudTrail: days scanned (once), daily counts, findings announced.
CREATE TABLE activity_days (
    day        TEXT PRIMARY KEY,
    scanned_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE activity_counts (
    day     TEXT NOT NULL,
    account TEXT NOT NULL,
    region  TEXT NOT NULL,
    event   TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count   INTEGER NOT NULL,
    drivers TEXT NOT NULL,
    PRIMARY KEY (day, account, region, event, outcome)
) WITHOUT ROWID;
CREATE TABLE activity_findings (
    day     TEXT NOT NULL,
    account TEXT NOT NULL,
    region  TEXT NOT NULL,
    event   TEXT NOT NULL,
    outcome TEXT NOT NULL,
    kind    TEXT NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (day, account, region, event, outcome, kind)
) WITHOUT ROWID;
"#,
];

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

pub struct Store {
    conn: Connection,
}

/// What one ranged Cost Explorer fetch brought back, written in one transaction.
#[derive(Debug, Default)]
pub struct SyncBatch {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub pages: usize,
    /// Every day the fetch covered, and whether it is final (no longer estimated).
    pub days: BTreeMap<NaiveDate, bool>,
    pub points: Vec<CostPoint>,
    pub account_names: BTreeMap<String, String>,
}

/// Filters for reading points back.
#[derive(Debug, Default, Clone)]
pub struct PointFilter {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub family: Option<Family>,
}

/// One day of one series (summed over its usage types).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayValue {
    pub usage: f64,
    pub cost_usd: f64,
    pub estimated: bool,
}

/// A series as the detector sees it.
#[derive(Debug, Clone)]
pub struct Series {
    pub key: SeriesKey,
    pub unit: String,
    /// Days with usage. A known day (see [`SeriesSet::known_days`]) absent here had zero usage.
    pub values: BTreeMap<NaiveDate, DayValue>,
}

/// All series over a range, plus which days Cost Explorer has answered for.
#[derive(Debug, Clone, Default)]
pub struct SeriesSet {
    pub series: Vec<Series>,
    pub known_days: BTreeSet<NaiveDate>,
}

fn day_str(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn parse_day(s: &str) -> rusqlite::Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn parse_family(s: &str) -> rusqlite::Result<Family> {
    s.parse::<Family>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

impl Store {
    /// Open (creating if needed) the store at `path` and migrate it to the current schema.
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("creating the directory of the store {}", path.display())
            })?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("opening the store {}", path.display()))?;
        Self::init(conn).with_context(|| format!("preparing the store {}", path.display()))
    }

    /// A store that lives only as long as the process (the demo, tests).
    pub fn open_in_memory() -> anyhow::Result<Store> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> anyhow::Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL").ok();
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: usize =
            conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
        if version > MIGRATIONS.len() {
            anyhow::bail!(
                "the store has schema version {version}, newer than this egresswatch understands ({}); upgrade egresswatch",
                MIGRATIONS.len()
            );
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(Store { conn })
    }

    /// Fold the write-ahead log into the main file (before the file is copied elsewhere).
    pub fn checkpoint(&self) -> anyhow::Result<()> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }

    pub fn schema_version(&self) -> anyhow::Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Days in `[from, to)` already fetched, with their finality.
    pub fn fetched_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> anyhow::Result<BTreeMap<NaiveDate, bool>> {
        let mut stmt = self
            .conn
            .prepare("SELECT day, final FROM fetched_days WHERE day >= ?1 AND day < ?2")?;
        let rows = stmt.query_map(params![day_str(from), day_str(to)], |r| {
            Ok((parse_day(&r.get::<_, String>(0)?)?, r.get::<_, bool>(1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Write one fetch: replace the points of every covered day, mark the days, log the request.
    pub fn apply_sync(&mut self, batch: &SyncBatch) -> anyhow::Result<()> {
        let now = Utc::now().to_rfc3339();
        let tx = self.conn.transaction()?;
        {
            let mut del = tx.prepare("DELETE FROM cost_points WHERE day = ?1")?;
            let mut mark = tx.prepare(
                "INSERT INTO fetched_days (day, final, fetched_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(day) DO UPDATE SET final = excluded.final, fetched_at = excluded.fetched_at",
            )?;
            for (day, final_) in &batch.days {
                del.execute([day_str(*day)])?;
                mark.execute(params![day_str(*day), final_, now])?;
            }
            let mut ins = tx.prepare(
                "INSERT OR REPLACE INTO cost_points
                 (day, account, region, family, usage_type, usage, unit, cost_usd, estimated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for p in &batch.points {
                ins.execute(params![
                    day_str(p.day),
                    p.account,
                    p.region,
                    p.family.as_str(),
                    p.usage_type,
                    p.usage,
                    p.unit,
                    p.cost_usd,
                    p.estimated
                ])?;
            }
            let mut acc = tx.prepare(
                "INSERT INTO accounts (account, name) VALUES (?1, ?2)
                 ON CONFLICT(account) DO UPDATE SET name = excluded.name",
            )?;
            for (id, name) in &batch.account_names {
                acc.execute(params![id, name])?;
            }
            tx.execute(
                "INSERT INTO ce_requests (at, start_day, end_day, pages) VALUES (?1, ?2, ?3, ?4)",
                params![
                    now,
                    day_str(batch.start),
                    day_str(batch.end),
                    batch.pages as i64
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The Cost Explorer requests logged so far: (start, end exclusive, pages), oldest first.
    pub fn request_log(&self) -> anyhow::Result<Vec<(NaiveDate, NaiveDate, i64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT start_day, end_day, pages FROM ce_requests ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                parse_day(&r.get::<_, String>(0)?)?,
                parse_day(&r.get::<_, String>(1)?)?,
                r.get(2)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn points(&self, f: &PointFilter) -> anyhow::Result<Vec<CostPoint>> {
        let mut stmt = self.conn.prepare(
            "SELECT day, account, region, family, usage_type, usage, unit, cost_usd, estimated
             FROM cost_points
             WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day <= ?2)
               AND (?3 IS NULL OR account = ?3) AND (?4 IS NULL OR region = ?4)
               AND (?5 IS NULL OR family = ?5)
             ORDER BY day, account, region, family, usage_type",
        )?;
        let rows = stmt.query_map(
            params![
                f.from.map(day_str),
                f.to.map(day_str),
                f.account,
                f.region,
                f.family.map(|x| x.as_str())
            ],
            |r| {
                Ok(CostPoint {
                    day: parse_day(&r.get::<_, String>(0)?)?,
                    account: r.get(1)?,
                    region: r.get(2)?,
                    family: parse_family(&r.get::<_, String>(3)?)?,
                    usage_type: r.get(4)?,
                    usage: r.get(5)?,
                    unit: r.get(6)?,
                    cost_usd: r.get(7)?,
                    estimated: r.get(8)?,
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every (account, region, family) series over `[from, to]`, summed over usage types.
    pub fn series(&self, from: NaiveDate, to: NaiveDate) -> anyhow::Result<SeriesSet> {
        let points = self.points(&PointFilter {
            from: Some(from),
            to: Some(to),
            ..Default::default()
        })?;
        let mut by_key: BTreeMap<SeriesKey, Series> = BTreeMap::new();
        for p in points {
            let key = SeriesKey {
                account: p.account,
                region: p.region,
                family: p.family,
            };
            let s = by_key.entry(key.clone()).or_insert_with(|| Series {
                key,
                unit: p.unit.clone(),
                values: BTreeMap::new(),
            });
            let v = s.values.entry(p.day).or_insert(DayValue {
                usage: 0.0,
                cost_usd: 0.0,
                estimated: false,
            });
            v.usage += p.usage;
            v.cost_usd += p.cost_usd;
            v.estimated |= p.estimated;
        }
        let mut known_days = BTreeSet::new();
        for (day, _) in self.fetched_days(from, to + chrono::Days::new(1))? {
            known_days.insert(day);
        }
        Ok(SeriesSet {
            series: by_key.into_values().collect(),
            known_days,
        })
    }

    /// Usage types in `[from, to]` that no family claims (stored as `other`).
    pub fn unknown_usage_types(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> anyhow::Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT usage_type FROM cost_points
             WHERE family = 'other' AND day >= ?1 AND day <= ?2 ORDER BY usage_type",
        )?;
        let rows = stmt.query_map(params![day_str(from), day_str(to)], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn account_names(&self) -> anyhow::Result<HashMap<String, String>> {
        let mut stmt = self.conn.prepare("SELECT account, name FROM accounts")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

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
    fn id_bodies<T: serde::de::DeserializeOwned>(
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

    /// Record early warnings; returns those not recorded before.
    pub fn record_warnings(
        &mut self,
        warnings: &[crate::watch::EarlyWarning],
    ) -> anyhow::Result<Vec<crate::watch::EarlyWarning>> {
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
    pub fn open_warnings(&self) -> anyhow::Result<Vec<(i64, crate::watch::EarlyWarning)>> {
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

    /// Activity days already scanned in `[from, to]`.
    pub fn activity_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> anyhow::Result<BTreeSet<NaiveDate>> {
        let mut stmt = self
            .conn
            .prepare("SELECT day FROM activity_days WHERE day >= ?1 AND day <= ?2")?;
        let rows = stmt.query_map(params![day_str(from), day_str(to)], |r| {
            parse_day(&r.get::<_, String>(0)?)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Store a scan: mark its days scanned and write their counts, in one transaction.
    pub fn store_activity(
        &mut self,
        days: &[NaiveDate],
        rows: &[crate::correlate::ActivityCount],
    ) -> anyhow::Result<()> {
        let now = Utc::now().to_rfc3339();
        let tx = self.conn.transaction()?;
        {
            let mut mark = tx.prepare(
                "INSERT OR REPLACE INTO activity_days (day, scanned_at) VALUES (?1, ?2)",
            )?;
            let mut del = tx.prepare("DELETE FROM activity_counts WHERE day = ?1")?;
            for d in days {
                mark.execute(params![day_str(*d), now])?;
                del.execute([day_str(*d)])?;
            }
            let mut ins = tx.prepare(
                "INSERT OR REPLACE INTO activity_counts (day, account, region, event, outcome, count, drivers)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for r in rows.iter().filter(|r| days.contains(&r.day)) {
                ins.execute(params![
                    day_str(r.day),
                    r.account,
                    r.region,
                    r.event,
                    r.outcome,
                    r.count as i64,
                    serde_json::to_string(&r.drivers)?
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Activity counts over `[from, to]`.
    pub fn activity_rows(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> anyhow::Result<Vec<crate::correlate::ActivityCount>> {
        let mut stmt = self.conn.prepare(
            "SELECT day, account, region, event, outcome, count, drivers FROM activity_counts
             WHERE day >= ?1 AND day <= ?2 ORDER BY day, account, region, event, outcome",
        )?;
        let rows = stmt.query_map(params![day_str(from), day_str(to)], |r| {
            Ok((
                parse_day(&r.get::<_, String>(0)?)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (day, account, region, event, outcome, count, drivers) = row?;
            let drivers: Vec<(String, u64)> = serde_json::from_str(&drivers).unwrap_or_default();
            out.push(crate::correlate::ActivityCount {
                day,
                account,
                region,
                event,
                outcome,
                count: count as u64,
                drivers,
            });
        }
        Ok(out)
    }

    /// Record findings; returns those not recorded before (to announce once).
    pub fn record_findings(
        &mut self,
        findings: &[crate::activity::Finding],
    ) -> anyhow::Result<Vec<crate::activity::Finding>> {
        let tx = self.conn.transaction()?;
        let mut new = Vec::new();
        {
            let mut ins = tx.prepare(
                "INSERT OR IGNORE INTO activity_findings (day, account, region, event, outcome, kind, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for f in findings {
                if ins.execute(params![
                    day_str(f.day),
                    f.account,
                    f.region,
                    f.event,
                    f.outcome,
                    f.kind,
                    serde_json::to_string(f)?
                ])? == 1
                {
                    new.push(f.clone());
                }
            }
        }
        tx.commit()?;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn point(day: &str, usage_type: &str, usage: f64) -> CostPoint {
        let info = crate::sources::usage_type::classify(usage_type);
        CostPoint {
            day: d(day),
            account: "111111111111".into(),
            region: info.region,
            family: info.family,
            usage_type: usage_type.into(),
            usage,
            unit: "GB".into(),
            cost_usd: usage * 0.09,
            estimated: false,
        }
    }

    #[test]
    fn migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.db");
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        let err = Store::open(&path).err().unwrap();
        assert!(format!("{err:#}").contains("schema version 99"), "{err:#}");
    }

    #[test]
    fn refetch_replaces_a_day_and_series_sum_usage_types() {
        let mut s = Store::open_in_memory().unwrap();
        let mut b = SyncBatch {
            start: d("2026-05-01"),
            end: d("2026-05-03"),
            pages: 1,
            ..Default::default()
        };
        b.days.insert(d("2026-05-01"), true);
        b.days.insert(d("2026-05-02"), false);
        b.points = vec![
            point("2026-05-01", "DataTransfer-Out-Bytes", 10.0),
            point("2026-05-01", "USE1-DataTransfer-Out-Bytes", 5.0),
            point("2026-05-02", "DataTransfer-Out-Bytes", 7.0),
        ];
        s.apply_sync(&b).unwrap();
        let set = s.series(d("2026-05-01"), d("2026-05-02")).unwrap();
        assert_eq!(set.series.len(), 1);
        assert_eq!(set.series[0].values[&d("2026-05-01")].usage, 15.0);
        assert_eq!(set.known_days.len(), 2);

        // The estimated day comes back final with a group gone: the old points must not linger.
        let mut b2 = SyncBatch {
            start: d("2026-05-02"),
            end: d("2026-05-03"),
            pages: 2,
            ..Default::default()
        };
        b2.days.insert(d("2026-05-02"), true);
        s.apply_sync(&b2).unwrap();
        let set = s.series(d("2026-05-01"), d("2026-05-02")).unwrap();
        assert!(!set.series[0].values.contains_key(&d("2026-05-02")));
        let fetched = s.fetched_days(d("2026-05-01"), d("2026-05-03")).unwrap();
        assert!(fetched.values().all(|f| *f));
        assert_eq!(s.request_log().unwrap().iter().map(|r| r.2).sum::<i64>(), 3);
    }
}
