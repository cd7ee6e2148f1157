//! The daily job, end to end: sync → detect → attribute and correlate → record → notify.
//!
//! The order matters for the guarantees: incidents are recorded before delivery is attempted,
//! and marked delivered only after the receiver said yes. A delivery that fails leaves them
//! pending, and the next run sends them again; an incident already delivered is never sent twice.

use anyhow::Context;
use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;

use super::coverage::PostureSource;
use super::notify::queue_and_deliver;
use super::sync::{sync, window_start, SyncOutcome};
use crate::config::Config;
use crate::detect::early_warning::{attribute, CloudWatchSettings};
use crate::detect::evaluate_day;
use crate::model::{Finding, Incident, SeriesSet};
use crate::report::sink::{outbox, slack, Sink};
use crate::report::{
    sparkline, DataQuality, Digest, RegionDigest, Report, ReportIncident, ReportMode,
};
use crate::sources::cloudwatch::MetricSource;
use crate::sources::cost_explorer::{Budget, CostSource, USD_PER_REQUEST};
use crate::state::Store;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The day the run acts as; the newest complete day, evaluated, is the day before.
    pub date: NaiveDate,
    /// Do everything but deliver (and record nothing as announced).
    pub dry_run: bool,
    /// Make no AWS call: judge the store as it is (no Cost Explorer sync, no CloudWatch, a
    /// CloudTrail source only when it is a local folder).
    pub offline: bool,
}

/// What a run did, as `run --format json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub run_date: NaiveDate,
    pub evaluated_day: NaiveDate,
    pub dry_run: bool,
    pub cost_explorer_requests: usize,
    pub cost_explorer_cost_usd: f64,
    pub incidents: Vec<ReportIncident>,
    /// Messages delivered by this run.
    pub notified: usize,
    /// Incidents delivered by this run (this day's and any left over from failed deliveries).
    pub incidents_delivered: usize,
    /// Incidents still waiting for a successful delivery.
    pub pending_delivery: usize,
    pub delivery_error: Option<String>,
    pub data_quality: DataQuality,
    /// S3 activity findings for the evaluated day (with `[activity]`), announced or not.
    pub activity: Vec<Finding>,
    /// The Slack message this run built (sent unless `dry_run`), for `demo` and debugging.
    #[serde(skip)]
    pub slack_message: Option<serde_json::Value>,
    #[serde(skip)]
    pub report: Option<Report>,
}

/// Fetch what the store lacks for a run on `date`: the window [`window_start`] names, within
/// the run's request budget.
pub async fn sync_for_run<S: CostSource>(
    cfg: &Config,
    source: &S,
    store: &mut Store,
    date: NaiveDate,
    budget: &mut Budget,
) -> anyhow::Result<SyncOutcome> {
    let from = window_start(date, &cfg.sync, cfg.detect.history_days);
    let out = sync(source, store, from, date, date, budget).await?;
    // Say why a cold run fetched more than sync.lookback_days.
    let lookback_from = date - Days::new(1) - Days::new(u64::from(cfg.sync.lookback_days));
    if out.ranges.iter().any(|(start, _)| *start < lookback_from) {
        tracing::warn!(
            lookback_days = cfg.sync.lookback_days,
            history_days = cfg.detect.history_days,
            "fetched detect.history_days of Cost Explorer data, more than sync.lookback_days: \
             the store keeps that much history for the detector"
        );
    }
    Ok(out)
}

