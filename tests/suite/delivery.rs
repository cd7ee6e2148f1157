//! Delivery guarantees against a real HTTP server on loopback: retries, Retry-After, fail-fast
//! 4xx, a process killed between sending and recording, signatures, every sink, the digest.

use crate::common;

use base64::Engine as _;
use chrono::Days;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

const DATE: &str = "2026-06-16";

fn spike() -> Spike<'static> {
    Spike {
        account: "111111111111",
        usage_type: "EU-DataTransfer-Out-Bytes",
        day: day(DATE) - Days::new(1),
        factor: 20.0,
    }
}

/// A moto with the planted spike queued for a run on DATE (and a quiet refetch after it).
fn moto_with_spike(planted: bool) -> Moto {
    let moto = Moto::start();
    let to = day(DATE);
    let from = to - Days::new(121);
    let s = planted.then(spike);
    moto.queue_cost_and_usage(&[
        ce_response(from, to, to - Days::new(2), s, None),
        ce_response(to - Days::new(2), to, to, s, None),
    ]);
    moto
}

fn run(bin: &Bin, cfg: &str) -> std::process::Output {
    bin.run(&["run", "--config", cfg, "--date", DATE, "--format", "json"])
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[test]
fn a_500_then_200_delivers_once_with_one_idempotency_key() {
    let moto = moto_with_spike(true);
    let receiver = Receiver::start(&[500]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());
    let cfg = bin.write_config("[notify]\nbackoff_ms = 20\n\n[notify.slack]\n");
    let out = run(&bin, cfg.to_str().unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["notified"], 1);
    let bodies = receiver.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "one failed attempt, one delivery");
    assert_eq!(bodies[0], bodies[1], "the retry is the same message");
    let k0 = receiver.header(0, "idempotency-key").unwrap();
    assert_eq!(Some(k0.clone()), receiver.header(1, "idempotency-key"));
    assert!(k0.starts_with("egresswatch-slack-incidents-"), "{k0}");
    let again = run(&bin, cfg.to_str().unwrap());
    assert_eq!(json(&again)["notified"], 0);
    assert_eq!(receiver.bodies.lock().unwrap().len(), 2);
}

#[test]
fn a_429_with_retry_after_is_waited_for() {
    let moto = moto_with_spike(true);
    let receiver = Receiver::start_with(&[(429, Some(1))]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());
    let cfg = bin.write_config("[notify]\nbackoff_ms = 10\n\n[notify.slack]\n");
    let t = std::time::Instant::now();
    let out = run(&bin, cfg.to_str().unwrap());
    assert!(out.status.success());
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(1000),
        "Retry-After: 1 was not honoured"
    );
    assert_eq!(json(&out)["notified"], 1);
    assert_eq!(receiver.bodies.lock().unwrap().len(), 2);
}

