//! The daily job end to end: the real binary against moto's Cost Explorer and a real HTTP
//! receiver standing in for Slack.

use crate::common;

use chrono::Days;
use common::*;
use serde_json::Value;

const DATE: &str = "2026-06-16"; // run date: evaluates 2026-06-15, a Monday

fn spike_day() -> chrono::NaiveDate {
    day(DATE) - Days::new(1)
}

fn planted() -> Spike<'static> {
    Spike {
        account: "111111111111",
        usage_type: "EU-DataTransfer-Out-Bytes",
        day: spike_day(),
        factor: 20.0,
    }
}

/// The cold request of a run on DATE covers the detector's history (`detect.history_days`,
/// 120) before the evaluated day, and that day: up to DATE, exclusive.
fn cold_range() -> (chrono::NaiveDate, chrono::NaiveDate) {
    (spike_day() - Days::new(120), day(DATE))
}

/// `egresswatch run --format json` as of `date`, expecting exit 0.
fn run_on(bin: &Bin, cfg: &str, date: &str) -> Value {
    bin.run_json(
        &["run", "--config", cfg, "--date", date, "--format", "json"],
        0,
    )
}

fn incidents(v: &Value) -> Vec<Value> {
    v["incidents"].as_array().unwrap().clone()
}

#[test]
fn run_reports_the_planted_spike_and_delivers_it_exactly_once() {
    let moto = Moto::start();
    let (from, to) = cold_range();
    let estimated_from = to - Days::new(2);
    moto.queue_cost_and_usage(&[
        ce_response(from, to, estimated_from, Some(planted()), None),
        // The second run refetches the two estimated days, now final.
        ce_response(estimated_from, to, to, Some(planted()), None),
    ]);
    let receiver = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());
    let cfg =
        bin.write_config("[notify.slack]\nwebhook_url_env = \"EGRESSWATCH_SLACK_WEBHOOK_URL\"\n");
    let cfg = cfg.to_str().unwrap();

    let first = run_on(&bin, cfg, DATE);
    assert_eq!(first["cost_explorer_requests"], 1, "{first:#}");
    let found = incidents(&first);
    assert_eq!(
        found.len(),
        1,
        "only the planted spike should fire: {first:#}"
    );
    let i = &found[0];
    assert_eq!(i["account"], "111111111111");
    assert_eq!(i["region"], "eu-west-1");
    assert_eq!(i["family"], "internet-out");
    assert_eq!(i["day"], spike_day().to_string());
    assert_eq!(i["unit"], "GB");
    // The expected value is the same-weekday median of the generated series; the observed one is
    // the planted multiple of that day's usage.
    let normal = usage_on(50.0, spike_day());
    let observed = i["observed"].as_f64().unwrap();
    assert!(
        (observed - normal * 20.0).abs() < 1e-3,
        "observed {observed}, planted {}",
        normal * 20.0
    );
    let expected = i["expected"].as_f64().unwrap();
    assert!(
        expected > 0.8 * normal && expected < 1.2 * normal,
        "expected {expected} vs normal {normal}"
    );
    let excess = i["excess_usage"].as_f64().unwrap();
    assert!((excess - (observed - expected)).abs() < 1e-6);
    assert!((i["excess_cost_usd"].as_f64().unwrap() - excess * 0.09).abs() < 1e-6);
    assert!(
        i["reason"].as_str().unwrap().contains("robust σ"),
        "{}",
        i["reason"]
    );
    assert_eq!(first["notified"], 1);

    let got = receiver.received();
    assert_eq!(got.len(), 1, "one message per run");
    assert!(receiver.content_types.lock().unwrap()[0].starts_with("application/json"));
    let text = got[0]["text"].as_str().unwrap();
    assert!(text.contains("1 S3 egress incident"), "{text}");
    let blocks = got[0]["blocks"].to_string();
    assert!(
        blocks.contains("eu-west-1") && blocks.contains("prod-data (111111111111)"),
        "{blocks}"
    );

    // The next run: the same incident is reported but not delivered again.
    let second = run_on(&bin, cfg, DATE);
    assert_eq!(second["notified"], 0, "{second:#}");
    assert_eq!(incidents(&second).len(), 1);
    assert_eq!(incidents(&second)[0]["already_notified"], true);
    assert_eq!(receiver.received().len(), 1, "nothing is announced twice");
}

