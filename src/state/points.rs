//! Cost points and the days Cost Explorer has answered for: what a sync writes (one range in
//! one transaction) and what detection reads back as series.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{NaiveDate, Utc};
use rusqlite::params;

use super::{day_str, parse_day, parse_family, Store};
use crate::model::{CostPoint, DayValue, Family, Refused, Series, SeriesKey, SeriesSet};

impl Store {
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

    /// Write one fetch: replace the points of every covered day (or, with `merge`, add and
    /// update them), mark the days, record refused groups, log the requests.
    pub fn apply_sync(&mut self, batch: &SyncBatch) -> anyhow::Result<()> {
        let now = Utc::now().to_rfc3339();
        let tx = self.conn.transaction()?;
        {
            let mut del = tx.prepare("DELETE FROM cost_points WHERE day = ?1")?;
            let mut del_refused = tx.prepare("DELETE FROM refused_groups WHERE day = ?1")?;
            let mut mark = tx.prepare(
                "INSERT INTO fetched_days (day, final, fetched_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(day) DO UPDATE SET final = excluded.final, fetched_at = excluded.fetched_at",
            )?;
            for (day, final_) in &batch.days {
                if !batch.merge {
                    del.execute([day_str(*day)])?;
                    del_refused.execute([day_str(*day)])?;
                }
                mark.execute(params![day_str(*day), final_, now])?;
            }
            let mut refuse = tx.prepare(
                "INSERT OR REPLACE INTO refused_groups (day, account, usage_type, reason)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut unrefuse = tx.prepare(
                "DELETE FROM refused_groups WHERE day = ?1 AND account = ?2 AND usage_type = ?3",
            )?;
            for r in &batch.refused {
                refuse.execute(params![day_str(r.day), r.account, r.usage_type, r.reason])?;
            }
            if batch.merge {
                // A readable group read later clears its refusal.
                for p in &batch.points {
                    unrefuse.execute(params![day_str(p.day), p.account, p.usage_type])?;
                }
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
    ///
    /// Read row by row straight into the series (a year of an organisation's bill is a million
    /// rows: no point is materialized, no string copied per row).
    pub fn series(&self, from: NaiveDate, to: NaiveDate) -> anyhow::Result<SeriesSet> {
        let mut stmt = self.conn.prepare(
            "SELECT day, account, region, family, usage, unit, cost_usd, estimated
             FROM cost_points WHERE day >= ?1 AND day <= ?2
             ORDER BY day, account, region, family, usage_type",
        )?;
        let mut rows = stmt.query(params![day_str(from), day_str(to)])?;
        let mut series: Vec<Series> = Vec::new();
        // "account \t region \t family" → index in `series`.
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut id = String::new();
        let mut day: Option<(String, NaiveDate)> = None;
        while let Some(r) = rows.next()? {
            let day_text = r.get_ref(0)?.as_str()?;
            let d = match &day {
                Some((text, d)) if text == day_text => *d,
                _ => {
                    let d = parse_day(day_text)?;
                    day = Some((day_text.to_string(), d));
                    d
                }
            };
            let (account, region, family) = (
                r.get_ref(1)?.as_str()?,
                r.get_ref(2)?.as_str()?,
                r.get_ref(3)?.as_str()?,
            );
            id.clear();
            for part in [account, "\t", region, "\t", family] {
                id.push_str(part);
            }
            let k = match index.get(id.as_str()) {
                Some(k) => *k,
                None => {
                    series.push(Series {
                        key: SeriesKey {
                            account: account.to_string(),
                            region: region.to_string(),
                            family: parse_family(family)?,
                        },
                        unit: r.get(5)?,
                        values: BTreeMap::new(),
                    });
                    index.insert(id.clone(), series.len() - 1);
                    series.len() - 1
                }
            };
            let v = series[k].values.entry(d).or_insert(DayValue {
                usage: 0.0,
                cost_usd: 0.0,
                estimated: false,
            });
            v.usage += r.get::<_, f64>(4)?;
            v.cost_usd += r.get::<_, f64>(6)?;
            v.estimated |= r.get::<_, bool>(7)?;
        }
        drop(rows);
        series.sort_by(|a, b| a.key.cmp(&b.key));
        let mut known_days = BTreeSet::new();
        for (day, _) in self.fetched_days(from, to + chrono::Days::new(1))? {
            known_days.insert(day);
        }
        let mut first_days = BTreeMap::new();
        let mut stmt = self.conn.prepare(
            "SELECT account, MIN(day) FROM cost_points WHERE usage > 0 AND day <= ?1 GROUP BY account",
        )?;
        let rows = stmt.query_map([day_str(to)], |r| {
            Ok((r.get::<_, String>(0)?, parse_day(&r.get::<_, String>(1)?)?))
        })?;
        for row in rows {
            let (account, d) = row?;
            first_days.insert(account, d);
        }
        let mut gaps: BTreeMap<SeriesKey, BTreeSet<NaiveDate>> = BTreeMap::new();
        for (day, account, usage_type, _) in self.refused_groups(from, to)? {
            let info = crate::model::usage_type::classify(&usage_type);
            gaps.entry(SeriesKey {
                account,
                region: info.region,
                family: info.family,
            })
            .or_default()
            .insert(day);
        }
        Ok(SeriesSet {
            series,
            known_days,
            first_days,
            gaps,
        })
    }

    /// The first day the store holds (answered, fetched or imported), if any.
    pub fn first_day(&self) -> anyhow::Result<Option<NaiveDate>> {
        let first: Option<String> = self.conn.query_row(
            "SELECT MIN(d) FROM (SELECT MIN(day) AS d FROM fetched_days
                                 UNION ALL SELECT MIN(day) FROM cost_points)",
            [],
            |r| r.get(0),
        )?;
        Ok(first.map(|d| parse_day(&d)).transpose()?)
    }

    /// Every series through `to`, from the store's first day: what the detector reads, since
    /// each series' detector starts at its account's first day (see `SeriesSet::days_of`), not
    /// at a window before the day judged.
    pub fn history(&self, to: NaiveDate) -> anyhow::Result<SeriesSet> {
        let from = self.first_day()?.map_or(to, |d| d.min(to));
        self.series(from, to)
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

    /// Log requests made for `[start, end)` whose answer was not stored (a fetch that failed
    /// part-way): what Cost Explorer billed is always in `ce_requests`.
    pub fn log_requests(
        &mut self,
        start: NaiveDate,
        end: NaiveDate,
        pages: usize,
    ) -> anyhow::Result<()> {
        if pages == 0 {
            return Ok(());
        }
        self.conn.execute(
            "INSERT INTO ce_requests (at, start_day, end_day, pages) VALUES (?1, ?2, ?3, ?4)",
            params![
                Utc::now().to_rfc3339(),
                day_str(start),
                day_str(end),
                pages as i64
            ],
        )?;
        Ok(())
    }

    /// Refused groups of `[from, to]`: (day, account, usage type, why).
    pub fn refused_groups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> anyhow::Result<Vec<(NaiveDate, String, String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT day, account, usage_type, reason FROM refused_groups
             WHERE day >= ?1 AND day <= ?2 ORDER BY day, account, usage_type",
        )?;
        let rows = stmt.query_map(params![day_str(from), day_str(to)], |r| {
            Ok((
                parse_day(&r.get::<_, String>(0)?)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn account_names(&self) -> anyhow::Result<HashMap<String, String>> {
        let mut stmt = self.conn.prepare("SELECT account, name FROM accounts")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// What one ranged Cost Explorer fetch (or one imported file) brought back, written in one
/// transaction.
#[derive(Debug, Default)]
pub struct SyncBatch {
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// Requests made for it (billed); 0 for an import.
    pub pages: usize,
    /// Every day the answer covered, and whether it is final (no longer estimated, nothing
    /// refused). Without `merge`, these days' stored points are replaced by `points`.
    pub days: BTreeMap<NaiveDate, bool>,
    pub points: Vec<CostPoint>,
    pub account_names: BTreeMap<String, String>,
    /// Groups refused, with why: their series are not judged on their days.
    pub refused: Vec<Refused>,
    /// Add and update points by identity (day, account, usage type), never delete: an import
    /// of saved pages, each holding only some of a day's groups.
    pub merge: bool,
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
