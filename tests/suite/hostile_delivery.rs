//! Hostile receivers and misplaced secrets (issue 16), against the real binary, moto and real
//! loopback HTTP servers: redirects are never followed, a configured secret that cannot be read
//! is a configuration error (never an unsigned message), a secret pasted into the wrong key is
//! never echoed anywhere, a receiver's error body is read and stored bounded, and network
//! failures read as one human line that names their kind.

use crate::common;

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use chrono::Days;
use common::*;
use serde_json::Value;

const DATE: &str = "2026-06-16";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A moto with a planted spike queued for a run on DATE.
fn moto_with_spike() -> Moto {
    let moto = Moto::start();
    let to = day(DATE);
    let from = to - Days::new(121);
    let s = Some(Spike {
        account: "111111111111",
        usage_type: "EU-DataTransfer-Out-Bytes",
        day: to - Days::new(1),
        factor: 20.0,
    });
    moto.queue_cost_and_usage(&[
        ce_response(from, to, to - Days::new(2), s, None),
        ce_response(to - Days::new(2), to, to, s, None),
    ]);
    moto
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

/// One scripted answer: status, extra headers, and a body of `len` bytes (`fill` repeated, or
/// `text` when given).
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    text: Option<String>,
    len: usize,
}

impl Answer {
    fn redirect(status: u16, location: &str) -> Answer {
        Answer {
            status,
            headers: vec![("Location".into(), location.into())],
            text: Some(String::new()),
            len: 0,
        }
    }
}

