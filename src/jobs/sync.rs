//! Incremental sync: fetch from Cost Explorer only the days the store lacks.
//!
//! A day stored as final is never fetched again; a day still estimated, or not answered yet, is
//! fetched again until Cost Explorer calls it final. The missing days are fetched as few ranged
//! requests as possible: one per contiguous run of missing days (runs separated by a short gap
//! are merged, since one request over a few known days is cheaper than two requests).
//!
//! What an answer means for each day (see `sources::cost_explorer::Normalized`): a day with
//! readable groups replaces what the store held for it; a final day without groups is silent
//! (zero); an estimated day without groups, or a day the answer lacks, is "no data yet" and
//! changes nothing; a day with a refused group keeps its readable groups and stays not final.
//! Every request counts against the run's budget and is logged, even when the run then fails.

use chrono::{Datelike, Days, Months, NaiveDate};

use crate::sources::cost_explorer::{normalize, Budget, CostSource, SyncSettings};
use crate::state::{Store, SyncBatch};

/// Runs of missing days at most this far apart are fetched in one request.
const MERGE_GAP_DAYS: u64 = 7;

/// The first day a run acting as `date` keeps in the store: `max(lookback_days, history_days)`
/// days before the evaluated day (the day before `date`). `sync` without `--from` starts there
/// too, so a run after it has nothing left to fetch.
pub fn window_start(date: NaiveDate, sync: &SyncSettings, history_days: u32) -> NaiveDate {
    let eval_day = date - Days::new(1);
    eval_day - Days::new(u64::from(sync.lookback_days.max(history_days)))
}

/// What a sync did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SyncOutcome {
    /// Ranged fetches made, `[start, end)`.
    pub ranges: Vec<(NaiveDate, NaiveDate)>,
    /// API requests made (pages): what Cost Explorer bills, $0.01 each.
    pub requests: usize,
    pub days_fetched: usize,
    pub points: usize,
    /// Groups that could not be read and were skipped.
    pub problems: Vec<String>,
    /// The start of the requested range, if it had to be moved to what Cost Explorer keeps.
    pub clamped_from: Option<NaiveDate>,
    /// Days asked for that Cost Explorer has no data for yet (estimated and empty, or absent).
    pub no_data_days: Vec<NaiveDate>,
}

/// The earliest day Cost Explorer serves at daily granularity: 13 months plus the current one.
pub fn earliest_daily(today: NaiveDate) -> NaiveDate {
    let first_of_month = today.with_day(1).expect("day 1 exists");
    first_of_month - Months::new(13)
}

/// The ranges `[start, end)` to fetch so that every day in `[from, to)` is known and final.
pub fn plan(
    from: NaiveDate,
    to: NaiveDate,
    store: &Store,
) -> anyhow::Result<Vec<(NaiveDate, NaiveDate)>> {
    let fetched = store.fetched_days(from, to)?;
    let mut ranges: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    let mut day = from;
    while day < to {
        if fetched.get(&day) != Some(&true) {
            let next = day + Days::new(1);
            match ranges.last_mut() {
                Some((_, end)) if day <= *end + Days::new(MERGE_GAP_DAYS) => *end = next,
                _ => ranges.push((day, next)),
            }
        }
        day = day + Days::new(1);
    }
    Ok(ranges)
}

