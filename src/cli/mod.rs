//! The command line: argument definitions ([`args`]), dispatch with the mapping of errors to
//! exit codes (here), and the rendering of outputs ([`render`]).
//!
//! Exit codes: 0 success (with or without findings), 2 usage or configuration error, 1 runtime
//! failure ([`error`]). Every failure prints one line cause on stderr; no panics, no backtraces.
//! A handler parses and checks its arguments, opens what the job needs, calls one job
//! (`crate::jobs`) and prints its outcome: what happens on a run lives in the jobs, never here.

pub mod args;
pub mod error;
pub mod render;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{Days, NaiveDate, Utc};
use clap::Parser;

use crate::config::{self, Config};
use crate::jobs;
use crate::jobs::daily::RunOptions;
use crate::report::text;
use crate::sources::cost_explorer::{CostExplorer, USD_PER_REQUEST};
use crate::sources::posture_settings::CoverageSettings;
use crate::state::remote::{State, StatePath};
use crate::state::PointFilter;
pub use args::*;
use error::{Error, Result};

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // A reader that goes away (`| head`) ends the process quietly, not with a panic. (Not by
    // restoring SIGPIPE: that would also kill a run whose webhook receiver hangs up mid-write.)
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
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
            // A configured secret that cannot be read, found only when a run came to deliver:
            // a configuration error (exit 2), said as one.
            let e = match e {
                Error::Runtime(r) => match r
                    .chain()
                    .find_map(|c| c.downcast_ref::<crate::settings::UnreadableSecret>())
                {
                    Some(u) => Error::Config(vec![format!(
                        "{u}; nothing was sent, the messages stay queued (egresswatch check-config \
                         lists every problem)"
                    )]),
                    None => Error::Runtime(r),
                },
                other => other,
            };
            // The reader of our output went away (`| head`): nothing to say, nothing failed.
            if let Error::Runtime(r) = &e {
                let closed_pipe = r.chain().any(|c| {
                    c.downcast_ref::<std::io::Error>()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                });
                if closed_pipe {
                    return ExitCode::SUCCESS;
                }
            }
            let code = e.exit_code();
            let _ = std::io::stdout().flush();
            match &e {
                Error::Config(_) => eprintln!("{e}"),
                // One line: the cause chain, control characters out, never a debug dump.
                Error::Runtime(_) => eprintln!(
                    "egresswatch: error: {}",
                    crate::settings::errors::one_line(&e.to_string(), 2000)
                ),
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
    // RUST_LOG refines -v; --quiet always wins (cron must stay silent on success).
    let fallback = || tracing_subscriber::EnvFilter::new(format!("egresswatch={level},warn"));
    let filter = if quiet {
        fallback()
    } else {
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| fallback())
    };
    // Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || SafeStderr { colour })
        .with_ansi(colour)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Stderr for log lines, which carry strings from AWS and the trail: control and bidi characters
/// in them are replaced, so no log line can move the cursor or hide its text. With colour on,
/// only the formatter's own colour codes (`ESC [ digits ; m`) pass.
struct SafeStderr {
    colour: bool,
}

impl Write for SafeStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' && self.colour && chars.peek() == Some(&'[') {
                // Keep an SGR sequence (colour) whole; anything else after ESC is dropped.
                let mut seq = String::from("\u{1b}[");
                chars.next();
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_digit() || d == ';' {
                        seq.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if chars.peek() == Some(&'m') {
                    chars.next();
                    seq.push('m');
                    out.push_str(&seq);
                } else {
                    out.push(' ');
                }
            } else if c == '\n' {
                out.push(c);
            } else if crate::report::format::is_unsafe(c) {
                out.push(if c.is_control() { ' ' } else { '\u{fffd}' });
            } else {
                out.push(c);
            }
        }
        std::io::stderr().write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn load_config(arg: &ConfigArg) -> Result<Config> {
    config::load(arg.config.as_deref(), arg.config.is_some())
        .map_err(|errs| Error::Config(errs.iter().map(|e| e.to_string()).collect()))
}

