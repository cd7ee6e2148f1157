//! Microsoft Teams: a Workflows webhook message carrying an Adaptive Card.
//!
//! Teams renders a Markdown subset in TextBlocks and facts, so everything from AWS or the logs is
//! escaped character by character (every ASCII punctuation mark gets a backslash): no link, no
//! emphasis, no autolinked URL can be smuggled in. Cards above about 28 KB are rejected, so the
//! card stops adding incidents before that and says how many more there are.

use serde_json::{json, Value};

use crate::model::Incident;
use crate::report::format::{pct, usage, usd};
use crate::report::{account_label, links, Report};

/// Stay well under the ~28 KB limit.
const MAX_CARD_BYTES: usize = 24_000;

/// Escape text for Teams Markdown (see `format::teams`).
pub fn escape(s: &str) -> String {
    crate::report::format::teams(s)
}

fn text(t: String, extra: Value) -> Value {
    let mut v = json!({"type": "TextBlock", "text": t, "wrap": true});
    if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    v
}

/// The Workflows message announcing `incidents`.
pub fn message(report: &Report, incidents: &[Incident]) -> Value {
    let total: f64 = incidents.iter().map(Incident::event_cost_usd).sum();
    let mut body = vec![text(
        format!(
            "S3 egress over baseline: {} in {} series",
            escape(&usd(total)),
            incidents.len()
        ),
        json!({"size": "Large", "weight": "Bolder"}),
    )];
    // Room kept for what follows the incidents: "and N more", activity, data quality, actions.
    let tail: usize = 600
        + activity_items(report)
            .iter()
            .map(|b| b.to_string().len())
            .sum::<usize>()
        + report.quality_line().map_or(0, |q| q.len() * 2 + 100);
    let mut used: usize = body.iter().map(|b| b.to_string().len()).sum();
    let mut shown = 0;
    for i in incidents {
        let Some(blocks) = incident_blocks(i, report, MAX_CARD_BYTES.saturating_sub(used + tail))
        else {
            break; // not even its headline, dollars and top caller fit: "and N more"
        };
        used += blocks.iter().map(|b| b.to_string().len()).sum::<usize>();
        body.extend(blocks);
        shown += 1;
    }
    if shown < incidents.len() {
        body.push(text(
            escape(&format!(
                "…and {} more. The full report: egresswatch run --date {} --dry-run --format json",
                incidents.len() - shown,
                report.run_date
            )),
            json!({"weight": "Bolder"}),
        ));
    }
    body.extend(activity_items(report));
    if let Some(q) = report.quality_line() {
        body.push(text(
            escape(&format!("Data quality: {q}")),
            json!({"isSubtle": true, "size": "Small"}),
        ));
    }
    let actions: Vec<Value> = incidents
        .first()
        .map(|i| links(i, report.runbook_url.as_deref()))
        .unwrap_or_default()
        .into_iter()
        .map(|(title, url)| json!({"type": "Action.OpenUrl", "title": title, "url": url}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
                "actions": actions
            }
        }]
    })
}

