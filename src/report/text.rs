//! The plain-text report: what a terminal, a log file or `demo` shows.
//!
//! Strings from AWS are printed through `format::terminal` (control and bidi characters
//! replaced), so a hostile account name cannot move the cursor or rewrite the terminal.

use std::fmt::Write;

use super::format::{num, pct, usage, usd};
use super::{account_label, Report};

/// Control and bidirectional characters out, for any line printed to a terminal.
pub fn clean_line(s: &str) -> String {
    super::format::terminal(s)
}

use super::format::terminal as clean;

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let n = r.incidents.len();
    if !r.quality.day_known && n == 0 {
        let _ = writeln!(
            out,
            "egresswatch: S3 egress for {} (run {}): no data yet for {}: Cost Explorer has not answered for it; nothing was judged",
            r.evaluated_day, r.run_date, r.evaluated_day
        );
    } else {
        let _ = writeln!(
            out,
            "egresswatch: S3 egress for {} (run {}): {} incident{}{}",
            r.evaluated_day,
            r.run_date,
            n,
            if n == 1 { "" } else { "s" },
            if n > 0 {
                format!(", {} over baseline", usd(r.total_excess_usd()))
            } else {
                String::new()
            }
        );
    }
    for ri in &r.incidents {
        let i = &ri.incident;
        let _ = writeln!(
            out,
            "\n  {} in {} / account {}{}{}",
            i.family,
            clean(&i.region),
            clean(&account_label(i)),
            if i.estimated { " [estimated]" } else { "" },
            if ri.already_notified {
                " [already notified]"
            } else {
                ""
            },
        );
        let _ = writeln!(
            out,
            "    {}: observed {} vs expected {} (normal up to {})",
            i.day,
            usage(i.observed, &i.unit),
            usage(i.expected, &i.unit),
            usage(i.upper, &i.unit)
        );
        let _ = writeln!(
            out,
            "    excess {} ({}), {} over baseline; score {}",
            usage(i.excess_usage, &i.unit),
            pct(i.excess_pct),
            usd(i.excess_cost_usd),
            num(i.score, 2)
        );
        if i.days > 1 {
            let _ = writeln!(
                out,
                "    since {} ({} days, peak {}): {} and {} over baseline in all",
                i.start,
                i.days,
                i.peak_day,
                usage(i.total_excess_usage, &i.unit),
                usd(i.total_excess_cost_usd)
            );
        }
        let _ = writeln!(out, "    why: {}", clean(&i.why()));
        if let (Some(m), Some(p)) = (ri.month_to_date_usd, ri.projected_month_excess_usd) {
            let _ = writeln!(
                out,
                "    finance: {} S3 egress cost this month so far; {} excess by month end if it does not stop",
                usd(m),
                usd(p)
            );
        }
        for line in super::bucket_lines(ri, 5) {
            let _ = writeln!(out, "    | {}", clean(&line));
        }
        if let Some(ctx) = &ri.cloudtrail {
            for line in super::context_lines(ctx, r.max_callers) {
                let _ = writeln!(out, "    | {}", clean(&line));
            }
        }
    }
    if !r.activity.is_empty() {
        let _ = writeln!(out, "\n  S3 activity ({}):", r.evaluated_day);
        for f in &r.activity {
            let _ = writeln!(
                out,
                "    {} {}/{}: {}",
                f.kind,
                clean(&f.account),
                clean(&f.region),
                clean(&f.why)
            );
        }
    }
    let security = super::security_lines(r, 10);
    if !security.is_empty() {
        let _ = writeln!(out, "\n  Security ({}):", r.evaluated_day);
        for l in &security {
            let _ = writeln!(out, "    {}", clean(l));
        }
    }
    for c in &r.coverage {
        let _ = writeln!(out, "\n{}", super::coverage::summary_text(c));
    }
    let q = &r.quality;
    let _ = writeln!(
        out,
        "\n  {} series checked; {} significant but below the materiality gates; {} not significant among all series",
        q.series_checked, q.immaterial, q.not_discoveries
    );
    if let Some(line) = r.quality_line() {
        let _ = writeln!(out, "  data quality: {}", clean(&line));
    }
    out
}

/// Bytes for people: `1.5 GB` (powers of 1024, as AWS bills data transfer).
/// Bytes for people, in binary units and said so (KiB, MiB, GiB, TiB, PiB: powers of 1,024;
/// Cost Explorer's "GB" is the same GiB).
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The caller analysis as a terminal table (at most `max` callers).
pub fn render_analysis(a: &crate::correlate::Analysis, max: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "CloudTrail {} .. {} (baseline from {}): {} GetObject bytes, {} above baseline",
        a.window.from,
        a.window.to,
        a.baseline.from,
        bytes(a.bytes_out),
        bytes(a.excess_bytes)
    );
    let _ = writeln!(
        out,
        "\n  {:>6}  {:>10}  {:>8}  {:>7}  principal / source IP / user agent / bucket",
        "share", "bytes", "requests", "objects"
    );
    for c in a.callers.iter().take(max) {
        let _ = writeln!(
            out,
            "  {:>5.1}%  {:>10}  {:>8}  {:>7}  {} / {} / {} / {}",
            c.share_of_excess * 100.0,
            bytes(c.bytes_out),
            c.requests,
            c.objects,
            clean(&c.principal),
            clean(&c.source_ip),
            clean(&c.user_agent),
            clean(&c.bucket)
        );
        let notes: Vec<String> = c.new.iter().chain(&c.flags).cloned().collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "  {:>6}  {}", "", clean(&notes.join("; ")));
        }
    }
    if a.callers.len() > max {
        let _ = writeln!(
            out,
            "  … and {} more callers (--format json lists them)",
            a.callers.len() - max
        );
    }
    if let Some(o) = &a.others {
        let _ = writeln!(
            out,
            "  {:>5.1}%  {:>10}  {:>8}  {:>7}  {} more callers, summed (--limit, --all; cloudtrail.max_callers_kept)",
            o.share_of_excess * 100.0,
            bytes(o.bytes_out),
            o.requests,
            o.objects,
            o.groups
        );
    }
    if !a.events.is_empty() {
        let _ = writeln!(out, "\n  S3 control-plane events:");
        for e in &a.events {
            let _ = writeln!(
                out,
                "  {}  {:<6}  {}  {}: {} (by {}){}",
                e.time,
                e.severity.as_str(),
                clean(&e.event_name),
                clean(&e.bucket),
                clean(&e.why),
                clean(&e.principal),
                if e.before_window {
                    "  (before the window)"
                } else {
                    ""
                }
            );
        }
    }
    let q = &a.data_quality;
    match &a.query {
        Some(s) => {
            let _ = writeln!(
                out,
                "\n  queried in {} (query {}): {} scanned, ${:.4}; {} rows, {} unreadable",
                s.engine,
                clean(&s.query_id),
                bytes(s.bytes_scanned),
                s.cost_usd,
                q.records,
                q.bad_records
            );
        }
        None => {
            let _ = writeln!(
                out,
                "\n  read {} files, {} records; {} bad files, {} bad records",
                q.files, q.records, q.bad_files, q.bad_records
            );
        }
    }
    for n in &q.bad_file_names {
        let _ = writeln!(out, "    {}", clean(n));
    }
    for (why, n) in &q.bad_record_reasons {
        let _ = writeln!(out, "    {n} bad record(s): {}", clean(why));
    }
    out
}
