//! The outbox: which messages a run queues, and delivering everything still queued.
//!
//! The guarantee (README, "Delivery"): an incident is announced by exactly one message per sink.
//! The message is built once, stored in the same transaction that marks its incidents announced,
//! and from then on only re-sent, byte for byte, under the same idempotency key, until the
//! receiver accepts it (or someone drops it with `egresswatch outbox drop`). If the process dies
//! after the receiver accepted a message but before the store recorded it, the next run sends the
//! same message again: a receiver that deduplicates on the key (the signed webhook's
//! `webhook-id`) sees it once; Slack and Teams, which cannot deduplicate, show the same message
//! twice, never a second, different announcement.

use std::hash::{Hash, Hasher};

use super::deliver::{self, Target};
use super::{slack, teams, webhook, NotifySettings, Sink};
use crate::model::{EarlyWarning, Incident};
use crate::report::Report;
use crate::state::{NewMessage, OutboxMessage, Store};

/// A stable key for a message: sink, kind, and what it announces.
fn key(sink: Sink, report: &Report, ids: &[i64], digest: bool) -> String {
    if digest {
        return format!("egresswatch-{sink}-digest-{}", report.evaluated_day);
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let mut h = rustc_hash::FxHasher::default();
    sorted.hash(&mut h);
    format!(
        "egresswatch-{sink}-incidents-{}-{:016x}",
        report.run_date,
        h.finish()
    )
}

/// The messages announcing `incidents` (store ids `ids`), or the digest, for every sink.
pub fn build(
    cfg: &NotifySettings,
    report: &Report,
    ids: &[i64],
    incidents: &[Incident],
    digest_due: bool,
) -> Vec<NewMessage> {
    build_keyed(cfg, report, ids, incidents, digest_due, None)
}

/// [`build`], with the idempotency key's subject given (`backfill-FROM-TO`) instead of derived.
pub fn build_keyed(
    cfg: &NotifySettings,
    report: &Report,
    ids: &[i64],
    incidents: &[Incident],
    digest_due: bool,
    subject: Option<&str>,
) -> Vec<NewMessage> {
    if incidents.is_empty() && !digest_due {
        return Vec::new();
    }
    let total: f64 = incidents.iter().map(Incident::event_cost_usd).sum();
    let summary = if incidents.is_empty() {
        format!("daily digest for {}", report.evaluated_day)
    } else {
        format!(
            "{} incident(s), ${total:.2} over baseline, data through {}",
            incidents.len(),
            report.evaluated_day
        )
    };
    cfg.sinks()
        .into_iter()
        .map(|sink| {
            let id = match subject {
                Some(s) => format!("egresswatch-{sink}-{s}"),
                None => key(sink, report, ids, incidents.is_empty()),
            };
            let payload = match (sink, incidents.is_empty()) {
                (Sink::Slack, false) => slack::message(report, incidents),
                (Sink::Slack, true) => slack::digest(report),
                (Sink::Teams, false) => teams::message(report, incidents),
                (Sink::Teams, true) => teams::digest(report),
                (Sink::Webhook | Sink::File, _) => webhook::document(report, incidents, &id),
            };
            NewMessage {
                sink: sink.to_string(),
                idempotency_key: id,
                payload: payload.to_string(),
                summary: summary.clone(),
            }
        })
        .collect()
}

/// Where a queued message goes, with its secrets read now (never stored). The webhook is signed
/// whenever signing is asked for ([`super::webhook::WebhookSettings`]); a secret that cannot
/// be read is an error, never an unsigned message.
fn target(cfg: &NotifySettings, name: &str) -> anyhow::Result<Target> {
    let sink: Sink = name.parse().map_err(anyhow::Error::msg)?;
    let missing = || {
        anyhow::anyhow!("no [notify.{sink}] in the config: configure it, or drop the message (egresswatch outbox drop ID)")
    };
    let needs: Vec<_> = cfg
        .secrets()
        .into_iter()
        .filter(|n| n.sink == sink)
        .collect();
    let read = |is_url: bool| -> anyhow::Result<Option<crate::settings::Secret>> {
        match needs.iter().find(|n| n.is_url == is_url) {
            Some(n) => Ok(Some(n.read()?)),
            None => Ok(None),
        }
    };
    Ok(match sink {
        Sink::Slack | Sink::Teams => {
            let s = if sink == Sink::Slack {
                &cfg.slack
            } else {
                &cfg.teams
            };
            let s = s.as_ref().ok_or_else(missing)?;
            Target::Hook {
                url: read(true)?.ok_or_else(missing)?,
                timeout: s.timeout,
            }
        }
        Sink::Webhook => {
            let w = cfg.webhook.as_ref().ok_or_else(missing)?;
            Target::Signed {
                url: read(true)?.ok_or_else(missing)?,
                secret: read(false)?,
                timeout: w.timeout,
            }
        }
        Sink::File => Target::File(cfg.file.clone().ok_or_else(missing)?),
    })
}

/// What delivering the outbox did.
#[derive(Debug, Default)]
pub struct Delivered {
    pub delivered: usize,
    pub failed: usize,
    pub errors: Vec<String>,
}

/// A test-only fault switch: `EGRESSWATCH_FAULT=crash-after-send` aborts the process right
/// after a receiver accepted a message and before the store records it, the window the
/// delivery guarantee is about.
fn crash_after_send() -> bool {
    std::env::var("EGRESSWATCH_FAULT").is_ok_and(|v| v == "crash-after-send")
}

/// Send every queued message, oldest first.
pub async fn deliver_all(cfg: &NotifySettings, store: &mut Store) -> anyhow::Result<Delivered> {
    let queued = store.unsent_messages()?;
    deliver_messages(cfg, store, queued).await
}

/// Send these messages.
pub async fn deliver_messages(
    cfg: &NotifySettings,
    store: &mut Store,
    queued: Vec<OutboxMessage>,
) -> anyhow::Result<Delivered> {
    let mut out = Delivered::default();
    if queued.is_empty() {
        return Ok(out);
    }
    // A configured secret that cannot be read is a configuration error: send nothing (never
    // the webhook unsigned), keep every message queued, and say which key to fix.
    let mut sinks: Vec<Sink> = queued.iter().filter_map(|m| m.sink.parse().ok()).collect();
    sinks.sort();
    sinks.dedup();
    let unusable = cfg.unusable_secrets(&sinks);
    if let Some(first) = unusable.first() {
        for msg in &queued {
            if let Some(p) = unusable
                .iter()
                .find(|p| p.key.starts_with(&format!("notify.{}.", msg.sink)))
            {
                store.record_attempt(msg.id, Some(&format!("not sent: {p}")))?;
            }
        }
        return Err(anyhow::Error::new(first.clone()));
    }
    let client = deliver::client()?;
    for msg in queued {
        let target = match target(cfg, &msg.sink) {
            Ok(t) => t,
            Err(e) => {
                let e = format!("{e:#}");
                store.record_attempt(msg.id, Some(&e))?;
                out.failed += 1;
                out.errors
                    .push(format!("message {} ({}): {e}", msg.id, msg.sink));
                continue;
            }
        };
        let mut attempts: Vec<Option<String>> = Vec::new();
        let result = deliver::deliver(&client, &target, &msg, &cfg.delivery, |e| {
            attempts.push(e.map(str::to_string))
        })
        .await;
        if result.is_ok() && crash_after_send() {
            std::process::abort();
        }
        for a in &attempts {
            store.record_attempt(msg.id, a.as_deref())?;
        }
        match result {
            Ok(()) => out.delivered += 1,
            Err(e) => {
                out.failed += 1;
                out.errors.push(format!("{e:#}"));
            }
        }
    }
    Ok(out)
}

/// The messages raising early warnings (not yet in billing), one per sink.
pub fn build_warnings(cfg: &NotifySettings, warnings: &[EarlyWarning]) -> Vec<NewMessage> {
    if warnings.is_empty() {
        return Vec::new();
    }
    let mut h = rustc_hash::FxHasher::default();
    for w in warnings {
        (&w.bucket, &w.filter_id, w.hour.timestamp()).hash(&mut h);
    }
    let subject = format!("warning-{:016x}", h.finish());
    let headline = format!(
        "early warning, not yet in billing: {} bucket(s) downloading far above their hourly baseline",
        warnings.len()
    );
    let lines: Vec<String> = warnings
        .iter()
        .take(40)
        .map(|w| {
            format!(
                "{} in {}: {:.1} GB in the hour from {} vs {:.1} GB expected ({:.1} robust σ)",
                w.bucket,
                if w.region.is_empty() {
                    "its region"
                } else {
                    &w.region
                },
                w.observed_gb,
                w.hour.format("%Y-%m-%d %H:%M UTC"),
                w.expected_gb,
                w.robust_z
            )
        })
        .collect();
    let more = warnings.len().saturating_sub(lines.len());
    cfg.sinks()
        .into_iter()
        .map(|sink| {
            let id = format!("egresswatch-{sink}-{subject}");
            let payload = match sink {
                Sink::Slack => slack::warning(&headline, &lines, more),
                Sink::Teams => teams::warning(&lines),
                Sink::Webhook | Sink::File => webhook::warning(warnings, &id),
            };
            NewMessage {
                sink: sink.to_string(),
                idempotency_key: id,
                payload: payload.to_string(),
                summary: headline.clone(),
            }
        })
        .collect()
}
