//! Reports: one model per run, rendered for every reader.
//!
//! The [`Report`] is built once from what the run found (incidents with their dollars, callers,
//! buckets and changes; the digest; data quality). [`text`] renders it for a terminal or log,
//! [`html`] renders a replay as a self-contained page, and each [`sink`] (Slack, Teams, the
//! signed webhook, a file) renders its own message and is delivered through the outbox. Every
//! string that came from AWS or a log is escaped by the renderer that knows the target's syntax.
//! `[report]` (mode, runbook link) is read here.

pub mod coverage;
pub mod csv;
pub mod format;
pub mod html;
pub mod sink;
pub mod text;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::model::Incident;
use crate::settings::{keys, Check};

/// `incidents`: a message when there is something new; `daily`: also an all-clear digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportMode {
    #[default]
    Incidents,
    Daily,
}

/// `[report]`: when a message is sent, and the runbook every incident links to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportSettings {
    pub mode: ReportMode,
    pub runbook_url: Option<String>,
}

/// `[report]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawReport {
    pub mode: Option<String>,
    pub runbook_url: Option<String>,
}

impl ReportSettings {
    /// Validate `[report]`.
    pub fn check(r: RawReport, c: &mut Check<'_>) -> Self {
        let mode = match r.mode.as_deref() {
            None | Some("incidents") => ReportMode::Incidents,
            Some("daily") => ReportMode::Daily,
            Some(other) => {
                c.fail(
                    &keys(&["report", "mode"]),
                    format!("`{other}` is not a mode: `incidents` or `daily`"),
                );
                ReportMode::Incidents
            }
        };
        let mut runbook_url = None;
        if let Some(u) = r.runbook_url {
            let clean = !u
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '|' | '"'));
            if clean && (u.starts_with("https://") || u.starts_with("http://")) {
                runbook_url = Some(u);
            } else {
                c.fail(&keys(&["report", "runbook_url"]), "must be an http(s) URL");
            }
        }
        ReportSettings { mode, runbook_url }
    }
}

/// An incident as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportIncident {
    #[serde(flatten)]
    pub incident: Incident,
    /// Announced by an earlier run: listed, not announced again.
    pub already_notified: bool,
    /// The series' S3 cost this month so far (finance).
    pub month_to_date_usd: Option<f64>,
    /// The excess so far, plus today's excess for every remaining day of the month if it does
    /// not stop (finance's worst case for this month).
    pub projected_month_excess_usd: Option<f64>,
    /// The buckets whose downloads grew (CloudWatch request metrics), most first.
    pub buckets: Option<Vec<crate::model::BucketGrowth>>,
    /// Early warnings (hourly metrics) that this incident confirmed.
    pub early_warnings: Vec<String>,
    /// Who downloaded, what changed (when a CloudTrail source is configured).
    pub cloudtrail: Option<crate::correlate::IncidentContext>,
}

impl ReportIncident {
    /// An incident with nothing beside it yet: not announced before, no finance figures, no
    /// buckets, early warnings or CloudTrail context.
    pub fn bare(incident: Incident) -> Self {
        ReportIncident {
            incident,
            already_notified: false,
            month_to_date_usd: None,
            projected_month_excess_usd: None,
            buckets: None,
            early_warnings: Vec::new(),
            cloudtrail: None,
        }
    }
}

/// What a run found and did, for every renderer.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The day the run acted as (`--date`, or today).
    pub run_date: NaiveDate,
    /// The newest complete day, the one evaluated.
    pub evaluated_day: NaiveDate,
    pub incidents: Vec<ReportIncident>,
    pub quality: DataQuality,
    /// The runbook to follow, from the config.
    pub runbook_url: Option<String>,
    /// The last 7 days per region (daily digest mode).
    pub digest: Option<Digest>,
    /// Every evaluated series' score and excess on the day (published to CloudWatch on request).
    #[serde(skip)]
    pub verdicts: Vec<crate::sources::cloudwatch::Verdict>,
    /// S3 activity findings for the evaluated day (with `[activity]`).
    #[serde(default)]
    pub activity: Vec<crate::model::Finding>,
    /// How many of them no earlier run had announced.
    #[serde(skip)]
    pub activity_new: usize,
    /// GuardDuty S3 findings updated on the evaluated day that no incident holds (with
    /// `[coverage]`): the security part of the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardduty: Vec<crate::model::coverage::GuardDutyFinding>,
    /// The coverage read for this run, one per account read (with `[coverage]`; the
    /// credentials' own account first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coverage: Vec<crate::model::coverage::Coverage>,
    /// Callers listed per incident in messages (`cloudtrail.max_callers`).
    #[serde(skip)]
    pub max_callers: usize,
}

impl Report {
    /// A report of `incidents` found for `evaluated_day` by a run acting as `run_date`, with no
    /// digest, verdicts or activity yet (the daily run adds them).
    pub fn new(
        run_date: NaiveDate,
        evaluated_day: NaiveDate,
        incidents: Vec<ReportIncident>,
        quality: DataQuality,
        runbook_url: Option<String>,
    ) -> Self {
        Report {
            run_date,
            evaluated_day,
            incidents,
            quality,
            runbook_url,
            digest: None,
            verdicts: Vec::new(),
            activity: Vec::new(),
            activity_new: 0,
            guardduty: Vec::new(),
            coverage: Vec::new(),
            max_callers: DEFAULT_MAX_CALLERS,
        }
    }
}

