//! The command line's words: every subcommand, flag and argument (clap), with the help text a
//! person reads. Nothing here runs anything.

use std::path::PathBuf;

use chrono::{Days, NaiveDate};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::model::{parse_day, Family};

/// Catch S3 data exfiltration through the bill.
///
/// egresswatch pulls S3 egress (DataTransfer-Out) and GetObject usage from AWS Cost Explorer per
/// account and region, keeps it in a SQLite store, checks the newest complete day of every series
/// against its own statistical baseline (level, trend, weekly season, month-end), names the
/// callers and changes behind what broke it by a significant and material amount from
/// CloudTrail, and posts one report to Slack, Teams, a signed webhook or a file. Run
/// `egresswatch demo` to see it work offline.
#[derive(Debug, Parser)]
#[command(
    name = "egresswatch",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print nothing unless something fails: no text report or summary on success, only errors
    /// on stderr (for cron, which mails any output). `--format json` output is still printed.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log lines on stderr as text or as JSON (one object per line, for log collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daily job: sync Cost Explorer, detect, notify, record.
    ///
    /// Fetches only what the store lacks (on a warm store, the few most recent days), evaluates
    /// the newest complete day (the day before --date), names the callers from CloudTrail when a
    /// source is configured, sends one message per configured sink (Slack, Teams, webhook, file)
    /// for incidents not announced before, and records them so the next run does not announce
    /// them again.
    Run(RunArgs),
    /// Fetch Cost Explorer data into the store, and nothing else.
    ///
    /// Prints the number of Cost Explorer requests made and what they cost ($0.01 each). Days
    /// already stored as final are not fetched again.
    Sync(SyncArgs),
    /// Show what the store holds.
    Series(SeriesArgs),
    /// Validate a config file: exit 0, or print every error (file:line:column: key: problem) and
    /// exit 2.
    CheckConfig(CheckConfigArgs),
    /// Name the callers: read CloudTrail for a time window and report who downloaded what.
    ///
    /// Aggregates GetObject data events per (principal, source IP, user agent, bucket), marks
    /// what is new against the baseline window before it, flags what deserves a look, and lists
    /// high-risk S3 control-plane changes in the window and the lookback before it.
    Callers(CallersArgs),
    /// S3 activity trends from CloudTrail: daily counts per (account, region, event, outcome),
    /// and the findings (rises, first-ever events) for each day of the range.
    Activity(ActivityArgs),
    /// Know the blind spots: per bucket, whether any trail records its GetObject data events,
    /// its request metrics, Block Public Access, policy status, versioning and MFA delete,
    /// GuardDuty S3 protection and the service control policies that deny deleting or
    /// reconfiguring it.
    ///
    /// Blind spots come first, each with the exact fix (the selector to add, the command to
    /// run). Reads the account the credentials belong to (read-only calls, listed in
    /// deploy/iam-policy.json), or a saved inventory with --inventory.
    Coverage(CoverageArgs),
    /// Run the detector on any `timestamp,value` CSV series.
    ///
    /// Timestamps `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`, any regular interval. Writes
    /// `timestamp,value,expected,lower,upper,score,anomaly`, one row per input row, in input order;
    /// each row depends only on that row and earlier ones. score is in [0, 1], 0.5 at the
    /// threshold.
    Detect(DetectArgs),
    /// Write a commented starter config (every key, with its default) to PATH; refuses to
    /// overwrite an existing file.
    Init {
        /// Where to write it.
        #[arg(value_name = "PATH", default_value = "egresswatch.toml")]
        path: PathBuf,
    },
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from this command line's definition.
    Man,
    /// Early warning, meant to run hourly: S3 request metrics from CloudWatch, per bucket.
    ///
    /// Judges the last complete hours of every bucket that publishes request metrics against its
    /// hourly baseline and announces what breaks it ("early warning, not yet in billing"). The
    /// next daily run confirms each warning with the bill, or closes it.
    Watch(WatchArgs),
    /// Replay past days exactly as the daily job would have, and write a report.
    ///
    /// Fetches only what the store lacks (one ranged Cost Explorer request per page), evaluates
    /// every day with only the data available that morning, and writes report.html (self-
    /// contained, works offline), incidents.csv and incidents.json into --out.
    Backfill(BackfillArgs),
    /// Load saved GetCostAndUsage responses (`aws ce get-cost-and-usage --output json`) into the
    /// store, without API cost: history older than Cost Explorer's 13 months, or an air gap.
    ///
    /// Each file is one page of an answer; pages of the same days are merged group by group
    /// (nothing stored is deleted). A file that is not a usable response is refused with the
    /// reason, the others are imported, and the exit code is 2.
    #[command(after_long_help = import_help())]
    Import(ImportArgs),
    /// Inspect and manage messages that could not be delivered yet.
    ///
    /// Every message is stored before it is sent; what fails stays queued and is sent first by
    /// the next run. `list` shows the queue, `retry` sends now, `drop` gives a message up.
    Outbox(OutboxArgs),
    /// Run the whole pipeline offline on bundled sample data: no AWS credentials, no network.
    ///
    /// Prints the report it would have sent and writes the store, the report, the run's JSON and
    /// the Slack, Teams and webhook payloads into --out.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The config file [default: ./egresswatch.toml, if it exists].
    #[arg(long, value_name = "PATH", env = "EGRESSWATCH_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Act as if run on this day (YYYY-MM-DD): evaluate the day before it [default: today, UTC].
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub date: Option<NaiveDate>,
    /// Do everything but deliver; record nothing as announced.
    #[arg(long)]
    pub dry_run: bool,
    /// Make no AWS call: judge what the store holds (imported or fetched) as it is, without
    /// syncing Cost Explorer or reading CloudWatch (a local CloudTrail folder is still read).
    #[arg(long)]
    pub offline: bool,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = RunFormat::Text)]
    pub format: RunFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RunFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// First day to fetch [default: where a run's window starts: the longer of
    /// `sync.lookback_days` and `detect.history_days` before yesterday].
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub from: Option<NaiveDate>,
    /// Last day to fetch, inclusive [default: yesterday].
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Args)]
pub struct SeriesArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// First day to show, inclusive.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub from: Option<NaiveDate>,
    /// Last day to show, inclusive.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub to: Option<NaiveDate>,
    /// Only this account id.
    #[arg(long)]
    pub account: Option<String>,
    /// Only this region (e.g. eu-west-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Only this family: internet-out, inter-region-out, cloudfront-out, regional, get-requests,
    /// other.
    #[arg(long, value_parser = |s: &str| s.parse::<Family>())]
    pub family: Option<Family>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SeriesFormat::Table)]
    pub format: SeriesFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SeriesFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The config file [default: $EGRESSWATCH_CONFIG, else ./egresswatch.toml].
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CallersArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The trail: a local directory, s3://BUCKET/PREFIX, or `athena` / `cloudtrail-lake` (as
    /// configured in [cloudtrail.athena] / [cloudtrail.lake]) [default: `cloudtrail.source`].
    #[arg(long, value_name = "PATH|s3://BUCKET/PREFIX|athena|cloudtrail-lake")]
    pub source: Option<String>,
    /// Print the SQL an Athena or CloudTrail Lake source would run, and exit (nothing is
    /// queried): to review it, or run it by hand to see what it scans.
    #[arg(long)]
    pub print_sql: bool,
    /// Window start: YYYY-MM-DD (00:00 UTC) or RFC 3339 (2026-11-01T09:30:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_time_from)]
    pub from: i64,
    /// Window end: YYYY-MM-DD (that whole day is included) or RFC 3339 (exclusive).
    #[arg(long, value_name = "TIME", value_parser = parse_time_to)]
    pub to: i64,
    /// Only this account (the bucket owner).
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Only this region.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Days before the window that define known callers [default: `cloudtrail.baseline_days`, 14].
    #[arg(long, value_name = "N")]
    pub baseline_days: Option<u32>,
    /// Callers listed one by one, most excess first; the rest are summed in one "others" line
    /// (groups, requests, bytes, objects), so totals stay exact [default:
    /// `cloudtrail.max_callers_kept`, 100].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// List every caller (an organisation trail may have hundreds of thousands).
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CallersFormat::Table)]
    pub format: CallersFormat,
}

