//! The command line: argument parsing, dispatch, and the mapping of errors to exit codes.
//!
//! Exit codes: 0 success (with or without findings), 2 usage or configuration error, 1 runtime
//! failure. Every failure prints one line cause on stderr; no panics, no backtraces.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{Days, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::model::{parse_day, Family};
use crate::pipeline::{self, RunOptions};
use crate::report::text;
use crate::sources::cost_explorer::{CostExplorer, USD_PER_REQUEST};
use crate::sources::sync;
use crate::state::PointFilter;

/// Catch S3 data exfiltration through the bill.
///
/// egresswatch pulls S3 egress (DataTransfer-Out) and GetObject usage from AWS Cost Explorer per
/// account and region, keeps it in a local SQLite store, checks the newest complete day of every
/// series against a same-weekday robust baseline, and posts what broke it by a significant and
/// material amount to Slack. Run `egresswatch demo` to see it work offline.
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
    /// Only errors on stderr.
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
    /// the newest complete day (the day before --date), posts one Slack message for incidents not
    /// announced before, and records them so the next run does not announce them again.
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
    Import(ImportArgs),
    /// Inspect and manage messages that could not be delivered yet.
    ///
    /// Every message is stored before it is sent; what fails stays queued and is sent first by
    /// the next run. `list` shows the queue, `retry` sends now, `drop` gives a message up.
    Outbox(OutboxArgs),
    /// Run the whole pipeline offline on bundled sample data: no AWS credentials, no network.
    ///
    /// Prints the report it would have sent and writes the store, the report, the run's JSON and
    /// the Slack message into --out.
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
    /// First day to fetch [default: `sync.lookback_days` before today].
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
    /// Output format.
    #[arg(long, value_enum, default_value_t = CallersFormat::Table)]
    pub format: CallersFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CallersFormat {
    Table,
    Json,
}

fn parse_time(s: &str, end_of_day: bool) -> std::result::Result<i64, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end_of_day { d + Days::new(1) } else { d };
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp());
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

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version exit 0; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    init_logging(cli.verbose, cli.quiet, cli.log_format);
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            let _ = std::io::stdout().flush();
            match &e {
                Error::Config(_) => eprintln!("{e}"),
                Error::Runtime(_) => eprintln!("egresswatch: error: {e}"),
            }
            ExitCode::from(code)
        }
    }
}

fn init_logging(verbose: u8, quiet: bool, format: LogFormat) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("egresswatch={level},warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn load_config(arg: &ConfigArg) -> Result<Config> {
    config::load(arg.config.as_deref(), arg.config.is_some())
        .map_err(|errs| Error::Config(errs.iter().map(|e| e.to_string()).collect()))
}

/// The runtime and the store (local: locked; `s3://`: fetched, saved back with `State::save`).
fn open_state(cfg: &Config) -> Result<(tokio::runtime::Runtime, crate::remote_state::State)> {
    use crate::remote_state::StatePath;
    let rt = runtime()?;
    let state = rt.block_on(async {
        let s3 = match StatePath::parse(&cfg.state_path)? {
            StatePath::S3 { .. } => {
                Some(crate::sources::cloudtrail::s3_client(cfg.aws_profile.as_deref()).await)
            }
            StatePath::Local(_) => None,
        };
        crate::remote_state::open(&cfg.state_path, s3).await
    })?;
    Ok((rt, state))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(anyhow::Error::new(e).context("starting the async runtime")))
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn dispatch(cli: Cli) -> Result<()> {
    let (quiet, log_format) = (cli.quiet, cli.log_format);
    match cli.command {
        Command::Run(a) => cmd_run(a, quiet, log_format),
        Command::Sync(a) => cmd_sync(a),
        Command::Series(a) => cmd_series(a),
        Command::CheckConfig(a) => cmd_check_config(a),
        Command::Detect(a) => cmd_detect(a),
        Command::Callers(a) => cmd_callers(a),
        Command::Activity(a) => cmd_activity(a),
        Command::Outbox(a) => cmd_outbox(a),
        Command::Backfill(a) => cmd_backfill(a),
        Command::Watch(a) => cmd_watch(a),
        Command::Init { path } => cmd_init(&path),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "egresswatch",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => {
            let man = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
            man.render(&mut std::io::stdout().lock())
                .map_err(|e| Error::Runtime(anyhow::Error::new(e).context("writing the man page")))
        }
        Command::Import(a) => cmd_import(a),
        Command::Demo(a) => cmd_demo(a),
    }
}

