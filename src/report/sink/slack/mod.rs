//! Slack: a Block Kit message for an incoming webhook, and its delivery.
//!
//! One message per run (Slack disables webhooks that are hammered), with a top-level `text` for
//! notifications. The message stays inside Slack's limits (50 blocks, 3,000 characters a
//! section, 150 a header, about 13,000 in all): past them it says "and N more". Everything from
//! AWS is mrkdwn-escaped. The webhook URL is a credential: it is never logged, and reqwest
//! errors are stripped of it before they travel.

use serde_json::{json, Value};

use crate::model::Incident;
use crate::report::format::{mrkdwn, pct, truncate, usage, usd};
use crate::report::{account_label, Report, ReportIncident};

const MAX_BLOCKS: usize = 50;
const MAX_SECTION_CHARS: usize = 3000;
const MAX_HEADER_CHARS: usize = 150;
/// Whole messages near 13,000 characters are rejected even when each block fits.
const MAX_MESSAGE_CHARS: usize = 11_000;
/// Blocks other than incidents: header, summary, "and N more", context.
const FIXED_BLOCKS: usize = 4;

/// The message announcing `incidents` (those not announced before), in the context of `report`.
pub fn message(report: &Report, incidents: &[Incident]) -> Value {
    let total: f64 = incidents.iter().map(Incident::event_cost_usd).sum();
    let n = incidents.len();
    let plural = if n == 1 { "" } else { "s" };
    let text = format!(
        "egresswatch: {n} S3 egress incident{plural}, {} over baseline (data through {})",
        usd(total),
        report.evaluated_day
    );
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(
            &format!(":rotating_light: S3 egress over baseline: {} in {n} series", usd(total)), MAX_HEADER_CHARS)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!(
            "*{n}* series broke their baseline by a significant and material amount. Excess: *{}*.",
            usd(total))}}),
    ];
    let mut used: usize = blocks.iter().map(|b| b.to_string().len()).sum();
    // Room kept for what follows the incidents: "and N more", activity, the context line.
    let tail = 400 + activity_block(report).map_or(0, |b| b.to_string().len());
    let mut shown = 0;
    for i in incidents {
        let sections: Vec<Value> = incident_sections(i, report.full(i), report.max_callers)
            .into_iter()
            .map(|s| json!({"type": "section", "text": {"type": "mrkdwn", "text": s}}))
            .collect();
        let size: usize = sections.iter().map(|b| b.to_string().len()).sum();
        let fits = blocks.len() + sections.len() + FIXED_BLOCKS <= MAX_BLOCKS
            && used + size + tail <= MAX_MESSAGE_CHARS;
        // The first incident always goes in: each of its sections fits Slack's limits.
        if !fits && shown > 0 {
            break;
        }
        used += size;
        blocks.extend(sections);
        shown += 1;
    }
    if shown < n {
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": format!(
            "…and *{}* more. The full list: `egresswatch run --date {} --dry-run --format json`.",
            n - shown, report.run_date)}}),
        );
    }
    if let Some(b) = activity_block(report) {
        blocks.insert(blocks.len(), b);
    }
    let mut context = format!(
        "egresswatch {} · {} series checked",
        env!("CARGO_PKG_VERSION"),
        report.quality.series_checked
    );
    if let Some(q) = report.quality_line() {
        context.push_str(" · ");
        context.push_str(&mrkdwn(&q));
    }
    if let Some(r) = &report.runbook_url {
        context.push_str(&format!(" · <{r}|Runbook>"));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&context, MAX_SECTION_CHARS)}]}));
    json!({"text": text, "blocks": blocks})
}

