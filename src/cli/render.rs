//! What the commands print: tables, summaries and JSON shapes built from the jobs' outcomes.
//!
//! Everything that came from AWS or a log passes through `report::text::clean_line` before it
//! reaches a terminal.

use std::io::Write;

use chrono::Utc;

use super::LogFormat;
use crate::jobs::activity::ActivityOutcome;
use crate::jobs::daily::RunOutcome;
use crate::jobs::watch::WatchReport;
use crate::model::CostPoint;
use crate::report::sink::NotifySettings;
use crate::report::text::{self, clean_line};
use crate::state::OutboxMessage;

/// `run --format text`: the report, and what the run cost and delivered.
pub fn run_text(o: &RunOutcome, dry_run: bool) -> String {
    let mut out = String::new();
    if let Some(r) = &o.report {
        out.push_str(&text::render(r));
    }
    out.push_str(&format!(
        "  {} Cost Explorer request(s) (${:.2}); {} message(s) delivered{}\n",
        o.cost_explorer_requests,
        o.cost_explorer_cost_usd,
        o.notified,
        if dry_run { " (dry run)" } else { "" }
    ));
    out
}

/// The one line every run ends with, for whoever reads the job's log.
pub fn summary(o: &RunOutcome, format: LogFormat) -> String {
    let new = o.incidents.iter().filter(|i| !i.already_notified).count();
    let q = &o.data_quality;
    match format {
        LogFormat::Json => serde_json::json!({
            "timestamp": Utc::now().to_rfc3339(), "level": "INFO", "fields": {
            "message": "run summary", "day_checked": o.evaluated_day, "day_known": q.day_known, "series": q.series_checked,
            "incidents": o.incidents.len(), "new_incidents": new, "messages_delivered": o.notified,
            "cost_explorer_requests": o.cost_explorer_requests, "cost_explorer_cost_usd": o.cost_explorer_cost_usd,
            "trail_files_read": q.trail_files_read, "trail_bytes_scanned": q.trail_bytes_scanned,
            "trail_query_cost_usd": q.trail_query_cost_usd, "dry_run": o.dry_run}})
        .to_string(),
        LogFormat::Text if !q.day_known => format!(
            "egresswatch: run summary: no data yet for {}, nothing judged, {} message(s) delivered, {} Cost Explorer request(s) (${:.2}){}",
            o.evaluated_day,
            o.notified,
            o.cost_explorer_requests,
            o.cost_explorer_cost_usd,
            if o.dry_run { " (dry run)" } else { "" }
        ),
        LogFormat::Text => format!(
            "egresswatch: run summary: {} judged in {} series: {} incident(s) over baseline ({}, {} new); {} message(s) delivered; this run read {} trail file(s) and made {} Cost Explorer request(s) (${:.2}){}",
            o.evaluated_day,
            q.series_checked,
            o.incidents.len(),
            crate::report::format::usd(
                o.incidents
                    .iter()
                    .map(|i| i.incident.event_cost_usd())
                    .sum()
            ),
            new,
            o.notified,
            q.trail_files_read,
            o.cost_explorer_requests,
            o.cost_explorer_cost_usd,
            if o.dry_run { " (dry run)" } else { "" }
        ),
    }
}

/// `series --format csv`.
pub fn points_csv(out: &mut impl Write, points: &[CostPoint]) -> std::io::Result<()> {
    writeln!(out, "{}", crate::report::csv::POINTS_HEADER)?;
    for p in points {
        writeln!(out, "{}", crate::report::csv::point(p))?;
    }
    Ok(())
}

/// `series --format table`.
pub fn points_table(out: &mut impl Write, points: &[CostPoint]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<10}  {:<12}  {:<14}  {:<16}  {:<28}  {:>14}  {:<8}  {:>10}  est",
        "day", "account", "region", "family", "usage_type", "usage", "unit", "cost_usd"
    )?;
    for p in points {
        writeln!(
            out,
            "{:<10}  {:<12}  {:<14}  {:<16}  {:<28}  {:>14.3}  {:<8}  {:>10.2}  {}",
            p.day,
            clean_line(&p.account),
            clean_line(&p.region),
            p.family.as_str(),
            clean_line(&p.usage_type),
            p.usage,
            clean_line(&p.unit),
            p.cost_usd,
            if p.estimated { "yes" } else { "" }
        )?;
    }
    Ok(())
}