/// The one line every run ends with, for whoever reads the job's log.
fn summary(o: &pipeline::RunOutcome, format: LogFormat) {
    let new = o.incidents.iter().filter(|i| !i.already_notified).count();
    let q = &o.data_quality;
    match format {
        LogFormat::Json => eprintln!(
            "{}",
            serde_json::json!({
                "timestamp": Utc::now().to_rfc3339(), "level": "INFO", "fields": {
                "message": "run summary", "day_checked": o.evaluated_day, "series": q.series_checked,
                "incidents": o.incidents.len(), "new_incidents": new, "messages_delivered": o.notified,
                "cost_explorer_requests": o.cost_explorer_requests, "cost_explorer_cost_usd": o.cost_explorer_cost_usd,
                "trail_files_read": q.trail_files_read, "trail_bytes_scanned": q.trail_bytes_scanned,
                "trail_query_cost_usd": q.trail_query_cost_usd, "dry_run": o.dry_run}})
        ),
        LogFormat::Text => eprintln!(
            "egresswatch: run summary: day {} checked, {} series, {} incident(s) ({} new), {} message(s) delivered, {} Cost Explorer request(s) (${:.2}), {} trail file(s) read{}",
            o.evaluated_day,
            q.series_checked,
            o.incidents.len(),
            new,
            o.notified,
            o.cost_explorer_requests,
            o.cost_explorer_cost_usd,
            q.trail_files_read,
            if o.dry_run { " (dry run)" } else { "" }
        ),
    }
}

fn cmd_run(a: RunArgs, quiet: bool, log_format: LogFormat) -> Result<()> {
    let cfg = load_config(&a.config)?;
    let date = a.date.unwrap_or_else(today);
    if date > today() + Days::new(1) {
        return Err(Error::config(format!("--date {date} is in the future")));
    }
    let (rt, mut state) = open_state(&cfg)?;
    let store = &mut state.store;
    let outcome = rt.block_on(async {
        let source = CostExplorer::from_env(cfg.aws_profile.as_deref()).await;
        let metrics = match &cfg.cloudwatch {
            Some(cw) => Some(
                crate::sources::cloudwatch::CloudWatch::from_env(
                    cfg.aws_profile.as_deref(),
                    cw.region.as_deref(),
                )
                .await,
            ),
            None => None,
        };
        pipeline::run(
            &cfg,
            &source,
            metrics.as_ref(),
            store,
            &RunOptions {
                date,
                dry_run: a.dry_run,
            },
        )
        .await
    })?;
    match a.format {
        RunFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&outcome).map_err(anyhow::Error::from)?
        ),
        RunFormat::Text => {
            if let Some(r) = &outcome.report {
                print!("{}", text::render(r));
            }
            println!(
                "  {} Cost Explorer request(s) (${:.2}); {} message(s) delivered{}",
                outcome.cost_explorer_requests,
                outcome.cost_explorer_cost_usd,
                outcome.notified,
                if a.dry_run { " (dry run)" } else { "" }
            );
        }
    }
    rt.block_on(state.save())?;
    if !quiet {
        summary(&outcome, log_format);
    }
    match outcome.delivery_error {
        Some(e) => Err(Error::Runtime(anyhow::anyhow!(
            "delivery failed ({e}); {} incident(s) stay queued for the next run",
            outcome.pending_delivery
        ))),
        None => Ok(()),
    }
}

