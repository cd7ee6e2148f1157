//! The SQLite store: everything egresswatch remembers between runs.
//!
//! Cost Explorer charges per request, so fetched days are kept and never fetched again once
//! final; incidents are kept so that nothing is announced twice and an announcement that failed
//! is retried on the next run. The schema is versioned (`PRAGMA user_version`) and migrated
//! forward on open. Every write that belongs together is one transaction: a crash leaves the
//! store as it was or fully updated, never half.
//!
//! One file per concern, each an `impl Store` block over the same connection: [`points`] (cost
//! points, fetched days, the request log), [`incidents`], [`outbox`], [`warnings`],
//! [`activity`]; [`remote`] says where the database file lives (local and locked, or on S3).
//! The store speaks only the model's vocabulary: it imports nothing above it.

mod activity;
mod incidents;
mod outbox;
mod points;
pub mod remote;
mod warnings;

use std::path::Path;

use anyhow::Context;
use chrono::NaiveDate;
use rusqlite::Connection;

use crate::model::Family;
pub use outbox::{NewMessage, OutboxMessage};
pub use points::{PointFilter, SyncBatch};

/// Where the store is when `[state]` names no path.
pub const DEFAULT_STATE_PATH: &str = "egresswatch.db";

/// `[state]` as written.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RawState {
    pub path: Option<String>,
}

/// Validate `[state]`: the store's path (a file, or `s3://BUCKET/KEY`).
pub fn check_path(raw: RawState, c: &mut crate::settings::Check<'_>) -> std::path::PathBuf {
    match raw.path {
        Some(p) if p.trim().is_empty() => {
            c.fail(
                &crate::settings::keys(&["state", "path"]),
                "must not be empty",
            );
            DEFAULT_STATE_PATH.into()
        }
        Some(p) => p.into(),
        None => DEFAULT_STATE_PATH.into(),
    }
}

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
    r#"
-- Cost Explorer groups refused (unreadable or impossible values), per day: their series is not
-- judged on that day, and the day stays not final until an answer without them replaces it.
CREATE TABLE refused_groups (
    day        TEXT NOT NULL,
    account    TEXT NOT NULL,
    usage_type TEXT NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (day, account, usage_type)
) WITHOUT ROWID;
"#,
];

pub struct Store {
    conn: Connection,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CostPoint;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn point(day: &str, usage_type: &str, usage: f64) -> CostPoint {
        let info = crate::model::usage_type::classify(usage_type);
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