#[test]
fn warm_daily_run_requests_only_the_recent_window() {
    let moto = Moto::start();
    let (from, to) = cold_range();
    let estimated_from = to - Days::new(2);
    let next_date = day(DATE) + Days::new(1);
    moto.queue_cost_and_usage(&[
        ce_response(from, to, estimated_from, None, None),
        ce_response(estimated_from, next_date, to, None, None),
    ]);
    let bin = Bin::new(&moto.url);
    let cfg = bin.write_config("");
    let cfg = cfg.to_str().unwrap();

    let cold = run_on(&bin, cfg, DATE);
    let warm = run_on(&bin, cfg, &next_date.to_string());
    assert_eq!(cold["cost_explorer_requests"], 1);
    assert_eq!(warm["cost_explorer_requests"], 1);

    // What moto actually received: the cold range, then only the estimated days and the new one.
    let reqs = moto.cost_and_usage_requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert_eq!(reqs[0]["TimePeriod"]["Start"], from.to_string());
    assert_eq!(reqs[0]["TimePeriod"]["End"], to.to_string());
    assert_eq!(reqs[1]["TimePeriod"]["Start"], estimated_from.to_string());
    assert_eq!(reqs[1]["TimePeriod"]["End"], next_date.to_string());
    for r in &reqs {
        assert_eq!(r["Granularity"], "DAILY");
        let filter = r["Filter"].to_string();
        assert!(
            filter.contains("Amazon Simple Storage Service") && filter.contains("GetObject"),
            "{filter}"
        );
        let keys: Vec<_> = r["GroupBy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["Key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["LINKED_ACCOUNT", "USAGE_TYPE"]);
    }

    // A third run on the same day finds everything final but the newest day: still one
    // request, over that day alone.
    let third = run_on(&bin, cfg, &next_date.to_string());
    assert!(third["cost_explorer_requests"].as_u64().unwrap() <= 1);
}

#[test]
fn paging_stores_every_page() {
    let moto = Moto::start();
    let from = day("2026-03-01");
    let mid = day("2026-03-20");
    let to = day("2026-04-01");
    moto.queue_cost_and_usage(&[
        ce_response(from, mid, to, None, Some("page-2-token")),
        ce_response(mid, to, to, None, None),
    ]);
    let bin = Bin::new(&moto.url);
    let cfg = bin.write_config("");
    let cfg = cfg.to_str().unwrap();
    let out = bin.run(&[
        "sync",
        "--config",
        cfg,
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("2 Cost Explorer request(s) ($0.02)"),
        "{stdout}"
    );

    let reqs = moto.cost_and_usage_requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0].get("NextPageToken").is_none());
    assert_eq!(reqs[1]["NextPageToken"], "page-2-token");

    let points = bin.run_json(&["series", "--config", cfg, "--format", "json"], 0);
    let points = points.as_array().unwrap();
    assert_eq!(points.len(), 31 * SERIES.len(), "both pages stored");
    let first = points.iter().find(|p| p["day"] == "2026-03-01").unwrap();
    let last = points.iter().find(|p| p["day"] == "2026-03-31").unwrap();
    for p in [first, last] {
        for key in [
            "day",
            "account",
            "region",
            "family",
            "usage_type",
            "usage",
            "unit",
            "cost_usd",
            "estimated",
        ] {
            assert!(p.get(key).is_some(), "{key} missing in {p}");
        }
    }
    // The filters of `series` narrow what it shows.
    let eu = bin.run_json(
        &[
            "series",
            "--config",
            cfg,
            "--format",
            "json",
            "--region",
            "eu-west-1",
            "--family",
            "internet-out",
        ],
        0,
    );
    assert_eq!(eu.as_array().unwrap().len(), 31);
}