/// Evaluate the day before `date` with what the store holds.
pub fn evaluate(
    cfg: &Config,
    store: &Store,
    date: NaiveDate,
    synced: &SyncOutcome,
) -> anyhow::Result<Report> {
    let eval_day = date - Days::new(1);
    // Everything the store holds up to the day: each series' detector starts at its account's
    // first day, so a replay (`backfill`) of this day says exactly what this run says.
    let set = store.history(eval_day)?;
    let outcome = evaluate_day(&set, eval_day, &cfg.detect);
    let names = store.account_names()?;
    let mut incidents = Vec::new();
    let month_start = eval_day.with_day(1).expect("day 1 exists");
    let days_in_month = {
        let next = month_start + chrono::Months::new(1);
        (next - month_start).num_days()
    };
    let remaining = days_in_month - i64::from(eval_day.day());
    for mut i in outcome.incidents {
        i.name_account(names.get(&i.account).cloned());
        let already_notified = store.is_notified(&i)?;
        // The event's families, this month so far and projected to its end.
        let keys: Vec<_> = i.families().map(|f| f.key()).collect();
        let mtd = set
            .series
            .iter()
            .filter(|s| keys.contains(&s.key))
            .map(|s| {
                s.values
                    .range(month_start..=eval_day)
                    .map(|(_, v)| v.cost_usd)
                    .sum::<f64>()
            })
            .reduce(|a, b| a + b);
        let projected: f64 = i
            .families()
            .map(|f| {
                let today = if f.day == eval_day {
                    f.excess_cost_usd.max(0.0)
                } else {
                    0.0
                };
                f.total_excess_cost_usd + today * remaining as f64
            })
            .sum();
        incidents.push(ReportIncident {
            already_notified,
            month_to_date_usd: mtd,
            projected_month_excess_usd: Some(projected),
            ..ReportIncident::bare(i)
        });
    }
    let digest = (cfg.report.mode == ReportMode::Daily).then(|| digest(&set, eval_day));
    let verdict_time = crate::model::units::midnight(eval_day);
    let verdicts = outcome
        .verdicts
        .iter()
        .map(|(k, score, excess)| crate::sources::cloudwatch::Verdict {
            account: k.account.clone(),
            region: k.region.clone(),
            family: k.family.as_str().to_string(),
            time: verdict_time,
            score: *score,
            excess: *excess,
        })
        .collect();
    let refused_today = store.refused_groups(eval_day, eval_day)?;
    let quality = DataQuality {
        series_checked: outcome.checked,
        young_series: outcome.young.len(),
        immaterial: outcome.immaterial,
        not_discoveries: outcome.not_discoveries,
        day_known: outcome.day_known,
        day_estimated: outcome.day_estimated,
        unknown_usage_types: store
            .unknown_usage_types(eval_day - Days::new(cfg.detect.history_days()), eval_day)?,
        // This run's refused groups, or those the store still holds for the day.
        skipped_groups: synced.problems.len().max(refused_today.len()),
        skipped_group_names: if refused_today.is_empty() {
            synced.problems.iter().take(3).cloned().collect()
        } else {
            refused_today
                .iter()
                .take(3)
                .map(|(d, account, usage_type, why)| format!("{d} {account} {usage_type}: {why}"))
                .collect()
        },
        trail_files_read: 0,
        bad_trail_files: 0,
        bad_trail_records: 0,
        trail_bytes_scanned: 0,
        trail_query_cost_usd: 0.0,
    };
    let mut report = Report::new(
        date,
        eval_day,
        incidents,
        quality,
        cfg.report.runbook_url.clone(),
    );
    report.digest = digest;
    report.verdicts = verdicts;
    if let Some(ct) = &cfg.cloudtrail {
        report.max_callers = ct.max_callers as usize;
    }
    Ok(report)
}

/// The last 7 days of byte families per region, for the daily digest.
fn digest(set: &SeriesSet, day: NaiveDate) -> Digest {
    use std::collections::BTreeMap;
    let first = day - Days::new(6);
    let mut regions: BTreeMap<String, (Vec<f64>, f64)> = BTreeMap::new();
    for s in set.series.iter().filter(|s| s.key.family.is_bytes()) {
        let e = regions
            .entry(s.key.region.clone())
            .or_insert((vec![0.0; 7], 0.0));
        for (d, v) in s.values.range(first..=day) {
            e.0[(*d - first).num_days() as usize] += v.usage;
            e.1 += v.cost_usd;
        }
    }
    Digest {
        day,
        regions: regions
            .into_iter()
            .map(|(region, (gb, cost))| RegionDigest {
                sparkline: sparkline(&gb),
                region,
                gb_7d: gb,
                cost_7d_usd: cost,
            })
            .collect(),
    }
}

