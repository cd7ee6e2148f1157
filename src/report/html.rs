//! The backfill report: one self-contained HTML file (inline CSS and SVG, no script, no fonts,
//! no images) that a finance lead can open offline.
//!
//! Every string that came from AWS (account names, regions, reasons) is HTML-escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{Datelike, NaiveDate};

use super::format::{num, usage, usd};
use crate::detect::DetectSettings;
use crate::model::{Incident, SeriesKey, SeriesSet};

/// What a replay found, as the page shows it.
#[derive(Debug, Clone, Copy)]
pub struct Replay<'a> {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Every incident that would have fired, oldest first.
    pub incidents: &'a [Incident],
    /// Days evaluated (known to Cost Explorer).
    pub days_evaluated: usize,
    /// Cost Explorer requests made for the replay.
    pub requests: usize,
    /// The series behind the range (history included), for charts.
    pub set: &'a SeriesSet,
    /// The incidents with their CloudTrail context, when `--with-callers` read it.
    pub full: &'a [super::ReportIncident],
    /// Callers listed per incident.
    pub max_callers: usize,
    /// The coverage read with the replay, per account (with `[coverage]`).
    pub coverage: &'a [crate::model::coverage::Coverage],
}

/// Escape text for HTML content and attribute values (see `format::html`).
pub fn esc(s: &str) -> String {
    super::format::html(s)
}

