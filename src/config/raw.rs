//! The configuration file exactly as written: every field optional, nothing checked yet.
//!
//! Unknown keys are not rejected by serde here; `config::load` collects every one of them (with
//! `serde_ignored`) so that all of them are reported at once, each with its line.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub aws: RawAws,
    #[serde(default)]
    pub state: RawState,
    #[serde(default)]
    pub sync: RawSync,
    #[serde(default)]
    pub detect: RawDetect,
    #[serde(default)]
    pub notify: RawNotify,
    pub cloudtrail: Option<RawCloudTrail>,
    pub cloudwatch: Option<RawCloudWatch>,
    pub activity: Option<RawActivity>,
    #[serde(default)]
    pub report: RawReport,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawActivity {
    pub history_days: Option<i64>,
    pub min_count: Option<i64>,
    pub min_excess: Option<f64>,
    pub min_count_by_event: Option<std::collections::BTreeMap<String, i64>>,
    pub ignore_events: Option<Vec<String>>,
    pub first_seen_after_days: Option<i64>,
    pub threshold_z: Option<f64>,
    pub threshold_z_by_event: Option<std::collections::BTreeMap<String, f64>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawCloudWatch {
    pub region: Option<String>,
    pub history_days: Option<i64>,
    pub hours_checked: Option<i64>,
    pub min_excess_gb_per_hour: Option<f64>,
    pub baseline_days: Option<i64>,
    pub publish_namespace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawCloudTrail {
    pub source: Option<String>,
    pub baseline_days: Option<i64>,
    pub lookback_days: Option<i64>,
    pub known_cidrs: Option<Vec<String>>,
    pub allow_principals: Option<Vec<String>>,
    pub allow_cidrs: Option<Vec<String>>,
    pub delete_burst: Option<i64>,
    pub max_callers: Option<i64>,
    pub athena: Option<RawAthena>,
    pub lake: Option<RawLake>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAthena {
    pub catalog: Option<String>,
    pub database: Option<String>,
    pub table: Option<String>,
    pub workgroup: Option<String>,
    pub output_location: Option<String>,
    pub region: Option<String>,
    pub date_partition: Option<String>,
    pub date_partition_format: Option<String>,
    pub date_partitions: Option<Vec<String>>,
    pub region_partition: Option<String>,
    pub timeout_seconds: Option<f64>,
    pub usd_per_tb: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawLake {
    pub event_data_store: Option<String>,
    pub region: Option<String>,
    pub timeout_seconds: Option<f64>,
    pub usd_per_gb: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAws {
    pub profile: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawState {
    pub path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawSync {
    pub lookback_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawDetect {
    pub history_days: Option<i64>,
    pub min_robust_z: Option<f64>,
    pub min_excess_gb: Option<f64>,
    pub min_excess_requests: Option<f64>,
    pub min_excess_usd: Option<f64>,
    pub min_excess_pct: Option<f64>,
    pub false_discovery_rate: Option<f64>,
    pub drift_limit: Option<f64>,
    pub adapt_after_days: Option<i64>,
    pub families: Option<Vec<String>>,
    #[serde(rename = "override")]
    pub overrides: Option<Vec<RawOverride>>,
}

/// The gates, globally under `[detect]` and per series in `[[detect.override]]`. (Not a
/// `#[serde(flatten)]` field: flattening would hide unknown keys and their lines.)
#[derive(Debug, Default, Clone)]
pub struct RawGates {
    pub min_robust_z: Option<f64>,
    pub min_excess_gb: Option<f64>,
    pub min_excess_requests: Option<f64>,
    pub min_excess_usd: Option<f64>,
    pub min_excess_pct: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawOverride {
    pub account: Option<String>,
    pub region: Option<String>,
    pub family: Option<String>,
    pub min_robust_z: Option<f64>,
    pub min_excess_gb: Option<f64>,
    pub min_excess_requests: Option<f64>,
    pub min_excess_usd: Option<f64>,
    pub min_excess_pct: Option<f64>,
}

/// `[detect]` and `[[detect.override]]` carry the same gate keys; both hand them over as one
/// [`RawGates`].
macro_rules! gates_of {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn gates(&self) -> RawGates {
                RawGates {
                    min_robust_z: self.min_robust_z,
                    min_excess_gb: self.min_excess_gb,
                    min_excess_requests: self.min_excess_requests,
                    min_excess_usd: self.min_excess_usd,
                    min_excess_pct: self.min_excess_pct,
                }
            }
        }
    )*};
}

gates_of!(RawDetect, RawOverride);

#[derive(Debug, Default, Deserialize)]
pub struct RawNotify {
    pub max_attempts: Option<i64>,
    pub backoff_ms: Option<i64>,
    pub slack: Option<RawSlack>,
    pub teams: Option<RawSlack>,
    pub webhook: Option<RawWebhook>,
    pub file: Option<RawFileSink>,
}

/// The generic webhook: a URL and a Standard Webhooks signing secret, both secrets.
#[derive(Debug, Default, Deserialize)]
pub struct RawWebhook {
    pub url_env: Option<String>,
    pub url_file: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    pub timeout_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawFileSink {
    pub path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawReport {
    pub mode: Option<String>,
    pub runbook_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawSlack {
    pub webhook_url_env: Option<String>,
    pub webhook_url_file: Option<String>,
    pub timeout_seconds: Option<f64>,
}

/// Every key the file may hold, by table: used to suggest the right spelling of an unknown key
/// and, in a test, to check that `config.toml.example` documents each of them.
pub const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "aws",
            "state",
            "sync",
            "detect",
            "notify",
            "cloudtrail",
            "cloudwatch",
            "activity",
            "report",
        ],
    ),
    ("report", &["mode", "runbook_url"]),
    (
        "activity",
        &[
            "history_days",
            "min_count",
            "min_excess",
            "min_count_by_event",
            "ignore_events",
            "first_seen_after_days",
            "threshold_z",
            "threshold_z_by_event",
        ],
    ),
    (
        "cloudwatch",
        &[
            "region",
            "history_days",
            "hours_checked",
            "min_excess_gb_per_hour",
            "baseline_days",
            "publish_namespace",
        ],
    ),
    ("aws", &["profile"]),
    ("state", &["path"]),
    ("sync", &["lookback_days"]),
    (
        "detect",
        &[
            "history_days",
            "min_robust_z",
            "min_excess_gb",
            "min_excess_requests",
            "min_excess_usd",
            "min_excess_pct",
            "false_discovery_rate",
            "drift_limit",
            "adapt_after_days",
            "families",
            "override",
        ],
    ),
    (
        "detect.override",
        &[
            "account",
            "region",
            "family",
            "min_robust_z",
            "min_excess_gb",
            "min_excess_requests",
            "min_excess_usd",
            "min_excess_pct",
        ],
    ),
    (
        "notify",
        &[
            "max_attempts",
            "backoff_ms",
            "slack",
            "teams",
            "webhook",
            "file",
        ],
    ),
    (
        "notify.teams",
        &["webhook_url_env", "webhook_url_file", "timeout_seconds"],
    ),
    (
        "notify.webhook",
        &[
            "url_env",
            "url_file",
            "secret_env",
            "secret_file",
            "timeout_seconds",
        ],
    ),
    ("notify.file", &["path"]),
    (
        "cloudtrail",
        &[
            "source",
            "baseline_days",
            "lookback_days",
            "known_cidrs",
            "allow_principals",
            "allow_cidrs",
            "delete_burst",
            "max_callers",
            "athena",
            "lake",
        ],
    ),
    (
        "cloudtrail.athena",
        &[
            "catalog",
            "database",
            "table",
            "workgroup",
            "output_location",
            "region",
            "date_partition",
            "date_partition_format",
            "date_partitions",
            "region_partition",
            "timeout_seconds",
            "usd_per_tb",
        ],
    ),
    (
        "cloudtrail.lake",
        &[
            "event_data_store",
            "region",
            "timeout_seconds",
            "usd_per_gb",
        ],
    ),
    (
        "notify.slack",
        &["webhook_url_env", "webhook_url_file", "timeout_seconds"],
    ),
];