/// Bring the store up to date for `[from, to)`, as seen on `today`, spending at most what is
/// left of `budget`. Requests made are logged in the store even when a fetch fails; the error
/// then says what the run spent.
pub async fn sync<S: CostSource>(
    source: &S,
    store: &mut Store,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
    budget: &mut Budget,
) -> anyhow::Result<SyncOutcome> {
    let mut out = SyncOutcome::default();
    let earliest = earliest_daily(today);
    let from = if from < earliest {
        out.clamped_from = Some(earliest);
        earliest
    } else {
        from
    };
    // Cost Explorer has nothing for today's future; never ask past today.
    let to = to.min(today + Days::new(1));
    for (start, end) in plan(from, to, store)? {
        tracing::info!(%start, %end, "fetching from Cost Explorer");
        let before = budget.used();
        let fetched = source.fetch(start, end, budget).await;
        let made = budget.used() - before;
        out.requests += made;
        let pages = match fetched {
            Ok(p) => p,
            Err(e) => {
                // What was spent is logged whatever happened to the answer.
                store.log_requests(start, end, made)?;
                return Err(e.context(format!(
                    "fetching {start}..{end} from Cost Explorer ({} request(s), ${:.2} spent this run)",
                    budget.used(),
                    budget.usd()
                )));
            }
        };
        let n = normalize(&pages);
        let mut batch = SyncBatch {
            start,
            end,
            pages: made,
            account_names: n.account_names,
            ..Default::default()
        };
        let refused_on = |day: NaiveDate| n.refused.iter().any(|r| r.day == day);
        let mut day = start;
        while day < end {
            match n.days.get(&day) {
                // Absent from the answer: it says nothing about the day.
                None => out.no_data_days.push(day),
                Some(estimated) => {
                    let groups = n.groups.get(&day).copied().unwrap_or(0);
                    let refused = refused_on(day);
                    if groups == 0 && !refused && *estimated {
                        // Estimated and empty: not there yet, not zero.
                        out.no_data_days.push(day);
                    } else {
                        batch.days.insert(day, !estimated && !refused);
                    }
                }
            }
            day = day + Days::new(1);
        }
        // Keep only the answered days asked for: a response with extra days must not mark them.
        batch.points = n
            .points
            .into_iter()
            .filter(|p| batch.days.contains_key(&p.day))
            .collect();
        batch.refused = n
            .refused
            .into_iter()
            .filter(|r| batch.days.contains_key(&r.day))
            .collect();
        store.apply_sync(&batch)?;
        tracing::info!(%start, %end, pages = batch.pages, points = batch.points.len(), "stored");
        out.ranges.push((start, end));
        out.days_fetched += batch.days.len();
        out.points += batch.points.len();
        out.problems.extend(n.problems);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sources::cost_explorer::{
        CeGroup, CeInterval, CeMetric, CeResponse, CeResultByTime,
    };

    /// A source that answers every fetch with the same pages, counting one request a page.
    struct Canned(Vec<CeResponse>);

    impl CostSource for Canned {
        async fn fetch(
            &self,
            _start: NaiveDate,
            _end: NaiveDate,
            budget: &mut Budget,
        ) -> anyhow::Result<Vec<CeResponse>> {
            for _ in &self.0 {
                budget.spend()?;
            }
            Ok(self.0.clone())
        }
    }

    fn group(account: &str, usage_type: &str, amount: &str, unit: &str) -> CeGroup {
        let metric = |a: &str, u: &str| CeMetric {
            amount: Some(a.into()),
            unit: Some(u.into()),
        };
        CeGroup {
            keys: vec![account.into(), usage_type.into()],
            metrics: [
                ("UsageQuantity".to_string(), metric(amount, unit)),
                ("UnblendedCost".to_string(), metric("1.0", "USD")),
            ]
            .into(),
        }
    }

    fn day_result(day: &str, estimated: bool, groups: Vec<CeGroup>) -> CeResultByTime {
        let start = d(day);
        CeResultByTime {
            time_period: CeInterval {
                start: day.into(),
                end: (start + Days::new(1)).format("%Y-%m-%d").to_string(),
            },
            total: Default::default(),
            groups,
            estimated,
        }
    }

    fn page(results: Vec<CeResultByTime>) -> CeResponse {
        CeResponse {
            results_by_time: results,
            ..Default::default()
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn usage_on(store: &Store, day: &str) -> Vec<(String, f64)> {
        store
            .points(&crate::state::PointFilter {
                from: Some(d(day)),
                to: Some(d(day)),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|p| (p.usage_type, p.usage))
            .collect()
    }

    /// Day 1 final with two groups, day 2 estimated with one.
    /// Sync 1-3 March 2026 on the 3rd, from `src`.
    fn sync_march(src: &Canned, s: &mut Store, b: &mut Budget) -> SyncOutcome {
        block_on(sync(
            src,
            s,
            d("2026-03-01"),
            d("2026-03-03"),
            d("2026-03-03"),
            b,
        ))
        .unwrap()
    }

    fn first_answer() -> Canned {
        Canned(vec![page(vec![
            day_result(
                "2026-03-01",
                false,
                vec![
                    group("1", "EU-DataTransfer-Out-Bytes", "10", "GB"),
                    group("1", "USE1-DataTransfer-Out-Bytes", "5", "GB"),
                ],
            ),
            day_result(
                "2026-03-02",
                true,
                vec![group("1", "EU-DataTransfer-Out-Bytes", "7", "GB")],
            ),
        ])])
    }

    #[test]
    fn an_estimated_day_answered_empty_or_not_at_all_keeps_what_the_store_held() {
        let mut s = Store::open_in_memory().unwrap();
        let mut b = Budget::unlimited();
        sync_march(&first_answer(), &mut s, &mut b);
        assert_eq!(usage_on(&s, "2026-03-02").len(), 1);
        // The refetch of the estimated day comes back with the day but no group...
        let empty = Canned(vec![page(vec![day_result("2026-03-02", true, vec![])])]);
        let out = sync_march(&empty, &mut s, &mut b);
        assert_eq!(out.no_data_days, vec![d("2026-03-02")]);
        assert_eq!(
            usage_on(&s, "2026-03-02"),
            vec![("EU-DataTransfer-Out-Bytes".to_string(), 7.0)],
            "no data yet is not zero: the stored point stays"
        );
        assert!(!s.fetched_days(d("2026-03-02"), d("2026-03-03")).unwrap()[&d("2026-03-02")]);
        // ...or without the day at all.
        let absent = Canned(vec![page(vec![])]);
        sync_march(&absent, &mut s, &mut b);
        assert_eq!(usage_on(&s, "2026-03-02").len(), 1);
        // A final day answered without groups is genuinely silent: zero.
        let silent = Canned(vec![page(vec![day_result("2026-03-02", false, vec![])])]);
        sync_march(&silent, &mut s, &mut b);
        assert!(usage_on(&s, "2026-03-02").is_empty());
        assert!(s.fetched_days(d("2026-03-02"), d("2026-03-03")).unwrap()[&d("2026-03-02")]);
        // A day never answered is not known at all.
        let cold = Store::open_in_memory().unwrap();
        assert!(cold
            .fetched_days(d("2026-03-01"), d("2026-03-03"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_refused_group_keeps_its_day_open_and_its_series_unjudged() {
        let mut s = Store::open_in_memory().unwrap();
        let today = d("2026-03-10");
        let mut b = Budget::unlimited();
        for (amount, unit) in [
            ("NaN", "GB"),
            ("abc", "GB"),
            ("-3", "GB"),
            ("1e308", "GB"),
            ("4", "Bytes"),
        ] {
            let answer = Canned(vec![page(vec![day_result(
                "2026-03-01",
                false,
                vec![
                    group("1", "EU-DataTransfer-Out-Bytes", amount, unit),
                    group("1", "USE1-DataTransfer-Out-Bytes", "5", "GB"),
                ],
            )])]);
            let out = block_on(sync(
                &answer,
                &mut s,
                d("2026-03-01"),
                d("2026-03-02"),
                today,
                &mut b,
            ))
            .unwrap();
            assert_eq!(out.problems.len(), 1, "{amount} {unit}: {:?}", out.problems);
            assert_eq!(
                usage_on(&s, "2026-03-01"),
                vec![("USE1-DataTransfer-Out-Bytes".to_string(), 5.0)],
                "{amount} {unit}: only the readable group is stored"
            );
            assert!(
                !s.fetched_days(d("2026-03-01"), d("2026-03-02")).unwrap()[&d("2026-03-01")],
                "{amount} {unit}: the day is fetched again next run"
            );
            let set = s.series(d("2026-03-01"), d("2026-03-01")).unwrap();
            let gap = crate::model::SeriesKey {
                account: "1".into(),
                region: "eu-west-1".into(),
                family: crate::model::Family::InternetOut,
            };
            assert!(set
                .days_of(&gap, d("2026-03-01"), d("2026-03-01"))
                .is_empty());
            assert_eq!(
                s.refused_groups(d("2026-03-01"), d("2026-03-01"))
                    .unwrap()
                    .len(),
                1
            );
        }
        // A later readable answer closes the day and clears the refusal.
        block_on(sync(
            &first_answer(),
            &mut s,
            d("2026-03-01"),
            d("2026-03-02"),
            today,
            &mut b,
        ))
        .unwrap();
        assert!(s
            .refused_groups(d("2026-03-01"), d("2026-03-01"))
            .unwrap()
            .is_empty());
        assert!(s.fetched_days(d("2026-03-01"), d("2026-03-02")).unwrap()[&d("2026-03-01")]);
    }

    #[test]
    fn a_spent_budget_stops_the_run_and_its_requests_are_logged() {
        let mut s = Store::open_in_memory().unwrap();
        let pages = Canned(vec![page(vec![]), page(vec![]), page(vec![])]);
        let mut b = Budget::new(2);
        let e = block_on(sync(
            &pages,
            &mut s,
            d("2026-03-01"),
            d("2026-03-02"),
            d("2026-03-05"),
            &mut b,
        ))
        .unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("2 request(s)") && msg.contains("$0.02"),
            "{msg}"
        );
        assert!(msg.contains("max_requests_per_run"), "{msg}");
        let logged: i64 = s.request_log().unwrap().iter().map(|r| r.2).sum();
        assert_eq!(
            logged, 2,
            "what was spent is logged although the run failed"
        );
    }

    #[test]
    fn sync_and_run_share_one_window() {
        let today = d("2026-06-10");
        let s = SyncSettings::default();
        assert_eq!(
            window_start(today, &s, 120),
            d("2026-06-09") - Days::new(120)
        );
        let long = SyncSettings {
            lookback_days: 200,
            ..s
        };
        assert_eq!(
            window_start(today, &long, 120),
            d("2026-06-09") - Days::new(200)
        );
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn mark(store: &mut Store, days: &[(&str, bool)]) {
        let mut b = SyncBatch {
            start: d("2026-01-01"),
            end: d("2026-01-02"),
            pages: 1,
            ..Default::default()
        };
        for (day, f) in days {
            b.days.insert(d(day), *f);
        }
        store.apply_sync(&b).unwrap();
    }

    #[test]
    fn cold_store_is_one_range() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(
            plan(d("2026-01-01"), d("2026-05-01"), &s).unwrap(),
            vec![(d("2026-01-01"), d("2026-05-01"))]
        );
    }

    #[test]
    fn warm_store_fetches_only_estimated_and_new_days() {
        let mut s = Store::open_in_memory().unwrap();
        let mut days = vec![];
        let mut day = d("2026-03-01");
        let names: Vec<String> = (0..30)
            .map(|_| {
                let n = day.format("%Y-%m-%d").to_string();
                day = day + Days::new(1);
                n
            })
            .collect();
        for (i, n) in names.iter().enumerate() {
            days.push((n.as_str(), i < 28)); // the last two are still estimated
        }
        mark(&mut s, &days);
        assert_eq!(
            plan(d("2026-03-01"), d("2026-04-01"), &s).unwrap(),
            vec![(d("2026-03-29"), d("2026-04-01"))]
        );
    }

    #[test]
    fn far_apart_gaps_are_separate_requests_and_near_ones_merge() {
        let mut s = Store::open_in_memory().unwrap();
        let mut known = vec![];
        let all: Vec<String> = (1..=31).map(|i| format!("2026-03-{i:02}")).collect();
        for (i, n) in all.iter().enumerate() {
            // missing: Mar 2, Mar 5 (gap 2 → merged), Mar 30 (far → separate)
            if ![1usize, 4, 29].contains(&i) {
                known.push((n.as_str(), true));
            }
        }
        mark(&mut s, &known);
        assert_eq!(
            plan(d("2026-03-01"), d("2026-04-01"), &s).unwrap(),
            vec![
                (d("2026-03-02"), d("2026-03-06")),
                (d("2026-03-30"), d("2026-03-31"))
            ]
        );
    }

    #[test]
    fn earliest_daily_is_thirteen_months_back() {
        assert_eq!(earliest_daily(d("2026-11-27")), d("2025-10-01"));
        assert_eq!(earliest_daily(d("2026-01-31")), d("2024-12-01"));
    }
}