/// The runtime and the store (local: locked; `s3://`: fetched, saved back with `State::save`).
fn open_state(cfg: &Config) -> Result<(tokio::runtime::Runtime, State)> {
    let rt = runtime()?;
    let state = rt.block_on(async {
        let s3 = match StatePath::parse(&cfg.state_path)? {
            StatePath::S3 { .. } => {
                Some(crate::sources::cloudtrail::s3_client(cfg.aws_profile.as_deref()).await)
            }
            StatePath::Local(_) => None,
        };
        crate::state::remote::open(&cfg.state_path, s3).await
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

/// Serialize `v` as pretty JSON on stdout.
fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(anyhow::Error::from)?
    );
    Ok(())
}

/// A command's JSON document, with its schema name first (README, "JSON outputs"): fields are
/// only ever added within a version; a rename or removal makes the next version.
///
/// Written as a stream (no copy of the document in memory: `callers --all` on an organisation
/// trail lists hundreds of thousands of callers).
fn print_versioned<T: serde::Serialize>(schema: &str, v: &T) -> Result<()> {
    use std::io::Write;
    #[derive(serde::Serialize)]
    struct Versioned<'a, T: serde::Serialize> {
        schema: &'a str,
        #[serde(flatten)]
        doc: &'a T,
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &Versioned { schema, doc: v })
        .map_err(anyhow::Error::from)?;
    writeln!(out)
        .and_then(|()| out.flush())
        .map_err(anyhow::Error::from)?;
    Ok(())
}

/// Every secret the configured sinks need can be read: a run (not a dry run) that could not
/// deliver stops before it does anything, as check-config would (exit 2).
fn secrets_readable(cfg: &Config) -> Result<()> {
    let unusable = cfg.notify.unusable_secrets(&cfg.notify.sinks());
    if unusable.is_empty() {
        return Ok(());
    }
    Err(Error::Config(
        unusable.iter().map(|u| u.to_string()).collect(),
    ))
}

fn dispatch(cli: Cli) -> Result<()> {
    let (quiet, log_format) = (cli.quiet, cli.log_format);
    match cli.command {
        Command::Run(a) => cmd_run(a, quiet, log_format),
        Command::Sync(a) => cmd_sync(a, quiet),
        Command::Series(a) => cmd_series(a),
        Command::CheckConfig(a) => cmd_check_config(a),
        Command::Detect(a) => cmd_detect(a),
        Command::Callers(a) => cmd_callers(a),
        Command::Activity(a) => cmd_activity(a),
        Command::Coverage(a) => cmd_coverage(a),
        Command::Outbox(a) => cmd_outbox(a),
        Command::Backfill(a) => cmd_backfill(a),
        Command::Watch(a) => cmd_watch(a, quiet),
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
            let mut out = std::io::stdout().lock();
            man.render(&mut out)
                .and_then(|()| out.write_all(MAN_EXTRA.as_bytes()))
                .map_err(|e| Error::Runtime(anyhow::Error::new(e).context("writing the man page")))
        }
        Command::Import(a) => cmd_import(a),
        Command::Demo(a) => cmd_demo(a),
    }
}

fn cmd_run(a: RunArgs, quiet: bool, log_format: LogFormat) -> Result<()> {
    let cfg = load_config(&a.config)?;
    let date = a.date.unwrap_or_else(today);
    if date > today() + Days::new(1) {
        return Err(Error::config(format!("--date {date} is in the future")));
    }
    if !a.dry_run {
        secrets_readable(&cfg)?;
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
        let posture = cfg.coverage.as_ref().map(|_| jobs::coverage::AwsPosture {
            profile: cfg.aws_profile.clone(),
        });
        jobs::daily::run(
            &cfg,
            &source,
            metrics.as_ref(),
            posture.as_ref(),
            store,
            &RunOptions {
                date,
                dry_run: a.dry_run,
                offline: a.offline,
            },
        )
        .await
    })?;
    match a.format {
        RunFormat::Json => print_versioned("egresswatch.run/v1", &outcome)?,
        RunFormat::Text if quiet => {}
        RunFormat::Text => print!("{}", render::run_text(&outcome, a.dry_run)),
    }
    rt.block_on(state.save())?;
    if !quiet {
        eprintln!("{}", render::summary(&outcome, log_format));
    }
    match outcome.delivery_error {
        Some(e) => Err(Error::Runtime(anyhow::anyhow!(
            "delivery failed ({e}); {} incident(s) stay queued for the next run",
            outcome.pending_delivery
        ))),
        None => Ok(()),
    }
}

