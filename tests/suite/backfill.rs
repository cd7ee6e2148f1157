//! Backfill: the past replayed as the daily job would have seen it, within Cost Explorer's
//! limits, at the cost of one request per page, ending in a report a person can open.

use crate::common;

use chrono::{Days, NaiveDate, Utc};
use common::*;
use egresswatch::config::Config;
use egresswatch::jobs::sync::earliest_daily;
use egresswatch::sources::cost_explorer::{normalize, CeResponse};
use egresswatch::state::{Store, SyncBatch};
use serde_json::Value;

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn spikes(a: NaiveDate, b: NaiveDate) -> Vec<Spike<'static>> {
    [a, b]
        .into_iter()
        .map(|d| Spike {
            account: "111111111111",
            usage_type: "EU-DataTransfer-Out-Bytes",
            day: d,
            factor: 25.0,
        })
        .collect()
}

#[test]
fn a_13_month_backfill_costs_one_request_per_page_and_finds_both_leaks() {
    let today = today();
    let from = earliest_daily(today);
    let to = today - Days::new(1);
    let march = from + Days::new(160);
    let august = from + Days::new(310);
    let moto = Moto::start();
    moto.queue_cost_and_usage(&[ce_response_multi(
        from,
        today,
        today - Days::new(2),
        &spikes(march, august),
    )]);
    let bin = Bin::new(&moto.url);
    let cfg = bin.write_config("");
    let out_dir = bin.path("report");
    let out = bin.run(&[
        "backfill",
        "--config",
        cfg.to_str().unwrap(),
        "--from",
        &from.to_string(),
        "--to",
        &to.to_string(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 Cost Explorer request(s) ($0.01)"),
        "{stdout}"
    );
    assert_eq!(
        moto.cost_and_usage_requests().len(),
        1,
        "one ranged request for 13 months"
    );

    let incidents: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("incidents.json")).unwrap()).unwrap();
    let eu: Vec<&Value> = incidents
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["region"] == "eu-west-1" && i["family"] == "internet-out")
        .collect();
    let starts: Vec<&str> = eu.iter().map(|i| i["start"].as_str().unwrap()).collect();
    assert!(
        starts.contains(&march.to_string().as_str())
            && starts.contains(&august.to_string().as_str()),
        "{starts:?}"
    );
    let csv = std::fs::read_to_string(out_dir.join("incidents.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        incidents.as_array().unwrap().len() + 1,
        "one row per incident"
    );
    assert!(csv.starts_with("account,account_name,region,family,start,end"));
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("incident"),
        "charts in the report"
    );
    for external in [
        "<script",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(http",
    ] {
        assert!(
            !html.contains(external),
            "report.html must work offline: found {external}"
        );
    }

    // A second backfill over the same range needs no request at all: every day is stored final
    // except the last two, which are refetched in one request.
    let again = bin.run(&[
        "backfill",
        "--config",
        cfg.to_str().unwrap(),
        "--from",
        &from.to_string(),
        "--to",
        &(to - Days::new(3)).to_string(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 Cost Explorer request(s)"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    // The report, opened by a person: headless Chromium, no console errors, a screenshot.
    let shot = out_dir.join("report.png");
    let chromium = which_chromium();
    let run = std::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--hide-scrollbars",
            "--window-size=1200,2400",
        ])
        .arg(format!(
            "--user-data-dir={}",
            bin.path("chromium-profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", out_dir.join("report.html").display()))
        .output()
        .expect("running chromium");
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "chromium failed:\n{log}");
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:?}"
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a real screenshot ({} bytes)",
        png.len()
    );
    // Keep it where a person can look at it.
    let keep = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("backfill-report.png");
    std::fs::copy(&shot, &keep).unwrap();
    std::fs::copy(out_dir.join("report.html"), keep.with_extension("html")).unwrap();
}

pub(crate) fn which_chromium() -> String {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(c).exists() {
            return c.to_string();
        }
    }
    panic!("Debian's chromium is needed: run the tests through `bash scripts/test.sh`, which installs it");
}