fn cmd_sync(a: SyncArgs) -> Result<()> {
    let cfg = load_config(&a.config)?;
    let today = today();
    let to = a.to.unwrap_or(today - Days::new(1));
    let from = a
        .from
        .unwrap_or(today - Days::new(u64::from(cfg.lookback_days)));
    if from > to {
        return Err(Error::config(format!("--from {from} is after --to {to}")));
    }
    let (rt, mut state) = open_state(&cfg)?;
    let store = &mut state.store;
    let out = rt.block_on(async {
        let source = CostExplorer::from_env(cfg.aws_profile.as_deref()).await;
        sync::sync(&source, store, from, to + Days::new(1), today).await
    })?;
    rt.block_on(state.save())?;
    if let Some(c) = out.clamped_from {
        eprintln!("egresswatch: note: Cost Explorer keeps daily data from {c} on; started there");
    }
    for p in &out.problems {
        eprintln!("egresswatch: warning: skipped: {p}");
    }
    println!(
        "{} Cost Explorer request(s) (${:.2}); {} day(s) fetched in {} range(s), {} point(s) stored in {}",
        out.requests,
        out.requests as f64 * USD_PER_REQUEST,
        out.days_fetched,
        out.ranges.len(),
        out.points,
        cfg.state_path.display()
    );
    Ok(())
}

fn cmd_series(a: SeriesArgs) -> Result<()> {
    let cfg = load_config(&a.config)?;
    let (_rt, state) = open_state(&cfg)?;
    let points = state.store.points(&PointFilter {
        from: a.from,
        to: a.to,
        account: a.account,
        region: a.region,
        family: a.family,
    })?;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| Error::Runtime(e.into());
    match a.format {
        SeriesFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &points).map_err(anyhow::Error::from)?;
            writeln!(out).map_err(io)?;
        }
        SeriesFormat::Csv => {
            writeln!(
                out,
                "day,account,region,family,usage_type,usage,unit,cost_usd,estimated"
            )
            .map_err(io)?;
            for p in &points {
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{}",
                    p.day,
                    csv_field(&p.account),
                    csv_field(&p.region),
                    p.family,
                    csv_field(&p.usage_type),
                    p.usage,
                    csv_field(&p.unit),
                    p.cost_usd,
                    p.estimated
                )
                .map_err(io)?;
            }
        }
        SeriesFormat::Table => {
            writeln!(
                out,
                "{:<10}  {:<12}  {:<14}  {:<16}  {:<28}  {:>14}  {:<8}  {:>10}  est",
                "day", "account", "region", "family", "usage_type", "usage", "unit", "cost_usd"
            )
            .map_err(io)?;
            for p in &points {
                writeln!(
                    out,
                    "{:<10}  {:<12}  {:<14}  {:<16}  {:<28}  {:>14.3}  {:<8}  {:>10.2}  {}",
                    p.day,
                    p.account,
                    p.region,
                    p.family.as_str(),
                    p.usage_type,
                    p.usage,
                    p.unit,
                    p.cost_usd,
                    if p.estimated { "yes" } else { "" }
                )
                .map_err(io)?;
            }
            if points.is_empty() {
                eprintln!(
                    "egresswatch: the store {} holds no matching points",
                    cfg.state_path.display()
                );
            }
        }
    }
    Ok(())
}

/// Quote a CSV field when needed (RFC 4180), and defuse spreadsheet formulas.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn cmd_check_config(a: CheckConfigArgs) -> Result<()> {
    let path = a
        .path
        .or_else(|| std::env::var_os("EGRESSWATCH_CONFIG").map(PathBuf::from));
    let shown = path
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let cfg = config::load(Some(&shown), true)
        .map_err(|errs| Error::Config(errs.iter().map(|e| e.to_string()).collect()))?;
    println!("{}: ok", shown.display());
    // The sinks, with their secrets masked: enough to see the wiring, never the credential.
    let mut secrets = vec![];
    if let Some(s) = &cfg.slack {
        secrets.push(("slack webhook URL", &s.webhook_url, true));
    }
    if let Some(s) = &cfg.teams {
        secrets.push(("teams webhook URL", &s.webhook_url, true));
    }
    if let Some(w) = &cfg.webhook {
        secrets.push(("webhook URL", &w.url, true));
        if let Some(s) = &w.secret {
            secrets.push(("webhook signing secret", s, false));
        }
    }
    for (what, source, is_url) in secrets {
        match source.resolve() {
            Ok(v) if is_url => println!("  {what}: {source}: {}", v.masked_url()),
            Ok(_) => println!("  {what}: {source}: set (****)"),
            Err(e) => println!("  {what}: {e:#} (needed when a run has something to deliver)"),
        }
    }
    if let Some(p) = &cfg.file_sink {
        println!("  file sink: {}", p.display());
    }
    Ok(())
}

