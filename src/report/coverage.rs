//! `egresswatch coverage` as a person reads it (a terminal table, an HTML page or section) and
//! as a program reads it (a versioned JSON document).
//!
//! Blind spots come first, each with its fix, because that is what the reader acts on; the
//! per-bucket table follows. Every bucket, trail and policy name came from AWS and may have
//! been chosen by someone hostile: the text is cleaned of control characters and bounded, the
//! HTML escaped, and the JSON left to serde's escaping.

use std::fmt::Write;

use serde_json::{json, Value};

use super::format::{display, html as esc, terminal};
use crate::model::coverage::{Attribution, BucketCoverage, Coverage, COVERAGE_VERSION};

/// The JSON document's schema name.
pub const SCHEMA: &str = "egresswatch.coverage/v1";

/// Longest fix printed in the table and the daily summary (the JSON keeps it whole).
const FIX: usize = 4_000;

/// `coverage --format json`: the coverage under a schema name and version.
pub fn document(c: &Coverage) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("schema".into(), json!(SCHEMA));
        m.insert("version".into(), json!(COVERAGE_VERSION));
    }
    v
}

fn attribution(a: Attribution) -> &'static str {
    match a {
        Attribution::Full => "yes",
        Attribution::Partial => "partly",
        Attribution::None => "NO",
        Attribution::Unknown => "unknown",
    }
}