/// One incident as one or two mrkdwn sections, each within Slack's 3,000 characters whatever
/// the input: the headline and dollars, then every high-severity change, then the top callers
/// are kept (as many as fit, the rest counted: the JSON documents carry them all); the reason,
/// links, finance figures, buckets and the rest of the CloudTrail context are added while they
/// fit, in that order of importance.
fn incident_sections(
    i: &Incident,
    full: Option<&ReportIncident>,
    max_callers: usize,
) -> Vec<String> {
    use crate::report::bounds;
    use crate::report::format::display;
    let mut head = format!(
        "*{}* in *{}*, account *{}* on {}{}\nObserved *{}* vs expected {}: *+{} ({})*, *{}* over baseline",
        i.family,
        mrkdwn(&display(&i.region, bounds::REGION)),
        mrkdwn(&account_label(i)),
        i.day,
        if i.estimated { " (estimated)" } else { "" },
        usage(i.observed, &i.unit),
        usage(i.expected, &i.unit),
        usage(i.excess_usage, &i.unit),
        pct(i.excess_pct),
        usd(i.excess_cost_usd),
    );
    if i.days > 1 {
        head.push_str(&format!(
            "\nSince {} ({} days, peak {}): *+{}*, *{}* over baseline in all",
            i.start,
            i.days,
            i.peak_day,
            usage(i.total_excess_usage, &i.unit),
            usd(i.total_excess_cost_usd)
        ));
    }
    let ctx = full
        .and_then(|r| r.cloudtrail.as_ref())
        .map(|c| crate::report::context(c, max_callers))
        .unwrap_or_default();
    let bullet = |l: &str| format!("\n• {}", mrkdwn(l));
    // Optional parts, most important first; each goes where it reads best.
    let reason = format!("\n_{}_", mrkdwn(&i.why()));
    let links: Vec<String> = crate::report::links(i, None)
        .into_iter()
        .map(|(title, url)| format!("<{url}|{title}>"))
        .collect();
    let links = format!("\n{}", links.join(" · "));
    let finance = full
        .and_then(|r| r.month_to_date_usd.zip(r.projected_month_excess_usd))
        .map(|(m, p)| {
            format!(
                "\nMonth to date {} S3 egress cost; projected excess this month {}",
                usd(m),
                usd(p)
            )
        })
        .unwrap_or_default();
    let buckets: String = full
        .map(|r| crate::report::bucket_lines(r, 5))
        .unwrap_or_default()
        .iter()
        .map(|l| bullet(l))
        .collect();
    let before: String = [&ctx.error, &ctx.query, &ctx.reconciliation]
        .into_iter()
        .flatten()
        .map(|l| bullet(l))
        .collect();
    let after: String = ctx
        .other_changes
        .iter()
        .chain(&ctx.unattributed)
        .map(|l| bullet(l))
        .collect();
    let len = |s: &str| s.chars().count();
    // Room in a section, less what an "and N more" line takes.
    let budget = MAX_SECTION_CHARS - 100;
    // Required: the headline, then as many high-severity changes as fit, then the callers, in
    // the same section when they all fit there, or in a second one.
    let mut high = String::new();
    let mut n_high = 0;
    for c in &ctx.high_changes {
        let l = bullet(c);
        if len(&head) + len(&high) + len(&l) > budget {
            break;
        }
        high.push_str(&l);
        n_high += 1;
    }
    let more_high = ctx.high_changes.len() - n_high + ctx.more_high_changes;
    if more_high > 0 {
        high.push_str(&format!(
            "\n• …and {more_high} more high-severity changes (all of them in the JSON report)"
        ));
    }
    let all_callers: String = ctx.callers.iter().map(|l| bullet(l)).collect();
    let split = len(&head) + len(&high) + len(&all_callers) > budget;
    let caller_room = if split {
        budget
    } else {
        budget - len(&head) - len(&high)
    };
    let mut callers = String::new();
    let mut n_callers = 0;
    for c in &ctx.callers {
        let l = bullet(c);
        if len(&callers) + len(&l) > caller_room {
            break;
        }
        callers.push_str(&l);
        n_callers += 1;
    }
    let more_callers = ctx.callers.len() - n_callers + ctx.more_callers;
    if more_callers > 0 {
        callers.push_str(&format!(
            "\n• …and {more_callers} more callers (the JSON report lists the top ones and sums the rest)"
        ));
    }
    // Optional parts, in order of importance, each where it reads best while its section has
    // room: finance, reason, the trail read, buckets and links before the changes; the other
    // changes and what stays unattributed after the callers.
    let mut free_first = budget.saturating_sub(len(&head) + len(&high));
    let mut free_callers = if split {
        budget.saturating_sub(len(&callers))
    } else {
        0
    };
    if !split {
        free_first = free_first.saturating_sub(len(&callers));
    }
    let mut take = |part: &str, after_callers: bool| -> bool {
        let free = if after_callers && split {
            &mut free_callers
        } else {
            &mut free_first
        };
        if part.is_empty() || len(part) > *free {
            return false;
        }
        *free -= len(part);
        true
    };
    let keep_finance = take(&finance, false);
    let keep_reason = take(&reason, false);
    let keep_before = take(&before, false);
    let keep_buckets = take(&buckets, false);
    let keep_links = take(&links, false);
    let keep_after = take(&after, true);
    let when = |keep: bool, s: &str| if keep { s.to_string() } else { String::new() };
    let mut first = head;
    first.push_str(&when(keep_reason, &reason));
    first.push_str(&when(keep_links, &links));
    first.push_str(&when(keep_finance, &finance));
    first.push_str(&when(keep_buckets, &buckets));
    first.push_str(&when(keep_before, &before));
    first.push_str(&high);
    let after = when(keep_after, &after);
    if split {
        let second = format!("{}{after}", callers.trim_start_matches('\n'));
        vec![
            truncate(&first, MAX_SECTION_CHARS),
            truncate(&second, MAX_SECTION_CHARS),
        ]
    } else {
        first.push_str(&callers);
        first.push_str(&after);
        vec![truncate(&first, MAX_SECTION_CHARS)]
    }
}