fn cmd_callers(a: CallersArgs) -> Result<()> {
    use crate::correlate::{analyse, Query};
    use crate::sources::cloudtrail::TrailSource;
    let cfg = load_config(&a.config)?;
    let mut settings = cfg.cloudtrail.clone().unwrap_or_default();
    if let Some(n) = a.baseline_days {
        settings.baseline_days = n;
    }
    let source: TrailSource = settings
        .source_or(a.source.as_deref())
        .map_err(Error::config)?;
    if a.from >= a.to {
        return Err(Error::config("--from must be before --to"));
    }
    let query = Query {
        window: (a.from, a.to),
        account: a.account.clone(),
        region: a.region.clone(),
    };
    if a.print_sql {
        println!("{}", crate::correlate::sql_for(&source, &query, &settings)?);
        return Ok(());
    }
    let rt = runtime()?;
    let analysis = rt.block_on(async {
        let clients = source.clients(cfg.aws_profile.as_deref()).await;
        analyse(&source, &query, &settings, &clients).await
    })?;
    match a.format {
        CallersFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&analysis).map_err(anyhow::Error::from)?
            );
        }
        CallersFormat::Table => print!("{}", crate::report::text::render_analysis(&analysis, 50)),
    }
    Ok(())
}

/// The starter config: the documented example, every key with its default.
const STARTER: &str = include_str!("../config.toml.example");

fn cmd_init(path: &std::path::Path) -> Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::config(format!(
                "{} already exists: not overwritten (remove it first, or choose another path)",
                path.display()
            )),
            _ => Error::Runtime(
                anyhow::Error::new(e).context(format!("creating {}", path.display())),
            ),
        })?;
    f.write_all(STARTER.as_bytes()).map_err(|e| {
        Error::Runtime(anyhow::Error::new(e).context(format!("writing {}", path.display())))
    })?;
    println!(
        "wrote {}: edit it, then `egresswatch check-config {}`",
        path.display(),
        path.display()
    );
    Ok(())
}

fn cmd_watch(a: WatchArgs) -> Result<()> {
    use crate::sources::cloudwatch::CloudWatch;
    let cfg = load_config(&a.config)?;
    let Some(cw) = cfg.cloudwatch.clone() else {
        return Err(Error::config(
            "watch needs a [cloudwatch] table in the config",
        ));
    };
    let (rt, mut state) = open_state(&cfg)?;
    let store = &mut state.store;
    let report = rt.block_on(async {
        let src = CloudWatch::from_env(cfg.aws_profile.as_deref(), cw.region.as_deref()).await;
        crate::watch::run_watch(&cfg, &src, store, Utc::now()).await
    })?;
    rt.block_on(state.save())?;
    match a.format {
        RunFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?
        ),
        RunFormat::Text => {
            println!(
                "egresswatch watch: {} bucket(s) checked, {} early warning(s) ({} new), {} CloudWatch call(s), {} message(s) delivered",
                report.buckets_checked,
                report.warnings.len(),
                report.new_warnings,
                report.cloudwatch_calls,
                report.notified
            );
            for w in &report.warnings {
                println!(
                    "  early warning, not yet in billing: {}",
                    crate::report::text::clean_line(&format!("{}: {}", w.bucket, w.reason))
                );
            }
        }
    }
    match report.delivery_error {
        Some(e) => Err(Error::Runtime(anyhow::anyhow!(
            "delivery failed ({e}); the message stays queued"
        ))),
        None => Ok(()),
    }
}