#[test]
fn a_receiver_that_stays_down_leaves_the_message_queued_for_the_next_run() {
    let moto = Moto::start();
    let (from, to) = cold_range();
    moto.queue_cost_and_usage(&[ce_response(from, to, to, Some(planted()), None)]);
    let mut bin = Bin::new(&moto.url);
    // Nothing listens on port 9: every attempt fails.
    bin.webhook = Some("http://127.0.0.1:9/services/T000/B000/secret-token".into());
    let cfg = bin.write_config("[notify]\nmax_attempts = 2\nbackoff_ms = 10\n\n[notify.slack]\n");
    let cfg = cfg.to_str().unwrap();

    let out = bin.run(&["run", "--config", cfg, "--date", DATE, "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed delivery is a runtime failure"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["notified"], 0);
    assert_eq!(v["pending_delivery"], 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stay queued"), "{stderr}");
    assert!(
        !stderr.contains("secret-token"),
        "the webhook URL leaked into stderr:\n{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("secret-token"));
    let listed = bin.run(&["outbox", "list", "--config", cfg]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("queued, 2 attempt(s)") && listed.contains("1 incident(s)"),
        "{listed}"
    );

    // The receiver is back: the next run sends the queued message first, and only it.
    let receiver = Receiver::start(&[]);
    bin.webhook = Some(receiver.url.clone());
    let retry = run_on(&bin, cfg, DATE);
    assert_eq!(retry["notified"], 1);
    assert_eq!(retry["pending_delivery"], 0);
    let again = run_on(&bin, cfg, DATE);
    assert_eq!(again["notified"], 0);
    assert_eq!(receiver.received().len(), 1, "delivered once, nothing more");
}

#[test]
fn dry_run_delivers_nothing_and_records_nothing() {
    let moto = Moto::start();
    let (from, to) = cold_range();
    moto.queue_cost_and_usage(&[ce_response(from, to, to, Some(planted()), None)]);
    let receiver = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());
    let cfg = bin.write_config("[notify.slack]\n");
    let cfg = cfg.to_str().unwrap();
    let dry = bin.run_json(
        &[
            "run",
            "--config",
            cfg,
            "--date",
            DATE,
            "--dry-run",
            "--format",
            "json",
        ],
        0,
    );
    assert_eq!(incidents(&dry).len(), 1);
    assert_eq!(dry["notified"], 0);
    assert!(receiver.received().is_empty());
    // The real run after it still announces the incident.
    let real = run_on(&bin, cfg, DATE);
    assert_eq!(real["notified"], 1);
    assert_eq!(receiver.received().len(), 1);
}

#[test]
fn an_unreachable_cost_explorer_is_a_runtime_failure_with_one_line() {
    let bin = Bin::new("http://127.0.0.1:9"); // discard port: nothing listens
    let cfg = bin.write_config("");
    let out = bin.run(&["run", "--config", cfg.to_str().unwrap(), "--date", DATE]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("egresswatch: error: syncing Cost Explorer data"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_multi_day_exfiltration_is_announced_once_then_updated() {
    let moto = Moto::start();
    // Exfiltration on three consecutive days; the job runs each morning.
    let first = spike_day();
    let spikes: Vec<Spike> = (0..3)
        .map(|k| Spike {
            day: first + Days::new(k),
            ..planted()
        })
        .collect();
    let runs: Vec<chrono::NaiveDate> = (0..3).map(|k| day(DATE) + Days::new(k)).collect();
    let (from, _) = cold_range();
    let mut responses = vec![ce_response_multi(
        from,
        runs[0],
        runs[0] - Days::new(2),
        &spikes,
    )];
    for r in &runs[1..] {
        // Each warm run refetches the two days still estimated, and the new one.
        responses.push(ce_response_multi(
            *r - Days::new(3),
            *r,
            *r - Days::new(2),
            &spikes,
        ));
    }
    moto.queue_cost_and_usage(&responses);
    let receiver = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());
    let cfg = bin.write_config("[notify.slack]\n");
    let cfg = cfg.to_str().unwrap();

    let mut last = Value::Null;
    for (k, r) in runs.iter().enumerate() {
        last = run_on(&bin, cfg, &r.to_string());
        let found = incidents(&last);
        assert_eq!(found.len(), 1, "run {k}: {last:#}");
        assert_eq!(found[0]["start"], first.to_string(), "run {k}");
        assert_eq!(found[0]["days"], k + 1, "run {k}");
        assert_eq!(
            last["notified"],
            u64::from(k == 0),
            "run {k}: announced on the first morning only"
        );
    }
    assert_eq!(receiver.received().len(), 1, "announced once, then updated");
    let i = &incidents(&last)[0];
    assert_eq!(i["already_notified"], true);
    let total = i["total_excess_usage"].as_f64().unwrap();
    let today = i["excess_usage"].as_f64().unwrap();
    assert!(
        total > 2.5 * today,
        "totals cover the three days: {total} vs {today}"
    );
}

#[test]
fn incidents_name_their_callers_from_cloudtrail_and_slack_gets_them_escaped() {
    use common::trail::{day_dir, file_name, get_object, gz, records_file, write, Who};
    let moto = Moto::start();
    let (from, to) = cold_range();
    moto.queue_cost_and_usage(&[ce_response(from, to, to, Some(planted()), None)]);
    let receiver = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());

    // The trail of the spike day: a thief with a hostile user agent, and the usual app.
    let account = "111111111111";
    let day = spike_day().to_string();
    let thief = Who::User("arn:aws:iam::111111111111:user/contractor");
    let app = Who::User("arn:aws:iam::111111111111:user/app");
    let mut records = vec![];
    for i in 0..40 {
        records.push(get_object(
            &format!("{day}T03:{:02}:00Z", i),
            thief,
            "203.0.113.50",
            Some("<!channel> rclone/v1.65"),
            "exports",
            &format!("k{i}"),
            serde_json::json!(2_000_000_000u64),
            false,
            None,
        ));
    }
    records.push(get_object(
        &format!("{day}T09:00:00Z"),
        app,
        "10.0.0.5",
        Some("aws-sdk-java/2.20.0"),
        "exports",
        "daily",
        serde_json::json!(1_000),
        false,
        None,
    ));
    for r in &mut records {
        r["recipientAccountId"] = serde_json::json!(account);
    }
    let root = bin.path("trail");
    write(
        &root,
        &format!(
            "{}{}",
            day_dir(account, "eu-west-1", &day),
            file_name(account, "eu-west-1", &day, 1)
        ),
        &gz(&records_file(&records)),
    );
    let cfg = bin.write_config(&format!(
        "[notify.slack]\n\n[cloudtrail]\nsource = \"{}\"\nbaseline_days = 3\n",
        root.display()
    ));

    let v = run_on(&bin, cfg.to_str().unwrap(), DATE);
    let i = &incidents(&v)[0];
    let ct = &i["cloudtrail"];
    assert!(ct["error"].is_null(), "{ct:#}");
    let top = &ct["analysis"]["callers"][0];
    assert_eq!(
        top["principal"],
        "arn:aws:iam::111111111111:user/contractor"
    );
    assert_eq!(top["bytes_out"], 40u64 * 2_000_000_000);
    assert!(top["flags"]
        .to_string()
        .contains("bulk download tool (rclone)"));
    let rec = &ct["reconciliation"];
    assert_eq!(rec["unit"], "bytes");
    assert!(rec["attributed"].as_f64().unwrap() >= 40.0 * 2e9);
    assert!(rec["billed_excess"].as_f64().unwrap() > 0.0);

    let msg = receiver.received()[0].to_string();
    assert!(
        msg.contains("arn:aws:iam::111111111111:user/contractor"),
        "{msg}"
    );
    assert!(
        msg.contains("&lt;!channel&gt; rclone"),
        "the user agent arrives as text: {msg}"
    );
    assert!(
        !msg.contains("<!channel>"),
        "no mention can be smuggled in: {msg}"
    );
}