#[test]
fn a_range_older_than_cost_explorer_keeps_is_explained() {
    let bin = Bin::new("http://127.0.0.1:9");
    let cfg = bin.write_config("");
    let too_old = earliest_daily(today()) - Days::new(1);
    let out = bin.run(&[
        "backfill",
        "--config",
        cfg.to_str().unwrap(),
        "--from",
        &too_old.to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains(&format!(
            "daily data goes back to {}",
            earliest_daily(today())
        )),
        "{e}"
    );
    assert!(e.contains("egresswatch import"), "{e}");
}

fn batch(resp: &Value) -> SyncBatch {
    let page: CeResponse = serde_json::from_value(resp.clone()).unwrap();
    let n = normalize(&[page]);
    SyncBatch {
        start: *n.days.keys().next().unwrap(),
        end: *n.days.keys().next_back().unwrap() + Days::new(1),
        pages: 1,
        days: n.days.iter().map(|(d, e)| (*d, !e)).collect(),
        points: n.points,
        account_names: n.account_names,
        ..Default::default()
    }
}

#[test]
fn no_look_ahead_the_same_incidents_for_a_day_with_or_without_later_days() {
    let start = day("2026-01-01");
    let d = day("2026-05-20");
    let later = d + Days::new(40);
    // A leak on day D that goes on for days after it: later data must not change what D said.
    let leak: Vec<Spike> = (0..6)
        .map(|k| Spike {
            account: "111111111111",
            usage_type: "EU-DataTransfer-Out-Bytes",
            day: d - Days::new(1) + Days::new(k),
            factor: 8.0,
        })
        .collect();
    let full = ce_response_multi(start, later, later, &leak);
    let truncated = ce_response_multi(start, d + Days::new(1), later, &leak);
    let cfg = Config::default();
    let replay = |resp: &Value| {
        let mut store = Store::open_in_memory().unwrap();
        store.apply_sync(&batch(resp)).unwrap();
        egresswatch::jobs::backfill::replay(&cfg, &store, day("2026-05-01"), d)
            .unwrap()
            .0
    };
    let with_future = replay(&full);
    let without = replay(&truncated);
    assert!(!with_future.is_empty(), "the leak is found");
    assert_eq!(
        with_future, without,
        "later days changed the verdicts of earlier days"
    );
}

#[test]
fn backfill_finds_what_the_daily_runs_found_each_morning() {
    use egresswatch::jobs::{daily, sync::SyncOutcome};
    use egresswatch::model::Incident;
    // Ten months stored, replayed over three months long after the first 120 days: a spike, a
    // five-day leak with a quiet day inside, a request flood, and an account that only starts
    // inside the range (young, then established).
    let start = day("2025-06-02");
    let (from, to) = (day("2026-01-05"), day("2026-03-31"));
    let joins = day("2026-02-02");
    let spike = |account, usage_type, d: &str, factor| Spike {
        account,
        usage_type,
        day: day(d),
        factor,
    };
    let mut planted = vec![
        spike("111111111111", "DataTransfer-Out-Bytes", "2026-01-14", 12.0),
        spike("111111111111", "EU-Requests-Tier2", "2026-03-03", 30.0),
        spike(
            "222222222222",
            "APS2-DataTransfer-Out-Bytes",
            "2026-03-18",
            25.0,
        ),
    ];
    for d in ["2026-02-16", "2026-02-17", "2026-02-19", "2026-02-20"] {
        planted.push(spike("111111111111", "EU-DataTransfer-Out-Bytes", d, 6.0));
    }
    let mut resp = ce_response_multi(start, to + Days::new(1), to + Days::new(1), &planted);
    for r in resp["ResultsByTime"].as_array_mut().unwrap() {
        if day(r["TimePeriod"]["Start"].as_str().unwrap()) < joins {
            r["Groups"]
                .as_array_mut()
                .unwrap()
                .retain(|g| g["Keys"][0] != "222222222222");
        }
    }
    let cfg = Config::default();
    let mut store = Store::open_in_memory().unwrap();
    store.apply_sync(&batch(&resp)).unwrap();

    let (replayed, evaluated, _) =
        egresswatch::jobs::backfill::replay(&cfg, &store, from, to).unwrap();
    assert_eq!(evaluated as i64, (to - from).num_days() + 1);
    // Every morning's daily run over the same store, its incidents recorded as the daily job
    // records them (a flagged day that continues one updates it).
    for d in from.iter_days().take_while(|d| *d <= to) {
        let report =
            daily::evaluate(&cfg, &store, d + Days::new(1), &SyncOutcome::default()).unwrap();
        let todays: Vec<Incident> = report
            .incidents
            .iter()
            .map(|r| r.incident.clone())
            .collect();
        store.record_incidents(&todays).unwrap();
    }
    let mornings: Vec<Incident> = store
        .pending_incidents()
        .unwrap()
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    // Stored incidents went through JSON: compare the replay's the same way.
    let replayed: Vec<Incident> =
        serde_json::from_str(&serde_json::to_string(&replayed).unwrap()).unwrap();
    let order = |v: &[Incident]| {
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.start.cmp(&b.start).then(a.key().cmp(&b.key())));
        v
    };
    let (replayed, mornings) = (order(&replayed), order(&mornings));
    let summary: Vec<String> = replayed
        .iter()
        .map(|i| format!("{} {}..{} ({} days)", i.key(), i.start, i.day, i.days))
        .collect();
    assert!(
        replayed.len() >= 4
            && replayed.iter().any(|i| i.days >= 3)
            && replayed.iter().any(|i| i.account == "222222222222")
            && replayed.iter().any(|i| !i.family.is_bytes()),
        "the planted incidents are found: {summary:?}"
    );
    assert_eq!(replayed.len(), mornings.len(), "{summary:?}");
    for (r, m) in replayed.iter().zip(&mornings) {
        assert_eq!(r, m, "backfill vs the daily runs");
    }
}

