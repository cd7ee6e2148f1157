//! Backfill: replay past months exactly as the daily job would have, and say what would have fired.
//!
//! The store is filled with what it lacks (ranged Cost Explorer requests, one per page; days
//! already final are never fetched again), then every day of the range is evaluated with only
//! the data up to that day, through `detect::evaluate_range`, the code `detect::evaluate_day`
//! (the daily run) calls for one day: one detector pass per series for the whole range, each
//! day's verdicts exactly the daily run's of that day. An incident is the last version of each
//! run of flagged days (its start, end, peak and totals as the daily job would have reported
//! them on its last day).

use std::collections::BTreeMap;
use std::io::IsTerminal;

use anyhow::Context;
use chrono::{Days, NaiveDate};

use std::path::{Path, PathBuf};

use super::notify::queue_and_deliver;
use super::sync::{earliest_daily, sync, SyncOutcome};
use crate::config::Config;
use crate::detect::evaluate_each;
use crate::model::{Incident, SeriesSet};
use crate::report::sink::outbox::{self, Delivered};
use crate::report::{html, DataQuality, Report, ReportIncident};
use crate::sources::cost_explorer::CostSource;
use crate::state::Store;

/// What a backfill found.
#[derive(Debug, Clone)]
pub struct Backfill {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub synced: SyncOutcome,
    /// Every incident that would have fired, oldest first.
    pub incidents: Vec<Incident>,
    /// Days evaluated (known to Cost Explorer).
    pub days_evaluated: usize,
    /// The series behind the range (history included), for charts.
    pub set: SeriesSet,
}

/// A clear error for a range that cannot be replayed: reversed, not over yet, or older than
/// Cost Explorer keeps at daily granularity with nothing of it in the store (`stored_before`:
/// whether the store holds a day of the range older than that).
pub fn check_range(
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
    stored_before: bool,
) -> Result<(), String> {
    if from > to {
        return Err(format!("--from {from} is after --to {to}"));
    }
    if to >= today {
        return Err(format!(
            "--to {to} is not a complete day yet (today is {today}, UTC)"
        ));
    }
    let earliest = earliest_daily(today);
    if from < earliest && !stored_before {
        return Err(format!(
            "--from {from} is older than Cost Explorer's daily history: daily data goes back to {earliest} \
             (13 months plus the current month), and the store holds none of {from} to {}. Load older \
             days from saved responses with `egresswatch import FILE...` (the exact command to save \
             them: egresswatch import --help), or start at {earliest}",
            earliest - Days::new(1)
        ));
    }
    Ok(())
}

