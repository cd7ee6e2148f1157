//! Microsoft Teams: a Workflows webhook message carrying an Adaptive Card.
//!
//! Teams renders a Markdown subset in TextBlocks and facts, so everything from AWS or the logs is
//! escaped character by character (every ASCII punctuation mark gets a backslash): no link, no
//! emphasis, no autolinked URL can be smuggled in. Cards above about 28 KB are rejected, so the
//! card stops adding incidents before that and says how many more there are.

use serde_json::{json, Value};

use crate::model::Incident;
use crate::report::format::{pct, usage, usd};
use crate::report::{account_label, context_lines, links, Report};

/// Stay well under the ~28 KB limit.
const MAX_CARD_BYTES: usize = 24_000;

/// Escape text for Teams Markdown.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
            out.push(c);
        } else if c.is_control() {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
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
    let total: f64 = incidents.iter().map(|i| i.total_excess_cost_usd).sum();
    let mut body = vec![text(
        format!(
            "S3 egress over baseline: {} in {} series",
            escape(&usd(total)),
            incidents.len()
        ),
        json!({"size": "Large", "weight": "Bolder"}),
    )];
    let mut shown = 0;
    for i in incidents {
        let ctx = report.full(i);
        let mut blocks = vec![
            text(
                format!(
                    "{} in {}, account {}",
                    escape(i.family.as_str()),
                    escape(&i.region),
                    escape(&account_label(i))
                ),
                json!({"weight": "Bolder", "spacing": "Medium"}),
            ),
            json!({"type": "FactSet", "facts": [
                {"title": "Days", "value": escape(&format!("{} to {} ({} flagged)", i.start, i.day, i.days))},
                {"title": "Observed", "value": escape(&format!("{} vs {} expected", usage(i.observed, &i.unit), usage(i.expected, &i.unit)))},
                {"title": "Excess", "value": escape(&format!("{} ({}), {} today; {} in all", usage(i.excess_usage, &i.unit), pct(i.excess_pct), usd(i.excess_cost_usd), usd(i.total_excess_cost_usd)))},
                {"title": "Why", "value": escape(&i.reason)},
            ]}),
        ];
        if let Some(r) = ctx {
            if let (Some(m), Some(p)) = (r.month_to_date_usd, r.projected_month_excess_usd) {
                blocks.push(text(
                    escape(&format!(
                        "Month to date: {} S3 egress cost; projected excess this month: {}",
                        usd(m),
                        usd(p)
                    )),
                    json!({"isSubtle": true}),
                ));
            }
            for line in crate::report::bucket_lines(r, 5) {
                blocks.push(text(
                    escape(&line),
                    json!({"isSubtle": true, "spacing": "None"}),
                ));
            }
            if let Some(c) = &r.cloudtrail {
                for line in context_lines(c, 5) {
                    blocks.push(text(
                        escape(&line),
                        json!({"isSubtle": true, "spacing": "None"}),
                    ));
                }
            }
        }
        let size: usize = body
            .iter()
            .chain(&blocks)
            .map(|b| b.to_string().len())
            .sum();
        if size > MAX_CARD_BYTES {
            break;
        }
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
    if report.activity.is_empty() {
        return Vec::new();
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