/// Read CloudTrail for every incident and attach who downloaded, what changed, and how much of
/// the bill it explains. A trail that cannot be read does not fail the run: the incident says so.
pub async fn attach_callers(cfg: &Config, report: &mut Report) {
    use crate::correlate::{analyse, reconcile, IncidentContext, Query};
    let Some(ct) = &cfg.cloudtrail else { return };
    let Some(source) = &ct.source else { return };
    if report.incidents.is_empty() {
        return;
    }
    let clients = source.clients(cfg.aws_profile.as_deref()).await;
    // Incidents of several families in one account, region and window (egress bytes and GET
    // requests usually rise together) share one scan of the trail.
    let mut scanned: std::collections::HashMap<
        (String, String, i64, i64),
        Result<crate::correlate::Analysis, String>,
    > = std::collections::HashMap::new();
    for ri in &mut report.incidents {
        let i = &ri.incident;
        let query = Query::days(
            i.start,
            i.day,
            Some(i.account.clone()),
            Some(i.region.clone()),
        );
        let k = (
            i.account.clone(),
            i.region.clone(),
            query.window.0,
            query.window.1,
        );
        if !scanned.contains_key(&k) {
            let result = analyse(source, &query, ct, &clients)
                .await
                .map_err(|e| format!("{e:#}"));
            match &result {
                Ok(a) => {
                    report.quality.trail_files_read += a.data_quality.files;
                    report.quality.bad_trail_files += a.data_quality.bad_files;
                    report.quality.bad_trail_records += a.data_quality.bad_records;
                    if let Some(q) = &a.query {
                        report.quality.trail_bytes_scanned += q.bytes_scanned;
                        report.quality.trail_query_cost_usd += q.cost_usd;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, incident = %i.key(), "CloudTrail analysis failed")
                }
            }
            scanned.insert(k.clone(), result);
        }
        // What `[coverage]` attached already stays.
        let mut ctx = ri.cloudtrail.take().unwrap_or_else(IncidentContext::unread);
        match &scanned[&k] {
            Ok(a) => {
                ctx.reconciliation = Some(reconcile(i, a, ctx.coverage.as_ref()));
                ctx.analysis = Some(a.clone());
            }
            Err(e) => ctx.error = Some(e.clone()),
        }
        ri.cloudtrail = Some(ctx);
    }
}

/// Attribute every incident to the buckets whose downloads grew (CloudWatch request metrics).
/// Metrics that cannot be read do not fail the run: the incident simply has no bucket list.
pub async fn attach_buckets<M: MetricSource>(cw: &CloudWatchSettings, m: &M, report: &mut Report) {
    if report.incidents.is_empty() {
        return;
    }
    let buckets = match m.buckets().await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "listing S3 request metrics failed");
            return;
        }
    };
    for ri in &mut report.incidents {
        let i = &ri.incident;
        if cw.region.as_deref().is_some_and(|r| r != i.region) || !i.family.is_bytes() {
            continue;
        }
        match attribute(m, &buckets, i.start, i.day, cw.baseline_days).await {
            Ok(rows) => ri.buckets = Some(rows),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "per-bucket attribution failed"),
        }
    }
}

/// S3 activity for the evaluated day (with `[activity]` and a CloudTrail source): scan the days
/// not scanned yet, judge the day, record the findings (announced once). A trail that cannot be
/// read does not fail the run.
pub async fn attach_activity(cfg: &Config, store: &mut Store, report: &mut Report, dry_run: bool) {
    let (Some(act), Some(ct)) = (&cfg.activity, &cfg.cloudtrail) else {
        return;
    };
    let Some(source) = &ct.source else { return };
    let clients = source.clients(cfg.aws_profile.as_deref()).await;
    let day = report.evaluated_day;
    let from = day - Days::new(u64::from(act.history_days));
    if let Err(e) =
        super::activity::ensure_scanned(store, source, ct, act, &clients, from, day).await
    {
        tracing::warn!(error = %format!("{e:#}"), "S3 activity: the trail could not be read");
        return;
    }
    match crate::detect::activity::evaluate(store, day, act) {
        Ok(findings) => {
            if !dry_run {
                match store.record_findings(&findings) {
                    Ok(new) => report.activity_new = new.len(),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "S3 activity: recording findings failed")
                    }
                }
            } else {
                report.activity_new = findings.len();
            }
            report.activity = findings;
        }
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "S3 activity: evaluation failed"),
    }
}

