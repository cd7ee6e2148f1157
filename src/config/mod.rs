//! Configuration: the TOML file, validated into typed settings.
//!
//! A typo must never silently disable a threshold, so unknown keys are errors, and every error
//! names the file, the line and the key path (`egresswatch.toml:12:1: detect.min_robust_zz:
//! unknown key; did you mean `min_robust_z`?`). All errors are collected and reported together.
//! Secrets (the Slack webhook URL) are never in the file: it names an environment variable or a
//! file holding them, and they are read only when needed.

pub mod locate;
pub mod raw;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use toml_edit::Document;

use crate::detect::thresholds::{Gates, Materiality, Override};
use crate::detect::DetectSettings;
use crate::model::Family;
use crate::secret::Secret;
use locate::{display_path, line_col, span_of, Seg};
use raw::{RawConfig, KNOWN_KEYS};

/// Where the config is looked for when neither `--config` nor `EGRESSWATCH_CONFIG` names one.
pub const DEFAULT_PATH: &str = "egresswatch.toml";
pub const DEFAULT_STATE_PATH: &str = "egresswatch.db";
pub const DEFAULT_SLACK_ENV: &str = "EGRESSWATCH_SLACK_WEBHOOK_URL";
pub const DEFAULT_TEAMS_ENV: &str = "EGRESSWATCH_TEAMS_WEBHOOK_URL";
pub const DEFAULT_WEBHOOK_ENV: &str = "EGRESSWATCH_WEBHOOK_URL";
pub const DEFAULT_WEBHOOK_SECRET_ENV: &str = "EGRESSWATCH_WEBHOOK_SECRET";

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (`None`: built-in defaults).
    pub source: Option<PathBuf>,
    pub aws_profile: Option<String>,
    pub state_path: PathBuf,
    /// How far back a cold store is filled, in days.
    pub lookback_days: u32,
    pub detect: DetectSettings,
    pub slack: Option<SlackSettings>,
    /// Microsoft Teams Workflows webhook (Adaptive Card).
    pub teams: Option<SlackSettings>,
    /// A generic JSON webhook, signed with the Standard Webhooks scheme.
    pub webhook: Option<WebhookSettings>,
    /// JSON lines to a file, or stdout (`-`), for SIEM ingestion.
    pub file_sink: Option<PathBuf>,
    /// How deliveries are retried.
    pub delivery: DeliverySettings,
    pub report: ReportSettings,
    /// Where the trail is, and how to read it; `None`: incidents carry no caller analysis.
    pub cloudtrail: Option<CloudTrailSettings>,
    /// S3 request metrics in CloudWatch: early warnings and per-bucket attribution.
    pub cloudwatch: Option<CloudWatchSettings>,
    /// S3 activity trends from CloudTrail (needs `[cloudtrail]`).
    pub activity: Option<crate::activity::ActivitySettings>,
}

/// `[cloudwatch]`: hourly early warnings and per-bucket attribution from S3 request metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudWatchSettings {
    /// The region whose buckets are read (CloudWatch is regional); `None`: the SDK's region.
    pub region: Option<String>,
    /// Days of hourly history behind an early warning.
    pub history_days: u32,
    /// The last complete hours judged by each `watch`.
    pub hours_checked: u32,
    /// Materiality of an early warning: GB above expected in the hour.
    pub min_excess_gb_per_hour: f64,
    /// Days before an incident that define a bucket's normal, for attribution.
    pub baseline_days: u32,
    /// Opt-in: publish each series' anomaly score and excess here (PutMetricData).
    pub publish_namespace: Option<String>,
}

impl Default for CloudWatchSettings {
    fn default() -> Self {
        CloudWatchSettings {
            region: None,
            history_days: 14,
            hours_checked: 2,
            min_excess_gb_per_hour: 1.0,
            baseline_days: 7,
            publish_namespace: None,
        }
    }
}

/// `[cloudtrail]`: naming the callers behind an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudTrailSettings {
    pub source: Option<crate::sources::cloudtrail::TrailSource>,
    /// Days before the incident window that define "known" callers.
    pub baseline_days: u32,
    /// Days before the window in which control-plane changes are reported.
    pub lookback_days: u32,
    pub known_cidrs: Vec<ipnet::IpNet>,
    pub allow_principals: Vec<String>,
    pub allow_cidrs: Vec<ipnet::IpNet>,
    pub delete_burst: u32,
    /// Callers shown per incident in messages.
    pub max_callers: u32,
    /// `[cloudtrail.athena]`, `[cloudtrail.lake]`: the SQL sources, when configured (the
    /// `source` names which one is used).
    pub athena: Option<crate::sources::athena::AthenaSettings>,
    pub lake: Option<crate::sources::lake::LakeSettings>,
}

impl CloudTrailSettings {
    /// The source a `--source` flag names (a path, `s3://...`, `athena`, `cloudtrail-lake`),
    /// or the configured one.
    pub fn source_or(
        &self,
        flag: Option<&str>,
    ) -> Result<crate::sources::cloudtrail::TrailSource, String> {
        use crate::sources::cloudtrail::{TrailSource, ATHENA, LAKE};
        match flag {
            Some(ATHENA) => self
                .athena
                .clone()
                .map(|a| TrailSource::Athena(Box::new(a)))
                .ok_or_else(|| "--source athena needs a [cloudtrail.athena] table in the config".into()),
            Some(LAKE) => self
                .lake
                .clone()
                .map(|l| TrailSource::Lake(Box::new(l)))
                .ok_or_else(|| "--source cloudtrail-lake needs a [cloudtrail.lake] table in the config".into()),
            Some(s) => s.parse(),
            None => self.source.clone().ok_or_else(|| {
                "no CloudTrail source: give --source PATH|s3://BUCKET/PREFIX|athena|cloudtrail-lake or set cloudtrail.source".into()
            }),
        }
    }
}