fn yes(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

/// Block Public Access in one word: `all`, `none`, or which of the four are on.
fn bpa(b: &BucketCoverage) -> String {
    let p = b.public_access_block;
    if p.all() {
        return "all".into();
    }
    let on: Vec<&str> = [
        (p.block_public_acls, "BlockPublicAcls"),
        (p.ignore_public_acls, "IgnorePublicAcls"),
        (p.block_public_policy, "BlockPublicPolicy"),
        (p.restrict_public_buckets, "RestrictPublicBuckets"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| *n)
    .collect();
    if on.is_empty() {
        "none".into()
    } else {
        on.join("+")
    }
}

fn scp(b: &BucketCoverage, scps_read: bool) -> String {
    if !scps_read {
        return "?".into();
    }
    if b.scp_denies.is_empty() {
        return "none".into();
    }
    let mut actions: Vec<String> = b
        .scp_denies
        .iter()
        .map(|d| {
            let a = d.action.trim_start_matches("s3:");
            if d.certainty == "denies" {
                a.to_string()
            } else {
                format!("{a}?")
            }
        })
        .collect();
    actions.sort();
    actions.dedup();
    actions.join(",")
}

/// The request metrics filters, or `none` (no early warning for the bucket).
fn metrics(b: &BucketCoverage) -> String {
    if b.request_metrics.is_empty() {
        "none".to_string()
    } else {
        b.request_metrics.join("; ")
    }
}

/// One line for a text cell: cleaned, bounded.
fn cell(s: &str, max: usize) -> String {
    terminal(&display(s, max))
}

/// `coverage --format table`: blind spots with fixes, then every bucket.
pub fn table(c: &Coverage) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Coverage of account {} (read {}): {} bucket(s), {} blind spot(s)",
        cell(&c.account, 40),
        cell(&c.collected_at, 40),
        c.buckets.len(),
        c.blind_spots.len()
    );
    if !c.blind_spots.is_empty() {
        let _ = writeln!(out, "\nBlind spots, most serious first:");
        for (n, b) in c.blind_spots.iter().enumerate() {
            let _ = writeln!(
                out,
                "{:>3}. [{}] {}{}: {}\n     fix: {}",
                n + 1,
                b.severity,
                cell(&b.region, 30),
                b.bucket
                    .as_deref()
                    .map(|x| format!(" {}", cell(x, 80)))
                    .unwrap_or_default(),
                cell(&b.what, 500),
                cell(&b.fix, FIX)
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{:<40} {:<15} {:<8} {:<14} {:<10} {:<7} {:<10} {:<4} {:<4} SCP denies",
        "bucket", "region", "trail", "metrics", "BPA", "public", "versioning", "MFA", "GD"
    );
    for b in &c.buckets {
        let metrics = metrics(b);
        let _ = writeln!(
            out,
            "{:<40} {:<15} {:<8} {:<14} {:<10} {:<7} {:<10} {:<4} {:<4} {}",
            cell(&b.bucket, 63),
            cell(&b.region, 30),
            attribution(b.attribution),
            cell(&metrics, 40),
            bpa(b),
            yes(b.policy_public),
            cell(b.versioning.as_deref().unwrap_or("?"), 12),
            yes(b.mfa_delete),
            yes(b.guardduty_s3_protection),
            scp(b, c.scps_read)
        );
        if b.attribution != Attribution::Full {
            let _ = writeln!(out, "    {}", cell(&b.why, 500));
        }
    }
    if !c.errors.is_empty() {
        let _ = writeln!(out, "\nNot read ({}):", c.errors.len());
        for e in c.errors.iter().take(20) {
            let _ = writeln!(out, "  {}", cell(e, 300));
        }
        if c.errors.len() > 20 {
            let _ = writeln!(out, "  …and {} more", c.errors.len() - 20);
        }
    }
    out
}

/// One line for the daily text report: the counts (the high blind spots are in its security
/// part).
pub fn summary_text(c: &Coverage) -> String {
    let count = |a: Attribution| c.buckets.iter().filter(|b| b.attribution == a).count();
    format!(
        "  Coverage (account {}, read {}): {} bucket(s); GetObject recorded for {}, partly {}, not {}, unknown {}; {} blind spot(s) (egresswatch coverage)",
        cell(&c.account, 40),
        cell(&c.collected_at, 40),
        c.buckets.len(),
        count(Attribution::Full),
        count(Attribution::Partial),
        count(Attribution::None),
        count(Attribution::Unknown),
        c.blind_spots.len()
    )
}

/// The coverage as an HTML section (`<h2>Coverage</h2>…`), for the backfill report and the
/// standalone page.
pub fn html_section(c: &Coverage) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<h2 id=\"coverage\">Coverage</h2><p class=\"muted\">Account {}, read {}: {} bucket(s), {} blind spot(s). A bucket whose GetObject no trail records cannot have its bytes attributed to callers.</p>",
        esc(&c.account),
        esc(&c.collected_at),
        c.buckets.len(),
        c.blind_spots.len()
    );
    if !c.blind_spots.is_empty() {
        out.push_str("<h3>Blind spots</h3><table><tr><th class=\"l\">severity</th><th class=\"l\">where</th><th class=\"l\">what</th><th class=\"l\">fix</th></tr>");
        for b in &c.blind_spots {
            let _ = write!(
                out,
                "<tr class=\"blind {}\"><td class=\"l\">{}</td><td class=\"l\">{}{}</td><td class=\"l\">{}</td><td class=\"l\"><code>{}</code></td></tr>",
                esc(&b.severity),
                esc(&b.severity),
                esc(&b.region),
                b.bucket
                    .as_deref()
                    .map(|x| format!(" / {}", esc(x)))
                    .unwrap_or_default(),
                esc(&b.what),
                esc(&b.fix)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h3>Buckets</h3><table><tr><th class=\"l\">bucket</th><th class=\"l\">region</th><th class=\"l\">GetObject recorded</th><th class=\"l\">request metrics</th><th class=\"l\">Block Public Access</th><th>public</th><th class=\"l\">versioning</th><th>MFA delete</th><th>GuardDuty S3</th><th class=\"l\">SCP denies</th></tr>");
    for b in &c.buckets {
        let metrics = metrics(b);
        let _ = write!(
            out,
            "<tr data-bucket=\"{}\" data-attribution=\"{}\"><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}<br><span class=\"muted\">{}</span></td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            esc(&b.bucket),
            attribution(b.attribution),
            esc(&b.bucket),
            esc(&b.region),
            attribution(b.attribution),
            esc(&b.why),
            esc(&metrics),
            esc(&bpa(b)),
            yes(b.policy_public),
            esc(b.versioning.as_deref().unwrap_or("?")),
            yes(b.mfa_delete),
            yes(b.guardduty_s3_protection),
            esc(&scp(b, c.scps_read))
        );
    }
    out.push_str("</table>");
    if !c.errors.is_empty() {
        out.push_str("<h3>Not read</h3><ul>");
        for e in &c.errors {
            let _ = write!(out, "<li>{}</li>", esc(e));
        }
        out.push_str("</ul>");
    }
    out
}

/// `coverage --format html`: a self-contained page.
pub fn html_page(c: &Coverage) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>egresswatch coverage {}</title><style>{}</style></head><body><h1>S3 coverage and guard rails</h1>{}<p class=\"muted\">egresswatch {}</p></body></html>",
        esc(&c.account),
        super::html::STYLE,
        html_section(c),
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::coverage::{BlindSpot, PublicAccessBlock};

    fn sample() -> Coverage {
        let hostile = "<script>alert(1)</script>\u{1b}[31m";
        Coverage {
            account: "111111111111".into(),
            collected_at: "2026-11-30T06:00:00Z".into(),
            regions: vec!["eu-west-1".into()],
            regions_unread: vec![],
            buckets: vec![BucketCoverage {
                bucket: format!("secret-{hostile}"),
                region: "eu-west-1".into(),
                attribution: Attribution::None,
                recorded_by: vec![],
                why: format!("excluded by {hostile}"),
                request_metrics: vec![],
                public_access_block: PublicAccessBlock::default(),
                policy_public: Some(true),
                versioning: Some("Off".into()),
                mfa_delete: Some(false),
                guardduty_s3_protection: Some(false),
                scp_denies: vec![],
            }],
            blind_spots: vec![BlindSpot {
                severity: "high".into(),
                region: "eu-west-1".into(),
                bucket: Some("secret".into()),
                what: "no trail records GetObject".into(),
                fix: format!("aws cloudtrail put-event-selectors {hostile}"),
            }],
            guardduty: vec![],
            scps_read: false,
            errors: vec![hostile.into()],
        }
    }

    #[test]
    fn hostile_names_are_escaped_in_html_and_cleaned_in_text() {
        let c = sample();
        let page = html_page(&c);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("data-attribution=\"NO\""));
        let t = table(&c);
        assert!(!t.contains('\u{1b}'), "{t}");
        assert!(t.contains("NO"), "{t}");
        assert!(t.find("Blind spots").unwrap() < t.find("bucket ").unwrap());
        let d = document(&c);
        assert_eq!(d["schema"], SCHEMA);
        assert_eq!(d["version"], COVERAGE_VERSION);
        assert_eq!(d["buckets"][0]["attribution"], "none");
    }
}
