//! Running it unattended: state on S3 with conditional writes, the local lock, logs and the
//! run summary, init, completions and the man page, and the IAM policy against the code.

use crate::common;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use chrono::Days;
use common::*;
use egresswatch::state::remote as remote_state;
use egresswatch::state::SyncBatch;
use serde_json::Value;

fn s3(url: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn batch(day: &str) -> SyncBatch {
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
    let mut b = SyncBatch {
        start: d,
        end: d + Days::new(1),
        pages: 1,
        ..Default::default()
    };
    b.days.insert(d, true);
    b
}

#[test]
fn overlapping_runs_on_s3_state_the_second_fails_cleanly_and_the_store_is_intact() {
    let moto = Moto::start();
    let created = reqwest::blocking::Client::new()
        .put(format!("{}/state-bucket", moto.url))
        .send()
        .unwrap();
    assert!(created.status().is_success());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(overlapping(&moto.url));
}

async fn overlapping(url: &str) {
    let moto_url = url.to_string();
    let path = std::path::Path::new("s3://state-bucket/egresswatch/state.db");

    // First ever run, twice at once: both find no object; the first to save wins.
    let mut a = remote_state::open(path, Some(s3(&moto_url))).await.unwrap();
    let mut b = remote_state::open(path, Some(s3(&moto_url))).await.unwrap();
    b.store.apply_sync(&batch("2026-06-01")).unwrap();
    b.save().await.unwrap();
    a.store.apply_sync(&batch("2026-06-02")).unwrap();
    let e = format!("{:#}", a.save().await.unwrap_err());
    assert!(e.contains("another egresswatch run wrote the state"), "{e}");

    // Later runs: both fetch the same version; the second to save is refused.
    let mut c = remote_state::open(path, Some(s3(&moto_url))).await.unwrap();
    let mut d = remote_state::open(path, Some(s3(&moto_url))).await.unwrap();
    assert_eq!(
        c.store.request_log().unwrap().len(),
        1,
        "b's store was saved, not a's"
    );
    c.store.apply_sync(&batch("2026-06-03")).unwrap();
    c.save().await.unwrap();
    d.store.apply_sync(&batch("2026-06-04")).unwrap();
    assert!(d.save().await.is_err());

    let e = remote_state::open(path, Some(s3(&moto_url))).await.unwrap();
    let log = e.store.request_log().unwrap();
    let starts: Vec<String> = log.iter().map(|(s, _, _)| s.to_string()).collect();
    assert_eq!(
        starts,
        ["2026-06-01", "2026-06-03"],
        "the store holds exactly the runs that saved"
    );
}

#[test]
fn init_writes_a_valid_starter_config_and_never_overwrites() {
    let bin = Bin::new("http://127.0.0.1:9");
    let p = bin.path("egresswatch.toml");
    let out = bin.run(&["init", p.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = bin.run(&["check-config", p.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    std::fs::write(&p, "# mine\n").unwrap();
    let again = bin.run(&["init", p.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "# mine\n",
        "the existing file is untouched"
    );
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let bin = Bin::new("http://127.0.0.1:9");
    for shell in ["bash", "zsh", "fish"] {
        let out = bin.run(&["completions", shell]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("egresswatch") && text.contains("backfill"),
            "{shell}"
        );
    }
    let man = bin.run(&["man"]);
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(
        text.contains(".TH egresswatch 1") && text.contains("check\\-config"),
        "{}",
        &text[..text.len().min(400)]
    );
}

#[test]
fn a_local_store_is_locked_while_a_run_holds_it() {
    let bin = Bin::new("http://127.0.0.1:9");
    let cfg = bin.write_config("");
    let db = bin.path("state.db");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(format!("{}.lock", db.display()))
        .unwrap();
    lock.try_lock().unwrap();
    let out = bin.run(&[
        "sync",
        "--config",
        cfg.to_str().unwrap(),
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-02",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another egresswatch run is using"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_run_ends_with_one_summary_line_in_text_or_json() {
    let moto = Moto::start();
    let date = day("2026-06-16");
    let from = date - Days::new(121);
    moto.queue_cost_and_usage(&[ce_response(from, date, date, None, None)]);
    let bin = Bin::new(&moto.url);
    let cfg = bin.write_config("");
    let out = bin.run(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--date",
        "2026-06-16",
        "--log-format",
        "json",
        "--quiet",
    ]);
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("run summary"),
        "--quiet silences it"
    );
    let out = bin.run(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--date",
        "2026-06-16",
        "--log-format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["fields"]["message"], "run summary");
    for k in [
        "day_checked",
        "series",
        "incidents",
        "messages_delivered",
        "cost_explorer_requests",
        "cost_explorer_cost_usd",
        "trail_files_read",
    ] {
        assert!(last["fields"].get(k).is_some(), "{k}");
    }
    // Every log line is JSON in that mode.
    for l in stderr.lines() {
        assert!(serde_json::from_str::<Value>(l).is_ok(), "not JSON: {l}");
    }
}