impl Default for CloudTrailSettings {
    fn default() -> Self {
        CloudTrailSettings {
            source: None,
            baseline_days: 14,
            lookback_days: 7,
            known_cidrs: Vec::new(),
            allow_principals: Vec::new(),
            allow_cidrs: Vec::new(),
            delete_burst: 100,
            max_callers: 5,
            athena: None,
            lake: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            aws_profile: None,
            state_path: PathBuf::from(DEFAULT_STATE_PATH),
            lookback_days: 120,
            detect: DetectSettings::default(),
            slack: None,
            teams: None,
            webhook: None,
            file_sink: None,
            delivery: DeliverySettings::default(),
            report: ReportSettings::default(),
            cloudtrail: None,
            cloudwatch: None,
            activity: None,
        }
    }
}

/// An incoming webhook (Slack, Teams): where its URL is, and how long an attempt may take.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackSettings {
    pub webhook_url: SecretSource,
    pub timeout: Duration,
}

/// The generic webhook: URL and signing secret (`whsec_...`), both from env or file.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    pub url: SecretSource,
    pub secret: Option<SecretSource>,
    pub timeout: Duration,
}

/// Retries within one run (a message that still fails stays queued for the next run).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    pub max_attempts: u32,
    /// The first backoff; doubled each retry, with jitter, up to 60 s.
    pub backoff: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            max_attempts: 4,
            backoff: Duration::from_millis(500),
        }
    }
}

/// `incidents`: a message when there is something new; `daily`: also an all-clear digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportMode {
    #[default]
    Incidents,
    Daily,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportSettings {
    pub mode: ReportMode,
    pub runbook_url: Option<String>,
}

/// Where a secret is read from. The secret itself never passes through the config.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl SecretSource {
    /// Read the secret. Errors name where it was looked for, never what was found.
    pub fn resolve(&self) -> anyhow::Result<Secret> {
        let value = match self {
            SecretSource::Env(name) => std::env::var(name).with_context(|| {
                format!("environment variable {name} is not set (the config names it for a secret)")
            })?,
            SecretSource::File(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading a secret from {}", path.display()))?,
        };
        let value = value.trim().to_string();
        if value.is_empty() {
            anyhow::bail!("the secret from {self} is empty");
        }
        Ok(Secret::new(value))
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(n) => write!(f, "environment variable {n}"),
            SecretSource::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

/// One problem in a config file, with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.key, self.message)
        }
    }
}

/// Read and validate the config at `path`. A missing file is an error when `explicit`; the
/// default path may be absent, and built-in defaults are used then.
pub fn load(path: Option<&Path>, explicit: bool) -> Result<Config, Vec<ConfigError>> {
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    let label = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Config::default())
        }
        Err(e) => {
            return Err(vec![ConfigError {
                file: label,
                line: None,
                column: None,
                key: String::new(),
                message: format!("cannot read the config file: {e}"),
            }])
        }
    };
    let mut cfg = parse(&text, &label)?;
    cfg.source = Some(path);
    Ok(cfg)
}

/// Validate config text. `label` names the file in errors.
pub fn parse(text: &str, label: &str) -> Result<Config, Vec<ConfigError>> {
    let err_at = |span: Option<std::ops::Range<usize>>, key: String, message: String| {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = line_col(text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigError {
            file: label.to_string(),
            line,
            column,
            key,
            message,
        }
    };
    let doc = match Document::parse(text.to_string()) {
        Ok(d) => d,
        Err(e) => {
            let msg = e.message().trim().to_string();
            return Err(vec![err_at(
                e.span(),
                String::new(),
                format!("not valid TOML: {msg}"),
            )]);
        }
    };
    let mut unknown: Vec<Vec<Seg>> = Vec::new();
    let de = match toml::Deserializer::parse(text) {
        Ok(d) => d,
        Err(e) => {
            return Err(vec![err_at(
                e.span(),
                String::new(),
                e.message().to_string(),
            )])
        }
    };
    let raw: Result<RawConfig, _> = serde_path_to_error::deserialize(
        serde_ignored::Deserializer::new(de, &mut |p: serde_ignored::Path| unknown.push(segs(&p))),
    );
    let mut errors = Vec::new();
    for path in &unknown {
        errors.push(err_at(
            span_of(&doc, path),
            display_path(path),
            unknown_key_message(path),
        ));
    }
    let raw = match raw {
        Ok(r) => r,
        Err(e) => {
            let path: Vec<Seg> = e
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                    serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                    _ => None,
                })
                .collect();
            let inner = e.into_inner();
            let span = span_of(&doc, &path).or(inner.span());
            errors.push(err_at(
                span,
                display_path(&path),
                inner.message().to_string(),
            ));
            return Err(errors);
        }
    };
    let mut v = Validator {
        doc: &doc,
        errors: &mut errors,
        at: &err_at,
    };
    let cfg = v.validate(raw);
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(errors)
    }
}

fn segs(p: &serde_ignored::Path) -> Vec<Seg> {
    use serde_ignored::Path as P;
    match p {
        P::Root => vec![],
        P::Seq { parent, index } => {
            let mut v = segs(parent);
            v.push(Seg::Index(*index));
            v
        }
        P::Map { parent, key } => {
            let mut v = segs(parent);
            v.push(Seg::Key(key.clone()));
            v
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            segs(parent)
        }
    }
}