/// The daily job. `posture`: where `[coverage]` reads the account's coverage and GuardDuty
/// (unused without that table).
pub async fn run<S: CostSource, M: MetricSource, P: PostureSource>(
    cfg: &Config,
    source: &S,
    metrics: Option<&M>,
    posture: Option<&P>,
    store: &mut Store,
    opts: &RunOptions,
) -> anyhow::Result<RunOutcome> {
    let mut budget = cfg.sync.budget();
    let synced = if opts.offline {
        SyncOutcome::default()
    } else {
        sync_for_run(cfg, source, store, opts.date, &mut budget)
            .await
            .context("syncing Cost Explorer data")?
    };
    for p in &synced.problems {
        tracing::warn!(problem = %p, "Cost Explorer data skipped");
    }
    let mut report = evaluate(cfg, store, opts.date, &synced)?;
    let trail_is_local = cfg
        .cloudtrail
        .as_ref()
        .and_then(|c| c.source.as_ref())
        .is_some_and(|s| matches!(s, crate::sources::cloudtrail::TrailSource::Local(_)));
    if let (Some(cov), Some(p), false) = (&cfg.coverage, posture, opts.offline) {
        super::coverage::attach_posture(cov, p, &mut report).await;
    }
    if !opts.offline || trail_is_local {
        attach_callers(cfg, &mut report).await;
        attach_activity(cfg, store, &mut report, opts.dry_run).await;
    }
    let metrics = metrics.filter(|_| !opts.offline);
    if let (Some(m), Some(cw)) = (metrics, &cfg.cloudwatch) {
        attach_buckets(cw, m, &mut report).await;
        if !opts.dry_run {
            let incidents: Vec<Incident> = report
                .incidents
                .iter()
                .map(|r| r.incident.clone())
                .collect();
            for (w, confirmed) in super::watch::settle(store, &incidents, report.evaluated_day)? {
                if let Some((key, start)) = confirmed {
                    for ri in report
                        .incidents
                        .iter_mut()
                        .filter(|r| r.incident.key() == key && r.incident.start == start)
                    {
                        ri.early_warnings.push(format!(
                            "early warning at {} on bucket {}, {:.1} GB in that hour",
                            w.hour.format("%Y-%m-%d %H:%M UTC"),
                            w.bucket,
                            w.observed_gb
                        ));
                    }
                }
            }
            if let Some(ns) = &cw.publish_namespace {
                match m.publish(ns, &report.verdicts).await {
                    Ok(calls) => {
                        tracing::info!(calls, namespace = %ns, "verdicts published to CloudWatch")
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "publishing verdicts to CloudWatch failed")
                    }
                }
            }
        }
    }
    let mut out = RunOutcome {
        run_date: report.run_date,
        evaluated_day: report.evaluated_day,
        dry_run: opts.dry_run,
        cost_explorer_requests: synced.requests,
        cost_explorer_cost_usd: synced.requests as f64 * USD_PER_REQUEST,
        incidents: report.incidents.clone(),
        notified: 0,
        incidents_delivered: 0,
        pending_delivery: 0,
        delivery_error: None,
        data_quality: report.quality.clone(),
        activity: report.activity.clone(),
        slack_message: None,
        report: None,
    };
    let todays: Vec<Incident> = report
        .incidents
        .iter()
        .map(|r| r.incident.clone())
        .collect();
    let mut pending: Vec<(i64, Incident)> = if opts.dry_run {
        report
            .incidents
            .iter()
            .filter(|r| !r.already_notified)
            .map(|r| (0, r.incident.clone()))
            .collect()
    } else {
        store.record_incidents(&todays)?;
        store.pending_incidents()?
    };
    // Every sink reads them in one order: by dollars (request floods by requests).
    pending.sort_by(|a, b| crate::model::incident::reading_order(&a.1, &b.1));
    let (ids, to_announce): (Vec<i64>, Vec<Incident>) = pending.into_iter().unzip();
    let digest_due = cfg.report.mode == ReportMode::Daily && to_announce.is_empty()
        || (to_announce.is_empty() && (report.activity_new > 0 || !report.guardduty.is_empty()));
    let messages = outbox::build(&cfg.notify, &report, &ids, &to_announce, digest_due);
    if !to_announce.is_empty() || digest_due {
        // The Slack message as built for the outbox; rendered here only without a Slack sink.
        let built = messages
            .iter()
            .find(|m| m.sink == Sink::Slack.as_str())
            .and_then(|m| serde_json::from_str(&m.payload).ok());
        out.slack_message = Some(built.unwrap_or_else(|| {
            if to_announce.is_empty() {
                slack::digest(&report)
            } else {
                slack::message(&report, &to_announce)
            }
        }));
    }
    if opts.dry_run {
        out.pending_delivery = messages.len();
    } else {
        // Queued and marked in one transaction: from here on these incidents are announced by
        // exactly these messages. Without any sink, the printed report is the announcement.
        let d = queue_and_deliver(&cfg.notify, store, &messages, &ids).await?;
        out.notified = d.delivered;
        out.incidents_delivered = if d.failed == 0 { to_announce.len() } else { 0 };
        out.pending_delivery = d.failed;
        out.delivery_error = d.errors.first().cloned();
    }
    out.report = Some(report);
    Ok(out)
}