/// Whether the store holds any day of `[from, to]` older than Cost Explorer's daily history.
pub fn stored_before_history(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> anyhow::Result<bool> {
    let earliest = earliest_daily(today);
    if from >= earliest {
        return Ok(false);
    }
    Ok(!store
        .fetched_days(from, (to + Days::new(1)).min(earliest))?
        .is_empty())
}

/// Evaluate every day of `[from, to]` from the store alone (no fetching): what the daily job
/// would have said each morning.
pub fn replay(
    cfg: &Config,
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<(Vec<Incident>, usize, SeriesSet)> {
    // What the daily run reads (see `daily::evaluate`): every stored day up to the range's end.
    let set = store.history(to)?;
    let names = store.account_names()?;
    let total = (to - from).num_days() as u64 + 1;
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} days, {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        b.set_prefix("replaying");
        b
    });
    // (account, region, start) → the event's latest version.
    let mut found: BTreeMap<(String, String, NaiveDate), Incident> = BTreeMap::new();
    let mut evaluated = 0;
    // Each day's outcome reads only the days up to it: what the daily job had that morning,
    // however much later data the store holds.
    evaluate_each(&set, from, to, &cfg.detect, |out| {
        let day = out.day.expect("a replayed day");
        if out.day_known {
            evaluated += 1;
        }
        for mut i in out.incidents {
            i.name_account(names.get(&i.account).cloned());
            // A run that continues an earlier event of the place (one quiet day allowed) is
            // the same incident, whichever of its families is flagged now.
            let earlier = found
                .iter()
                .filter(|(_, prev)| prev.continued_by(&i))
                .map(|(k, _)| k.clone())
                .next_back();
            match earlier.and_then(|k| found.get_mut(&k)) {
                Some(prev) => prev.absorb(i),
                None => {
                    found.insert((i.account.clone(), i.region.clone(), i.start), i);
                }
            }
        }
        match &bar {
            Some(b) => {
                b.set_message(format!("{} incidents", found.len()));
                b.inc(1);
            }
            None if day.format("%d").to_string() == "01" || day == to => {
                eprintln!(
                    "egresswatch: replayed through {day}: {} incident(s) so far",
                    found.len()
                );
            }
            None => {}
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut incidents: Vec<Incident> = found.into_values().collect();
    incidents.sort_by(|a, b| a.start.cmp(&b.start).then(a.key().cmp(&b.key())));
    Ok((incidents, evaluated, set))
}

/// Fill the store for `[from, to]` (and the detector's history before it) with what Cost
/// Explorer can still serve and the store lacks, then replay whatever the store holds. With
/// `offline`, nothing is fetched.
pub async fn backfill<S: CostSource>(
    cfg: &Config,
    source: &S,
    store: &mut Store,
    range: (NaiveDate, NaiveDate),
    today: NaiveDate,
    offline: bool,
) -> anyhow::Result<Backfill> {
    let (from, to) = range;
    let synced = if offline {
        SyncOutcome::default()
    } else {
        let history_from = (from - Days::new(cfg.detect.history_days())).max(earliest_daily(today));
        let mut budget = cfg.sync.budget();
        sync(
            source,
            store,
            history_from,
            to + Days::new(1),
            today,
            &mut budget,
        )
        .await
        .context("syncing Cost Explorer data")?
    };
    let (incidents, days_evaluated, set) = replay(cfg, store, from, to)?;
    Ok(Backfill {
        from,
        to,
        synced,
        incidents,
        days_evaluated,
        set,
    })
}

impl Backfill {
    /// The page's view of this replay.
    pub fn replay_view<'a>(&'a self, report: &'a Report) -> html::Replay<'a> {
        html::Replay {
            from: self.from,
            to: self.to,
            incidents: &self.incidents,
            days_evaluated: self.days_evaluated,
            requests: self.synced.requests,
            set: &self.set,
            full: &report.incidents,
            max_callers: report.max_callers,
            coverage: &report.coverage,
        }
    }
}

/// What `egresswatch backfill` did: the replay, its report, and the files written.
#[derive(Debug, Clone)]
pub struct BackfillOutcome {
    pub backfill: Backfill,
    /// The report a summary message announces (`--notify`), callers attached with
    /// `--with-callers`.
    pub report: Report,
    /// `report.html`, `incidents.json`, `incidents.csv`, in that order.
    pub files: Vec<PathBuf>,
}

/// Fill, replay, and write the report files into `out`.
#[allow(clippy::too_many_arguments)]
pub async fn run<S: CostSource, P: super::coverage::PostureSource>(
    cfg: &Config,
    source: &S,
    posture: Option<&P>,
    store: &mut Store,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
    with_callers: bool,
    offline: bool,
    out: &Path,
) -> anyhow::Result<BackfillOutcome> {
    let b = backfill(cfg, source, store, (from, to), today, offline).await?;
    let mut report = Report::new(
        to + Days::new(1),
        to,
        b.incidents
            .iter()
            .map(|i| ReportIncident::bare(i.clone()))
            .collect(),
        DataQuality {
            skipped_groups: b.synced.problems.len(),
            day_known: true,
            ..Default::default()
        },
        cfg.report.runbook_url.clone(),
    );
    if let Some(ct) = &cfg.cloudtrail {
        report.max_callers = ct.max_callers as usize;
    }
    // The coverage as it is now (the page says when it was read), and GuardDuty's findings
    // for each incident's window (GuardDuty keeps them 90 days).
    if let (Some(cov), Some(p), false) = (&cfg.coverage, posture, offline) {
        super::coverage::attach_posture(cov, p, &mut report).await;
    }
    if with_callers {
        super::daily::attach_callers(cfg, &mut report).await;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, body: String| -> anyhow::Result<PathBuf> {
        let p = out.join(name);
        std::fs::write(&p, body).with_context(|| format!("writing {}", p.display()))?;
        Ok(p)
    };
    let files = vec![
        write(
            "report.html",
            html::render(&b.replay_view(&report), &cfg.detect),
        )?,
        write(
            "incidents.json",
            serde_json::to_string_pretty(&report.incidents)?,
        )?,
        write(
            "incidents.csv",
            crate::report::csv::incidents(&report.incidents, report.max_callers),
        )?,
    ];
    Ok(BackfillOutcome {
        backfill: b,
        report,
        files,
    })
}

/// `--notify`: one summary message per sink for the whole range, keyed by the range so that a
/// second backfill of the same range announces nothing twice. `None`: nothing to send (no
/// incidents, or no sink).
pub async fn notify(
    cfg: &Config,
    store: &mut Store,
    outcome: &BackfillOutcome,
) -> anyhow::Result<Option<Delivered>> {
    let b = &outcome.backfill;
    let subject = format!("backfill-{}-{}", b.from, b.to);
    let msgs = outbox::build_keyed(
        &cfg.notify,
        &outcome.report,
        &[],
        &b.incidents,
        false,
        Some(&subject),
    );
    if msgs.is_empty() {
        return Ok(None);
    }
    queue_and_deliver(&cfg.notify, store, &msgs, &[])
        .await
        .map(Some)
}