/// A loopback server that answers with the scripted answers in turn (200 once they run out)
/// and counts the requests it got.
struct Scripted {
    url: String,
    hits: Arc<Mutex<usize>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Scripted {
    fn start(answers: Vec<Answer>) -> Scripted {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let hits = Arc::new(Mutex::new(0));
        let (s, h) = (server.clone(), hits.clone());
        let mut answers = answers;
        answers.reverse();
        let thread = std::thread::spawn(move || {
            for mut req in s.incoming_requests() {
                let mut sink = Vec::new();
                let _ = req.as_reader().read_to_end(&mut sink);
                *h.lock().unwrap() += 1;
                let a = answers.pop().unwrap_or(Answer {
                    status: 200,
                    headers: vec![],
                    text: Some("ok".into()),
                    len: 2,
                });
                let headers: Vec<tiny_http::Header> = a
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap()
                    })
                    .collect();
                let (reader, len): (Box<dyn Read + Send>, usize) = match a.text {
                    Some(t) => {
                        let n = t.len();
                        (Box::new(std::io::Cursor::new(t.into_bytes())), n)
                    }
                    None => (Box::new(std::io::repeat(b'E').take(a.len as u64)), a.len),
                };
                let resp = tiny_http::Response::new(
                    tiny_http::StatusCode(a.status),
                    headers,
                    reader,
                    Some(len),
                    None,
                );
                let _ = req.respond(resp);
            }
        });
        Scripted {
            url: format!("http://127.0.0.1:{port}/hook/secret-token"),
            hits,
            server,
            thread: Some(thread),
        }
    }

    fn hits(&self) -> usize {
        *self.hits.lock().unwrap()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The outbox as `outbox list --all --format json` shows it.
fn outbox(bin: &Bin, cfg: &str) -> Value {
    bin.run_json(
        &[
            "outbox", "list", "--all", "--format", "json", "--config", cfg,
        ],
        0,
    )
}

/// Every `last_error` the store holds, read from the SQLite file itself.
fn stored_errors(bin: &Bin) -> Vec<String> {
    let conn = rusqlite::Connection::open(bin.path("state.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT last_error FROM outbox WHERE last_error IS NOT NULL")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_redirect_is_never_followed_and_the_message_stays_queued() {
    let moto = moto_with_spike();
    // Where a hostile (or moved) receiver points: plain http, another port.
    let elsewhere = Receiver::start(&[]);
    let location = format!("{}?leak=1", elsewhere.url);
    let hook = Scripted::start(vec![
        Answer::redirect(307, &location),
        Answer::redirect(302, &location),
    ]);
    let mut bin = Bin::new(&moto.url);
    bin.extra_env = vec![
        ("EGRESSWATCH_WEBHOOK_URL".into(), hook.url.clone()),
        ("EGRESSWATCH_WEBHOOK_SECRET".into(), SECRET.into()),
    ];
    let cfg = bin.write_config("[notify]\nbackoff_ms = 10\n\n[notify.webhook]\n");
    let cfg = cfg.to_str().unwrap();
    let out = bin.run(&["run", "--config", cfg, "--date", DATE, "--format", "json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("redirect"), "{stderr}");
    assert!(
        !stderr.contains("leak=1") && !stderr.contains(&elsewhere.url),
        "{stderr}"
    );
    assert_eq!(hook.hits(), 1, "a redirect is not retried within the run");
    assert_eq!(
        elsewhere.bodies.lock().unwrap().len(),
        0,
        "the redirect target received nothing (no body, no signature)"
    );
    let list = outbox(&bin, cfg);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    assert!(list[0]["sent_at"].is_null(), "still queued: {list:#}");
    let err = list[0]["last_error"].as_str().unwrap();
    assert!(err.contains("redirect") && !err.contains("leak=1"), "{err}");

    // A 302 on the retry: not followed either.
    let retry = bin.run(&["outbox", "retry", "--config", cfg]);
    assert_eq!(retry.status.code(), Some(1), "{}", text(&retry.stderr));
    assert!(text(&retry.stderr).contains("redirect"));
    assert_eq!(hook.hits(), 2);
    assert_eq!(elsewhere.bodies.lock().unwrap().len(), 0);
    assert!(outbox(&bin, cfg)[0]["sent_at"].is_null());
}

#[test]
fn a_signing_secret_that_cannot_be_read_is_a_config_error_and_nothing_goes_out_unsigned() {
    let moto = moto_with_spike();
    let receiver = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.extra_env = vec![("EGRESSWATCH_WEBHOOK_URL".into(), receiver.url.clone())];

    // A secret file that does not exist.
    let cfg = bin.write_config("[notify.webhook]\nsecret_file = \"/nonexistent\"\n");
    let cfg = cfg.to_str().unwrap();
    let check = bin.run(&["check-config", cfg]);
    let stderr = text(&check.stderr);
    assert_eq!(check.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("notify.webhook.secret_file") && stderr.contains("/nonexistent"),
        "{stderr}"
    );
    let out = bin.run(&["run", "--config", cfg, "--date", DATE, "--format", "json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("notify.webhook.secret_file"), "{stderr}");
    assert!(
        receiver.bodies.lock().unwrap().is_empty(),
        "nothing was sent unsigned"
    );
    // The run stopped before it did anything: nothing announced, nothing lost (the next run
    // with a readable secret judges the same day).
    let list = outbox(&bin, cfg);
    assert!(
        list.as_array().is_some_and(|l| l.is_empty()),
        "nothing queued: {list:#}"
    );

    // A named variable that is not set.
    let cfg = bin.write_config("[notify.webhook]\nsecret_env = \"MY_UNSET_SIGNING_SECRET\"\n");
    let check = bin.run(&["check-config", cfg.to_str().unwrap()]);
    let stderr = text(&check.stderr);
    assert_eq!(check.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("notify.webhook.secret_env")
            && stderr.contains("MY_UNSET_SIGNING_SECRET is not set"),
        "{stderr}"
    );

    // The default variable set to nothing asks for signing too.
    let cfg = bin.write_config("[notify.webhook]\n");
    let cfg = cfg.to_str().unwrap();
    bin.extra_env
        .push(("EGRESSWATCH_WEBHOOK_SECRET".into(), String::new()));
    let check = bin.run(&["check-config", cfg]);
    assert_eq!(check.status.code(), Some(2), "{}", text(&check.stderr));
    assert!(text(&check.stderr).contains("is empty"));

    // Nothing asks for signing: the webhook goes out unsigned, and check-config says so.
    bin.extra_env.pop();
    let check = bin.run(&["check-config", cfg]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert!(
        text(&check.stdout).contains("unsigned"),
        "{}",
        text(&check.stdout)
    );
    let out = bin.run(&["run", "--config", cfg, "--date", DATE, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(receiver.bodies.lock().unwrap().len(), 1);
    assert_eq!(receiver.header(0, "webhook-signature"), None);
}

#[test]
fn an_unset_webhook_url_is_a_config_error() {
    let bin = Bin::new("http://127.0.0.1:9");
    let cfg = bin.write_config("[notify.slack]\nwebhook_url_env = \"MY_UNSET_SLACK_HOOK\"\n");
    let check = bin.run(&["check-config", cfg.to_str().unwrap()]);
    let stderr = text(&check.stderr);
    assert_eq!(check.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("notify.slack.webhook_url_env")
            && stderr.contains("MY_UNSET_SLACK_HOOK is not set"),
        "{stderr}"
    );
}

#[test]
fn a_secret_pasted_into_the_wrong_key_is_refused_and_never_echoed() {
    let slack = "https://hooks.slack.com/services/T0PASTED/B0PASTED/XpastedXtokenX";
    let teams = "https://prod-01.westus.logic.azure.com:443/workflows/0pasted0/triggers";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "webhook",
            format!("secret_env = \"{SECRET}\""),
            "secret_env",
        ),
        ("webhook", format!("url_env = \"{slack}\""), "url_env"),
        ("webhook", format!("url_file = \"{slack}\""), "url_file"),
        (
            "webhook",
            format!("secret_file = \"{SECRET}\""),
            "secret_file",
        ),
        (
            "slack",
            format!("webhook_url_env = \"{slack}\""),
            "webhook_url_env",
        ),
        (
            "slack",
            format!("webhook_url_file = \"{slack}\""),
            "webhook_url_file",
        ),
        (
            "teams",
            format!("webhook_url_file = \"{teams}\""),
            "webhook_url_file",
        ),
        (
            "webhook",
            "secret_env = \"3f2a9c0d11e4b7a23f2a9c0d11e4b7a2\"".to_string(),
            "secret_env",
        ),
    ];
    let receiver = Receiver::start(&[]);
    for (table, line, key) in cases {
        let value = line.split('"').nth(1).unwrap().to_string();
        let mut bin = Bin::new(&format!("http://127.0.0.1:{}", closed_port()));
        bin.webhook = Some(receiver.url.clone());
        bin.extra_env = vec![("EGRESSWATCH_WEBHOOK_URL".into(), receiver.url.clone())];
        let cfg = bin.write_config(&format!("[notify.{table}]\n{line}\n"));
        let cfg = cfg.to_str().unwrap();
        let leaked = |what: &str, out: &std::process::Output| {
            for s in [text(&out.stdout), text(&out.stderr)] {
                assert!(
                    !s.contains(&value) && !s.contains("pasted0") && !s.contains("MfKQ9r8"),
                    "{what} echoed the secret of {table}.{key}:\n{s}"
                );
            }
        };
        let check = bin.run(&["check-config", cfg]);
        assert_eq!(check.status.code(), Some(2), "{table}.{key}");
        let stderr = text(&check.stderr);
        assert!(
            stderr.contains(&format!("notify.{table}.{key}")) && stderr.contains("pasted"),
            "{table}.{key}: {stderr}"
        );
        leaked("check-config", &check);
        let run = bin.run(&["run", "--config", cfg, "--date", DATE, "--format", "json"]);
        assert_eq!(run.status.code(), Some(2), "{table}.{key}");
        leaked("run --format json", &run);
        let list = bin.run(&["outbox", "list", "--config", cfg]);
        leaked("outbox list", &list);
        if let Ok(db) = std::fs::read(bin.path("state.db")) {
            assert!(!text(&db).contains(&value), "the store holds the secret");
        }
    }
    assert!(receiver.bodies.lock().unwrap().is_empty());
}

#[test]
fn a_secret_file_holding_the_wrong_secret_is_refused_without_echo() {
    let bin = Bin::new("http://127.0.0.1:9");
    // The signing secret where the URL belongs, and the URL where the signing secret belongs.
    let url_file = bin.path("url");
    std::fs::write(&url_file, SECRET).unwrap();
    let secret_file = bin.path("secret");
    std::fs::write(
        &secret_file,
        "https://hooks.slack.com/services/T0/B0/inthefile",
    )
    .unwrap();
    let cfg = bin.write_config(&format!(
        "[notify.webhook]\nurl_file = \"{}\"\nsecret_file = \"{}\"\n",
        url_file.display(),
        secret_file.display()
    ));
    let check = bin.run(&["check-config", cfg.to_str().unwrap()]);
    let stderr = text(&check.stderr);
    assert_eq!(check.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(
        stderr.contains("notify.webhook.url_file") && stderr.contains("notify.webhook.secret_file")
    );
    for s in [stderr, text(&check.stdout)] {
        assert!(!s.contains("MfKQ9r8") && !s.contains("inthefile"), "{s}");
    }
}

#[test]
fn a_receiver_error_body_is_read_bounded_and_stored_short_and_masked() {
    let moto = moto_with_spike();
    let huge = Answer {
        status: 500,
        headers: vec![],
        text: None,
        len: 50 * 1024 * 1024,
    };
    let echo = Answer {
        status: 500,
        headers: vec![],
        text: Some(
            "no_service for https://hooks.slack.com/services/T000/B000/echoed-token \u{1b}[31m\n\u{202e}"
                .into(),
        ),
        len: 0,
    };
    let hook = Scripted::start(vec![huge, echo]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(hook.url.clone());
    let cfg = bin.write_config("[notify]\nmax_attempts = 1\n\n[notify.slack]\n");
    let cfg = cfg.to_str().unwrap();
    let t = std::time::Instant::now();
    let out = bin.run(&["run", "--config", cfg, "--date", DATE, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(t.elapsed() < std::time::Duration::from_secs(30));
    let errors = stored_errors(&bin);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("500"), "{}", errors[0]);
    assert!(
        errors[0].chars().count() <= 300,
        "{} chars",
        errors[0].len()
    );

    // A body that echoes the URL and carries escapes: masked and cleaned.
    let retry = bin.run(&["outbox", "retry", "--config", cfg]);
    assert_eq!(retry.status.code(), Some(1));
    let errors = stored_errors(&bin);
    let e = &errors[0];
    assert!(
        e.contains("no_service") && !e.contains("echoed-token"),
        "{e}"
    );
    assert!(
        !e.contains('\u{1b}') && !e.contains('\u{202e}') && !e.contains('\n'),
        "{e:?}"
    );
    let list = text(
        &bin.run(&["outbox", "list", "--format", "json", "--config", cfg])
            .stdout,
    );
    assert!(
        !list.contains("echoed-token") && !list.contains("secret-token"),
        "{list}"
    );
    let stderr = text(&retry.stderr);
    assert!(
        !stderr.contains("echoed-token") && !stderr.contains("secret-token"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_receiver_reads_connection_refused() {
    let moto = moto_with_spike();
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(format!(
        "http://127.0.0.1:{}/services/T000/B000/secret-token",
        closed_port()
    ));
    let cfg = bin.write_config("[notify]\nmax_attempts = 1\n\n[notify.slack]\n");
    let cfg = cfg.to_str().unwrap();
    let out = bin.run(&["run", "--config", cfg, "--date", DATE, "--format", "json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("egresswatch: error:"), "{stderr}");
    assert!(last.contains("connection refused"), "{last}");
    for bad in ["DispatchFailure", "ConnectorError", "secret-token", "{ "] {
        assert!(!stderr.contains(bad), "{bad} in:\n{stderr}");
    }
    let e = &stored_errors(&bin)[0];
    assert!(e.contains("connection refused"), "{e}");
}

#[test]
fn cost_explorer_at_a_closed_port_is_one_human_line() {
    let mut bin = Bin::new(&format!("http://127.0.0.1:{}", closed_port()));
    bin.extra_env = vec![("RUST_LOG".into(), "off".into())];
    let cfg = bin.write_config("");
    let out = bin.run(&["run", "--config", cfg.to_str().unwrap(), "--date", DATE]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line:\n{stderr}");
    assert!(stderr.starts_with("egresswatch: error:"), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    for bad in [
        "DispatchFailure",
        "ConnectorError",
        "ProviderChainError",
        "{ ",
    ] {
        assert!(!stderr.contains(bad), "{bad} in:\n{stderr}");
    }
    assert!(stderr.chars().count() < 600, "{stderr}");
}

#[test]
fn a_receiver_that_times_out_cannot_be_resolved_or_speaks_no_tls_says_so() {
    let moto = moto_with_spike();
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    // Plain HTTP where https is expected: answers the ClientHello with an HTTP line at once and
    // keeps the connection open (the client, not the server, ends it).
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::Write;
        let mut open = Vec::new();
        for mut conn in plain.incoming().flatten() {
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            open.push(conn);
        }
    });
    let mut bin = Bin::new(&moto.url);
    bin.extra_env = vec![("RUST_LOG".into(), "off".into())];
    bin.webhook = Some(format!(
        "http://127.0.0.1:{silent_port}/services/T/B/secret-token"
    ));
    let cfg =
        bin.write_config("[notify]\nmax_attempts = 1\n\n[notify.slack]\ntimeout_seconds = 1\n");
    let cfg = cfg.to_str().unwrap();
    let out = bin.run(&["run", "--config", cfg, "--date", DATE, "--format", "json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("could not reach the receiver: timed out"),
        "{stderr}"
    );

    let cases = [
        (
            "https://egresswatch-test.invalid/services/T/B/secret-token".to_string(),
            "cannot resolve host",
        ),
        (
            format!("https://127.0.0.1:{plain_port}/services/T/B/secret-token"),
            "TLS error",
        ),
    ];
    for (url, kind) in cases {
        bin.webhook = Some(url);
        let retry = bin.run(&["outbox", "retry", "--config", cfg]);
        let stderr = text(&retry.stderr);
        assert_eq!(
            retry.status.code(),
            Some(1),
            "{kind} {:?} {stderr}",
            retry.status
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(kind), "{kind}: {stderr}");
        for bad in [
            "error sending request",
            "secret-token",
            "{ ",
            "ConnectorError",
        ] {
            assert!(!stderr.contains(bad), "{bad} in {stderr}");
        }
    }
    drop(silent);
}