fn cmd_backfill(a: BackfillArgs) -> Result<()> {
    use crate::report::{html, outbox, DataQuality, Report, ReportIncident};
    let cfg = load_config(&a.config)?;
    let today = today();
    let to = a.to.unwrap_or(today - Days::new(1));
    crate::backfill::check_range(a.from, to, today).map_err(Error::config)?;
    if a.with_callers
        && cfg
            .cloudtrail
            .as_ref()
            .and_then(|c| c.source.as_ref())
            .is_none()
    {
        return Err(Error::config(
            "--with-callers needs a [cloudtrail] source in the config",
        ));
    }
    let (rt, mut state) = open_state(&cfg)?;
    let store = &mut state.store;
    let (b, report) = rt.block_on(async {
        let source = CostExplorer::from_env(cfg.aws_profile.as_deref()).await;
        let b = crate::backfill::backfill(&cfg, &source, store, a.from, to, today).await?;
        let mut report = Report {
            run_date: to + Days::new(1),
            evaluated_day: to,
            incidents: b
                .incidents
                .iter()
                .map(|i| ReportIncident::bare(i.clone()))
                .collect(),
            quality: DataQuality {
                skipped_groups: b.synced.problems.len(),
                day_known: true,
                ..Default::default()
            },
            runbook_url: cfg.report.runbook_url.clone(),
            digest: None,
            verdicts: Vec::new(),
            activity: Vec::new(),
            activity_new: 0,
        };
        if a.with_callers {
            crate::pipeline::attach_callers(&cfg, &mut report).await;
        }
        anyhow::Ok((b, report))
    })?;
    let io =
        |what: String| move |e: std::io::Error| Error::Runtime(anyhow::Error::new(e).context(what));
    std::fs::create_dir_all(&a.out).map_err(io(format!("creating {}", a.out.display())))?;
    let write = |name: &str, body: String| -> Result<PathBuf> {
        let p = a.out.join(name);
        std::fs::write(&p, body).map_err(io(format!("writing {}", p.display())))?;
        Ok(p)
    };
    let mut files = vec![write("report.html", html::render(&b, &cfg))?];
    let json = serde_json::to_string_pretty(&report.incidents).map_err(anyhow::Error::from)?;
    files.push(write("incidents.json", json)?);
    let mut csv = String::from(
        "account,account_name,region,family,start,end,peak_day,days,unit,total_excess_usage,total_excess_cost_usd,observed,expected,score,robust_z,evidence,young,reason\n",
    );
    for i in &b.incidents {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{:.3},{:.2},{:.3},{:.3},{:.4},{:.2},{},{},{}\n",
            csv_field(&i.account),
            csv_field(i.account_name.as_deref().unwrap_or("")),
            csv_field(&i.region),
            i.family,
            i.start,
            i.day,
            i.peak_day,
            i.days,
            csv_field(&i.unit),
            i.total_excess_usage,
            i.total_excess_cost_usd,
            i.observed,
            i.expected,
            i.score,
            i.robust_z,
            i.evidence,
            i.young,
            csv_field(&i.reason)
        ));
    }
    files.push(write("incidents.csv", csv)?);
    let total: f64 = b.incidents.iter().map(|i| i.total_excess_cost_usd).sum();
    println!(
        "{} incident(s) from {} to {}, ${:.2} over baseline; {} day(s) evaluated; {} Cost Explorer request(s) (${:.2})",
        b.incidents.len(),
        b.from,
        b.to,
        total,
        b.days_evaluated,
        b.synced.requests,
        b.synced.requests as f64 * USD_PER_REQUEST
    );
    let mut notify_error = None;
    if a.notify {
        let subject = format!("backfill-{}-{}", b.from, b.to);
        let msgs = outbox::build_keyed(&cfg, &report, &[], &b.incidents, false, Some(&subject));
        if msgs.is_empty() {
            println!("nothing to notify (no incidents, or no [notify.*] sink configured)");
        } else {
            store.queue_messages(&msgs, &[])?;
            let d = rt.block_on(outbox::deliver_all(&cfg, store))?;
            println!(
                "{} summary message(s) delivered, {} still queued",
                d.delivered, d.failed
            );
            notify_error = d.errors.first().cloned();
        }
    }
    rt.block_on(state.save())?;
    if let Some(e) = notify_error {
        return Err(Error::Runtime(anyhow::anyhow!("{e}")));
    }
    println!("Files written:");
    for f in files {
        println!("  {}", f.display());
    }
    Ok(())
}

