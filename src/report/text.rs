//! The plain-text report: what a terminal, a log file or `demo` shows.
//!
//! Strings from AWS are printed with control characters replaced, so a hostile account name
//! cannot move the cursor or rewrite the terminal.

use std::fmt::Write;

use super::format::{num, pct, usage, usd};
use super::{account_label, Report};

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let n = r.incidents.len();
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
        let _ = writeln!(out, "    why: {}", clean(&i.reason));
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