/// The security part: S3 activity findings, GuardDuty's S3 findings no incident holds, and
/// the coverage's high blind spots, when there are any.
fn activity_block(report: &Report) -> Option<Value> {
    let security = crate::report::security_lines(report, 5);
    if report.activity.is_empty() && security.is_empty() {
        return None;
    }
    if report.activity.is_empty() {
        let lines: Vec<String> = security
            .iter()
            .map(|l| format!("• {}", mrkdwn(l)))
            .collect();
        let text = format!(
            "*Security on {}*\n{}",
            report.evaluated_day,
            lines.join("\n")
        );
        return Some(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, MAX_SECTION_CHARS)}}),
        );
    }
    let lines: Vec<String> = report
        .activity
        .iter()
        .take(10)
        .map(|f| format!("• *{}* {}: {}", f.kind, mrkdwn(&f.region), mrkdwn(&f.why)))
        .collect();
    let more = report.activity.len().saturating_sub(10);
    let mut text = format!(
        "*S3 activity on {}*\n{}",
        report.evaluated_day,
        lines.join("\n")
    );
    if more > 0 {
        text.push_str(&format!("\n…and {more} more"));
    }
    for l in &security {
        text.push_str(&format!("\n• {}", mrkdwn(l)));
    }
    Some(
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, MAX_SECTION_CHARS)}}),
    )
}

/// The daily all-clear: no incidents, the last 7 days per region.
pub fn digest(report: &Report) -> Value {
    let day = report.evaluated_day;
    let mut lines = Vec::new();
    if let Some(d) = &report.digest {
        for r in &d.regions {
            lines.push(format!(
                "`{}` {}  {} GB, {} (7 days)",
                mrkdwn(&r.region),
                r.sparkline,
                crate::report::format::num(r.gb_7d.iter().sum(), 1),
                usd(r.cost_7d_usd)
            ));
        }
    }
    // Without a 7-day digest (alert mode, sent only for new activity findings) there is no
    // egress summary to give.
    if lines.is_empty() && report.digest.is_some() {
        lines.push("No S3 egress recorded in the last 7 days.".into());
    }
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": format!("{} {}", if report.quality.day_known { ":white_check_mark:" } else { ":hourglass:" }, report.all_clear_headline())}}),
    ];
    if !lines.is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&lines.join("\n"), MAX_SECTION_CHARS)}}));
    }
    if let Some(b) = activity_block(report) {
        blocks.push(b);
    }
    if let Some(q) = report.quality_line() {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&mrkdwn(&q), MAX_SECTION_CHARS)}]}));
    }
    let text = if report.quality.day_known {
        format!("egresswatch: no S3 egress incidents for {day}")
    } else {
        format!("egresswatch: no data yet for {day}")
    };
    json!({"text": text, "blocks": blocks})
}