/// `check-config`: the sinks, with their secrets masked: enough to see the wiring, never the
/// credential. A secret that cannot be read is not listed here: `check-config` fails on it.
pub fn sinks(n: &NotifySettings) -> String {
    let mut out = String::new();
    for need in n.secrets() {
        let line = match need.read() {
            Ok(v) if need.is_url => format!("  {}: {}: {}", need.what, need.source, v.masked_url()),
            Ok(_) => format!("  {}: {}: set (****)", need.what, need.source),
            Err(e) => format!("  {}: {e}", need.what),
        };
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(w) = &n.webhook {
        if w.signing_source().is_none() {
            out.push_str(
                "  the webhook's signing secret: none (messages go out unsigned; set \
                 secret_env or secret_file to sign them)\n",
            );
        }
    }
    if let Some(p) = &n.file {
        out.push_str(&format!("  file sink: {}\n", p.display()));
    }
    out
}

/// `watch --format text`.
pub fn watch_text(r: &WatchReport) -> String {
    let mut out = format!(
        "egresswatch watch: {} bucket(s) checked, {} early warning(s) ({} new), {} CloudWatch call(s), {} message(s) delivered\n",
        r.buckets_checked,
        r.warnings.len(),
        r.new_warnings,
        r.cloudwatch_calls,
        r.notified
    );
    for w in &r.warnings {
        out.push_str(&format!(
            "  early warning, not yet in billing: {}\n",
            clean_line(&format!("{}: {}", w.bucket, w.reason))
        ));
    }
    out
}

/// `outbox list --format table`.
pub fn outbox_table(msgs: &[OutboxMessage]) -> String {
    let mut out = String::new();
    if msgs.is_empty() {
        out.push_str("the outbox is empty\n");
    }
    for m in msgs {
        let state = match (&m.sent_at, &m.dropped_at) {
            (Some(t), _) => format!("sent {t}"),
            (_, Some(t)) => format!("dropped {t}"),
            _ => format!("queued, {} attempt(s)", m.attempts),
        };
        out.push_str(&format!(
            "{:>5}  {:<8}  {}  {}  [{}]\n",
            m.id,
            m.sink,
            m.created_at,
            clean_line(&m.summary),
            state
        ));
        if let (None, None, Some(e)) = (&m.sent_at, &m.dropped_at, &m.last_error) {
            out.push_str(&format!("       last error: {}\n", clean_line(e)));
        }
    }
    out
}

/// `activity --format json`: the stored counts of the range and the findings.
pub fn activity_json(o: &ActivityOutcome) -> serde_json::Value {
    let days: Vec<serde_json::Value> = o
        .rows
        .iter()
        .map(|r| serde_json::json!({"day": r.day, "account": r.account, "region": r.region, "event": r.event, "outcome": r.outcome, "count": r.count}))
        .collect();
    serde_json::json!({"days": days, "findings": o.findings})
}

/// `activity --format table`.
pub fn activity_table(o: &ActivityOutcome) -> String {
    let clean = clean_line;
    let mut out = format!(
        "{:<10}  {:<12}  {:<14}  {:<32}  {:<16}  {:>8}\n",
        "day", "account", "region", "event", "outcome", "calls"
    );
    for r in &o.rows {
        out.push_str(&format!(
            "{:<10}  {:<12}  {:<14}  {:<32}  {:<16}  {:>8}\n",
            r.day,
            clean(&r.account),
            clean(&r.region),
            clean(&r.event),
            clean(&r.outcome),
            r.count
        ));
    }
    out.push_str(&format!("\n{} finding(s)\n", o.findings.len()));
    for f in &o.findings {
        out.push_str(&format!(
            "  {} {} {} {}: {}\n",
            f.day,
            f.kind,
            clean(&f.account),
            clean(&f.region),
            clean(&f.why)
        ));
    }
    out
}
