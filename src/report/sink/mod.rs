//! Where messages go: one folder per sink, behind one exhaustive [`Sink`].
//!
//! - [`slack`]: Block Kit through an incoming webhook;
//! - [`teams`]: an Adaptive Card through a Teams Workflows webhook;
//! - [`webhook`]: the documented `egresswatch.report/v1` JSON, signed (Standard Webhooks);
//! - [`file`]: the same JSON, one document a line, to a file or stdout.
//!
//! Each sink owns its settings (`[notify.<sink>]`) and renders its own payloads; [`outbox`]
//! decides which messages a run queues and delivers them, [`deliver`] sends one message with
//! retries. Adding a sink is a new folder and a new [`Sink`] variant: the compiler then points
//! at every match that must learn it.

pub mod deliver;
pub mod file;
pub mod outbox;
pub mod slack;
pub mod teams;
pub mod webhook;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::settings::{keys, Check, Secret, SecretSource, UnreadableSecret};
use deliver::DeliverySettings;
use webhook::{RawWebhook, WebhookSettings};

/// A kind of receiver. Its name is what the outbox stores with each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sink {
    Slack,
    Teams,
    Webhook,
    File,
}

impl Sink {
    pub const ALL: [Sink; 4] = [Sink::Slack, Sink::Teams, Sink::Webhook, Sink::File];

    pub fn as_str(self) -> &'static str {
        match self {
            Sink::Slack => "slack",
            Sink::Teams => "teams",
            Sink::Webhook => "webhook",
            Sink::File => "file",
        }
    }
}

impl std::fmt::Display for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Sink {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Sink::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown sink `{s}`"))
    }
}

/// The environment variables read when a sink's table names none.
pub const DEFAULT_SLACK_ENV: &str = "EGRESSWATCH_SLACK_WEBHOOK_URL";
pub const DEFAULT_TEAMS_ENV: &str = "EGRESSWATCH_TEAMS_WEBHOOK_URL";

/// An incoming webhook (Slack, Teams): where its URL is, and how long an attempt may take.
#[derive(Debug, Clone, PartialEq)]
pub struct HookSettings {
    pub webhook_url: SecretSource,
    pub timeout: Duration,
}

/// `[notify.slack]` and `[notify.teams]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawHook {
    pub webhook_url_env: Option<String>,
    pub webhook_url_file: Option<String>,
    pub timeout_seconds: Option<f64>,
}

impl HookSettings {
    /// Validate `[notify.<name>]`.
    pub fn check(name: &str, sl: RawHook, default_env: &str, c: &mut Check<'_>) -> Option<Self> {
        let base = keys(&["notify", name]);
        let source = c.secret(
            &base,
            ("webhook_url_env", sl.webhook_url_env),
            ("webhook_url_file", sl.webhook_url_file),
            Some(default_env),
        );
        let timeout = c.timeout(&base, sl.timeout_seconds);
        source.map(|webhook_url| HookSettings {
            webhook_url,
            timeout,
        })
    }
}

/// `[notify]`: every configured sink, and how deliveries are retried.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotifySettings {
    pub slack: Option<HookSettings>,
    /// Microsoft Teams Workflows webhook (Adaptive Card).
    pub teams: Option<HookSettings>,
    /// A generic JSON webhook, signed with the Standard Webhooks scheme.
    pub webhook: Option<WebhookSettings>,
    /// JSON lines to a file, or stdout (`-`), for SIEM ingestion.
    pub file: Option<PathBuf>,
    /// How deliveries are retried.
    pub delivery: DeliverySettings,
}

/// One secret a configured sink needs: what it is, the key naming its source, the source.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretNeed {
    pub sink: Sink,
    /// For people: "the Slack webhook URL", "the webhook's signing secret".
    pub what: &'static str,
    /// The key that names (or would name) the source, e.g. `notify.webhook.secret_file`.
    pub key: String,
    pub source: SecretSource,
    /// A URL (checked: https, or http to loopback) rather than a signing secret.
    pub is_url: bool,
}

