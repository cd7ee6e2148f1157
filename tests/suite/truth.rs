//! Issue 15: every number true between Cost Explorer and the report (see each test).
//!
//! Black-box: the real binary against moto (or against nothing at all), and the store read back
//! through the library. Dates are built from today (UTC) wherever the tool uses today; runs get
//! `--date`. Each test has its own emulator and its own directory.

use std::collections::BTreeSet;
use std::process::Output;

use chrono::{Datelike, Days, Months, NaiveDate, Utc};
use serde_json::{json, Value};

use crate::common;
use common::*;
use egresswatch::model::CostPoint;
use egresswatch::state::{PointFilter, Store};

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The first day Cost Explorer serves at daily granularity: 13 months plus the current one.
fn earliest_daily(today: NaiveDate) -> NaiveDate {
    today.with_day(1).unwrap() - Months::new(13)
}

/// The first day of a cold run on `date`: the detector's 120 days of history before the
/// evaluated day (the day before `date`).
fn cold_from(date: NaiveDate) -> NaiveDate {
    date - Days::new(121)
}

/// Write the config: `sync` is the body of `[sync]`, `extra` follows it.
fn config(bin: &Bin, sync: &str, extra: &str) -> String {
    let p = bin.path("egresswatch.toml");
    std::fs::write(
        &p,
        format!(
            "[state]\npath = \"{}\"\n\n[sync]\n{sync}\n\n{extra}",
            bin.path("state.db").display()
        ),
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

fn default_config(bin: &Bin) -> String {
    config(bin, "lookback_days = 120", "")
}

fn store(bin: &Bin) -> Store {
    Store::open(&bin.path("state.db")).unwrap()
}

fn all_points(bin: &Bin) -> Vec<CostPoint> {
    store(bin).points(&PointFilter::default()).unwrap()
}

/// The stored points of `[from, to]`.
fn points_between(bin: &Bin, from: NaiveDate, to: NaiveDate) -> Vec<CostPoint> {
    store(bin)
        .points(&PointFilter {
            from: Some(from),
            to: Some(to),
            ..Default::default()
        })
        .unwrap()
}

fn points_on(bin: &Bin, d: NaiveDate) -> Vec<CostPoint> {
    points_between(bin, d, d)
}

/// Whether the store holds `d` as known, and final.
fn fetched(bin: &Bin, d: NaiveDate) -> Option<bool> {
    store(bin)
        .fetched_days(d, d + Days::new(1))
        .unwrap()
        .get(&d)
        .copied()
}

/// Pages the store's request log holds.
fn logged_pages(bin: &Bin) -> i64 {
    store(bin).request_log().unwrap().iter().map(|r| r.2).sum()
}

fn texts(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn write_json(bin: &Bin, name: &str, v: &Value) -> String {
    let p = bin.path(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

/// `run --format json` on `date` with `args`, expecting exit 0.
fn run_on(bin: &Bin, cfg: &str, date: NaiveDate, args: &[&str]) -> Value {
    let date = date.to_string();
    let mut all = vec!["run", "--config", cfg, "--date", &date, "--format", "json"];
    all.extend_from_slice(args);
    bin.run_json(&all, 0)
}

fn incidents(v: &Value) -> Vec<Value> {
    v["incidents"].as_array().cloned().unwrap_or_default()
}

/// (day, account, usage type) of every group in saved responses.
fn group_ids(pages: &[&Value]) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for page in pages {
        for r in page["ResultsByTime"].as_array().unwrap() {
            let d = r["TimePeriod"]["Start"].as_str().unwrap();
            for g in r["Groups"].as_array().unwrap() {
                out.insert((
                    d.to_string(),
                    g["Keys"][0].as_str().unwrap().to_string(),
                    g["Keys"][1].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

fn stored_ids(points: &[CostPoint]) -> BTreeSet<(String, String, String)> {
    points
        .iter()
        .map(|p| (p.day.to_string(), p.account.clone(), p.usage_type.clone()))
        .collect()
}

/// One group of a response.
fn group(account: &str, usage_type: &str, usage: f64, unit: &str, cost: f64) -> Value {
    json!({"Keys": [account, usage_type], "Metrics": {
        "UsageQuantity": {"Amount": format!("{usage:.6}"), "Unit": unit},
        "UnblendedCost": {"Amount": format!("{cost:.8}"), "Unit": "USD"}}})
}

/// One day of a response.
fn day_result(d: NaiveDate, estimated: bool, groups: Vec<Value>) -> Value {
    json!({"TimePeriod": {"Start": d.to_string(), "End": (d + Days::new(1)).to_string()},
        "Total": {}, "Groups": groups, "Estimated": estimated})
}

/// A whole response grouped by account and usage type, holding `results`.
fn response(results: Vec<Value>) -> Value {
    json!({
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
        "ResultsByTime": results,
        "DimensionValueAttributes": []
    })
}

/// The results of `resp`, day by day.
fn results_mut(resp: &mut Value) -> &mut Vec<Value> {
    resp["ResultsByTime"].as_array_mut().unwrap()
}

/// The group (`account`, `usage_type`) of day `d` in `resp`.
fn group_mut<'a>(
    resp: &'a mut Value,
    d: NaiveDate,
    account: &str,
    usage_type: &str,
) -> &'a mut Value {
    results_mut(resp)
        .iter_mut()
        .find(|r| r["TimePeriod"]["Start"] == d.to_string())
        .expect("the day is in the response")["Groups"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|g| g["Keys"][0] == account && g["Keys"][1] == usage_type)
        .expect("the group is in the response")
}

/// Add a group to day `d` of `resp`.
fn push_group(resp: &mut Value, d: NaiveDate, g: Value) {
    results_mut(resp)
        .iter_mut()
        .find(|r| r["TimePeriod"]["Start"] == d.to_string())
        .expect("the day is in the response")["Groups"]
        .as_array_mut()
        .unwrap()
        .push(g);
}

/// The same response with other account ids: the same days, other groups.
fn relabel_accounts(resp: &Value, map: &[(&str, &str)]) -> Value {
    let mut out = resp.clone();
    for r in results_mut(&mut out) {
        for g in r["Groups"].as_array_mut().unwrap() {
            for (from, to) in map {
                if g["Keys"][0] == *from {
                    g["Keys"][0] = json!(to);
                }
            }
        }
    }
    out
}

/// Two saved pages of the same 31 days (the last two estimated) with different groups.
fn two_pages_of_the_same_days() -> (Value, Value, NaiveDate, NaiveDate) {
    let from = today() - Days::new(60);
    let to = from + Days::new(31);
    let first = ce_response(from, to, to - Days::new(2), None, None);
    let second = relabel_accounts(
        &first,
        &[
            ("111111111111", "333333333333"),
            ("222222222222", "444444444444"),
        ],
    );
    let (a, b) = (group_ids(&[&first]), group_ids(&[&second]));
    assert!(
        a.is_disjoint(&b) && a.len() == b.len() && a.len() == 31 * SERIES.len(),
        "the fixture: the same days, no group in common"
    );
    (first, second, from, to)
}

// ---------------------------------------------------------------------------------------------
// 1. Import merges by (day, account, usage type) and never deletes a stored point.

#[test]
fn import_of_two_pages_with_different_groups_for_the_same_days_keeps_every_point() {
    let bin = Bin::new("http://127.0.0.1:9"); // nothing answers: import makes no request
    let cfg = default_config(&bin);
    let (first, second, from, to) = two_pages_of_the_same_days();
    let f1 = write_json(&bin, "page-1.json", &first);
    let f2 = write_json(&bin, "page-2.json", &second);
    let expected = group_ids(&[&first, &second]);

    let out = bin.run(&["import", "--config", &cfg, &f1, &f2]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let stored = all_points(&bin);
    assert_eq!(
        stored.len(),
        expected.len(),
        "every group of both pages is a stored point (the second page must not replace the first's days)"
    );
    assert_eq!(stored_ids(&stored), expected);
    assert!(
        stdout.contains(&format!("{} point(s)", expected.len())),
        "{stdout}"
    );
    // Every day of the files is known; final unless Cost Explorer called it estimated.
    let days = store(&bin).fetched_days(from, to).unwrap();
    assert_eq!(days.len(), 31, "{days:?}");
    for (d, fin) in &days {
        assert_eq!(*fin, *d < to - Days::new(2), "{d}: final");
    }
}

#[test]
fn import_of_a_repeated_group_keeps_the_later_files_value() {
    let bin = Bin::new("http://127.0.0.1:9");
    let cfg = default_config(&bin);
    let (first, second, from, _) = two_pages_of_the_same_days();
    let x = from + Days::new(10);
    let (acc, ut) = ("111111111111", "EU-DataTransfer-Out-Bytes");
    let corrected = response(vec![day_result(
        x,
        false,
        vec![group(acc, ut, 777.0, "GB", 69.93)],
    )]);
    let f1 = write_json(&bin, "page-1.json", &first);
    let f2 = write_json(&bin, "page-2.json", &second);
    let f3 = write_json(&bin, "corrected.json", &corrected);
    let expected = group_ids(&[&first, &second, &corrected]);
    let the_point = |bin: &Bin| -> Vec<CostPoint> {
        points_on(bin, x)
            .into_iter()
            .filter(|p| p.account == acc && p.usage_type == ut)
            .collect()
    };

    let out = bin.run(&["import", "--config", &cfg, &f1, &f2, &f3]);
    assert!(out.status.success(), "{}", texts(&out).1);
    assert_eq!(
        stored_ids(&all_points(&bin)),
        expected,
        "one group of one day in a later file changes that group only"
    );
    let p = the_point(&bin);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        (p[0].usage, p[0].cost_usd),
        (777.0, 69.93),
        "the later file wins"
    );

    // The other order: the first page's value is the later one now.
    let out = bin.run(&["import", "--config", &cfg, &f3, &f1]);
    assert!(out.status.success(), "{}", texts(&out).1);
    let original: f64 = group_mut(&mut first.clone(), x, acc, ut)["Metrics"]["UsageQuantity"]
        ["Amount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let p = the_point(&bin);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        (p[0].usage - original).abs() < 1e-6,
        "{} vs {original}",
        p[0].usage
    );
    assert_eq!(stored_ids(&all_points(&bin)), expected);
}

#[test]
fn reimporting_a_page_changes_nothing() {
    let bin = Bin::new("http://127.0.0.1:9");
    let cfg = default_config(&bin);
    let (first, second, _, _) = two_pages_of_the_same_days();
    let f1 = write_json(&bin, "page-1.json", &first);
    let f2 = write_json(&bin, "page-2.json", &second);
    let out = bin.run(&["import", "--config", &cfg, &f1, &f2]);
    assert!(out.status.success(), "{}", texts(&out).1);
    let once = all_points(&bin);
    assert_eq!(
        once.len(),
        group_ids(&[&first, &second]).len(),
        "both pages stored"
    );
    for files in [vec![&f1], vec![&f2, &f1], vec![&f1, &f2]] {
        let mut args = vec!["import", "--config", &cfg];
        args.extend(files.iter().map(|f| f.as_str()));
        let out = bin.run(&args);
        assert!(out.status.success(), "{}", texts(&out).1);
        assert_eq!(all_points(&bin), once, "re-importing {files:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Import validates the shape of each file; a refused file is named in one line, the others
//    are imported, and the person is told how to save a response that works.

/// A binary whose log level is the default a person gets (the harness turns debug on).
fn quiet_bin() -> Bin {
    let mut bin = Bin::new("http://127.0.0.1:9");
    bin.extra_env
        .push(("RUST_LOG".into(), "egresswatch=warn,warn".into()));
    bin
}

#[test]
fn import_refuses_a_file_grouped_by_usage_type_alone_in_one_line_and_shows_the_command() {
    let bin = quiet_bin();
    let cfg = default_config(&bin);
    let t = today();
    // 115 days × 4 groups: 460 groups without an account key.
    let by_type_from = t - Days::new(300);
    let by_type_to = by_type_from + Days::new(115);
    let mut by_type = ce_response(by_type_from, by_type_to, by_type_to, None, None);
    by_type["GroupDefinitions"] = json!([{"Type": "DIMENSION", "Key": "USAGE_TYPE"}]);
    for r in results_mut(&mut by_type) {
        for g in r["Groups"].as_array_mut().unwrap() {
            g["Keys"] = json!([g["Keys"][1].clone()]);
        }
    }
    // Saved without the cost metric.
    let no_cost_from = t - Days::new(150);
    let no_cost_to = no_cost_from + Days::new(30);
    let mut no_cost = ce_response(no_cost_from, no_cost_to, no_cost_to, None, None);
    for r in results_mut(&mut no_cost) {
        for g in r["Groups"].as_array_mut().unwrap() {
            g["Metrics"]
                .as_object_mut()
                .unwrap()
                .remove("UnblendedCost");
        }
    }
    let good = ce_response(t - Days::new(60), t - Days::new(30), t, None, None);
    let f_type = write_json(&bin, "by-usage-type.json", &by_type);
    let f_cost = write_json(&bin, "no-cost.json", &no_cost);
    let f_good = write_json(&bin, "good.json", &good);

    let out = bin.run(&["import", "--config", &cfg, &f_type, &f_cost, &f_good]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() < 10,
        "problems are summarised, not repeated per group ({} lines):\n{stderr}",
        lines.len()
    );
    let about =
        |f: &str| -> Vec<&str> { lines.iter().copied().filter(|l| l.contains(f)).collect() };
    let type_lines = about(&f_type);
    assert_eq!(type_lines.len(), 1, "one line for the file:\n{stderr}");
    assert!(
        type_lines[0].contains("USAGE_TYPE") && type_lines[0].contains("LINKED_ACCOUNT"),
        "what it was grouped by and what is needed: {}",
        type_lines[0]
    );
    let cost_lines = about(&f_cost);
    assert_eq!(cost_lines.len(), 1, "one line for the file:\n{stderr}");
    assert!(cost_lines[0].contains("UnblendedCost"), "{}", cost_lines[0]);
    // How to save responses that import: once, whole.
    assert_eq!(
        stderr.matches("aws ce get-cost-and-usage").count(),
        1,
        "{stderr}"
    );
    for part in [
        "--time-period Start=",
        "--granularity DAILY",
        "--filter",
        "--group-by Type=DIMENSION,Key=LINKED_ACCOUNT Type=DIMENSION,Key=USAGE_TYPE",
        "--metrics UsageQuantity UnblendedCost",
        "--output json",
        "--next-page-token",
    ] {
        assert!(
            stderr.contains(part),
            "the command lacks `{part}`:\n{stderr}"
        );
    }
    // The good file is imported; nothing of the refused ones.
    assert_eq!(stored_ids(&all_points(&bin)), group_ids(&[&good]));
    let s = store(&bin);
    assert!(s.fetched_days(by_type_from, by_type_to).unwrap().is_empty());
    assert!(s.fetched_days(no_cost_from, no_cost_to).unwrap().is_empty());
}

#[test]
fn import_names_a_file_that_is_not_a_response_in_one_line_and_imports_the_others() {
    let bin = quiet_bin();
    let cfg = default_config(&bin);
    let t = today();
    let garbage = bin.path("garbage.json");
    std::fs::write(&garbage, "this is not {JSON").unwrap();
    let garbage = garbage.to_str().unwrap().to_string();
    let wrong = write_json(&bin, "wrong.json", &json!({"ResultsByTime": 5}));
    let good = ce_response(t - Days::new(60), t - Days::new(30), t, None, None);
    let f_good = write_json(&bin, "good.json", &good);

    let out = bin.run(&["import", "--config", &cfg, &garbage, &wrong, &f_good]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(!stderr.contains("Error("), "a raw serde dump:\n{stderr}");
    assert!(stderr.lines().count() < 10, "{stderr}");
    for f in [&garbage, &wrong] {
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(f.as_str())).collect();
        assert_eq!(lines.len(), 1, "one line for {f}:\n{stderr}");
        assert!(
            lines[0].contains("not a GetCostAndUsage response"),
            "{}",
            lines[0]
        );
    }
    assert_eq!(
        stored_ids(&all_points(&bin)),
        group_ids(&[&good]),
        "the good file after the refused ones is imported"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Live sync: what an answer says about each day, and only that.

#[test]
fn a_refetch_that_brings_estimated_days_back_without_groups_keeps_their_points() {
    let d = today();
    let moto = Moto::start();
    let estimated_from = d - Days::new(2);
    moto.queue_cost_and_usage(&[
        ce_response(cold_from(d), d, estimated_from, None, None),
        // The refetch of the two estimated days: Cost Explorer lists them, with no group yet.
        response(vec![
            day_result(d - Days::new(2), true, vec![]),
            day_result(d - Days::new(1), true, vec![]),
        ]),
    ]);
    let bin = Bin::new(&moto.url);
    let cfg = default_config(&bin);

    let first = run_on(&bin, &cfg, d, &[]);
    assert_eq!(first["data_quality"]["day_known"], true, "{first:#}");
    let before = points_between(&bin, estimated_from, d - Days::new(1));
    assert_eq!(before.len(), 2 * SERIES.len());

    let second = run_on(&bin, &cfg, d, &[]);
    assert_eq!(
        moto.cost_and_usage_requests().len(),
        2,
        "the second run refetched the estimated days"
    );
    assert_eq!(
        points_between(&bin, estimated_from, d - Days::new(1)),
        before,
        "days answered without groups keep what was stored"
    );
    assert!(
        fetched(&bin, d - Days::new(1)) != Some(true),
        "not final: fetched again"
    );

    run_on(&bin, &cfg, d, &[]);
    assert_eq!(
        moto.cost_and_usage_requests().len(),
        3,
        "the next run asks again"
    );
    // The refetch said nothing new: the day is judged on what Cost Explorer said before (still
    // estimated), never on zeros.
    assert_eq!(second["data_quality"]["day_known"], true, "{second:#}");
    assert_eq!(second["data_quality"]["day_estimated"], true, "{second:#}");
    assert!(
        second["data_quality"]["series_checked"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "the kept points are judged: {second:#}"
    );
}

#[test]
fn a_day_absent_from_the_answer_keeps_its_points_and_is_not_made_final() {
    let d = today();
    let moto = Moto::start();
    let estimated_from = d - Days::new(5);
    moto.queue_cost_and_usage(&[
        ce_response(cold_from(d), d, estimated_from, None, None),
        // The refetch of the five estimated days leaves out the oldest of them.
        ce_response(
            estimated_from + Days::new(1),
            d,
            d - Days::new(2),
            None,
            None,
        ),
    ]);
    let bin = Bin::new(&moto.url);
    let cfg = default_config(&bin);

    run_on(&bin, &cfg, d, &[]);
    let before = points_on(&bin, estimated_from);
    assert_eq!(before.len(), SERIES.len());
    assert_eq!(fetched(&bin, estimated_from), Some(false));

    run_on(&bin, &cfg, d, &[]);
    assert_eq!(moto.cost_and_usage_requests().len(), 2, "one refetch");
    assert_eq!(
        fetched(&bin, estimated_from + Days::new(1)),
        Some(true),
        "the answer was applied to the days it holds"
    );
    assert_eq!(
        points_on(&bin, estimated_from),
        before,
        "a day the answer does not mention keeps its points"
    );
    assert_eq!(
        fetched(&bin, estimated_from),
        Some(false),
        "a day the answer does not mention is not made final"
    );
}

/// A run whose evaluated day (a real leak in us-east-1 on it) holds one group that cannot be
/// used, spoiled by `spoil`: the run still works, says it skipped the group, judges no series on
/// a made-up number, and leaves the day to be fetched again; the next run does.
fn a_refused_group_on_the_spike_day(what: &str, spoil: impl FnOnce(&mut Value)) {
    let d = today();
    let eval = d - Days::new(1);
    let (acc, bad_ut) = ("111111111111", "EU-DataTransfer-Out-Bytes");
    let leak = Spike {
        account: acc,
        usage_type: "DataTransfer-Out-Bytes",
        day: eval,
        factor: 20.0,
    };
    let mut cold = ce_response(cold_from(d), d, d, Some(leak), None);
    spoil(group_mut(&mut cold, eval, acc, bad_ut));
    let moto = Moto::start();
    moto.queue_cost_and_usage(&[cold, ce_response(eval, d, d, Some(leak), None)]);
    let bin = Bin::new(&moto.url);
    let cfg = default_config(&bin);

    let v = run_on(&bin, &cfg, d, &[]);
    assert!(
        v["data_quality"]["skipped_groups"].as_u64().unwrap_or(0) >= 1,
        "{what}: the refused group is counted: {:#}",
        v["data_quality"]
    );
    let named = v["data_quality"]["skipped_group_names"].to_string();
    assert!(
        named.contains(acc) && named.contains(bad_ut),
        "{what}: the refused group is named: {named}"
    );
    let found = incidents(&v);
    for i in &found {
        for k in ["observed", "expected", "excess_usage", "total_excess_usage"] {
            let x = i[k].as_f64();
            assert!(x.is_some_and(f64::is_finite), "{what}: {k} = {}", i[k]);
        }
        for k in [
            "excess_cost_usd",
            "total_excess_cost_usd",
            "observed_cost_usd",
        ] {
            let x = i[k].as_f64();
            assert!(
                x.is_some_and(|x| x.is_finite() && x.abs() <= 1e9),
                "{what}: {k} = {}",
                i[k]
            );
        }
        assert!(
            !(i["region"] == "eu-west-1" && i["account"] == acc && i["family"] == "internet-out"),
            "{what}: the refused group's series is not judged on that day: {i:#}"
        );
    }
    assert!(
        found
            .iter()
            .any(|i| i["region"] == "us-east-1" && i["family"] == "internet-out"),
        "{what}: the day's readable groups are still judged: {v:#}"
    );
    let stored = points_on(&bin, eval);
    let kinds: BTreeSet<&str> = stored.iter().map(|p| p.usage_type.as_str()).collect();
    let readable: BTreeSet<&str> = SERIES
        .iter()
        .map(|s| s.1)
        .filter(|ut| *ut != bad_ut)
        .collect();
    assert_eq!(
        kinds, readable,
        "{what}: the readable groups are stored, the refused one is not"
    );
    assert_eq!(
        fetched(&bin, eval),
        Some(false),
        "{what}: the day is not final"
    );

    run_on(&bin, &cfg, d, &[]);
    let reqs = moto.cost_and_usage_requests();
    assert_eq!(reqs.len(), 2, "{what}: the next run fetches the day again");
    let (start, end) = (
        reqs[1]["TimePeriod"]["Start"].as_str().unwrap(),
        reqs[1]["TimePeriod"]["End"].as_str().unwrap(),
    );
    assert!(
        day(start) <= eval && eval < day(end),
        "{what}: {start}..{end}"
    );
    assert_eq!(
        fetched(&bin, eval),
        Some(true),
        "{what}: a clean answer makes it final"
    );
    assert_eq!(points_on(&bin, eval).len(), SERIES.len(), "{what}");
}

#[test]
fn a_nan_amount_is_refused_and_its_day_fetched_again() {
    a_refused_group_on_the_spike_day("Amount NaN", |g| {
        g["Metrics"]["UsageQuantity"]["Amount"] = json!("NaN")
    });
}

#[test]
fn an_amount_that_is_not_a_number_is_refused_and_its_day_fetched_again() {
    a_refused_group_on_the_spike_day("Amount abc", |g| {
        g["Metrics"]["UsageQuantity"]["Amount"] = json!("abc")
    });
}

#[test]
fn a_group_without_an_amount_is_refused_and_its_day_fetched_again() {
    a_refused_group_on_the_spike_day("no Amount", |g| {
        g["Metrics"]["UsageQuantity"]
            .as_object_mut()
            .unwrap()
            .remove("Amount");
    });
}

#[test]
fn a_negative_usage_is_refused_and_its_day_fetched_again() {
    a_refused_group_on_the_spike_day("negative usage", |g| {
        g["Metrics"]["UsageQuantity"]["Amount"] = json!("-5.0")
    });
}

#[test]
fn a_byte_usage_type_counted_in_bytes_is_refused_and_its_day_fetched_again() {
    a_refused_group_on_the_spike_day("unit Bytes", |g| {
        g["Metrics"]["UsageQuantity"]["Unit"] = json!("Bytes")
    });
}

#[test]
fn a_usage_of_1e308_is_refused_and_raises_no_astronomical_incident() {
    a_refused_group_on_the_spike_day("usage 1e308", |g| {
        g["Metrics"]["UsageQuantity"]["Amount"] = json!("1e308");
        g["Metrics"]["UnblendedCost"]["Amount"] = json!("9e306");
    });
}

// ---------------------------------------------------------------------------------------------
// 4. The evaluated day with no data says so, and never "0 incidents".

#[test]
fn the_evaluated_day_without_an_answer_says_no_data_yet_and_not_0_incidents() {
    let d = today();
    let eval = d - Days::new(1);
    let moto = Moto::start();
    // Cost Explorer answers for every day but the evaluated one.
    moto.queue_cost_and_usage(&[ce_response(
        cold_from(d),
        eval,
        eval - Days::new(2),
        None,
        None,
    )]);
    let bin = Bin::new(&moto.url);
    let cfg = default_config(&bin);

    let out = bin.run(&["run", "--config", &cfg, "--date", &d.to_string()]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.contains(&format!("no data yet for {eval}")),
        "first line: {first}"
    );
    assert!(!stdout.contains(" 0 incident"), "{stdout}");
    let summary = stderr
        .lines()
        .find(|l| l.contains("run summary"))
        .unwrap_or_else(|| panic!("no run summary line:\n{stderr}"));
    assert!(
        summary.contains(&format!("no data yet for {eval}")) && !summary.contains(" 0 incident"),
        "{summary}"
    );

    let v = run_on(&bin, &cfg, d, &[]);
    assert_eq!(v["data_quality"]["day_known"], false, "{v:#}");
    assert!(incidents(&v).is_empty());
    assert!(
        points_on(&bin, eval).is_empty(),
        "nothing is stored as 0 for a day without an answer"
    );
    assert_eq!(fetched(&bin, eval), None, "the day is not known");
}

#[test]
fn the_daily_digest_of_a_day_without_data_says_no_data_yet_not_no_incidents() {
    let d = today();
    let eval = d - Days::new(1);
    let moto = Moto::start();
    moto.queue_cost_and_usage(&[ce_response(
        cold_from(d),
        eval,
        eval - Days::new(2),
        None,
        None,
    )]);
    let receiver = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());
    let file = bin.path("reports.jsonl");
    let cfg = config(
        &bin,
        "lookback_days = 120",
        &format!(
            "[report]\nmode = \"daily\"\n\n[notify.slack]\n\n[notify.file]\npath = \"{}\"\n",
            file.display()
        ),
    );

    let v = run_on(&bin, &cfg, d, &[]);
    assert_eq!(v["data_quality"]["day_known"], false, "{v:#}");
    let slack = receiver.received();
    assert!(!slack.is_empty(), "the daily message is sent: {v:#}");
    for m in &slack {
        let s = m.to_string();
        assert!(
            !s.contains("no incidents") && !s.contains("no S3 egress incidents"),
            "an all-clear for a day nobody has seen: {s}"
        );
        assert!(s.contains(&format!("no data yet for {eval}")), "{s}");
    }
    let lines = std::fs::read_to_string(&file).expect("the file sink wrote the digest");
    assert!(lines.lines().count() >= 1);
    for l in lines.lines() {
        let doc: Value = serde_json::from_str(l).unwrap();
        assert_eq!(doc["data_quality"]["day_known"], false, "{doc:#}");
        assert!(!l.contains("no incidents"), "{l}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. The request budget, and a page token that comes back.

/// Pages chained by `tokens` (one page per token, the last `None`) over the cold range of `d`.
fn chained_pages(d: NaiveDate, tokens: &[Option<&str>]) -> Vec<Value> {
    let from = cold_from(d);
    let n = tokens.len() as u64;
    let step = 121 / n;
    tokens
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let k = k as u64;
            let start = from + Days::new(k * step);
            let end = if k + 1 == n {
                d
            } else {
                from + Days::new((k + 1) * step)
            };
            ce_response(start, end, d - Days::new(2), None, *t)
        })
        .collect()
}

#[test]
fn a_run_stops_at_its_request_budget_and_logs_every_request() {
    let d = today();
    let moto = Moto::start();
    moto.queue_cost_and_usage(&chained_pages(
        d,
        &[
            Some("page-2"),
            Some("page-3"),
            Some("page-4"),
            Some("page-5"),
            None,
        ],
    ));
    let bin = Bin::new(&moto.url);
    let cfg = config(&bin, "lookback_days = 120\nmax_requests_per_run = 3", "");

    let out = bin.run(&["run", "--config", &cfg, "--date", &d.to_string()]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let made = moto.cost_and_usage_requests().len();
    assert!(
        (1..=3).contains(&made),
        "{made} requests with a budget of 3"
    );
    assert!(
        stderr.contains("request") && stderr.contains("$0.0"),
        "the error names the requests made and what they cost:\n{stderr}"
    );
    assert_eq!(
        logged_pages(&bin),
        made as i64,
        "every request made is logged, even when the run fails"
    );
    assert!(
        all_points(&bin).is_empty(),
        "nothing of an unfinished range is stored"
    );
}

#[test]
fn a_page_token_seen_before_stops_the_walk_within_a_few_requests() {
    let d = today();
    let moto = Moto::start();
    // A → B → A: moto answers a repeated request body with the same page again, so a walk that
    // only compares a token with the previous one goes round forever.
    moto.queue_cost_and_usage(&chained_pages(d, &[Some("A"), Some("B"), Some("A")]));
    let bin = Bin::new(&moto.url);
    // A budget far above the few requests the cycle needs.
    let cfg = config(&bin, "lookback_days = 120\nmax_requests_per_run = 1000", "");

    let out = bin.run(&["run", "--config", &cfg, "--date", &d.to_string()]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let made = moto.cost_and_usage_requests().len();
    assert!(
        (3..=10).contains(&made),
        "{made} requests for a cycle of two tokens"
    );
    let lower = stderr.to_lowercase();
    assert!(
        ["repeated", "seen before", "already seen"]
            .iter()
            .any(|w| lower.contains(w)),
        "the error says the token came back:\n{stderr}"
    );
    assert!(stderr.contains("$0.0"), "and what was spent:\n{stderr}");
    assert_eq!(logged_pages(&bin), made as i64);
}

// ---------------------------------------------------------------------------------------------
// 6. Backfill and run replay whatever the store holds.

/// Saved pages of the 60 days before Cost Explorer's daily history (and the detector's 120 days
/// before them), a leak on one of them: (response, from, to, leak day).
fn saved_before_cost_explorers_history() -> (Value, NaiveDate, NaiveDate, NaiveDate) {
    let boundary = earliest_daily(today());
    let to = boundary - Days::new(1);
    let from = to - Days::new(59);
    let leak = from + Days::new(20);
    let saved = ce_response_multi(
        from - Days::new(120),
        boundary,
        boundary,
        &[Spike {
            account: "111111111111",
            usage_type: "EU-DataTransfer-Out-Bytes",
            day: leak,
            factor: 25.0,
        }],
    );
    (saved, from, to, leak)
}

#[test]
fn backfill_offline_replays_imported_days_older_than_13_months_without_a_request() {
    let (saved, from, to, leak) = saved_before_cost_explorers_history();
    let moto = Moto::start();
    let bin = Bin::new(&moto.url);
    let cfg = default_config(&bin);
    let f = write_json(&bin, "saved.json", &saved);
    let out = bin.run(&["import", "--config", &cfg, &f]);
    assert!(out.status.success(), "{}", texts(&out).1);

    let report = bin.path("report");
    let out = bin.run(&[
        "backfill",
        "--config",
        &cfg,
        "--from",
        &from.to_string(),
        "--to",
        &to.to_string(),
        "--offline",
        "--out",
        report.to_str().unwrap(),
    ]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        moto.cost_and_usage_requests().len(),
        0,
        "no AWS call at all"
    );
    let found: Value =
        serde_json::from_slice(&std::fs::read(report.join("incidents.json")).unwrap()).unwrap();
    assert!(
        found
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["region"] == "eu-west-1" && i["start"] == leak.to_string()),
        "the imported leak is judged: {found:#}"
    );
}

#[test]
fn backfill_older_than_13_months_uses_imported_days_and_points_at_import_without_them() {
    let (saved, from, to, _) = saved_before_cost_explorers_history();
    let moto = Moto::start();
    let bin = Bin::new(&moto.url);
    let cfg = default_config(&bin);
    let args = |out: &str| -> Vec<String> {
        [
            "backfill",
            "--config",
            &cfg,
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
            "--out",
            out,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let report = bin.path("report");
    let report = report.to_str().unwrap();
    let run = |a: &[String]| bin.run(&a.iter().map(String::as_str).collect::<Vec<_>>());

    // Nothing stored there: Cost Explorer cannot serve it, import can.
    let out = run(&args(report));
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("egresswatch import"), "{stderr}");

    let f = write_json(&bin, "saved.json", &saved);
    let out = bin.run(&["import", "--config", &cfg, &f]);
    assert!(out.status.success(), "{}", texts(&out).1);
    let out = run(&args(report));
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        moto.cost_and_usage_requests().len(),
        0,
        "nothing in that range is Cost Explorer's to serve"
    );
}

#[test]
fn run_offline_judges_an_imported_store_without_reaching_aws() {
    let d = today();
    let eval = d - Days::new(1);
    // Nothing listens on port 9: any AWS call fails.
    let bin = Bin::new("http://127.0.0.1:9");
    let cfg = default_config(&bin);
    let saved = ce_response(
        cold_from(d) - Days::new(10),
        d,
        eval,
        Some(Spike {
            account: "111111111111",
            usage_type: "EU-DataTransfer-Out-Bytes",
            day: eval,
            factor: 25.0,
        }),
        None,
    );
    let f = write_json(&bin, "saved.json", &saved);
    let out = bin.run(&["import", "--config", &cfg, &f]);
    assert!(out.status.success(), "{}", texts(&out).1);

    let v = run_on(&bin, &cfg, d, &["--offline"]);
    assert_eq!(v["cost_explorer_requests"], 0, "{v:#}");
    assert_eq!(v["data_quality"]["day_known"], true, "{v:#}");
    let eu: Vec<Value> = incidents(&v)
        .into_iter()
        .filter(|i| i["region"] == "eu-west-1" && i["family"] == "internet-out")
        .collect();
    assert_eq!(eu.len(), 1, "{v:#}");
    assert_eq!(eu[0]["estimated"], true, "the evaluated day is estimated");

    let out = bin.run(&[
        "run",
        "--config",
        &cfg,
        "--date",
        &d.to_string(),
        "--offline",
    ]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("[estimated]"), "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// 7. Young series: history counts from a series' first point.

/// Days of history a reason claims ("N weeks of history", "N days of history").
fn claimed_history_days(reason: &str) -> Vec<u64> {
    let words: Vec<&str> = reason
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = vec![];
    for k in 2..words.len().saturating_sub(1) {
        if words[k] == "of" && words[k + 1].starts_with("history") {
            if let Ok(n) = words[k - 2].parse::<u64>() {
                if words[k - 1].starts_with("week") {
                    out.push(n * 7);
                } else if words[k - 1].starts_with("day") {
                    out.push(n);
                }
            }
        }
    }
    out
}

#[test]
fn a_young_series_is_reported_young_and_claims_no_more_history_than_it_has() {
    assert_eq!(
        claimed_history_days("x (Monday baseline, 17 weeks of history), y"),
        [119]
    );
    let d = today();
    let eval = d - Days::new(1);
    let mut cold = ce_response(cold_from(d), d, d, None, None);
    // A new account's egress: its first point 10 days before the evaluated day, then a leak.
    let (acc, ut) = ("333333333333", "USW2-DataTransfer-Out-Bytes");
    for k in 0..=10u64 {
        let day = eval - Days::new(10) + Days::new(k);
        let gb = if day == eval {
            3000.0
        } else {
            usage_on(100.0, day)
        };
        push_group(&mut cold, day, group(acc, ut, gb, "GB", gb * 0.09));
    }
    let moto = Moto::start();
    moto.queue_cost_and_usage(&[cold]);
    let bin = Bin::new(&moto.url);
    let cfg = default_config(&bin);

    let v = run_on(&bin, &cfg, d, &[]);
    assert!(
        v["data_quality"]["young_series"].as_u64().unwrap_or(0) >= 1,
        "{:#}",
        v["data_quality"]
    );
    for i in incidents(&v).iter().filter(|i| i["account"] == acc) {
        let reason = i["reason"].as_str().unwrap();
        assert_eq!(i["young"], true, "{i:#}");
        assert!(reason.contains("young baseline"), "{reason}");
        assert!(!reason.contains("17 weeks of history"), "{reason}");
        for days in claimed_history_days(reason) {
            assert!(days <= 11, "claims {days} days of history: {reason}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 8. One window: sync and run agree on the history a run needs.

#[test]
fn a_run_after_a_default_sync_on_a_cold_store_asks_for_nothing_more() {
    let t = today();
    let moto = Moto::start();
    // Every day final: nothing is left for the run to refetch.
    moto.queue_cost_and_usage(&[ce_response(cold_from(t), t, t, None, None)]);
    let bin = Bin::new(&moto.url);
    let cfg = default_config(&bin);

    let out = bin.run(&["sync", "--config", &cfg]);
    assert!(out.status.success(), "{}", texts(&out).1);
    assert_eq!(moto.cost_and_usage_requests().len(), 1);
    let v = bin.run_json(&["run", "--config", &cfg, "--format", "json"], 0);
    assert_eq!(
        v["cost_explorer_requests"],
        0,
        "the run found its whole history stored: {:#?}",
        moto.cost_and_usage_requests()
    );
    assert_eq!(moto.cost_and_usage_requests().len(), 1);
}

#[test]
fn a_cold_run_fetches_lookback_days_before_the_evaluated_day() {
    let d = today();
    let eval = d - Days::new(1);
    let from = eval - Days::new(150);
    let moto = Moto::start();
    moto.queue_cost_and_usage(&[ce_response(from, d, d, None, None)]);
    let bin = Bin::new(&moto.url);
    let cfg = config(&bin, "lookback_days = 150", "");

    run_on(&bin, &cfg, d, &[]);
    let reqs = moto.cost_and_usage_requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    assert_eq!(reqs[0]["TimePeriod"]["Start"], from.to_string());
    assert_eq!(reqs[0]["TimePeriod"]["End"], d.to_string());
}
