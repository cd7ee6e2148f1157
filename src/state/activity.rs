//! S3 activity: the days counted, their counts, and the findings announced.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use chrono::Utc;
use rusqlite::params;

use super::{day_str, parse_day, Store};
use crate::model::{ActivityCount, Finding};

impl Store {
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
        rows: &[ActivityCount],
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
    ) -> anyhow::Result<Vec<ActivityCount>> {
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
            out.push(ActivityCount {
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
    pub fn record_findings(&mut self, findings: &[Finding]) -> anyhow::Result<Vec<Finding>> {
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