fn unknown_key_message(path: &[Seg]) -> String {
    let Some(Seg::Key(key)) = path.last() else {
        return "unknown key".into();
    };
    if key.contains("webhook_url") && !key.ends_with("_env") && !key.ends_with("_file") {
        return "unknown key; a webhook URL is a secret and never goes in the file: put it in an \
                environment variable named by `webhook_url_env`, or in a file named by `webhook_url_file`"
            .into();
    }
    // The table the key sits in, without array indices (`detect.override[2]` → `detect.override`).
    let table_keys: Vec<Seg> = path[..path.len() - 1]
        .iter()
        .filter(|s| matches!(s, Seg::Key(_)))
        .cloned()
        .collect();
    let table = display_path(&table_keys);
    let candidates = KNOWN_KEYS
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, keys)| *keys)
        .unwrap_or(&[]);
    let best = candidates
        .iter()
        .map(|c| (strsim::levenshtein(c, key), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 3))
        .min();
    match best {
        Some((_, c)) => format!("unknown key; did you mean `{c}`?"),
        None if candidates.is_empty() => "unknown key".into(),
        None => format!("unknown key (known here: {})", candidates.join(", ")),
    }
}

struct Validator<'a, F> {
    doc: &'a Document<String>,
    errors: &'a mut Vec<ConfigError>,
    at: &'a F,
}

/// A key path from plain keys.
fn keys(path: &[&str]) -> Vec<Seg> {
    path.iter().map(|k| Seg::Key((*k).to_string())).collect()
}

/// `base` with one more key.
fn with(base: &[Seg], key: &str) -> Vec<Seg> {
    let mut v = base.to_vec();
    v.push(Seg::Key(key.to_string()));
    v
}