impl SecretNeed {
    /// Read the secret now and check it can be used (a URL egresswatch will send to, a signing
    /// secret of the right form). The error names the key and the place, never the value.
    pub fn read(&self) -> Result<Secret, UnreadableSecret> {
        let problem = |problem: String| UnreadableSecret {
            key: self.key.clone(),
            what: self.what.to_string(),
            problem,
        };
        let secret = self.source.resolve().map_err(|e| problem(e.to_string()))?;
        if self.is_url {
            deliver::check_url(&secret)
                .map_err(|e| problem(format!("the {}: {e}", self.source)))?;
        } else {
            deliver::sign(&secret, "check", 0, "")
                .map_err(|e| problem(format!("the {}: {e}", self.source)))?;
        }
        Ok(secret)
    }
}

/// `[notify]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawNotify {
    pub max_attempts: Option<i64>,
    pub backoff_ms: Option<i64>,
    pub slack: Option<RawHook>,
    pub teams: Option<RawHook>,
    pub webhook: Option<RawWebhook>,
    pub file: Option<file::RawFileSink>,
}

impl NotifySettings {
    /// The sinks turned on, in a fixed order.
    pub fn sinks(&self) -> Vec<Sink> {
        Sink::ALL
            .into_iter()
            .filter(|s| match s {
                Sink::Slack => self.slack.is_some(),
                Sink::Teams => self.teams.is_some(),
                Sink::Webhook => self.webhook.is_some(),
                Sink::File => self.file.is_some(),
            })
            .collect()
    }

    /// Every secret the configured sinks need, in sink order: each incoming webhook's URL, the
    /// generic webhook's URL and, when signing is asked for, its signing secret.
    pub fn secrets(&self) -> Vec<SecretNeed> {
        let source_key = |sink: &str, source: &SecretSource, env: &str, file: &str| {
            let key = match source {
                SecretSource::Env(_) => env,
                SecretSource::File(_) => file,
            };
            format!("notify.{sink}.{key}")
        };
        let mut out = Vec::new();
        for (sink, hook, what) in [
            (Sink::Slack, &self.slack, "the Slack webhook URL"),
            (Sink::Teams, &self.teams, "the Teams webhook URL"),
        ] {
            if let Some(h) = hook {
                out.push(SecretNeed {
                    sink,
                    what,
                    key: source_key(
                        sink.as_str(),
                        &h.webhook_url,
                        "webhook_url_env",
                        "webhook_url_file",
                    ),
                    source: h.webhook_url.clone(),
                    is_url: true,
                });
            }
        }
        if let Some(w) = &self.webhook {
            out.push(SecretNeed {
                sink: Sink::Webhook,
                what: "the webhook URL",
                key: w.url_key().to_string(),
                source: w.url.clone(),
                is_url: true,
            });
            if let Some(source) = w.signing_source() {
                out.push(SecretNeed {
                    sink: Sink::Webhook,
                    what: "the webhook's signing secret",
                    key: w.signing_key().to_string(),
                    source,
                    is_url: false,
                });
            }
        }
        out
    }

    /// The secrets of `sinks` that cannot be read or used now (a configuration error: nothing
    /// is sent until they are fixed).
    pub fn unusable_secrets(&self, sinks: &[Sink]) -> Vec<UnreadableSecret> {
        self.secrets()
            .into_iter()
            .filter(|n| sinks.contains(&n.sink))
            .filter_map(|n| n.read().err())
            .collect()
    }

    /// Validate `[notify]` and its sinks' tables.
    pub fn check(n: RawNotify, c: &mut Check<'_>) -> Self {
        let mut s = NotifySettings::default();
        s.delivery.max_attempts = c.int(
            &keys(&["notify", "max_attempts"]),
            n.max_attempts,
            s.delivery.max_attempts,
            1,
            20,
        );
        s.delivery.backoff = Duration::from_millis(u64::from(c.int(
            &keys(&["notify", "backoff_ms"]),
            n.backoff_ms,
            s.delivery.backoff.as_millis() as u32,
            0,
            60_000,
        )));
        s.slack = n
            .slack
            .and_then(|sl| HookSettings::check("slack", sl, DEFAULT_SLACK_ENV, c));
        s.teams = n
            .teams
            .and_then(|t| HookSettings::check("teams", t, DEFAULT_TEAMS_ENV, c));
        s.webhook = n.webhook.and_then(|w| WebhookSettings::check(w, c));
        s.file = n.file.and_then(|f| file::check(f, c));
        s
    }
}