fn cmd_sync(a: SyncArgs, quiet: bool) -> Result<()> {
    let cfg = load_config(&a.config)?;
    let today = today();
    let to = a.to.unwrap_or(today - Days::new(1));
    let from = a
        .from
        .unwrap_or_else(|| jobs::sync::window_start(today, &cfg.sync, cfg.detect.history_days));
    if from > to {
        return Err(Error::config(format!("--from {from} is after --to {to}")));
    }
    let (rt, mut state) = open_state(&cfg)?;
    let store = &mut state.store;
    let out = rt.block_on(async {
        let source = CostExplorer::from_env(cfg.aws_profile.as_deref()).await;
        let mut budget = cfg.sync.budget();
        jobs::sync::sync(&source, store, from, to + Days::new(1), today, &mut budget).await
    })?;
    rt.block_on(state.save())?;
    if let Some(c) = out.clamped_from {
        eprintln!("egresswatch: note: Cost Explorer keeps daily data from {c} on; started there");
    }
    for p in &out.problems {
        eprintln!("egresswatch: warning: skipped: {}", text::clean_line(p));
    }
    if quiet {
        return Ok(());
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
        SeriesFormat::Csv => render::points_csv(&mut out, &points).map_err(io)?,
        SeriesFormat::Table => {
            render::points_table(&mut out, &points).map_err(io)?;
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

fn cmd_check_config(a: CheckConfigArgs) -> Result<()> {
    let path = a
        .path
        .or_else(|| std::env::var_os("EGRESSWATCH_CONFIG").map(PathBuf::from));
    let shown = path
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let cfg = config::load(Some(&shown), true)
        .map_err(|errs| Error::Config(errs.iter().map(|e| e.to_string()).collect()))?;
    // Every configured secret must be readable and usable now: a run would otherwise fail (or,
    // before, send unsigned). Each line names the key and where it looked, never a value.
    let sinks = crate::report::sink::Sink::ALL;
    let unusable = cfg.notify.unusable_secrets(&sinks);
    if !unusable.is_empty() {
        use crate::settings::{error_at, keys, locate::span_of};
        let text = std::fs::read_to_string(&shown).unwrap_or_default();
        let doc = toml_edit::Document::parse(text.clone()).ok();
        let label = shown.display().to_string();
        return Err(Error::Config(
            unusable
                .iter()
                .map(|u| {
                    // At the key, or (a default variable) at its table's header.
                    let path = keys(&u.key.split('.').collect::<Vec<_>>());
                    let span = doc.as_ref().and_then(|d| {
                        span_of(d, &path).or_else(|| span_of(d, &path[..path.len() - 1]))
                    });
                    let message = format!("{}: {}", u.what, u.problem);
                    error_at(&text, &label, span, u.key.clone(), message).to_string()
                })
                .collect(),
        ));
    }
    println!("{}: ok", shown.display());
    print!("{}", render::sinks(&cfg.notify));
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
    if let Some(n) = a.limit {
        settings.max_callers_kept = n;
    }
    if a.all {
        settings.max_callers_kept = u32::MAX;
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
    match a.format {
        // Written as a stream: each caller's report is built as it is written (`--all` on an
        // organisation trail lists hundreds of thousands).
        CallersFormat::Json => rt.block_on(async {
            let clients = source.clients(cfg.aws_profile.as_deref()).await;
            crate::correlate::analyse_with(&source, &query, &settings, &clients, |analysis| {
                print_versioned("egresswatch.callers/v1", &analysis)
            })
            .await
        })??,
        CallersFormat::Table => {
            let analysis = rt.block_on(async {
                let clients = source.clients(cfg.aws_profile.as_deref()).await;
                analyse(&source, &query, &settings, &clients).await
            })?;
            // The table lists what the analysis kept (--limit): the same callers as the JSON.
            print!("{}", text::render_analysis(&analysis, usize::MAX))
        }
    }
    Ok(())
}

/// What the man page says beyond the arguments: exit codes, environment, files.
const MAN_EXTRA: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success, with or without incidents.
.TP
\fB1\fR
A runtime failure (network, AWS, disk, a delivery that failed): the next scheduled run may
succeed; what was not delivered stays queued.
.TP
\fB2\fR
A usage or configuration error: a person must fix the command line or the config file (every
error names file, line and key).
.SH ENVIRONMENT
.TP
\fBEGRESSWATCH_CONFIG\fR
The config file when \fB\-\-config\fR is not given (default: egresswatch.toml).
.TP
\fBEGRESSWATCH_SLACK_WEBHOOK_URL\fR, \fBEGRESSWATCH_TEAMS_WEBHOOK_URL\fR, \fBEGRESSWATCH_WEBHOOK_URL\fR, \fBEGRESSWATCH_WEBHOOK_SECRET\fR
The sinks' secrets, unless their tables name other variables or files.
.TP
\fBAWS_PROFILE\fR, \fBAWS_REGION\fR, \fBAWS_ENDPOINT_URL\fR, ...
The AWS SDK's usual settings and credential chain.
.TP
\fBRUST_LOG\fR
Log filter (refines \-v; \-q always wins).
.TP
\fBNO_COLOR\fR
No colour in logs (logs are coloured only on a terminal anyway).
.SH FILES
.TP
\fBegresswatch.toml\fR
The config (\fBegresswatch init\fR writes a documented one).
.TP
\fBegresswatch.db\fR, \fBegresswatch.db.lock\fR
The SQLite store (\fB[state] path\fR; may be s3://BUCKET/KEY) and its lock: two runs never share a store.
"#;

/// The starter config: the documented example, every key with its default.
const STARTER: &str = include_str!("../../config.toml.example");

fn cmd_init(path: &std::path::Path) -> Result<()> {
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

fn cmd_watch(a: WatchArgs, quiet: bool) -> Result<()> {
    use crate::sources::cloudwatch::CloudWatch;
    let cfg = load_config(&a.config)?;
    let Some(cw) = cfg.cloudwatch.clone() else {
        return Err(Error::config(
            "watch needs a [cloudwatch] table in the config",
        ));
    };
    secrets_readable(&cfg)?;
    let (rt, mut state) = open_state(&cfg)?;
    let store = &mut state.store;
    let report = rt.block_on(async {
        let src = CloudWatch::from_env(cfg.aws_profile.as_deref(), cw.region.as_deref()).await;
        jobs::watch::run_watch(
            &cw,
            cfg.detect.gates.min_robust_z,
            &cfg.notify,
            &src,
            store,
            Utc::now(),
        )
        .await
    })?;
    rt.block_on(state.save())?;
    match a.format {
        RunFormat::Json => print_versioned("egresswatch.watch/v1", &report)?,
        RunFormat::Text if quiet => {}
        RunFormat::Text => print!("{}", render::watch_text(&report)),
    }
    match report.delivery_error {
        Some(e) => Err(Error::Runtime(anyhow::anyhow!(
            "delivery failed ({e}); the message stays queued"
        ))),
        None => Ok(()),
    }
}

fn cmd_backfill(a: BackfillArgs) -> Result<()> {
    let cfg = load_config(&a.config)?;
    let today = today();
    let to = a.to.unwrap_or(today - Days::new(1));
    if a.from > to || to >= today {
        jobs::backfill::check_range(a.from, to, today, false).map_err(Error::config)?;
    }
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
    let stored_before = jobs::backfill::stored_before_history(store, a.from, to, today)?;
    jobs::backfill::check_range(a.from, to, today, stored_before).map_err(Error::config)?;
    let outcome = rt.block_on(async {
        let source = CostExplorer::from_env(cfg.aws_profile.as_deref()).await;
        let posture = cfg.coverage.as_ref().map(|_| jobs::coverage::AwsPosture {
            profile: cfg.aws_profile.clone(),
        });
        jobs::backfill::run(
            &cfg,
            &source,
            posture.as_ref(),
            store,
            a.from,
            to,
            today,
            a.with_callers,
            a.offline,
            &a.out,
        )
        .await
    })?;
    let b = &outcome.backfill;
    let total: f64 = b.incidents.iter().map(|i| i.event_cost_usd()).sum();
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
        match rt.block_on(jobs::backfill::notify(&cfg, store, &outcome))? {
            None => {
                println!("nothing to notify (no incidents, or no [notify.*] sink configured)")
            }
            Some(d) => {
                println!(
                    "{} summary message(s) delivered, {} still queued",
                    d.delivered, d.failed
                );
                notify_error = d.errors.first().cloned();
            }
        }
    }
    rt.block_on(state.save())?;
    if let Some(e) = notify_error {
        return Err(Error::Runtime(anyhow::anyhow!("{e}")));
    }
    println!("Files written:");
    for f in &outcome.files {
        println!("  {}", f.display());
    }
    Ok(())
}

fn cmd_import(a: ImportArgs) -> Result<()> {
    let cfg = load_config(&a.config)?;
    let (rt, mut state) = open_state(&cfg)?;
    let out = jobs::import::run(&mut state.store, &a.files, |w| {
        eprintln!("egresswatch: warning: {}", text::clean_line(&w))
    })?;
    rt.block_on(state.save())?;
    println!(
        "imported {} day(s), {} point(s) from {} file(s) into {}",
        out.days,
        out.points,
        out.files,
        cfg.state_path.display()
    );
    if out.refused.is_empty() {
        return Ok(());
    }
    let refused = out.refused.len();
    let mut lines = out.refused;
    lines.push(format!(
        "{} file(s) refused, nothing of them imported. egresswatch reads GetCostAndUsage responses saved with:\n{}",
        refused,
        crate::sources::cost_explorer::save_command()
    ));
    Err(Error::Config(lines))
}

fn cmd_outbox(a: OutboxArgs) -> Result<()> {
    let cfg = load_config(&a.config)?;
    let (rt, mut state) = open_state(&cfg)?;
    let store = &mut state.store;
    let result = match a.action {
        OutboxAction::List { all, format } => {
            let msgs = store.list_messages(all)?;
            match format {
                CallersFormat::Json => print_json(&msgs)?,
                CallersFormat::Table => print!("{}", render::outbox_table(&msgs)),
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
            let d = rt.block_on(jobs::notify::retry(&cfg.notify, store, queued))?;
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
    if a.print_sql {
        let history_from = jobs::activity::history_from(a.from, &settings);
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
    let out = rt.block_on(async {
        let clients = source.clients(cfg.aws_profile.as_deref()).await;
        jobs::activity::run(store, &source, &ct, &settings, &clients, a.from, a.to).await
    })?;
    rt.block_on(state.save())?;
    match a.format {
        CallersFormat::Json => {
            print_versioned("egresswatch.activity/v1", &render::activity_json(&out))?
        }
        CallersFormat::Table => print!("{}", render::activity_table(&out)),
    }
    Ok(())
}

fn cmd_coverage(a: CoverageArgs) -> Result<()> {
    use crate::jobs::coverage::{coverage, regions_for, AwsPosture, SavedPosture};
    use crate::sources::posture_settings::is_region_name;
    let cfg = load_config(&a.config)?;
    let settings = cfg.coverage.clone().unwrap_or_default();
    if let Some(bad) = a
        .account
        .as_deref()
        .filter(|x| !crate::sources::posture_settings::is_account_id(x))
    {
        return Err(Error::config(format!(
            "--account `{bad}` is not an account ID (12 digits)"
        )));
    }
    if a.account.is_some() && a.inventory.is_none() && settings.role_name.is_none() {
        return Err(Error::config(
            "--account needs a role to assume in that account: set coverage.role_name",
        ));
    }
    if let Some(bad) = a.regions.iter().find(|r| !is_region_name(r)) {
        return Err(Error::config(format!(
            "--region `{bad}` is not a region name (like eu-west-1)"
        )));
    }
    let env_region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|r| is_region_name(r)));
    let regions = if a.regions.is_empty() {
        regions_for(&settings, env_region)
    } else {
        regions_for(&CoverageSettings::default(), a.regions.clone())
    };
    let rt = runtime()?;
    let cov = match &a.inventory {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::config(format!("--inventory {}: {e}", path.display())))?;
            let saved = SavedPosture::parse(&text)
                .map_err(|e| Error::config(format!("--inventory {}: {e:#}", path.display())))?;
            rt.block_on(coverage(&saved, a.account.as_deref(), &regions, &settings))
                .map_err(|e| Error::config(format!("--inventory {}: {e:#}", path.display())))?
        }
        None => {
            if regions.is_empty() {
                return Err(Error::config(
                    "no region to look at: name one with --region, coverage.regions or AWS_REGION",
                ));
            }
            let inv = rt.block_on(async {
                let aws = AwsPosture {
                    profile: cfg.aws_profile.clone(),
                };
                crate::jobs::coverage::PostureSource::inventory(
                    &aws,
                    a.account.as_deref(),
                    &regions,
                    &settings,
                )
                .await
            })?;
            if let Some(path) = &a.save_inventory {
                let body = serde_json::to_string_pretty(&inv).map_err(anyhow::Error::from)?;
                std::fs::write(path, body).map_err(|e| {
                    Error::Runtime(anyhow::anyhow!("writing {}: {e}", path.display()))
                })?;
            }
            crate::correlate::coverage::evaluate(&inv)
        }
    };
    match a.format {
        CoverageFormat::Json => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &crate::report::coverage::document(&cov))
                .map_err(anyhow::Error::from)?;
            let _ = writeln!(out);
        }
        CoverageFormat::Table => print!("{}", crate::report::coverage::table(&cov)),
        CoverageFormat::Html => print!("{}", crate::report::coverage::html_page(&cov)),
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
    // Warnings about the input (rows kept, never dropped) are log lines: shown by default,
    // silent under --quiet like every other warning (cron mails any output).
    for w in &series.warnings {
        tracing::warn!("{}", text::clean_line(w));
    }
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
    let out = rt.block_on(jobs::demo::run_demo(&a.out))?;
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

    /// Every `egresswatch SUBCOMMAND --flag` the docs show exists: nothing documented that the
    /// binary does not take.
    #[test]
    fn every_documented_command_line_exists() {
        let cli = Cli::command();
        let globals: Vec<String> = cli
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        let mut checked = 0;
        for doc in [
            "README.md",
            "deploy/README.md",
            "deploy/cron/egresswatch.cron",
        ] {
            let text =
                std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(doc))
                    .unwrap();
            for line in text.lines() {
                let mut rest = line;
                while let Some(at) = rest.find("egresswatch ") {
                    let seg = &rest[at + "egresswatch ".len()..];
                    let seg = seg.split(['`', '#', '|', ';']).next().unwrap_or("");
                    let seg = seg.split("&&").next().unwrap_or("");
                    rest = &rest[at + 1..];
                    let words: Vec<&str> = seg.split_whitespace().collect();
                    let command_like = words
                        .first()
                        .is_some_and(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
                    if !command_like
                        || words[0].starts_with("--")
                        || !words.iter().any(|w| w.starts_with("--"))
                    {
                        continue;
                    }
                    let Some(sub) = cli.find_subcommand(words[0]) else {
                        panic!("{doc}: `egresswatch {seg}`: no subcommand `{}`", words[0]);
                    };
                    // `outbox list`, `outbox retry`: one level down.
                    let sub = words
                        .get(1)
                        .and_then(|w| sub.find_subcommand(w))
                        .unwrap_or(sub);
                    for w in words.iter().filter(|w| w.starts_with("--")) {
                        let flag = w
                            .trim_start_matches("--")
                            .split(['=', ']', ')', ',', '.'])
                            .next()
                            .unwrap_or("");
                        let known = sub.get_arguments().any(|a| a.get_long() == Some(flag))
                            || globals.iter().any(|g| g == flag)
                            || flag == "help";
                        assert!(known, "{doc}: `egresswatch {seg}`: no flag --{flag}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 20, "too few command lines found ({checked})");
    }
}