impl<F> Validator<'_, F>
where
    F: Fn(Option<std::ops::Range<usize>>, String, String) -> ConfigError,
{
    fn fail(&mut self, path: &[Seg], message: impl Into<String>) {
        let err = (self.at)(span_of(self.doc, path), display_path(path), message.into());
        self.errors.push(err);
    }

    fn int(&mut self, path: &[Seg], v: Option<i64>, default: u32, min: i64, max: i64) -> u32 {
        match v {
            None => default,
            Some(x) if (min..=max).contains(&x) => x as u32,
            Some(x) => {
                self.fail(path, format!("{x} is out of range ({min} to {max})"));
                default
            }
        }
    }

    /// A finite number in `[min, max]` (or `(min, max]` when `exclusive_min`).
    fn num(
        &mut self,
        path: &[Seg],
        v: Option<f64>,
        default: f64,
        range: (f64, f64),
        exclusive_min: bool,
    ) -> f64 {
        let (min, max) = range;
        match v {
            None => default,
            Some(x) if x.is_finite() && (x > min || (!exclusive_min && x == min)) && x <= max => x,
            Some(x) => {
                let lo = if exclusive_min {
                    "greater than"
                } else {
                    "at least"
                };
                let hi = if max.is_finite() {
                    format!(" and at most {max}")
                } else {
                    String::new()
                };
                self.fail(path, format!("{x} must be a finite number {lo} {min}{hi}"));
                default
            }
        }
    }

    fn family(&mut self, path: &[Seg], name: &str) -> Option<Family> {
        match name.parse::<Family>() {
            Ok(f) => Some(f),
            Err(e) => {
                self.fail(path, e);
                None
            }
        }
    }

    fn validate(&mut self, raw: RawConfig) -> Config {
        let mut cfg = Config::default();
        if let Some(p) = raw.aws.profile {
            if p.trim().is_empty() {
                self.fail(
                    &keys(&["aws", "profile"]),
                    "must not be empty (leave it out to use the default chain)",
                );
            } else {
                cfg.aws_profile = Some(p);
            }
        }
        if let Some(p) = raw.state.path {
            if p.trim().is_empty() {
                self.fail(&keys(&["state", "path"]), "must not be empty");
            } else {
                cfg.state_path = PathBuf::from(p);
            }
        }
        cfg.lookback_days = self.int(
            &keys(&["sync", "lookback_days"]),
            raw.sync.lookback_days,
            120,
            1,
            430,
        );
        cfg.detect = self.detect(raw.detect);
        let notify = raw.notify;
        cfg.delivery.max_attempts = self.int(
            &keys(&["notify", "max_attempts"]),
            notify.max_attempts,
            cfg.delivery.max_attempts,
            1,
            20,
        );
        cfg.delivery.backoff = Duration::from_millis(u64::from(self.int(
            &keys(&["notify", "backoff_ms"]),
            notify.backoff_ms,
            cfg.delivery.backoff.as_millis() as u32,
            0,
            60_000,
        )));
        cfg.slack = notify
            .slack
            .and_then(|sl| self.hook("slack", sl, DEFAULT_SLACK_ENV));
        cfg.teams = notify
            .teams
            .and_then(|t| self.hook("teams", t, DEFAULT_TEAMS_ENV));
        cfg.webhook = notify.webhook.and_then(|w| self.webhook(w));
        if let Some(f) = notify.file {
            match f.path {
                Some(p) if !p.trim().is_empty() => cfg.file_sink = Some(PathBuf::from(p)),
                _ => self.fail(
                    &keys(&["notify", "file", "path"]),
                    "a file path, or `-` for stdout, is required",
                ),
            }
        }
        let r = raw.report;
        cfg.report.mode = match r.mode.as_deref() {
            None | Some("incidents") => ReportMode::Incidents,
            Some("daily") => ReportMode::Daily,
            Some(other) => {
                self.fail(
                    &keys(&["report", "mode"]),
                    format!("`{other}` is not a mode: `incidents` or `daily`"),
                );
                ReportMode::Incidents
            }
        };
        if let Some(u) = r.runbook_url {
            let clean = !u
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '|' | '"'));
            if clean && (u.starts_with("https://") || u.starts_with("http://")) {
                cfg.report.runbook_url = Some(u);
            } else {
                self.fail(&keys(&["report", "runbook_url"]), "must be an http(s) URL");
            }
        }
        cfg.cloudtrail = raw.cloudtrail.map(|c| self.cloudtrail(c));
        cfg.activity = raw.activity.map(|a| {
            let base = keys(&["activity"]);
            let d = crate::activity::ActivitySettings::default();
            let mut by_event = std::collections::BTreeMap::new();
            for (event, n) in a.min_count_by_event.unwrap_or_default() {
                if n < 0 {
                    self.fail(
                        &with(&with(&base, "min_count_by_event"), &event),
                        "must be at least 0",
                    );
                } else {
                    by_event.insert(event, n as u64);
                }
            }
            let mut z_by_event = std::collections::BTreeMap::new();
            for (event, z) in a.threshold_z_by_event.unwrap_or_default() {
                let z = self.num(
                    &with(&with(&base, "threshold_z_by_event"), &event),
                    Some(z),
                    0.0,
                    (0.0, 1.0e6),
                    true,
                );
                z_by_event.insert(event, z);
            }
            crate::activity::ActivitySettings {
                history_days: self.int(
                    &with(&base, "history_days"),
                    a.history_days,
                    d.history_days,
                    7,
                    90,
                ),
                min_count: u64::from(self.int(
                    &with(&base, "min_count"),
                    a.min_count,
                    d.min_count as u32,
                    0,
                    100_000_000,
                )),
                min_excess: self.num(
                    &with(&base, "min_excess"),
                    a.min_excess,
                    d.min_excess,
                    (0.0, f64::INFINITY),
                    false,
                ),
                min_count_by_event: by_event,
                threshold_z_by_event: z_by_event,
                ignore_events: a.ignore_events.unwrap_or_default(),
                first_seen_after_days: self.int(
                    &with(&base, "first_seen_after_days"),
                    a.first_seen_after_days,
                    d.first_seen_after_days,
                    1,
                    90,
                ),
                threshold_z: self.num(
                    &with(&base, "threshold_z"),
                    a.threshold_z,
                    cfg.detect.gates.min_robust_z,
                    (0.0, 1.0e6),
                    true,
                ),
            }
        });
        if cfg.activity.is_some() && cfg.cloudtrail.is_none() {
            self.fail(
                &keys(&["activity"]),
                "[activity] counts CloudTrail events: it needs a [cloudtrail] table",
            );
        }
        cfg.cloudwatch = raw.cloudwatch.map(|c| {
            let base = keys(&["cloudwatch"]);
            let d = CloudWatchSettings::default();
            let namespace = c.publish_namespace.filter(|n| !n.trim().is_empty());
            if namespace.as_deref().is_some_and(|n| n.starts_with("AWS/")) {
                self.fail(
                    &with(&base, "publish_namespace"),
                    "namespaces starting with AWS/ are reserved",
                );
            }
            CloudWatchSettings {
                region: c.region,
                history_days: self.int(
                    &with(&base, "history_days"),
                    c.history_days,
                    d.history_days,
                    2,
                    60,
                ),
                hours_checked: self.int(
                    &with(&base, "hours_checked"),
                    c.hours_checked,
                    d.hours_checked,
                    1,
                    48,
                ),
                min_excess_gb_per_hour: self.num(
                    &with(&base, "min_excess_gb_per_hour"),
                    c.min_excess_gb_per_hour,
                    d.min_excess_gb_per_hour,
                    (0.0, f64::INFINITY),
                    false,
                ),
                baseline_days: self.int(
                    &with(&base, "baseline_days"),
                    c.baseline_days,
                    d.baseline_days,
                    1,
                    60,
                ),
                publish_namespace: namespace,
            }
        });
        cfg
    }

    fn cidrs(&mut self, base: &[Seg], key: &str, list: Option<Vec<String>>) -> Vec<ipnet::IpNet> {
        let mut out = Vec::new();
        for (i, c) in list.unwrap_or_default().iter().enumerate() {
            let parsed = c
                .parse::<ipnet::IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(n) => out.push(n),
                Err(_) => {
                    let mut at = with(base, key);
                    at.push(Seg::Index(i));
                    self.fail(
                        &at,
                        format!("`{c}` is not a CIDR (like 203.0.113.0/24) or an IP address"),
                    );
                }
            }
        }
        out
    }

    fn cloudtrail(&mut self, c: raw::RawCloudTrail) -> CloudTrailSettings {
        let base = keys(&["cloudtrail"]);
        let mut s = CloudTrailSettings::default();
        let athena = c.athena.map(|a| self.athena(a));
        let lake = c.lake.and_then(|l| self.lake(l));
        if let Some(src) = c.source {
            use crate::sources::cloudtrail::{TrailSource, ATHENA, LAKE};
            let at = with(&base, "source");
            match src.as_str() {
                ATHENA => match &athena {
                    Some(a) => s.source = Some(TrailSource::Athena(Box::new(a.clone()))),
                    None => self.fail(&at, "`athena` needs a [cloudtrail.athena] table (database, table, workgroup, output_location)"),
                },
                LAKE => match &lake {
                    Some(l) => s.source = Some(TrailSource::Lake(Box::new(l.clone()))),
                    None => self.fail(&at, "`cloudtrail-lake` needs a [cloudtrail.lake] table with event_data_store"),
                },
                _ => match src.parse() {
                    Ok(t) => s.source = Some(t),
                    Err(e) => self.fail(&at, e),
                },
            }
        } else {
            self.fail(
                &base,
                "`source` is required: a local directory or s3://BUCKET/PREFIX holding the trail",
            );
        }
        s.baseline_days = self.int(
            &with(&base, "baseline_days"),
            c.baseline_days,
            s.baseline_days,
            0,
            90,
        );
        s.lookback_days = self.int(
            &with(&base, "lookback_days"),
            c.lookback_days,
            s.lookback_days,
            0,
            90,
        );
        s.delete_burst = self.int(
            &with(&base, "delete_burst"),
            c.delete_burst,
            s.delete_burst,
            1,
            1_000_000,
        );
        s.max_callers = self.int(
            &with(&base, "max_callers"),
            c.max_callers,
            s.max_callers,
            1,
            50,
        );
        s.known_cidrs = self.cidrs(&base, "known_cidrs", c.known_cidrs);
        s.allow_cidrs = self.cidrs(&base, "allow_cidrs", c.allow_cidrs);
        s.allow_principals = c.allow_principals.unwrap_or_default();
        s.athena = athena;
        s.lake = lake;
        s
    }

    /// How long to wait for a query engine, and the first pause between status checks.
    fn query_poll(&mut self, base: &[Seg], v: Option<f64>) -> crate::sources::athena::Poll {
        let timeout = self.num(
            &with(base, "timeout_seconds"),
            v,
            600.0,
            (0.0, 3600.0),
            true,
        );
        let mut poll = crate::sources::athena::Poll {
            timeout: Duration::from_secs_f64(timeout),
            ..Default::default()
        };
        // A short timeout (tests, small windows) checks more often than the default pause.
        poll.first = poll.first.min(poll.timeout / 4);
        poll
    }

    fn athena(&mut self, a: raw::RawAthena) -> crate::sources::athena::AthenaSettings {
        use crate::sources::athena::AthenaSettings;
        let base = keys(&["cloudtrail", "athena"]);
        let mut s = AthenaSettings::default();
        let name =
            |v: &mut Validator<'_, F>, key: &str, value: Option<String>, out: &mut String| {
                if let Some(x) = value {
                    if x.trim().is_empty() || x.chars().any(char::is_control) {
                        v.fail(&with(&base, key), "must be a non-empty name");
                    } else {
                        *out = x;
                    }
                }
            };
        name(self, "catalog", a.catalog, &mut s.table.catalog);
        name(self, "database", a.database, &mut s.table.database);
        name(self, "table", a.table, &mut s.table.table);
        name(self, "workgroup", a.workgroup, &mut s.workgroup);
        if let Some(out) = a.output_location {
            if out.starts_with("s3://") && out.len() > 5 {
                s.output_location = Some(out);
            } else {
                self.fail(
                    &with(&base, "output_location"),
                    format!("`{out}` is not an s3://BUCKET/PREFIX/ location"),
                );
            }
        }
        s.region = a.region.filter(|r| !r.is_empty());
        // "" turns a partition off: a table without partitions is read whole (and billed so).
        if let Some(p) = &a.date_partition {
            s.table.date_partition = (!p.is_empty()).then(|| p.clone());
        }
        if let Some(p) = a.region_partition {
            s.table.region_partition = (!p.is_empty()).then_some(p);
        }
        if let Some(cols) = a.date_partitions {
            match <[String; 3]>::try_from(cols) {
                Ok(c) if c.iter().all(|x| !x.is_empty()) => {
                    if s.table.date_partition.is_some() && a.date_partition.is_some() {
                        self.fail(
                            &with(&base, "date_partitions"),
                            "set either date_partition (one column) or date_partitions (year, month, day), not both",
                        );
                    }
                    s.table.date_partition = None;
                    s.table.ymd_partitions = Some(c);
                }
                _ => self.fail(
                    &with(&base, "date_partitions"),
                    "must name three columns: year, month and day (like [\"year\", \"month\", \"day\"])",
                ),
            }
        }
        if let Some(f) = a.date_partition_format {
            match crate::correlate::sql::java_date_format(&f) {
                Ok(_) => s.table.date_partition_format = f,
                Err(e) => self.fail(&with(&base, "date_partition_format"), e),
            }
        }
        s.poll = self.query_poll(&base, a.timeout_seconds);
        s.usd_per_tb = self.num(
            &with(&base, "usd_per_tb"),
            a.usd_per_tb,
            s.usd_per_tb,
            (0.0, 1000.0),
            false,
        );
        s
    }

    fn lake(&mut self, l: raw::RawLake) -> Option<crate::sources::lake::LakeSettings> {
        let base = keys(&["cloudtrail", "lake"]);
        let poll = self.query_poll(&base, l.timeout_seconds);
        let usd_per_gb = self.num(
            &with(&base, "usd_per_gb"),
            l.usd_per_gb,
            0.005,
            (0.0, 1000.0),
            false,
        );
        let Some(store) = l.event_data_store else {
            self.fail(
                &base,
                "`event_data_store` is required: the event data store's ARN or ID",
            );
            return None;
        };
        let id = store.rsplit('/').next().unwrap_or("");
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            self.fail(
                &with(&base, "event_data_store"),
                format!("`{store}` is not an event data store ARN or ID"),
            );
            return None;
        }
        Some(crate::sources::lake::LakeSettings {
            event_data_store: store,
            region: l.region.filter(|r| !r.is_empty()),
            poll,
            usd_per_gb,
        })
    }

    fn gates(&mut self, base: &[Seg], d: &raw::RawGates, global: &Gates) -> Gates {
        let m = &global.materiality;
        let inf = (0.0, f64::INFINITY);
        Gates {
            min_robust_z: self.num(
                &with(base, "min_robust_z"),
                d.min_robust_z,
                global.min_robust_z,
                (0.0, 100.0),
                true,
            ),
            materiality: Materiality {
                min_excess_gb: self.num(
                    &with(base, "min_excess_gb"),
                    d.min_excess_gb,
                    m.min_excess_gb,
                    inf,
                    false,
                ),
                min_excess_requests: self.num(
                    &with(base, "min_excess_requests"),
                    d.min_excess_requests,
                    m.min_excess_requests,
                    inf,
                    false,
                ),
                min_excess_usd: self.num(
                    &with(base, "min_excess_usd"),
                    d.min_excess_usd,
                    m.min_excess_usd,
                    inf,
                    false,
                ),
                min_excess_pct: self.num(
                    &with(base, "min_excess_pct"),
                    d.min_excess_pct,
                    m.min_excess_pct,
                    inf,
                    false,
                ),
            },
        }
    }

    fn detect(&mut self, d: raw::RawDetect) -> DetectSettings {
        let mut s = DetectSettings::default();
        let base = keys(&["detect"]);
        s.history_days = self.int(
            &with(&base, "history_days"),
            d.history_days,
            s.history_days,
            28,
            400,
        );
        s.gates = self.gates(&base, &d.gates(), &Gates::default());
        s.false_discovery_rate = self.num(
            &with(&base, "false_discovery_rate"),
            d.false_discovery_rate,
            s.false_discovery_rate,
            (0.0, 1.0),
            true,
        );
        s.drift_limit = self.num(
            &with(&base, "drift_limit"),
            d.drift_limit,
            s.drift_limit,
            (0.0, 1000.0),
            true,
        );
        s.adapt_after_days = self.int(
            &with(&base, "adapt_after_days"),
            d.adapt_after_days,
            s.adapt_after_days,
            2,
            60,
        );
        if let Some(names) = d.families {
            let path = with(&base, "families");
            let mut fams = Vec::new();
            for (i, n) in names.iter().enumerate() {
                let mut at = path.clone();
                at.push(Seg::Index(i));
                match self.family(&at, n) {
                    Some(f) if fams.contains(&f) => {
                        self.fail(&at, format!("`{n}` is listed twice"))
                    }
                    Some(f) => fams.push(f),
                    None => {}
                }
            }
            if names.is_empty() {
                self.fail(&path, "must name at least one family");
            }
            s.families = fams;
        }
        for (i, o) in d.overrides.unwrap_or_default().into_iter().enumerate() {
            let mut at = with(&base, "override");
            at.push(Seg::Index(i));
            let family = o
                .family
                .as_deref()
                .and_then(|f| self.family(&with(&at, "family"), f));
            if o.account.is_none() && o.region.is_none() && o.family.is_none() {
                self.fail(
                    &at,
                    "an override needs at least one of account, region, family",
                );
            }
            let g = &o.gates();
            if [
                g.min_robust_z,
                g.min_excess_gb,
                g.min_excess_requests,
                g.min_excess_usd,
                g.min_excess_pct,
            ]
            .iter()
            .all(Option::is_none)
            {
                self.fail(
                    &at,
                    "an override needs at least one gate (min_robust_z, min_excess_gb, ...)",
                );
            }
            // Validate the gates' values with the same rules as the global ones.
            let _ = self.gates(&at, g, &s.gates);
            s.overrides.push(Override {
                account: o.account,
                region: o.region,
                family,
                min_robust_z: g.min_robust_z,
                min_excess_gb: g.min_excess_gb,
                min_excess_requests: g.min_excess_requests,
                min_excess_usd: g.min_excess_usd,
                min_excess_pct: g.min_excess_pct,
            });
        }
        s
    }

    /// A secret named by an environment variable (`env_key`) or a file (`file_key`), not both;
    /// `default_env` when neither is given.
    fn secret(
        &mut self,
        base: &[Seg],
        (env_key, env): (&str, Option<String>),
        (file_key, file): (&str, Option<String>),
        default_env: Option<&str>,
    ) -> Option<SecretSource> {
        match (env, file) {
            (Some(_), Some(_)) => {
                self.fail(
                    &with(base, file_key),
                    format!("give either {env_key} or {file_key}, not both"),
                );
                None
            }
            (Some(env), None) => {
                let valid = !env.is_empty()
                    && !env.starts_with(|c: char| c.is_ascii_digit())
                    && env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if valid {
                    Some(SecretSource::Env(env))
                } else {
                    self.fail(
                        &with(base, env_key),
                        "must be the name of an environment variable (letters, digits, _), not the URL itself",
                    );
                    None
                }
            }
            (None, Some(file)) if file.trim().is_empty() => {
                self.fail(&with(base, file_key), "must not be empty");
                None
            }
            (None, Some(file)) => Some(SecretSource::File(PathBuf::from(file))),
            (None, None) => default_env.map(|e| SecretSource::Env(e.into())),
        }
    }

    fn timeout(&mut self, base: &[Seg], v: Option<f64>) -> Duration {
        Duration::from_secs_f64(self.num(
            &with(base, "timeout_seconds"),
            v,
            10.0,
            (0.0, 300.0),
            true,
        ))
    }

    fn hook(&mut self, name: &str, sl: raw::RawSlack, default_env: &str) -> Option<SlackSettings> {
        let base = keys(&["notify", name]);
        let source = self.secret(
            &base,
            ("webhook_url_env", sl.webhook_url_env),
            ("webhook_url_file", sl.webhook_url_file),
            Some(default_env),
        );
        let timeout = self.timeout(&base, sl.timeout_seconds);
        source.map(|webhook_url| SlackSettings {
            webhook_url,
            timeout,
        })
    }

    fn webhook(&mut self, w: raw::RawWebhook) -> Option<WebhookSettings> {
        let base = keys(&["notify", "webhook"]);
        let url = self.secret(
            &base,
            ("url_env", w.url_env),
            ("url_file", w.url_file),
            Some(DEFAULT_WEBHOOK_ENV),
        );
        let secret = self.secret(
            &base,
            ("secret_env", w.secret_env),
            ("secret_file", w.secret_file),
            Some(DEFAULT_WEBHOOK_SECRET_ENV),
        );
        let timeout = self.timeout(&base, w.timeout_seconds);
        url.map(|url| WebhookSettings {
            url,
            secret,
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(text: &str) -> Vec<String> {
        parse(text, "t.toml")
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("", "t.toml").unwrap();
        assert_eq!(c.detect, DetectSettings::default());
        assert_eq!(c.state_path, PathBuf::from(DEFAULT_STATE_PATH));
        assert!(c.slack.is_none());
    }

    #[test]
    fn misspelled_key_names_file_line_key_and_suggests() {
        let e = errs("[detect]\nhistory_days = 120\nmin_robust_zz = 3\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:3:1: detect.min_robust_zz: unknown key"),
            "{}",
            e[0]
        );
        assert!(e[0].contains("did you mean `min_robust_z`?"), "{}", e[0]);
    }

    #[test]
    fn every_unknown_key_is_reported() {
        let e =
            errs("colour = 1\n[detect]\nfoo = 1\n[notify.slack]\nwebhook_url = \"https://x\"\n");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("t.toml:1:1: colour:"), "{}", e[0]);
        assert!(e[1].starts_with("t.toml:3:1: detect.foo:"), "{}", e[1]);
        assert!(
            e[2].contains("notify.slack.webhook_url") && e[2].contains("secret"),
            "{}",
            e[2]
        );
        assert!(
            !e[2].contains("https://x"),
            "the secret must not be echoed: {}",
            e[2]
        );
    }

    #[test]
    fn wrong_types_and_ranges_point_at_the_key() {
        let e = errs("[detect]\n\nmin_robust_z = \"four\"\n");
        assert!(
            e[0].starts_with("t.toml:3:") && e[0].contains("detect.min_robust_z"),
            "{e:?}"
        );
        let e = errs("[detect]\nhistory_days = 1\nmin_excess_usd = -2\nfamilies = [\"internet-out\", \"bogus\"]\n");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:2:1: detect.history_days: 1 is out of range"),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with("t.toml:3:1: detect.min_excess_usd"),
            "{}",
            e[1]
        );
        assert!(
            e[2].starts_with("t.toml:4:")
                && e[2].contains("detect.families[1]")
                && e[2].contains("bogus"),
            "{}",
            e[2]
        );
    }

    #[test]
    fn activity_settings_are_validated_where_written() {
        let e = errs("[activity]\nmin_count = 5\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("[activity] counts CloudTrail events"),
            "{e:?}"
        );
        let e = errs("[cloudtrail]\nsource = \"/t\"\n\n[activity]\nthreshold_z = 0\nthreshold_z_by_event = { ListBuckets = -1.0 }\nmin_count_by_event = { GetObject = -3 }\n");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:5:") && x.contains("activity.threshold_z")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|x| x.starts_with("t.toml:6:")
                && x.contains("activity.threshold_z_by_event.ListBuckets")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|x| x.starts_with("t.toml:7:")
                && x.contains("activity.min_count_by_event.GetObject")),
            "{e:?}"
        );
        let c = parse("[cloudtrail]\nsource = \"/t\"\n[activity]\nthreshold_z_by_event = { ListBuckets = 8.5 }\n", "t.toml").unwrap();
        let a = c.activity.unwrap();
        assert_eq!(a.threshold_z_by_event.get("ListBuckets"), Some(&8.5));
        assert_eq!(a.threshold_z, c.detect.gates.min_robust_z);
    }

    #[test]
    fn sql_sources_are_validated_where_written() {
        use crate::sources::cloudtrail::TrailSource;
        let e = errs("[cloudtrail]\nsource = \"athena\"\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:2:") && e[0].contains("needs a [cloudtrail.athena] table"),
            "{e:?}"
        );
        let e = errs("[cloudtrail]\nsource = \"cloudtrail-lake\"\n[cloudtrail.lake]\nevent_data_store = \"x; DROP\"\ntimeout_seconds = 0\n");
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:4:")
                    && x.contains("cloudtrail.lake.event_data_store")),
            "{e:?}"
        );
        assert!(
            e.iter().any(
                |x| x.starts_with("t.toml:5:") && x.contains("cloudtrail.lake.timeout_seconds")
            ),
            "{e:?}"
        );
        let e = errs("[cloudtrail]\nsource = \"athena\"\n[cloudtrail.athena]\ndatbase = \"x\"\ndate_partition_format = \"dd-MM\"\noutput_location = \"/tmp\"\n");
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:4:") && x.contains("database")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:5:") && x.contains("must name yyyy, MM and dd")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:6:") && x.contains("not an s3://")),
            "{e:?}"
        );
        let e = errs("[cloudtrail]\nsource = \"athena\"\n[cloudtrail.athena]\ndate_partitions = [\"y\", \"m\"]\n");
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:4:") && x.contains("three columns")),
            "{e:?}"
        );
        let e = errs("[cloudtrail]\nsource = \"athena\"\n[cloudtrail.athena]\ndate_partition = \"dt\"\ndate_partitions = [\"y\", \"m\", \"d\"]\n");
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:5:") && x.contains("not both")),
            "{e:?}"
        );
        let c = parse("[cloudtrail]\nsource = \"athena\"\n[cloudtrail.athena]\ndate_partitions = [\"year\", \"month\", \"day\"]\n", "t.toml").unwrap();
        let Some(TrailSource::Athena(a)) = c.cloudtrail.unwrap().source else {
            panic!("an athena source")
        };
        assert_eq!(
            (
                a.table.date_partition,
                a.table.ymd_partitions.map(|p| p[2].clone())
            ),
            (None, Some("day".to_string()))
        );
        let c = parse("[cloudtrail]\nsource = \"athena\"\n[cloudtrail.athena]\ndatabase = \"trails\"\ndate_partition = \"\"\ntimeout_seconds = 2\n", "t.toml").unwrap();
        let ct = c.cloudtrail.unwrap();
        let Some(TrailSource::Athena(a)) = &ct.source else {
            panic!("{:?}", ct.source)
        };
        assert_eq!(a.table.database, "trails");
        assert_eq!(a.table.date_partition, None, "\"\" turns the partition off");
        assert_eq!(a.table.region_partition.as_deref(), Some("region"));
        assert_eq!(a.poll.timeout, Duration::from_secs(2));
        assert!(ct.source_or(Some("cloudtrail-lake")).is_err());
        assert!(matches!(
            ct.source_or(Some("athena")),
            Ok(TrailSource::Athena(_))
        ));
        assert!(matches!(
            ct.source_or(Some("/x")),
            Ok(TrailSource::Local(_))
        ));
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = errs("[detect]\nmin_robust_z = = 4\n");
        assert!(e[0].starts_with("t.toml:2:"), "{}", e[0]);
    }

    #[test]
    fn slack_secret_sources() {
        let c = parse("[notify.slack]\nwebhook_url_env = \"MY_HOOK\"\n", "t").unwrap();
        assert_eq!(
            c.slack.unwrap().webhook_url,
            SecretSource::Env("MY_HOOK".into())
        );
        let c = parse("[notify.slack]\n", "t").unwrap();
        assert_eq!(
            c.slack.unwrap().webhook_url,
            SecretSource::Env(DEFAULT_SLACK_ENV.into())
        );
        let e = errs("[notify.slack]\nwebhook_url_env = \"https://hooks.slack.com/x\"\n");
        assert!(e[0].contains("not the URL itself"), "{}", e[0]);
        let e = errs("[notify.slack]\nwebhook_url_env = \"A\"\nwebhook_url_file = \"/x\"\n");
        assert!(e[0].contains("not both"), "{}", e[0]);
    }

    #[test]
    fn secret_from_file_is_trimmed_and_errors_do_not_leak() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hook");
        std::fs::write(&f, "https://hooks.example/abc\n").unwrap();
        let s = SecretSource::File(f).resolve().unwrap();
        assert_eq!(s.expose(), "https://hooks.example/abc");
        let e = SecretSource::Env("EGRESSWATCH_TEST_SURELY_UNSET".into())
            .resolve()
            .unwrap_err();
        assert!(format!("{e:#}").contains("EGRESSWATCH_TEST_SURELY_UNSET is not set"));
    }

    #[test]
    fn the_example_config_is_valid_and_documents_every_key() {
        let text = include_str!("../../config.toml.example");
        parse(text, "config.toml.example").unwrap();
        for (table, keys) in KNOWN_KEYS {
            for key in *keys {
                let as_key = format!("\n{key} =");
                let commented = format!("\n# {key} =");
                let as_table = format!(
                    "[{}",
                    if table.is_empty() {
                        key.to_string()
                    } else {
                        format!("{table}.{key}")
                    }
                );
                assert!(
                    text.contains(&as_key) || text.contains(&commented) || text.contains(&as_table),
                    "config.toml.example does not document {table}.{key}"
                );
            }
        }
    }
}

