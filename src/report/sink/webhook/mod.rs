//! The generic webhook (and the JSON file sink): a documented, versioned JSON document.
//!
//! Schema `egresswatch.report/v1` (README, "Generic webhook"): fields are only ever added within
//! a version; a rename or removal makes `v2`. The same document is written to the file sink, one
//! per line, for SIEM ingestion. Strings are JSON-escaped by the serializer and never
//! interpreted: the receiver must treat them as data.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::model::{EarlyWarning, Incident};
use crate::report::{links, Report, ReportIncident};
use crate::settings::{keys, Check, SecretSource};

pub const SCHEMA: &str = "egresswatch.report/v1";

/// The document announcing `incidents` (or, with none, the digest).
pub fn document(report: &Report, incidents: &[Incident], id: &str) -> Value {
    let items: Vec<Value> = incidents
        .iter()
        .map(|i| {
            let full = report
                .full(i)
                .cloned()
                .unwrap_or_else(|| ReportIncident::bare(i.clone()));
            let mut v = serde_json::to_value(&full).unwrap_or(Value::Null);
            v["links"] = json!(links(i, report.runbook_url.as_deref())
                .into_iter()
                .map(|(title, url)| json!({"title": title, "url": url}))
                .collect::<Vec<_>>());
            v
        })
        .collect();
    let doc = json!({
        "schema": SCHEMA,
        "id": id,
        "kind": if incidents.is_empty() { "digest" } else { "incidents" },
        "run_date": report.run_date,
        "evaluated_day": report.evaluated_day,
        "total_excess_cost_usd": incidents.iter().map(Incident::event_cost_usd).sum::<f64>(),
        "incidents": items,
        "digest": report.digest,
        "data_quality": report.quality,
        // S3 activity findings (added within v1; `[]` without `[activity]`).
        "activity": report.activity,
        // GuardDuty S3 findings no incident holds (added within v1; `[]` without `[coverage]`).
        "guardduty": report.guardduty,
    });
    doc
}

/// The early-warning document (`egresswatch.early-warning/v1`).
pub fn warning(warnings: &[EarlyWarning], id: &str) -> Value {
    json!({"schema": "egresswatch.early-warning/v1", "id": id, "warnings": warnings})
}

/// The environment variables read when `[notify.webhook]` names none.
pub const DEFAULT_WEBHOOK_ENV: &str = "EGRESSWATCH_WEBHOOK_URL";
pub const DEFAULT_WEBHOOK_SECRET_ENV: &str = "EGRESSWATCH_WEBHOOK_SECRET";

/// The generic webhook: URL and signing secret (`whsec_...`), both from env or file.
///
/// Signing is on when the table names a source (`secret_env` or `secret_file`), or, naming none,
/// when `EGRESSWATCH_WEBHOOK_SECRET` is set. A named source that cannot be read (or a default
/// variable set to nothing) is a configuration error: the message is never sent unsigned in its
/// place. Only when nothing asks for signing does the webhook go out unsigned.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    pub url: SecretSource,
    /// The signing secret's source as written in the table (`None`: the default variable, read
    /// only if set).
    pub secret: Option<SecretSource>,
    pub timeout: Duration,
}

/// `[notify.webhook]` as written: a URL and a Standard Webhooks signing secret, both secrets.
#[derive(Debug, Default, Deserialize)]
pub struct RawWebhook {
    pub url_env: Option<String>,
    pub url_file: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    pub timeout_seconds: Option<f64>,
}

impl WebhookSettings {
    /// Validate `[notify.webhook]`.
    pub fn check(w: RawWebhook, c: &mut Check<'_>) -> Option<Self> {
        let base = keys(&["notify", "webhook"]);
        let url = c.secret(
            &base,
            ("url_env", w.url_env),
            ("url_file", w.url_file),
            Some(DEFAULT_WEBHOOK_ENV),
        );
        let secret = c.secret(
            &base,
            ("secret_env", w.secret_env),
            ("secret_file", w.secret_file),
            None,
        );
        let timeout = c.timeout(&base, w.timeout_seconds);
        url.map(|url| WebhookSettings {
            url,
            secret,
            timeout,
        })
    }

    /// Where the signing secret is read from, and whether signing was asked for: a source
    /// written in the table always; the default variable only when it is set.
    pub fn signing_source(&self) -> Option<SecretSource> {
        match &self.secret {
            Some(s) => Some(s.clone()),
            None if std::env::var_os(DEFAULT_WEBHOOK_SECRET_ENV).is_some() => {
                Some(SecretSource::Env(DEFAULT_WEBHOOK_SECRET_ENV.into()))
            }
            None => None,
        }
    }

    /// The key that names the signing secret's source (for errors).
    pub fn signing_key(&self) -> &'static str {
        match &self.secret {
            Some(SecretSource::File(_)) => "notify.webhook.secret_file",
            _ => "notify.webhook.secret_env",
        }
    }

    /// The key that names the URL's source (for errors).
    pub fn url_key(&self) -> &'static str {
        match &self.url {
            SecretSource::File(_) => "notify.webhook.url_file",
            SecretSource::Env(_) => "notify.webhook.url_env",
        }
    }
}