/// The early-warning message (not yet in billing): `lines` are the warnings in words, `more`
/// how many did not fit.
pub fn warning(headline: &str, lines: &[String], more: usize) -> Value {
    let mut text: Vec<String> = lines.iter().map(|l| format!("• {}", mrkdwn(l))).collect();
    if more > 0 {
        text.push(format!("…and {more} more"));
    }
    json!({"text": format!("egresswatch: {headline}"), "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": ":warning: S3 egress early warning (not yet in billing)"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text.join("\n"), MAX_SECTION_CHARS)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "From CloudWatch S3 request metrics. The next daily run confirms it with the bill, or closes it."}]}
    ]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Family;
    use crate::report::{DataQuality, ReportIncident};
    use chrono::NaiveDate;

    fn incident(name: &str, n: usize) -> Incident {
        Incident {
            account: format!("{:012}", n),
            account_name: Some(name.to_string()),
            region: "eu-west-1".into(),
            family: Family::InternetOut,
            day: NaiveDate::from_ymd_opt(2026, 6, 14).unwrap(),
            start: NaiveDate::from_ymd_opt(2026, 6, 13).unwrap(),
            peak_day: NaiveDate::from_ymd_opt(2026, 6, 14).unwrap(),
            days: 2,
            total_excess_usage: 1900.0,
            total_excess_cost_usd: 171.0,
            p_value: 1e-30,
            evidence: "spike".into(),
            young: false,
            observed: 1000.0,
            expected: 40.0,
            lower: 30.0,
            upper: 50.0,
            unit: "GB".into(),
            excess_usage: 960.0,
            excess_pct: Some(2400.0),
            excess_cost_usd: 86.4,
            observed_cost_usd: 90.0,
            score: 0.9,
            robust_z: 40.0,
            estimated: false,
            reason: "robust z 40.0".into(),
            related: Vec::new(),
        }
    }

    fn report(incidents: &[Incident]) -> Report {
        Report::new(
            NaiveDate::from_ymd_opt(2026, 6, 15).unwrap(),
            NaiveDate::from_ymd_opt(2026, 6, 14).unwrap(),
            incidents
                .iter()
                .map(|i| ReportIncident {
                    month_to_date_usd: Some(1234.5),
                    projected_month_excess_usd: Some(2000.0),
                    ..ReportIncident::bare(i.clone())
                })
                .collect(),
            DataQuality {
                day_known: true,
                ..Default::default()
            },
            Some("https://wiki.example/egress".into()),
        )
    }

    fn all_text(v: &Value) -> String {
        v.to_string()
    }

    #[test]
    fn hostile_account_names_arrive_as_text() {
        let i = incident("<!channel> <https://evil.example|click>", 1);
        let m = message(&report(std::slice::from_ref(&i)), &[i]);
        let s = all_text(&m);
        assert!(!s.contains("<!channel>"), "{s}");
        assert!(!s.contains("<https://evil"), "{s}");
        assert!(s.contains("&lt;!channel&gt;"), "{s}");
        assert!(m["text"].as_str().unwrap().contains("$171.00"));
    }

    #[test]
    fn stays_within_slack_limits_and_says_how_many_more() {
        let many: Vec<Incident> = (0..300).map(|n| incident(&"x".repeat(200), n)).collect();
        let m = message(&report(&many), &many);
        let blocks = m["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS, "{}", blocks.len());
        assert!(m.to_string().len() < 13_000, "{}", m.to_string().len());
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= MAX_SECTION_CHARS);
            }
        }
        let shown = blocks.len() - FIXED_BLOCKS;
        let more = format!("*{}* more", 300 - shown);
        assert!(m.to_string().contains(&more), "expected `{more}`");
    }
}