#[test]
fn other_4xx_fail_fast_and_stay_queued_then_retry_and_drop_manage_them() {
    let moto = moto_with_spike(true);
    let receiver = Receiver::start(&[404]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());
    let cfg = bin.write_config("[notify]\nmax_attempts = 5\nbackoff_ms = 10\n\n[notify.slack]\n");
    let cfg = cfg.to_str().unwrap();
    let out = run(&bin, cfg);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        receiver.bodies.lock().unwrap().len(),
        1,
        "a 404 is not retried"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("404"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = bin.run_json(&["outbox", "list", "--format", "json", "--config", cfg], 0);
    let id = list[0]["id"].as_i64().unwrap();
    assert_eq!(list[0]["attempts"], 1);
    assert!(list[0]["last_error"].as_str().unwrap().contains("404"));
    // The receiver is fixed: `outbox retry` sends it now.
    let retry = bin.run(&["outbox", "retry", &id.to_string(), "--config", cfg]);
    assert!(
        retry.status.success(),
        "{}",
        String::from_utf8_lossy(&retry.stderr)
    );
    assert_eq!(receiver.bodies.lock().unwrap().len(), 2);
    let list = bin.run_json(&["outbox", "list", "--format", "json", "--config", cfg], 0);
    assert_eq!(list, Value::Array(vec![]));
    let dropped = bin.run(&["outbox", "drop", &id.to_string(), "--config", cfg]);
    assert_eq!(
        dropped.status.code(),
        Some(2),
        "a delivered message cannot be dropped"
    );
}

#[test]
fn a_process_killed_after_sending_does_not_make_a_second_distinct_announcement() {
    let moto = moto_with_spike(true);
    let receiver = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());
    let cfg = bin.write_config("[notify.slack]\n");
    let cfg = cfg.to_str().unwrap();
    bin.extra_env = vec![("EGRESSWATCH_FAULT".into(), "crash-after-send".into())];
    let crashed = run(&bin, cfg);
    assert!(
        !crashed.status.success(),
        "the fault switch aborts the process"
    );
    assert_eq!(
        receiver.bodies.lock().unwrap().len(),
        1,
        "the receiver got the message before the crash"
    );
    bin.extra_env.clear();
    let next = run(&bin, cfg);
    assert!(
        next.status.success(),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    let third = run(&bin, cfg);
    assert_eq!(json(&third)["notified"], 0);
    let bodies = receiver.bodies.lock().unwrap().clone();
    assert_eq!(
        bodies.len(),
        2,
        "re-sent once after the crash, then never again"
    );
    assert_eq!(
        bodies[0], bodies[1],
        "the same message, byte for byte: not a second announcement"
    );
    assert_eq!(
        receiver.header(0, "idempotency-key"),
        receiver.header(1, "idempotency-key")
    );
}

/// Verify a Standard Webhooks signature the way a receiver does.
fn verify(secret: &str, id: &str, ts: &str, body: &str, header: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = b64.encode(mac.finalize().into_bytes());
    header
        .split(' ')
        .any(|sig| sig.strip_prefix("v1,") == Some(expected.as_str()))
}

#[test]
fn every_sink_at_once_and_the_webhook_is_signed_and_versioned() {
    let moto = moto_with_spike(true);
    let slack = Receiver::start(&[]);
    let teams = Receiver::start(&[]);
    let hook = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(slack.url.clone());
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    bin.extra_env = vec![
        ("EGRESSWATCH_TEAMS_WEBHOOK_URL".into(), teams.url.clone()),
        ("EGRESSWATCH_WEBHOOK_URL".into(), hook.url.clone()),
        ("EGRESSWATCH_WEBHOOK_SECRET".into(), secret.into()),
    ];
    let siem = bin.path("siem.jsonl");
    let cfg = bin.write_config(&format!(
        "[report]\nrunbook_url = \"https://wiki.example/egress\"\n\n[notify.slack]\n[notify.teams]\n[notify.webhook]\n[notify.file]\npath = \"{}\"\n",
        siem.display()
    ));
    let cfg = cfg.to_str().unwrap();
    let out = run(&bin, cfg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["notified"], 4);

    // The signed webhook: verified as a receiver would, within its 5-minute tolerance.
    let body = hook.bodies.lock().unwrap()[0].clone();
    let id = hook.header(0, "webhook-id").unwrap();
    let ts = hook.header(0, "webhook-timestamp").unwrap();
    let sig = hook.header(0, "webhook-signature").unwrap();
    assert!(verify(secret, &id, &ts, &body, &sig), "signature {sig}");
    assert!(
        !verify(
            secret,
            &id,
            &ts,
            &body.replace("eu-west-1", "eu-west-2"),
            &sig
        ),
        "a changed body fails"
    );
    let now = chrono::Utc::now().timestamp();
    assert!((now - ts.parse::<i64>().unwrap()).abs() < 300);
    assert_eq!(Some(id.clone()), hook.header(0, "idempotency-key"));
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["schema"], "egresswatch.report/v1");
    assert_eq!(doc["id"], id);
    let inc = &doc["incidents"][0];
    for k in [
        "account",
        "region",
        "family",
        "day",
        "start",
        "observed",
        "expected",
        "excess_usage",
        "total_excess_cost_usd",
        "month_to_date_usd",
        "projected_month_excess_usd",
        "links",
    ] {
        assert!(
            inc.get(k).is_some(),
            "{k} missing from the webhook document"
        );
    }
    assert!(inc["links"].to_string().contains("wiki.example/egress"));

    // Teams: an Adaptive Card in a Workflows message.
    let card: Value = serde_json::from_str(&teams.bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(card["type"], "message");
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["attachments"][0]["content"]["type"], "AdaptiveCard");
    assert!(card.to_string().len() < 28_000);

    // The SIEM file holds the same document as the webhook.
    let line = std::fs::read_to_string(&siem).unwrap();
    let file_doc: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(file_doc["schema"], "egresswatch.report/v1");
    assert_eq!(file_doc["incidents"][0]["account"], "111111111111");

    // check-config shows the wiring with every secret masked.
    let cc = bin.run(&["check-config", cfg]);
    let shown = String::from_utf8_lossy(&cc.stdout);
    assert!(shown.contains("http://127.0.0.1/****"), "{shown}");
    assert!(
        !shown.contains("secret-token") && !shown.contains("MfKQ9r8"),
        "{shown}"
    );
}

#[test]
fn daily_mode_sends_one_all_clear_a_day_with_a_sparkline() {
    let moto = moto_with_spike(false);
    let receiver = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());
    let cfg = bin.write_config("[report]\nmode = \"daily\"\n\n[notify.slack]\n");
    let cfg = cfg.to_str().unwrap();
    let out = run(&bin, cfg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(json(&out)["incidents"].as_array().unwrap().is_empty());
    let msgs = receiver.received();
    assert_eq!(msgs.len(), 1);
    let text = msgs[0].to_string();
    assert!(
        msgs[0]["text"]
            .as_str()
            .unwrap()
            .contains("no S3 egress incidents"),
        "{text}"
    );
    assert!(
        text.contains("eu-west-1") && text.contains("ap-southeast-2"),
        "{text}"
    );
    assert!(
        text.chars().any(|c| ('▁'..='█').contains(&c)),
        "a sparkline: {text}"
    );
    // The same day's digest is not sent twice.
    let again = run(&bin, cfg);
    assert!(again.status.success());
    assert_eq!(receiver.received().len(), 1);
}