#[derive(Debug, Args)]
pub struct CoverageArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// A region to look at (repeatable) [default: `coverage.regions`, else the SDK's region].
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// Another linked account, read through `coverage.role_name` [default: the credentials'
    /// own account].
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Judge a saved inventory (JSON, as --save-inventory writes it) instead of reading AWS.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Also write the inventory read from AWS to FILE (to judge it again, or share it).
    #[arg(long, value_name = "FILE", conflicts_with = "inventory")]
    pub save_inventory: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CoverageFormat::Table)]
    pub format: CoverageFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CoverageFormat {
    Table,
    Json,
    Html,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CallersFormat {
    Table,
    Json,
}

fn parse_time(s: &str, end_of_day: bool) -> std::result::Result<i64, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end_of_day { d + Days::new(1) } else { d };
        return Ok(crate::model::units::midnight_epoch(d));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|_| {
            format!("`{s}` is not a time (YYYY-MM-DD or RFC 3339 like 2026-11-01T09:30:00Z)")
        })
}

fn parse_time_from(s: &str) -> std::result::Result<i64, String> {
    parse_time(s, false)
}

fn parse_time_to(s: &str) -> std::result::Result<i64, String> {
    parse_time(s, true)
}

#[derive(Debug, Args)]
pub struct ActivityArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The trail: a local directory, s3://BUCKET/PREFIX, or `athena` / `cloudtrail-lake` (as
    /// configured) [default: `cloudtrail.source`].
    #[arg(long, value_name = "PATH|s3://BUCKET/PREFIX|athena|cloudtrail-lake")]
    pub source: Option<String>,
    /// Print the SQL an Athena or CloudTrail Lake source would run to count these days and
    /// their history, and exit (nothing is queried or stored).
    #[arg(long)]
    pub print_sql: bool,
    /// First day (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub from: NaiveDate,
    /// Last day, inclusive.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub to: NaiveDate,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CallersFormat::Table)]
    pub format: CallersFormat,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// The input CSV (header `timestamp,value`); `-` for stdin.
    #[arg(long, value_name = "FILE.csv")]
    pub input: PathBuf,
    /// Where to write the output CSV [default: stdout].
    #[arg(long, value_name = "FILE.csv")]
    pub output: Option<PathBuf>,
    /// Seasonal period in points (1: none), or `auto`: weekly for daily data; for finer data a
    /// day or a week, adopted when the history shows it.
    #[arg(long, value_name = "N|auto", default_value = "auto")]
    pub period: crate::detect::csvio::PeriodArg,
    /// Which deviations count: `up` (rises only, as for egress) or `both`.
    #[arg(long, value_enum, default_value_t = DirectionArg::Both)]
    pub direction: DirectionArg,
    /// `linear` models the values as they are; `log` models ln(value + 1), as the daily job does
    /// for usage (multiplicative seasonality and noise; negative values count as 0).
    #[arg(long, value_enum, default_value_t = ScaleArg::Linear)]
    pub scale: ScaleArg,
    /// A config file whose `detect.min_robust_z` sets the threshold.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScaleArg {
    Linear,
    Log,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DirectionArg {
    Up,
    Both,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = RunFormat::Text)]
    pub format: RunFormat,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// First day to replay (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub from: NaiveDate,
    /// Last day to replay, inclusive [default: yesterday].
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub to: Option<NaiveDate>,
    /// Where to write report.html, incidents.csv and incidents.json.
    #[arg(long, value_name = "DIR", default_value = "egresswatch-report")]
    pub out: PathBuf,
    /// Post one summary message through the configured sinks (not one per incident).
    #[arg(long)]
    pub notify: bool,
    /// Attach the CloudTrail analysis to every incident (needs `[cloudtrail]` covering the days).
    #[arg(long)]
    pub with_callers: bool,
    /// Make no AWS call: replay what the store holds (imported or fetched) as it is; estimated
    /// days are replayed as stored and labelled.
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Saved responses, one JSON document per file.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OutboxArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(subcommand)]
    pub action: OutboxAction,
}

#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// List undelivered messages (with --all, delivered and dropped ones too).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = CallersFormat::Table)]
        format: CallersFormat,
    },
    /// Send undelivered messages now: one by ID, or all.
    Retry { id: Option<i64> },
    /// Give up on an undelivered message.
    Drop { id: i64 },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the demo's store and reports.
    #[arg(long, value_name = "DIR", default_value = "egresswatch-demo")]
    pub out: PathBuf,
}

/// `import --help`: how to save responses it reads.
fn import_help() -> String {
    format!(
        "Save every page of an answer egresswatch can read with:\n{}",
        crate::sources::cost_explorer::save_command()
    )
}