/// Callers listed per incident when the config does not say (`cloudtrail.max_callers`).
pub const DEFAULT_MAX_CALLERS: usize = crate::correlate::settings::DEFAULT_MAX_CALLERS as usize;

/// The daily digest finance asked for: the last 7 days of S3 egress per region.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    /// The last day of the seven.
    pub day: NaiveDate,
    pub regions: Vec<RegionDigest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionDigest {
    pub region: String,
    /// GB out per day (byte families), oldest first.
    pub gb_7d: Vec<f64>,
    pub cost_7d_usd: f64,
    pub sparkline: String,
}

/// `▁▃▅█`: a week at a glance.
pub fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().fold(0.0, f64::max);
    values
        .iter()
        .map(|v| {
            if max <= 0.0 {
                BARS[0]
            } else {
                BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// Percent-encode a URL component.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Where to look next: the Cost Explorer console filtered to S3, the usage family's region and
/// the incident's days; CloudTrail event history for the region and days; the runbook.
pub fn links(i: &Incident, runbook: Option<&str>) -> Vec<(String, String)> {
    let end = i.day + chrono::Days::new(1);
    let filter = serde_json::json!([
        {"dimension": {"id": "Service", "displayValue": "Service"}, "operator": "INCLUDES",
         "values": [{"value": "Amazon Simple Storage Service", "displayValue": "S3 (Simple Storage Service)"}]},
        {"dimension": {"id": "LinkedAccount", "displayValue": "Linked account"}, "operator": "INCLUDES",
         "values": [{"value": i.account, "displayValue": i.account}]}
    ]);
    let ce = format!(
        "https://us-east-1.console.aws.amazon.com/costmanagement/home#/cost-explorer?chartStyle=STACK&costAggregate=unBlendedCost&granularity=Daily&groupBy=%5B%22UsageType%22%5D&startDate={}&endDate={}&filter={}",
        i.start,
        end,
        enc(&filter.to_string())
    );
    let region = if i
        .region
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        i.region.as_str()
    } else {
        "us-east-1"
    };
    let ct = format!(
        "https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events?StartTime={}T00:00:00.000Z&EndTime={}T00:00:00.000Z&ReadOnly=false",
        i.start, end
    );
    let mut out = vec![
        ("Cost Explorer".to_string(), ce),
        ("CloudTrail".to_string(), ct),
    ];
    if let Some(r) = runbook {
        out.push(("Runbook".to_string(), r.to_string()));
    }
    out
}

/// What the reader should know about the data behind the verdict.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DataQuality {
    /// Series evaluated.
    pub series_checked: usize,
    /// Series too young to judge (too little same-weekday history).
    pub young_series: usize,
    /// Significant but below the materiality thresholds.
    pub immaterial: usize,
    /// Significant and material alone, but not discoveries among all series checked (BH).
    pub not_discoveries: usize,
    /// Whether Cost Explorer had answered for the evaluated day at all.
    pub day_known: bool,
    /// Whether its figures are still estimated.
    pub day_estimated: bool,
    /// Usage types this version does not classify (stored as family `other`).
    pub unknown_usage_types: Vec<String>,
    /// Response groups that could not be read and were skipped.
    pub skipped_groups: usize,
    /// The first few of them, each `day account usage-type: why`.
    #[serde(default)]
    pub skipped_group_names: Vec<String>,
    /// Trail files read for the incidents' caller analysis.
    pub trail_files_read: u64,
    /// Trail files that could not be read (corrupt, truncated), over all incidents.
    pub bad_trail_files: u64,
    /// Trail records that could not be read.
    pub bad_trail_records: u64,
    /// Bytes the pushed-down CloudTrail queries scanned (Athena, CloudTrail Lake), and what
    /// the engine bills for them.
    pub trail_bytes_scanned: u64,
    pub trail_query_cost_usd: f64,
}

impl Report {
    /// This run's full view (finance figures, CloudTrail) of an incident, when it has one: a
    /// retried older incident may not.
    pub fn full(&self, i: &Incident) -> Option<&ReportIncident> {
        self.incidents
            .iter()
            .find(|r| r.incident.key() == i.key() && r.incident.start == i.start)
    }

    /// The headline of a message without incidents: "no incidents", or, when Cost Explorer has
    /// not answered for the day yet, "no data yet": never an all-clear for a day nobody saw.
    pub fn all_clear_headline(&self) -> String {
        if self.quality.day_known {
            format!("S3 egress: no incidents for {}", self.evaluated_day)
        } else {
            format!(
                "S3 egress: no data yet for {}: Cost Explorer has not answered for it",
                self.evaluated_day
            )
        }
    }

    pub fn total_excess_usd(&self) -> f64 {
        self.incidents
            .iter()
            .map(|i| i.incident.event_cost_usd())
            .sum()
    }

    /// One line of data-quality notes, or `None` when there is nothing to say.
    pub fn quality_line(&self) -> Option<String> {
        let q = &self.quality;
        let mut parts = Vec::new();
        if !q.day_known {
            parts.push(format!(
                "Cost Explorer has no data for {} yet",
                self.evaluated_day
            ));
        } else if q.day_estimated {
            parts.push(format!(
                "{} is still estimated by Cost Explorer",
                self.evaluated_day
            ));
        }
        if q.young_series > 0 {
            parts.push(format!(
                "{} series too young for a baseline",
                q.young_series
            ));
        }
        if !q.unknown_usage_types.is_empty() {
            parts.push(format!(
                "{} unclassified usage type(s) stored as `other`: {}",
                q.unknown_usage_types.len(),
                q.unknown_usage_types.join(", ")
            ));
        }
        if q.bad_trail_files > 0 || q.bad_trail_records > 0 {
            parts.push(format!(
                "{} unreadable CloudTrail file(s) and {} record(s) skipped",
                q.bad_trail_files, q.bad_trail_records
            ));
        }
        if q.trail_bytes_scanned > 0 {
            parts.push(format!(
                "CloudTrail queries scanned {} (${:.2})",
                text::bytes(q.trail_bytes_scanned),
                q.trail_query_cost_usd
            ));
        }
        if q.skipped_groups > 0 {
            let named = if q.skipped_group_names.is_empty() {
                String::new()
            } else {
                format!(" ({})", q.skipped_group_names.join("; "))
            };
            parts.push(format!(
                "{} unreadable Cost Explorer group(s) skipped, their days fetched again next run{named}",
                q.skipped_groups
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// "Prod data (111111111111)" or just the id.
pub fn account_label(i: &Incident) -> String {
    use format::display;
    match &i.account_name {
        Some(n) if !n.is_empty() => format!(
            "{} ({})",
            display(n, bounds::ACCOUNT),
            display(&i.account, bounds::ACCOUNT)
        ),
        _ => display(&i.account, bounds::ACCOUNT),
    }
}

/// Per-bucket attribution and confirmed early warnings, as plain lines (renderers escape them).
pub fn bucket_lines(ri: &ReportIncident, max: usize) -> Vec<String> {
    let mut out: Vec<String> = ri
        .early_warnings
        .iter()
        .map(|w| format!("Confirms the {w}"))
        .collect();
    if let Some(rows) = &ri.buckets {
        for b in rows.iter().take(max) {
            out.push(format!(
                "bucket {}: {:.1} GB downloaded, +{:.1} GB over its {:.1} GB/day ({:.0}% of the growth, CloudWatch request metrics)",
                b.bucket,
                b.window_gb,
                b.growth_gb,
                b.baseline_gb_per_day,
                b.share * 100.0
            ));
        }
    }
    out
}

/// Display bounds for strings an attacker chooses (the trail's principals, user agents, buckets,
/// the account names of an organisation): cut before layout, so that every incident keeps its
/// place in a message whatever the input. The JSON documents carry them whole.
pub mod bounds {
    pub const PRINCIPAL: usize = 160;
    pub const SOURCE_IP: usize = 45;
    pub const USER_AGENT: usize = 100;
    pub const BUCKET: usize = 70;
    pub const EVENT: usize = 60;
    pub const WHY: usize = 200;
    pub const ACCOUNT: usize = 80;
    pub const REGION: usize = 30;
    pub const ERROR: usize = 300;
    /// High-severity changes listed per incident (every one, up to this many).
    pub const HIGH_CHANGES: usize = 20;
    /// Medium-severity changes listed per incident.
    pub const OTHER_CHANGES: usize = 5;
}

/// An incident's CloudTrail context, in the order every renderer shows it: what was read,
/// how much of the bill it explains, the high-severity changes, the top callers, the other
/// changes, what stays unattributed. Every attacker-chosen string is cut ([`bounds`]) and
/// cleaned; renderers escape for their target, and may drop the optional parts to fit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextLines {
    /// "Correlation unavailable: …" (then nothing else).
    pub error: Option<String>,
    pub query: Option<String>,
    pub reconciliation: Option<String>,
    /// High (and critical) severity changes: never dropped by a renderer.
    pub high_changes: Vec<String>,
    pub more_high_changes: usize,
    /// The top callers by bytes, `max_callers` of them at most: never dropped.
    pub callers: Vec<String>,
    /// Callers not listed.
    pub more_callers: usize,
    /// Medium-severity changes.
    pub other_changes: Vec<String>,
    pub unattributed: Option<String>,
}

impl ContextLines {
    /// Every line, in order.
    pub fn all(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.error.clone());
        out.extend(self.query.clone());
        out.extend(self.reconciliation.clone());
        out.extend(self.high_changes.iter().cloned());
        if self.more_high_changes > 0 {
            out.push(format!(
                "…and {} more high-severity changes",
                self.more_high_changes
            ));
        }
        out.extend(self.callers.iter().cloned());
        if self.more_callers > 0 {
            out.push(format!("…and {} more callers", self.more_callers));
        }
        out.extend(self.other_changes.iter().cloned());
        out.extend(self.unattributed.clone());
        out
    }
}

/// The lines of an incident's CloudTrail context, every string bounded.
pub fn context(ctx: &crate::correlate::IncidentContext, max_callers: usize) -> ContextLines {
    use crate::correlate::controlplane::Severity;
    use format::display;
    use text::bytes;
    let mut out = ContextLines::default();
    // GuardDuty's own conclusions lead the security lines, never dropped.
    let findings: Vec<String> = ctx.guardduty.iter().map(guardduty_line).collect();
    let n_findings = findings.len().min(bounds::HIGH_CHANGES);
    out.more_high_changes = findings.len() - n_findings;
    out.high_changes = findings.into_iter().take(n_findings).collect();
    if let Some(e) = &ctx.error {
        out.error = Some(format!(
            "Correlation unavailable: CloudTrail could not be read: {}",
            display(e, bounds::ERROR)
        ));
        return out;
    }
    let Some(a) = &ctx.analysis else {
        // No trail read: the coverage alone says what could not have been named.
        if let Some(r) = ctx
            .coverage
            .as_ref()
            .and_then(crate::correlate::coverage_reason)
        {
            out.unattributed = Some(format!("Unattributed: {}", display(&r, bounds::ERROR)));
        }
        return out;
    };
    if let Some(q) = &a.query {
        out.query = Some(format!(
            "CloudTrail queried in {} ({}): {} scanned, ${:.4}",
            q.engine,
            display(&q.query_id, bounds::EVENT),
            bytes(q.bytes_scanned),
            q.cost_usd
        ));
    }
    if let Some(r) = &ctx.reconciliation {
        let fmt = |v: f64| {
            if r.unit == "bytes" {
                bytes(v as u64)
            } else {
                format!("{} requests", format::num(v, 0))
            }
        };
        let pct = if r.billed_excess > 0.0 {
            (r.attributed / r.billed_excess * 100.0).min(999.0)
        } else {
            0.0
        };
        out.reconciliation = Some(format!(
            "CloudTrail attributes {} of the {} billed excess ({:.0}%)",
            fmt(r.attributed),
            fmt(r.billed_excess),
            pct
        ));
    }
    let change = |e: &crate::correlate::EventReport| {
        let on = if e.bucket.is_empty() {
            String::new()
        } else {
            format!(" {}", display(&e.bucket, bounds::BUCKET))
        };
        format!(
            "{} {} {}{on}: {} (by {}{})",
            e.severity.as_str(),
            display(&e.time, bounds::EVENT),
            display(&e.event_name, bounds::EVENT),
            display(&e.why, bounds::WHY),
            display(&e.principal, bounds::PRINCIPAL),
            if e.before_window {
                ", before the spike"
            } else {
                ""
            }
        )
    };
    let high: Vec<&crate::correlate::EventReport> = a
        .events
        .iter()
        .filter(|e| e.severity >= Severity::High)
        .collect();
    let room = bounds::HIGH_CHANGES.saturating_sub(out.high_changes.len());
    out.high_changes
        .extend(high.iter().take(room).map(|e| change(e)));
    out.more_high_changes += high.len().saturating_sub(room);
    for c in a.callers.iter().take(max_callers) {
        let mut line = format!(
            "{:.0}% of the excess, {}: {} from {} ({}) → {}",
            c.share_of_excess * 100.0,
            bytes(c.bytes_out),
            display(&c.principal, bounds::PRINCIPAL),
            if c.source_ip.is_empty() {
                "?".to_string()
            } else {
                display(&c.source_ip, bounds::SOURCE_IP)
            },
            if c.user_agent.is_empty() {
                "no user agent".to_string()
            } else {
                display(&c.user_agent, bounds::USER_AGENT)
            },
            if c.bucket.is_empty() {
                "?".to_string()
            } else {
                display(&c.bucket, bounds::BUCKET)
            },
        );
        let notes: Vec<&str> = c.new.iter().chain(&c.flags).map(String::as_str).collect();
        if !notes.is_empty() {
            line.push_str(&format!(" [{}]", display(&notes.join("; "), bounds::WHY)));
        }
        out.callers.push(line);
    }
    // Beyond the callers kept (`cloudtrail.max_callers_kept`), the rest are summed in `others`.
    out.more_callers = a.callers.len().saturating_sub(max_callers)
        + a.others.as_ref().map_or(0, |o| o.groups as usize);
    out.other_changes = a
        .events
        .iter()
        .filter(|e| e.severity == Severity::Medium)
        .take(bounds::OTHER_CHANGES)
        .map(change)
        .collect();
    if let Some(r) = &ctx.reconciliation {
        if r.unattributed > 0.0 && !r.reasons.is_empty() {
            out.unattributed = Some(format!(
                "Unattributed: {}",
                display(&r.reasons.join("; "), bounds::ERROR)
            ));
        }
    }
    out
}

/// The security part's lines beside S3 activity: GuardDuty's S3 findings no incident holds,
/// and the coverage's high blind spots (at most `max` lines each, then "…and N more").
pub fn security_lines(report: &Report, max: usize) -> Vec<String> {
    use format::display;
    let mut out: Vec<String> = report
        .guardduty
        .iter()
        .take(max)
        .map(guardduty_line)
        .collect();
    if report.guardduty.len() > max {
        out.push(format!(
            "…and {} more GuardDuty S3 findings",
            report.guardduty.len() - max
        ));
    }
    let high: Vec<_> = report
        .coverage
        .iter()
        .flat_map(|c| c.blind_spots.iter())
        .filter(|b| b.severity == "high")
        .collect();
    {
        for b in high.iter().take(max) {
            out.push(format!(
                "Blind spot in {}{}: {}",
                display(&b.region, bounds::REGION),
                b.bucket
                    .as_deref()
                    .map(|x| format!(" ({})", display(x, bounds::BUCKET)))
                    .unwrap_or_default(),
                display(&b.what, bounds::WHY)
            ));
        }
        if high.len() > max {
            out.push(format!(
                "…and {} more blind spots (egresswatch coverage)",
                high.len() - max
            ));
        }
    }
    out
}

/// One GuardDuty S3 finding, bounded: severity, type, buckets, principal, when, title.
pub fn guardduty_line(f: &crate::model::coverage::GuardDutyFinding) -> String {
    use format::display;
    let buckets = if f.buckets.is_empty() {
        String::new()
    } else {
        let named: Vec<String> = f
            .buckets
            .iter()
            .take(3)
            .map(|b| display(b, bounds::BUCKET))
            .collect();
        let more = f.buckets.len().saturating_sub(3);
        format!(
            " on {}{}",
            named.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    };
    let by = f
        .principal
        .as_deref()
        .map(|p| format!(" by {}", display(p, bounds::PRINCIPAL)))
        .unwrap_or_default();
    format!(
        "GuardDuty {} {}{buckets}{by} ({}×, {} to {}): {}",
        f.severity_label(),
        display(&f.kind, bounds::EVENT),
        f.count.max(1),
        display(&f.first_seen, bounds::EVENT),
        display(&f.last_seen, bounds::EVENT),
        display(&f.title, bounds::WHY)
    )
}

/// [`context`]'s lines, in order.
pub fn context_lines(ctx: &crate::correlate::IncidentContext, max_callers: usize) -> Vec<String> {
    context(ctx, max_callers).all()
}

/// A report with many incidents and callers, hostile strings included, for the renderers'
/// snapshot and limit tests.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use crate::correlate::controlplane::Severity;
    use crate::correlate::{
        Analysis, CallerReport, EventReport, IncidentContext, Reconciliation, Window,
    };
    use crate::model::Family;

    pub const HOSTILE: &str =
        "<!channel> <https://evil.example|click> *bold* [x](https://evil.example) & {{t}}";

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, d).unwrap()
    }

    pub fn incident(n: usize) -> Incident {
        let excess = 100.0 * (n as f64 + 1.0);
        Incident {
            account: format!("{:012}", 111_111_111_111u64 + n as u64),
            account_name: Some(if n == 0 { HOSTILE.to_string() } else { format!("team-{n}") }),
            region: ["eu-west-1", "us-east-1", "ap-southeast-2"][n % 3].into(),
            family: if n % 4 == 3 { Family::GetRequests } else { Family::InternetOut },
            day: day(14),
            start: day(14 - (n % 3) as u32),
            peak_day: day(14),
            days: (n % 3) as u32 + 1,
            observed: excess + 40.0,
            expected: 40.0,
            lower: 30.0,
            upper: 55.0,
            unit: if n % 4 == 3 { "Requests".into() } else { "GB".into() },
            excess_usage: excess,
            excess_pct: Some(excess / 40.0 * 100.0),
            excess_cost_usd: excess * 0.09,
            observed_cost_usd: (excess + 40.0) * 0.09,
            total_excess_usage: excess * ((n % 3) as f64 + 1.0),
            total_excess_cost_usd: excess * 0.09 * ((n % 3) as f64 + 1.0),
            score: 0.97,
            robust_z: 41.5,
            p_value: 1e-30,
            evidence: "spike".into(),
            young: n == 5,
            estimated: n.is_multiple_of(2),
            reason: format!("{excess:.1} GB vs 40.0 GB expected (Sunday baseline, 17 weeks of history), 41.5 robust σ, +${:.2}", excess * 0.09),
            related: Vec::new(),
        }
    }

    fn callers(n: usize) -> Vec<CallerReport> {
        (0..6)
            .map(|c| CallerReport {
                principal: if c == 0 && n == 0 {
                    format!("arn:aws:iam::111111111111:user/{HOSTILE}")
                } else {
                    format!("arn:aws:sts::111111111111:assumed-role/role-{c}/session-{n}")
                },
                role: Some(format!("arn:aws:iam::111111111111:role/role-{c}")),
                source_ip: format!("203.0.113.{}", c + 1),
                user_agent: if c == 0 {
                    HOSTILE.into()
                } else {
                    format!("rclone/v1.6{c}")
                },
                bucket: format!("bucket-{c}"),
                requests: 1000 / (c as u64 + 1),
                bytes_out: 50_000_000_000 / (c as u64 + 1),
                objects: 500 / (c as u64 + 1),
                errors: c as u64,
                first_seen: "2026-06-14T01:00:00Z".into(),
                last_seen: "2026-06-14T05:00:00Z".into(),
                new: if c < 2 {
                    vec!["new principal".into(), "new source IP".into()]
                } else {
                    vec![]
                },
                flags: if c == 1 {
                    vec!["bulk download tool (rclone)".into()]
                } else {
                    vec![]
                },
                share_of_bytes: 0.4 / (c as f64 + 1.0),
                share_of_excess: 0.5 / (c as f64 + 1.0),
                allowlisted: false,
            })
            .collect()
    }

    pub fn report(n_incidents: usize) -> Report {
        let incidents = (0..n_incidents)
            .map(|n| {
                let i = incident(n);
                let analysis = Analysis {
                    window: Window { from: "2026-06-14T00:00:00Z".into(), to: "2026-06-15T00:00:00Z".into() },
                    baseline: Window { from: "2026-05-31T00:00:00Z".into(), to: "2026-06-14T00:00:00Z".into() },
                    callers: callers(n),
                    others: None,
                    events: vec![EventReport::for_test(
                        "2026-06-12T08:00:00Z",
                        "PutBucketPolicy",
                        "bucket-0",
                        Severity::High,
                        &format!("bucket policy makes the bucket public (Principal \"*\") {}", if n == 0 { HOSTILE } else { "" }),
                    )],
                    data_quality: Default::default(),
                    bytes_out: 120_000_000_000,
                    excess_bytes: 110_000_000_000,
                    // The second incident's trail was read through Athena.
                    query: (n == 1).then(|| crate::sources::sql::QueryStats {
                        engine: "athena".into(),
                        query_id: "5a1c0de4-0000-4000-8000-000000000001".into(),
                        bytes_scanned: 52_000_000_000,
                        cost_usd: 0.2365,
                        rows: 310,
                    }),
                };
                ReportIncident {
                    buckets: None,
                    early_warnings: Vec::new(),
                    already_notified: false,
                    month_to_date_usd: Some(1234.5 + n as f64),
                    projected_month_excess_usd: Some(i.total_excess_cost_usd * 3.0),
                    cloudtrail: Some(IncidentContext {
                        reconciliation: Some(Reconciliation {
                            unit: "bytes".into(),
                            billed_excess: 120e9,
                            attributed: 110e9,
                            unattributed: 10e9,
                            reasons: vec!["data events may cover only some buckets (event selectors), and delivery can lag the window's end".into()],
                        }),
                        analysis: Some(analysis),
                        error: None,
                        coverage: None,
                        guardduty: Vec::new(),
                    }),
                    incident: i,
                }
            })
            .collect();
        Report::new(
            day(15),
            day(14),
            incidents,
            DataQuality {
                series_checked: 42,
                young_series: 1,
                day_known: true,
                day_estimated: true,
                bad_trail_files: 2,
                ..Default::default()
            },
            Some("https://wiki.example/egress".into()),
        )
    }

    pub fn incidents(r: &Report) -> Vec<Incident> {
        r.incidents.iter().map(|i| i.incident.clone()).collect()
    }
}

#[cfg(test)]
mod snapshots {
    use super::context;
    use super::fixture::{incidents, report, HOSTILE};
    use super::sink::{slack, teams, webhook};

    #[test]
    fn slack_payload() {
        let r = report(4);
        insta::assert_json_snapshot!("slack", slack::message(&r, &incidents(&r)));
    }

    #[test]
    fn teams_payload() {
        let r = report(4);
        insta::assert_json_snapshot!("teams", teams::message(&r, &incidents(&r)));
    }

    #[test]
    fn webhook_payload() {
        let r = report(4);
        insta::assert_json_snapshot!(
            "webhook",
            webhook::document(&r, &incidents(&r), "egresswatch-webhook-incidents-test")
        );
    }

    #[test]
    fn every_slack_payload_fits_slack_limits() {
        for n in [1, 3, 10, 49, 60, 200] {
            let r = report(n);
            let m = slack::message(&r, &incidents(&r));
            let blocks = m["blocks"].as_array().unwrap();
            assert!(blocks.len() <= 50, "{n}: {} blocks", blocks.len());
            assert!(
                m.to_string().chars().count() < 13_000,
                "{n}: {} chars",
                m.to_string().chars().count()
            );
            assert!(
                !m["text"].as_str().unwrap().is_empty(),
                "top-level text is set"
            );
            for b in blocks {
                if b["type"] == "header" {
                    assert!(b["text"]["text"].as_str().unwrap().chars().count() <= 150);
                }
                if let Some(t) = b["text"]["text"].as_str() {
                    assert!(
                        t.chars().count() <= 3000,
                        "{n}: section of {}",
                        t.chars().count()
                    );
                }
                if let Some(e) = b["elements"].as_array() {
                    assert!(e.len() <= 10);
                }
            }
            let shown = blocks
                .iter()
                .filter(|b| {
                    b["text"]["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("over baseline") && t.starts_with('*'))
                })
                .count();
            if shown < n {
                assert!(
                    m.to_string().contains(&format!("*{}* more", n - shown)),
                    "{n}: says how many more"
                );
            }
            let s = m.to_string();
            assert!(
                !s.contains("<!channel>") && !s.contains("<https://evil"),
                "{n}: hostile strings arrive as text"
            );
        }
    }

    #[test]
    fn teams_cards_stay_small_and_defused() {
        for n in [1, 10, 200] {
            let r = report(n);
            let card = teams::message(&r, &incidents(&r)).to_string();
            assert!(card.len() < 28_000, "{n}: {} bytes", card.len());
            assert!(
                !card.contains("](https://evil") && !card.contains("<!channel>"),
                "{n}"
            );
        }
        let _ = HOSTILE;
    }

    /// An activity-only day (no incidents, no 7-day digest in alert mode) still gives every sink
    /// a real message naming the findings, with their log-derived strings defused.
    #[test]
    fn activity_only_messages_name_the_findings_in_every_sink() {
        let mut r = report(0);
        r.activity = vec![crate::model::Finding {
            day: r.evaluated_day,
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            event: "GetBucketAcl".into(),
            outcome: "ok".into(),
            kind: "rise".into(),
            count: 304,
            expected: 5.0,
            score: 40.0,
            principal: HOSTILE.into(),
            source_ip: "198.51.100.99".into(),
            user_agent: HOSTILE.into(),
            share: 0.98,
            new_principal: true,
            why: format!("GetBucketAcl 304 calls vs 5 expected, by {HOSTILE}"),
        }];
        let slack = slack::digest(&r).to_string();
        let teams = teams::digest(&r).to_string();
        let hook = webhook::document(&r, &[], "egresswatch-webhook-digest-test");
        for (sink, s) in [("slack", &slack), ("teams", &teams)] {
            assert!(s.contains("S3 activity on"), "{sink}: {s}");
            assert!(s.contains("304 calls"), "{sink}: {s}");
            assert!(!s.contains("<!channel>"), "{sink}: {s}");
        }
        // Slack renders `<url|text>` links, Teams markdown ones: each is defused in its sink.
        assert!(!slack.contains("<https://evil"), "{slack}");
        assert!(!teams.contains("](https://evil"), "{teams}");
        assert!(
            !slack.contains("No S3 egress recorded"),
            "no 7-day digest: {slack}"
        );
        assert_eq!(hook["activity"][0]["count"], 304);
        assert_eq!(hook["kind"], "digest");
    }

    fn finding(id: &str, title: &str) -> crate::model::coverage::GuardDutyFinding {
        crate::model::coverage::GuardDutyFinding {
            id: id.into(),
            kind: "Exfiltration:S3/AnomalousBehavior".into(),
            severity: 8.0,
            title: title.into(),
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            buckets: vec![HOSTILE.into()],
            principal: Some(HOSTILE.into()),
            first_seen: "2026-06-14T01:00:00Z".into(),
            last_seen: "2026-06-14T02:00:00Z".into(),
            count: 3,
        }
    }

    /// GuardDuty's S3 findings that no incident holds make the security part of every sink,
    /// hostile strings defused and an 8 KB title cut.
    #[test]
    fn guardduty_findings_without_an_incident_reach_every_sink_defused() {
        let mut r = report(0);
        let long = format!("{HOSTILE} {}", "x".repeat(8_000));
        r.guardduty = vec![finding("gd-1", &long), finding("gd-2", "second")];
        let slack = slack::digest(&r).to_string();
        let teams = teams::digest(&r).to_string();
        let hook = webhook::document(&r, &[], "egresswatch-webhook-digest-test");
        for (sink, s) in [("slack", &slack), ("teams", &teams)] {
            assert!(s.contains("Security on"), "{sink}: {s}");
            // (Teams escapes `:` and `/`.)
            assert!(
                s.contains("GuardDuty high Exfiltration") && s.contains("AnomalousBehavior"),
                "{sink}: {s}"
            );
            assert!(s.contains("second"), "{sink}: both findings");
            assert!(!s.contains("<!channel>"), "{sink}: {s}");
            assert!(!s.contains(&"x".repeat(1_000)), "{sink}: the title is cut");
        }
        assert!(!slack.contains("<https://evil"), "{slack}");
        assert!(!teams.contains("](https://evil"), "{teams}");
        assert_eq!(hook["guardduty"][1]["id"], "gd-2");
        let text = super::text::render(&r);
        assert!(text.contains("Security ("), "{text}");
    }

    /// An incident's own findings lead its security lines (before the control-plane changes).
    #[test]
    fn an_incidents_guardduty_findings_lead_its_context() {
        let mut r = report(1);
        let ctx = r.incidents[0].cloudtrail.as_mut().unwrap();
        ctx.guardduty = vec![finding("gd-1", "inside the window")];
        let lines = context(ctx, 5);
        assert!(
            lines.high_changes[0].starts_with("GuardDuty high Exfiltration:S3/AnomalousBehavior"),
            "{:?}",
            lines.high_changes
        );
        assert!(lines.high_changes.len() >= 2, "the changes follow");
        let slack = slack::message(&r, &incidents(&r)).to_string();
        assert!(slack.contains("inside the window"), "{slack}");
    }
}

/// Whatever the input, every incident a message shows keeps its headline, its dollars, its top
/// caller and every high-severity change (or says how many more there are), and the message
/// stays inside its receiver's limits: strings of up to 8 KB, up to 60 callers and 30 changes.
#[cfg(test)]
mod layout_props {
    use super::fixture::{incidents, report};
    use super::sink::{slack, teams};
    use super::*;
    use crate::correlate::controlplane::Severity;
    use crate::correlate::{CallerReport, EventReport};
    use format::usd;
    use proptest::prelude::*;

    /// The fixture's report, made hostile: long strings everywhere an attacker writes.
    fn hostile(
        n_incidents: usize,
        len: usize,
        n_callers: usize,
        n_high: usize,
        max_callers: usize,
    ) -> Report {
        let mut r = report(n_incidents);
        r.max_callers = max_callers;
        for (n, ri) in r.incidents.iter_mut().enumerate() {
            ri.incident.account_name = Some(format!("team-{n}"));
        }
        let long = |tag: &str| format!("{tag}{}", "\u{202e}<!here>&*x".repeat(len / 10 + 1));
        for (n, ri) in r.incidents.iter_mut().enumerate() {
            let a = ri
                .cloudtrail
                .as_mut()
                .and_then(|c| c.analysis.as_mut())
                .expect("the fixture has an analysis");
            let template = a.callers[0].clone();
            a.callers = (0..n_callers)
                .map(|c| CallerReport {
                    principal: format!("caller{c}-inc{n}-{}", long("p")),
                    user_agent: long("ua"),
                    bucket: long("b"),
                    source_ip: long("ip"),
                    bytes_out: 1_000_000_000 - c as u64,
                    ..template.clone()
                })
                .collect();
            a.events = (0..n_high)
                .map(|e| {
                    EventReport::for_test(
                        "2026-06-12T08:00:00Z",
                        &format!("PutBucketPolicy{e}x{n}"),
                        &long("bucket"),
                        Severity::High,
                        &long("why"),
                    )
                })
                .collect();
        }
        r
    }

    /// Whether the message (all its text, joined) shows incident `n`, by its account's name.
    fn shows(all: &str, n: usize) -> bool {
        all.contains(&format!("team-{n} ("))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn slack_keeps_what_matters_inside_its_limits(
            n_incidents in 2usize..6,
            len in 0usize..8192,
            n_callers in 0usize..60,
            n_high in 0usize..30,
            max_callers in 1usize..50,
        ) {
            let r = hostile(n_incidents, len, n_callers, n_high, max_callers);
            let incs = incidents(&r);
            let m = slack::message(&r, &incs);
            let blocks = m["blocks"].as_array().unwrap();
            prop_assert!(blocks.len() <= 50);
            prop_assert!(m.to_string().chars().count() <= 13_000, "{}", m.to_string().len());
            let mut texts = Vec::new();
            for b in blocks {
                if let Some(t) = b["text"]["text"].as_str() {
                    prop_assert!(t.chars().count() <= 3000);
                    texts.push(t.to_string());
                }
            }
            let all = texts.join("\n");
            prop_assert!(shows(&all, 0), "the first incident is always there");
            for (n, i) in incs.iter().enumerate() {
                if !shows(&all, n) {
                    continue;
                }
                prop_assert!(all.contains(&format!("*{}* in *{}*", i.family, i.region)), "headline of {n}");
                prop_assert!(all.contains(&usd(i.excess_cost_usd)), "dollars of {n}");
                if n_callers > 0 {
                    prop_assert!(all.contains(&format!("caller0-inc{n}-")), "top caller of {n}");
                }
                let listed = (0..n_high).filter(|e| all.contains(&format!("PutBucketPolicy{e}x{n}"))).count();
                prop_assert!(listed == n_high || all.contains("more high-severity changes"), "high changes of {n}: {listed}/{n_high}");
            }
        }

        #[test]
        fn teams_keeps_what_matters_inside_its_limits(
            n_incidents in 2usize..6,
            len in 0usize..8192,
            n_callers in 0usize..60,
            n_high in 0usize..30,
            max_callers in 1usize..50,
        ) {
            let r = hostile(n_incidents, len, n_callers, n_high, max_callers);
            let incs = incidents(&r);
            let card = teams::message(&r, &incs);
            prop_assert!(card.to_string().len() <= 28_000, "{}", card.to_string().len());
            let body = card["attachments"][0]["content"]["body"].as_array().unwrap();
            // Teams escapes punctuation with a backslash: read the card without them.
            let texts: Vec<String> = body.iter().map(|b| b.to_string().replace("\\\\", "")).collect();
            let all = texts.join("\n");
            prop_assert!(shows(&all, 0), "the first incident is always there");
            for (n, i) in incs.iter().enumerate() {
                if !shows(&all, n) {
                    continue;
                }
                prop_assert!(all.contains(&usd(i.excess_cost_usd)), "dollars of {n}");
                if n_callers > 0 {
                    prop_assert!(all.contains(&format!("caller0-inc{n}-")), "top caller of {n}");
                }
                let listed = (0..n_high).filter(|e| all.contains(&format!("PutBucketPolicy{e}x{n}"))).count();
                prop_assert!(listed == n_high || all.contains("more high-severity changes"), "high changes of {n}: {listed}/{n_high}");
            }
        }
    }
}