pub(crate) const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#1b1f24;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #d0d7de;padding:.3em .6em;text-align:right}
th{background:#f6f8fa}td.l,th.l{text-align:left}.muted{color:#57606a}.chart{margin:1em 0 2em}
td.l{overflow-wrap:anywhere}td.who{max-width:38em;font-size:.9em}
.legend span{display:inline-block;margin-right:1.2em}.sw{display:inline-block;width:1em;height:.7em;margin-right:.3em;vertical-align:middle}";

/// A chart of one series: actual vs expected, the prediction band, incidents shaded.
fn chart(
    b: &Replay<'_>,
    key: &SeriesKey,
    incidents: &[&Incident],
    detect: &DetectSettings,
) -> String {
    // Exactly the daily run's pass (its origin, its gaps, the series' gates); an unknown day is
    // left out of the picture.
    let Some(trace) = crate::detect::trace_series(b.set, key, b.to, detect) else {
        return String::new();
    };
    let (days, values, outs) = (&trace.days, &trace.values, &trace.out);
    let unit = incidents.first().map_or("", |i| i.unit.as_str());
    let shown: Vec<usize> = (0..days.len())
        .filter(|i| days[*i] >= b.from && days[*i] <= b.to && values[*i].is_finite())
        .collect();
    if shown.len() < 2 {
        return String::new();
    }
    let (w, h, pad_l, pad_b) = (1000.0, 260.0, 120.0, 30.0);
    let max = shown
        .iter()
        .map(|i| values[*i].max(outs[*i].upper.min(values[*i].max(outs[*i].expected) * 3.0)))
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.05;
    let n = shown.len() as f64;
    let x = |k: usize| pad_l + (w - pad_l - 10.0) * k as f64 / (n - 1.0);
    let y = |v: f64| (h - pad_b) - (h - pad_b - 10.0) * (v.max(0.0) / max).min(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(&format!("{key} actual vs expected"))
    );
    // Incidents shaded.
    for i in incidents {
        let first = shown.iter().position(|k| days[*k] >= i.start);
        let last = shown.iter().rposition(|k| days[*k] <= i.day);
        if let (Some(a), Some(z)) = (first, last) {
            let x0 = x(a) - 0.5 * (w - pad_l) / n;
            let x1 = x(z) + 0.5 * (w - pad_l) / n;
            let _ = write!(
                svg,
                r##"<rect x="{x0:.1}" y="10" width="{:.1}" height="{:.1}" fill="#ff8182" fill-opacity="0.5"><title>{}</title></rect>"##,
                (x1 - x0).max(8.0),
                h - pad_b - 10.0,
                esc(&format!(
                    "incident {} to {}: {}",
                    i.start,
                    i.day,
                    usd(i.total_excess_cost_usd)
                ))
            );
        }
    }
    // The band.
    let mut band = String::new();
    for (k, i) in shown.iter().enumerate() {
        let _ = write!(band, "{:.1},{:.1} ", x(k), y(outs[*i].upper.min(max)));
    }
    for (k, i) in shown.iter().enumerate().rev() {
        let _ = write!(band, "{:.1},{:.1} ", x(k), y(outs[*i].lower.max(0.0)));
    }
    let _ = write!(
        svg,
        r##"<polygon points="{band}" fill="#54aeff" fill-opacity="0.25" stroke="none"/>"##
    );
    let line = |f: &dyn Fn(usize) -> f64| -> String {
        shown
            .iter()
            .enumerate()
            .map(|(k, i)| format!("{:.1},{:.1}", x(k), y(f(*i))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = write!(
        svg,
        r##"<polyline points="{}" fill="none" stroke="#0969da" stroke-width="1.5" stroke-dasharray="4 3"/>"##,
        line(&|i| outs[i].expected)
    );
    let _ = write!(
        svg,
        r##"<polyline points="{}" fill="none" stroke="#1b1f24" stroke-width="1.5"/>"##,
        line(&|i| values[i])
    );
    // Axes.
    let _ = write!(
        svg,
        r##"<line x1="{pad_l}" y1="{0}" x2="{w}" y2="{0}" stroke="#8c959f"/>"##,
        h - pad_b
    );
    // Five levels with light grid lines, labelled with the unit.
    for frac in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let v = max * frac;
        if frac > 0.0 {
            let _ = write!(
                svg,
                r##"<line x1="{pad_l}" y1="{0:.1}" x2="{w}" y2="{0:.1}" stroke="#d0d7de" stroke-dasharray="2 3"/>"##,
                y(v)
            );
        }
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#57606a">{}</text>"##,
            pad_l - 6.0,
            y(v) + 4.0,
            esc(&usage(v, unit))
        );
    }
    // Days: the first of every month in the range (a tick and its month), or the ends of a
    // range within one month.
    let mut ticks: Vec<(usize, String)> = shown
        .iter()
        .enumerate()
        .filter(|(k, i)| *k > 0 && days[**i].day() == 1)
        .map(|(k, i)| (k, days[*i].format("%b %Y").to_string()))
        .collect();
    if ticks.len() < 2 {
        ticks = vec![
            (0, days[shown[0]].to_string()),
            (shown.len() - 1, days[shown[shown.len() - 1]].to_string()),
        ];
    }
    let every = ticks.len().div_ceil(12);
    for (_, (k, label)) in ticks.iter().enumerate().filter(|(n, _)| n % every == 0) {
        let anchor = if *k == 0 {
            "start"
        } else if *k == shown.len() - 1 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}" stroke="#8c959f"/><text x="{0:.1}" y="{3:.1}" font-size="12" text-anchor="{anchor}" fill="#57606a">{4}</text>"##,
            x(*k),
            h - pad_b,
            h - pad_b + 4.0,
            h - 8.0,
            esc(label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The whole report.
pub fn render(b: &Replay<'_>, detect: &DetectSettings) -> String {
    let mut out = String::new();
    let total: f64 = b.incidents.iter().map(Incident::event_cost_usd).sum();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>egresswatch backfill {} to {}</title><style>{STYLE}</style></head><body>",
        b.from, b.to
    );
    let _ = write!(
        out,
        "<h1>S3 egress incidents, {} to {}</h1><p class=\"muted\">{} incidents, {} over baseline in all; {} days evaluated, each with only the data available that morning; {} Cost Explorer request(s) made for this report.</p>",
        b.from,
        b.to,
        b.incidents.len(),
        esc(&usd(total)),
        b.days_evaluated,
        b.requests
    );
    // By month and region.
    let mut by_month: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    let mut by_month_region: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut regions: Vec<String> = Vec::new();
    for i in b.incidents {
        let m = format!("{:04}-{:02}", i.start.year(), i.start.month());
        let e = by_month.entry(m.clone()).or_insert((0, 0.0));
        e.0 += 1;
        e.1 += i.event_cost_usd();
        *by_month_region.entry((m, i.region.clone())).or_insert(0) += 1;
        if !regions.contains(&i.region) {
            regions.push(i.region.clone());
        }
    }
    regions.sort();
    // Every month of the range, quiet ones too: a month without incidents is news as well.
    let mut m = NaiveDate::from_ymd_opt(b.from.year(), b.from.month(), 1).expect("day 1 exists");
    while m <= b.to {
        by_month
            .entry(format!("{:04}-{:02}", m.year(), m.month()))
            .or_insert((0, 0.0));
        m = m + chrono::Months::new(1);
    }
    out.push_str(
        "<h2>By month</h2><table><tr><th class=\"l\">month</th><th>incidents</th><th>excess $</th>",
    );
    for r in &regions {
        let _ = write!(out, "<th>{}</th>", esc(r));
    }
    out.push_str("</tr>");
    for (m, (n, usd_m)) in &by_month {
        let _ = write!(
            out,
            "<tr><td class=\"l\">{m}</td><td>{n}</td><td>{}</td>",
            esc(&usd(*usd_m))
        );
        for r in &regions {
            let c = by_month_region
                .get(&(m.clone(), r.clone()))
                .copied()
                .unwrap_or(0);
            let _ = write!(
                out,
                "<td>{}</td>",
                if c == 0 { String::new() } else { c.to_string() }
            );
        }
        out.push_str("</tr>");
    }
    if b.incidents.is_empty() {
        out.push_str("<tr><td class=\"l\" colspan=\"3\">no incidents in this range</td></tr>");
    }
    out.push_str("</table>");
    // Incidents.
    out.push_str("<h2>Incidents</h2><table><tr><th class=\"l\">series</th><th class=\"l\">days</th><th>peak</th><th>excess</th><th>excess $</th><th class=\"l\">why</th><th class=\"l\">who (CloudTrail)</th></tr>");
    for i in b.incidents {
        // The incident's CloudTrail context, when the replay read it (`--with-callers`).
        let who: Vec<String> = b
            .full
            .iter()
            .find(|r| r.incident.key() == i.key() && r.incident.start == i.start)
            .and_then(|r| r.cloudtrail.as_ref())
            .map(|c| {
                let ctx = super::context(c, b.max_callers);
                ctx.error
                    .into_iter()
                    .chain(ctx.high_changes)
                    .chain(ctx.callers)
                    .collect()
            })
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{} to {}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l who\">{}</td></tr>",
            esc(&format!("{} / {} / {}", super::account_label(i), i.region, i.family)),
            i.start,
            i.day,
            i.peak_day,
            esc(&usage(i.total_excess_usage, &i.unit)),
            esc(&usd(i.total_excess_cost_usd)),
            esc(&i.why()),
            if who.is_empty() {
                "<span class=\"muted\">not read (backfill --with-callers)</span>".to_string()
            } else {
                who.iter().map(|l| esc(l)).collect::<Vec<_>>().join("<br>")
            }
        );
    }
    out.push_str("</table>");
    for c in b.coverage {
        out.push_str(&super::coverage::html_section(c));
    }
    // Charts.
    // Every family of every incident (a related family has its chart too).
    let families: Vec<&Incident> = b.incidents.iter().flat_map(|i| i.families()).collect();
    let mut keys: Vec<SeriesKey> = families.iter().map(|i| i.key()).collect();
    keys.sort();
    keys.dedup();
    if !keys.is_empty() {
        out.push_str("<h2>Series with incidents</h2><p class=\"legend muted\"><span><i class=\"sw\" style=\"background:#1b1f24\"></i>actual</span><span><i class=\"sw\" style=\"background:#0969da\"></i>expected</span><span><i class=\"sw\" style=\"background:#54aeff;opacity:.4\"></i>prediction band</span><span><i class=\"sw\" style=\"background:#ff8182;opacity:.6\"></i>incident</span></p>");
    }
    for k in keys {
        let incs: Vec<&Incident> = families.iter().copied().filter(|i| i.key() == k).collect();
        let name = incs
            .first()
            .map(|i| super::account_label(i))
            .unwrap_or_else(|| k.account.clone());
        let _ = write!(
            out,
            "<h3>{}</h3>",
            esc(&format!("{name} / {} / {}", k.region, k.family))
        );
        out.push_str(&chart(b, &k, &incs, detect));
    }
    let _ = writeln!(
        out,
        "<p class=\"muted\">egresswatch {} · {}</p></body></html>",
        env!("CARGO_PKG_VERSION"),
        esc(&num(b.set.series.len() as f64, 0)) + " series in the store for this range"
    );
    out
}