/// One incident's blocks within `room` bytes, whatever the input: the title and the facts
/// (days, observed, excess and dollars, why), every high-severity change and the top callers
/// come first (as many as fit, the rest counted: the JSON documents carry them all); the month's
/// figures, buckets and the rest of the CloudTrail context are added while they fit. `None` when
/// not even the title, the facts, the top caller and the first high-severity change fit (the
/// first incident always has the whole card, where they always fit).
fn incident_blocks(i: &Incident, report: &Report, room: usize) -> Option<Vec<Value>> {
    use crate::report::bounds;
    use crate::report::format::display;
    let size = |v: &[Value]| v.iter().map(|b| b.to_string().len()).sum::<usize>();
    let line = |l: &str| text(escape(l), json!({"isSubtle": true, "spacing": "None"}));
    let full = report.full(i);
    let mut required = vec![
        text(
            format!(
                "{} in {}, account {}",
                escape(i.family.as_str()),
                escape(&display(&i.region, bounds::REGION)),
                escape(&account_label(i))
            ),
            json!({"weight": "Bolder", "spacing": "Medium"}),
        ),
        json!({"type": "FactSet", "facts": [
            {"title": "Days", "value": escape(&format!("{} to {} ({} flagged)", i.start, i.day, i.days))},
            {"title": "Observed", "value": escape(&format!("{} vs {} expected", usage(i.observed, &i.unit), usage(i.expected, &i.unit)))},
            {"title": "Excess", "value": escape(&format!("{} ({}), {} today; {} in all", usage(i.excess_usage, &i.unit), pct(i.excess_pct), usd(i.excess_cost_usd), usd(i.total_excess_cost_usd)))},
            {"title": "Why", "value": escape(&i.why())},
        ]}),
    ];
    let ctx = full
        .and_then(|r| r.cloudtrail.as_ref())
        .map(|c| crate::report::context(c, report.max_callers))
        .unwrap_or_default();
    // What must be there, in order; counted when it does not fit.
    let reserve = 300; // the "and N more" lines
    let fixed = size(&required);
    if fixed + reserve > room {
        return None;
    }
    // The top caller is kept whatever else there is: its room is held while changes are added.
    let top_caller = ctx.callers.first().map_or(0, |c| line(c).to_string().len());
    let first_high = ctx
        .high_changes
        .first()
        .map_or(0, |c| line(c).to_string().len());
    if fixed + top_caller + first_high + reserve > room {
        return None; // not even the essentials fit: the card says "and N more"
    }
    let mut high = Vec::new();
    for c in &ctx.high_changes {
        let b = line(c);
        if fixed + size(&high) + b.to_string().len() + top_caller + reserve > room {
            break;
        }
        high.push(b);
    }
    let more_high = ctx.high_changes.len() - high.len() + ctx.more_high_changes;
    if more_high > 0 {
        high.push(line(&format!(
            "…and {more_high} more high-severity changes (all of them in the JSON report)"
        )));
    }
    let mut callers = Vec::new();
    for c in &ctx.callers {
        let b = line(c);
        // The top caller's room was held above: it always goes in.
        if !callers.is_empty()
            && fixed + size(&high) + size(&callers) + b.to_string().len() + reserve > room
        {
            break;
        }
        callers.push(b);
    }
    let more_callers = ctx.callers.len() - callers.len() + ctx.more_callers;
    if more_callers > 0 {
        callers.push(line(&format!(
            "…and {more_callers} more callers (the JSON report lists the top ones and sums the rest)"
        )));
    }
    // Optional parts, most important first, while they fit.
    let mut free = room.saturating_sub(fixed + size(&high) + size(&callers));
    let mut take = |blocks: Vec<Value>| -> Vec<Value> {
        let s = size(&blocks);
        if s <= free {
            free -= s;
            blocks
        } else {
            Vec::new()
        }
    };
    let finance = take(
        full.and_then(|r| r.month_to_date_usd.zip(r.projected_month_excess_usd))
            .map(|(m, p)| {
                vec![text(
                    escape(&format!(
                        "Month to date: {} S3 egress cost; projected excess this month: {}",
                        usd(m),
                        usd(p)
                    )),
                    json!({"isSubtle": true}),
                )]
            })
            .unwrap_or_default(),
    );
    let before = take(
        [&ctx.error, &ctx.query, &ctx.reconciliation]
            .into_iter()
            .flatten()
            .map(|l| line(l))
            .collect(),
    );
    let buckets = take(
        full.map(|r| crate::report::bucket_lines(r, 5))
            .unwrap_or_default()
            .iter()
            .map(|l| line(&display(l, bounds::WHY * 2)))
            .collect(),
    );
    let after = take(
        ctx.other_changes
            .iter()
            .chain(&ctx.unattributed)
            .map(|l| line(l))
            .collect(),
    );
    required.extend(finance);
    required.extend(buckets);
    required.extend(before);
    required.extend(high);
    required.extend(callers);
    required.extend(after);
    Some(required)
}

/// The daily all-clear card.
pub fn digest(report: &Report) -> Value {
    let mut body = vec![text(
        report.all_clear_headline(),
        json!({"size": "Large", "weight": "Bolder"}),
    )];
    let facts: Vec<Value> = report
        .digest
        .iter()
        .flat_map(|d| d.regions.iter())
        .map(|r| json!({"title": escape(&r.region), "value": escape(&format!("{} {} GB, {} (7 days)", r.sparkline, crate::report::format::num(r.gb_7d.iter().sum(), 1), usd(r.cost_7d_usd)))}))
        .collect();
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    body.extend(activity_items(report));
    if let Some(q) = report.quality_line() {
        body.push(text(
            escape(&format!("Data quality: {q}")),
            json!({"isSubtle": true, "size": "Small"}),
        ));
    }
    json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body}}]})
}

/// The S3 activity findings of the evaluated day (first ten), or nothing.
fn activity_items(report: &Report) -> Vec<Value> {
    let security: Vec<Value> = crate::report::security_lines(report, 5)
        .iter()
        .map(|l| json!({"type": "TextBlock", "wrap": true, "text": escape(l)}))
        .collect();
    if report.activity.is_empty() {
        if security.is_empty() {
            return Vec::new();
        }
        let mut out = vec![text(
            format!("Security on {}", report.evaluated_day),
            json!({"weight": "Bolder"}),
        )];
        out.extend(security);
        return out;
    }
    let facts: Vec<Value> = report
        .activity
        .iter()
        .take(10)
        .map(|f| json!({"title": escape(&format!("{} {}", f.kind, f.region)), "value": escape(&f.why)}))
        .collect();
    let mut out = vec![
        text(
            format!("S3 activity on {}", report.evaluated_day),
            json!({"weight": "Bolder"}),
        ),
        json!({"type": "FactSet", "facts": facts}),
    ];
    let more = report.activity.len().saturating_sub(10);
    if more > 0 {
        out.push(text(format!("…and {more} more"), json!({"isSubtle": true})));
    }
    out.extend(security);
    out
}

/// The early-warning card (not yet in billing): one line per warning.
pub fn warning(lines: &[String]) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true,
        "text": "S3 egress early warning (not yet in billing)"}),
    ];
    for l in lines {
        body.push(json!({"type": "TextBlock", "wrap": true, "text": escape(l)}));
    }
    json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body}}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_and_links_are_defused() {
        let e = escape("<!channel> [click](https://evil.example) *bold* _x_");
        assert!(!e.contains("](") && !e.contains("https://"), "{e}");
        assert!(e.contains(r"\[click\]\(https\:\/\/evil\.example\)"), "{e}");
        assert_eq!(escape("plain text 123"), "plain text 123");
    }
}