fn cmd_import(a: ImportArgs) -> Result<()> {
    use crate::sources::cost_explorer::{normalize, CeResponse};
    let cfg = load_config(&a.config)?;
    let (rt, mut state) = open_state(&cfg)?;
    let store = &mut state.store;
    let (mut days, mut points) = (0, 0);
    for f in &a.files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Error::config(format!("{}: cannot read: {e}", f.display())))?;
        let page: CeResponse = serde_json::from_str(&text).map_err(|e| {
            Error::config(format!(
                "{}: not a GetCostAndUsage response: {e}",
                f.display()
            ))
        })?;
        let n = normalize(std::slice::from_ref(&page));
        for p in &n.problems {
            eprintln!("egresswatch: warning: {}: skipped: {p}", f.display());
        }
        let (Some(first), Some(last)) = (
            n.days.keys().next().copied(),
            n.days.keys().next_back().copied(),
        ) else {
            eprintln!(
                "egresswatch: warning: {}: no days in this response",
                f.display()
            );
            continue;
        };
        let batch = crate::state::SyncBatch {
            start: first,
            end: last + Days::new(1),
            pages: 0, // imported: no API request, no cost
            days: n.days.iter().map(|(d, est)| (*d, !est)).collect(),
            points: n.points,
            account_names: n.account_names,
        };
        days += batch.days.len();
        points += batch.points.len();
        store.apply_sync(&batch)?;
    }
    rt.block_on(state.save())?;
    println!(
        "imported {days} day(s), {points} point(s) from {} file(s) into {}",
        a.files.len(),
        cfg.state_path.display()
    );
    Ok(())
}

fn cmd_outbox(a: OutboxArgs) -> Result<()> {
    use crate::report::outbox;
    let cfg = load_config(&a.config)?;
    let (rt, mut state) = open_state(&cfg)?;
    let store = &mut state.store;
    let result = match a.action {
        OutboxAction::List { all, format } => {
            let msgs = store.list_messages(all)?;
            match format {
                CallersFormat::Json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&msgs).map_err(anyhow::Error::from)?
                    )
                }
                CallersFormat::Table => {
                    if msgs.is_empty() {
                        println!("the outbox is empty");
                    }
                    for m in &msgs {
                        let state = match (&m.sent_at, &m.dropped_at) {
                            (Some(t), _) => format!("sent {t}"),
                            (_, Some(t)) => format!("dropped {t}"),
                            _ => format!("queued, {} attempt(s)", m.attempts),
                        };
                        println!(
                            "{:>5}  {:<8}  {}  {}  [{}]",
                            m.id, m.sink, m.created_at, m.summary, state
                        );
                        if let (None, None, Some(e)) = (&m.sent_at, &m.dropped_at, &m.last_error) {
                            println!("       last error: {e}");
                        }
                    }
                }
            }
            Ok(())
        }
        OutboxAction::Retry { id } => {
            let queued: Vec<_> = store
                .unsent_messages()?
                .into_iter()
                .filter(|m| id.is_none_or(|i| i == m.id))
                .collect();
            if let (Some(i), true) = (id, queued.is_empty()) {
                return Err(Error::config(format!(
                    "message {i} is not in the outbox (or was delivered or dropped)"
                )));
            }
            let d = rt.block_on(outbox::deliver_messages(&cfg, store, queued))?;
            println!("{} delivered, {} still queued", d.delivered, d.failed);
            match d.errors.first() {
                Some(e) => Err(Error::Runtime(anyhow::anyhow!("{e}"))),
                None => Ok(()),
            }
        }
        OutboxAction::Drop { id } => {
            if store.drop_message(id)? {
                println!("message {id} dropped");
                Ok(())
            } else {
                Err(Error::config(format!(
                    "message {id} is not in the outbox (or was delivered or dropped)"
                )))
            }
        }
    };
    rt.block_on(state.save())?;
    result
}