#[cfg(test)]
mod override_tests {
    use super::*;

    #[test]
    fn overrides_are_validated_with_their_place() {
        let c = parse(
            "[[detect.override]]\naccount = \"1\"\nmin_excess_usd = 50\n\n[[detect.override]]\nfamily = \"get-requests\"\nmin_robust_z = 6\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.detect.overrides.len(), 2);
        assert_eq!(c.detect.overrides[1].family, Some(Family::GetRequests));
        let e: Vec<String> = parse(
            "[[detect.override]]\naccount = \"1\"\nmin_excess_usdd = 50\n\n[[detect.override]]\nmin_excess_usd = 5\n\n[[detect.override]]\nfamily = \"nope\"\nmin_excess_pct = -1\n",
            "t.toml",
        )
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
        assert!(e[0].starts_with("t.toml:3:1: detect.override[0].min_excess_usdd: unknown key; did you mean `min_excess_usd`?"), "{e:?}");
        assert!(
            e.iter()
                .any(|x| x.contains("detect.override[0]: an override needs at least one gate")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|x| x.starts_with("t.toml:5:")
                && x.contains("detect.override[1]: an override needs at least one of")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:9:") && x.contains("detect.override[2].family")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:10:")
                    && x.contains("detect.override[2].min_excess_pct")),
            "{e:?}"
        );
    }
}