#[test]
fn import_loads_saved_responses_without_api_cost() {
    let bin = Bin::new("http://127.0.0.1:9"); // nothing answers: any request would fail
    let cfg = bin.write_config("");
    let cfg = cfg.to_str().unwrap();
    let to = today() - Days::new(1);
    let from = to - Days::new(150); // the 20 days, and the detector's 120 days of history before them
    let saved = bin.path("saved.json");
    std::fs::write(
        &saved,
        ce_response_multi(
            from,
            to + Days::new(1),
            to + Days::new(1),
            &spikes(to - Days::new(10), to - Days::new(10)),
        )
        .to_string(),
    )
    .unwrap();
    let out = bin.run(&["import", "--config", cfg, saved.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("imported {} day(s)", 151)));
    let out_dir = bin.path("report");
    let b = bin.run(&[
        "backfill",
        "--config",
        cfg,
        "--from",
        &(to - Days::new(20)).to_string(),
        "--to",
        &to.to_string(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&b.stdout);
    assert!(
        b.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&b.stderr)
    );
    assert!(stdout.contains("0 Cost Explorer request(s)"), "{stdout}");
    assert!(
        stdout.starts_with("1 incident(s)") || stdout.contains(" incident(s)"),
        "{stdout}"
    );
    let bad = bin.path("bad.json");
    std::fs::write(&bad, "{\"ResultsByTime\": 5}").unwrap();
    let out = bin.run(&["import", "--config", cfg, bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a GetCostAndUsage response"));
}

#[test]
fn notify_posts_one_summary_message_not_one_per_incident() {
    let today = today();
    let to = today - Days::new(1);
    let from = to - Days::new(200);
    let moto = Moto::start();
    moto.queue_cost_and_usage(&[ce_response_multi(
        from - Days::new(120),
        today,
        today,
        &spikes(from + Days::new(30), from + Days::new(90)),
    )]);
    let receiver = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());
    let cfg = bin.write_config("[notify.slack]\n");
    let out = bin.run(&[
        "backfill",
        "--config",
        cfg.to_str().unwrap(),
        "--from",
        &from.to_string(),
        "--to",
        &to.to_string(),
        "--notify",
        "--out",
        bin.path("r").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = receiver.received();
    assert_eq!(got.len(), 1, "one summary message");
    assert!(
        got[0]["text"]
            .as_str()
            .unwrap()
            .contains("2 S3 egress incidents"),
        "{}",
        got[0]["text"]
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("replayed through"),
        "plain progress lines when stderr is not a terminal"
    );
}