fn cmd_activity(a: ActivityArgs) -> Result<()> {
    use crate::sources::cloudtrail::TrailSource;
    let cfg = load_config(&a.config)?;
    let settings = cfg.activity.clone().unwrap_or_default();
    let ct = cfg.cloudtrail.clone().unwrap_or_default();
    let source: TrailSource = ct.source_or(a.source.as_deref()).map_err(Error::config)?;
    if a.from > a.to {
        return Err(Error::config("--from must not be after --to"));
    }
    let history_from = a.from - Days::new(u64::from(settings.history_days));
    if a.print_sql {
        let query = crate::correlate::Query::days(history_from, a.to, None, None);
        let q = crate::correlate::activity_sql_for(
            &source,
            &query,
            &ct,
            settings.ignore_events.clone(),
        )?;
        println!("{q}");
        return Ok(());
    }
    let (rt, mut state) = open_state(&cfg)?;
    let store = &mut state.store;
    rt.block_on(async {
        let clients = source.clients(cfg.aws_profile.as_deref()).await;
        crate::activity::ensure_scanned(
            store,
            &source,
            &ct,
            &settings,
            &clients,
            history_from,
            a.to,
        )
        .await
    })?;
    let mut findings = Vec::new();
    for day in a.from.iter_days().take_while(|d| *d <= a.to) {
        findings.extend(crate::activity::evaluate(store, day, &settings)?);
    }
    let rows = store.activity_rows(a.from, a.to)?;
    rt.block_on(state.save())?;
    match a.format {
        CallersFormat::Json => {
            let days: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| serde_json::json!({"day": r.day, "account": r.account, "region": r.region, "event": r.event, "outcome": r.outcome, "count": r.count}))
                .collect();
            let out = serde_json::json!({"days": days, "findings": findings});
            println!(
                "{}",
                serde_json::to_string_pretty(&out).map_err(anyhow::Error::from)?
            );
        }
        CallersFormat::Table => {
            let clean = crate::report::text::clean_line;
            println!(
                "{:<10}  {:<12}  {:<14}  {:<32}  {:<16}  {:>8}",
                "day", "account", "region", "event", "outcome", "calls"
            );
            for r in &rows {
                println!(
                    "{:<10}  {:<12}  {:<14}  {:<32}  {:<16}  {:>8}",
                    r.day,
                    clean(&r.account),
                    clean(&r.region),
                    clean(&r.event),
                    clean(&r.outcome),
                    r.count
                );
            }
            println!("\n{} finding(s)", findings.len());
            for f in &findings {
                println!(
                    "  {} {} {} {}: {}",
                    f.day,
                    f.kind,
                    clean(&f.account),
                    clean(&f.region),
                    clean(&f.why)
                );
            }
        }
    }
    Ok(())
}

fn cmd_detect(a: DetectArgs) -> Result<()> {
    use crate::detect::{csvio, online::Direction};
    let threshold = match &a.config {
        Some(p) => {
            config::load(Some(p), true)
                .map_err(|errs| Error::Config(errs.iter().map(|e| e.to_string()).collect()))?
                .detect
                .gates
                .min_robust_z
        }
        None => crate::detect::DetectSettings::default().gates.min_robust_z,
    };
    let label = a.input.display().to_string();
    let text = if label == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Error::Runtime(anyhow::Error::new(e).context("reading stdin")))?;
        s
    } else {
        std::fs::read_to_string(&a.input)
            .map_err(|e| Error::config(format!("{label}: cannot read: {e}")))?
    };
    let series = csvio::read(&text, &label).map_err(Error::config)?;
    let direction = match a.direction {
        DirectionArg::Up => Direction::Up,
        DirectionArg::Both => Direction::Both,
    };
    let params = csvio::params_for(
        &series,
        a.period,
        direction,
        threshold,
        matches!(a.scale, ScaleArg::Log),
    );
    let io =
        |e: std::io::Error| Error::Runtime(anyhow::Error::new(e).context("writing the output"));
    match &a.output {
        Some(path) => {
            let f = std::fs::File::create(path).map_err(|e| {
                Error::Runtime(
                    anyhow::Error::new(e).context(format!("creating {}", path.display())),
                )
            })?;
            let mut w = std::io::BufWriter::new(f);
            csvio::detect_to(&mut w, &series, &params).map_err(io)?;
            w.flush().map_err(io)?;
        }
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            csvio::detect_to(&mut w, &series, &params).map_err(io)?;
            w.flush().map_err(io)?;
        }
    }
    Ok(())
}

fn cmd_demo(a: DemoArgs) -> Result<()> {
    let rt = runtime()?;
    let out = rt.block_on(crate::demo::run_demo(&a.out))?;
    print!("{}", out.text);
    if let Some(msg) = &out.outcome.slack_message {
        println!(
            "\nThe Slack message it would have sent:\n  {}",
            msg["text"].as_str().unwrap_or_default()
        );
    }
    println!("\nFiles written:");
    for f in &out.files {
        println!("  {}", f.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    }
}
