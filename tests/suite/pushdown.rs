//! The analysis pushed down as SQL: one generated trail, three ways to the same `callers`
//! answer, exact to the byte:
//! 1. the in-process scanner reading the files;
//! 2. the SQL egresswatch generates for Athena, run by a real SQL engine (DuckDB, from PyPI,
//!    over a view with the Athena CloudTrail table's columns: scripts/duckdb-athena.py), its rows
//!    folded by the library;
//! 3. `egresswatch callers` with the Athena source against moto, whose canned results are
//!    those very rows (and the query moto received is the one DuckDB ran).
//!
//! Then the Athena client's states against moto (queued and running before success; a timeout
//! that stops the query), a daily run that still delivers when the query times out, and, through
//! aws-smithy-mocks (states and APIs moto does not serve), a failed Athena query, paged results,
//! and CloudTrail Lake.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::trail::*;
use common::{Bin, Moto};
use serde_json::{json, Value};

const DAY: &str = "2026-06-15";
const OTHER_ACCOUNT: &str = "444455556666";

/// A small deterministic generator (no dependency on the rand crate's stream stability).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }
}

fn days(first: &str, n: u64) -> Vec<String> {
    let d0 = chrono::NaiveDate::parse_from_str(first, "%Y-%m-%d").unwrap();
    (0..n)
        .map(|i| (d0 + chrono::Days::new(i)).to_string())
        .collect()
}

/// Write `records` for (account, region, folder day) in files of at most 60 records.
fn write_day(root: &Path, account: &str, region: &str, day: &str, records: &[Value], n0: usize) {
    for (i, chunk) in records.chunks(60).enumerate() {
        write(
            root,
            &format!(
                "{}{}",
                day_dir(account, region, day),
                file_name(account, region, day, n0 + i)
            ),
            &gz(&records_file(chunk)),
        );
    }
}

/// The generated trail: 14 baseline days, the window day, the day after (late deliveries),
/// every caller kind and quirk the scanner handles, control-plane changes, reconnaissance, a
/// delete burst, and decoys the analysis must not count (another account, another region,
/// another service, data-event writes, times outside the span).
fn generate(root: &Path) {
    let mut rng = Lcg(20260615);
    let app = Who::User("arn:aws:iam::111122223333:user/app");
    let etl = Who::Role(
        "arn:aws:sts::111122223333:assumed-role/etl/i-0abc",
        "arn:aws:iam::111122223333:role/etl",
        OWNER,
    );
    let partner = Who::User("arn:aws:iam::999988887777:user/partner");
    let thief = Who::User("arn:aws:iam::111122223333:user/contractor");
    let svc = Who::Service("cloudtrail.amazonaws.com");
    let regular = [app, etl, partner, Who::Anonymous, svc];
    let ips = ["10.0.0.5", "10.0.0.6", "198.51.100.7", "203.0.113.9", ""];
    let agents: [Option<&str>; 5] = [
        Some("aws-sdk-java/2.20.0"),
        Some("aws-cli/2.15.0"),
        None,
        Some("<!channel> \"quoted\" 'single' \\ back"),
        Some("rclone/v1.65"),
    ];
    let buckets = ["data", "exports", "logs"];
    let byte_forms = |rng: &mut Lcg| -> Value {
        let n = rng.below(5_000_000);
        match rng.below(40) {
            0..=6 => json!(n as f64 + 0.0),
            7..=13 => json!(format!("{n}")),
            14..=20 => json!(n as f64 + 0.5),
            21..=26 => Value::Null,
            // Counts that cannot be true: the record is bad, in every source alike.
            27 => json!(-5),
            28 => json!("1e20"),
            29 => json!(6_000_000_000_000u64),
            30 => json!("not a number"),
            _ => json!(n),
        }
    };
    let all_days = days("2026-06-01", 16); // 06-01 .. 06-16
    for (di, day) in all_days.iter().enumerate() {
        let window = day == DAY;
        let mut owner = Vec::new();
        let mut late = Vec::new();
        let n = if window { 400 } else { 120 };
        for i in 0..n {
            let (h, m, s) = (rng.below(24), rng.below(60), rng.below(60));
            let time = format!("{day}T{h:02}:{m:02}:{s:02}Z");
            let who = if window && i % 4 == 0 {
                thief
            } else {
                rng.pick(&regular)
            };
            let error = match rng.below(12) {
                0 => Some("AccessDenied"),
                1 => Some("NoSuchKey"),
                2 if window => Some("SlowDown"),
                _ => None,
            };
            let ip: &str = rng.pick(&ips);
            let agent: Option<&str> = rng.pick(&agents);
            let bucket: &str = rng.pick(&buckets);
            let mut r = get_object(
                &time,
                who,
                ip,
                agent,
                bucket,
                &format!("k/{}", rng.below(40)),
                byte_forms(&mut rng),
                rng.below(9) == 0,
                error,
            );
            if rng.below(10) == 0 {
                r["vpcEndpointId"] = json!("vpce-0abc");
            }
            if rng.below(25) == 0 {
                r.as_object_mut().unwrap().remove("userAgent");
            }
            // Late: written in the next day's folder (delivery delay).
            if h == 23 && rng.below(2) == 0 {
                late.push(r);
            } else {
                owner.push(r);
            }
        }
        // Reconnaissance in every day (only the window's count) from the thief and the app.
        for (k, name) in ["GetBucketAcl", "GetBucketPolicy", "ListBuckets"]
            .iter()
            .enumerate()
        {
            let who = if window { thief } else { app };
            let mut r = management(
                &format!("{day}T02:{:02}:00Z", 10 + k),
                who,
                name,
                json!({"bucketName": "data"}),
            );
            r["userAgent"] = json!("aws-cli/2.15.0 md/Botocore");
            owner.push(r);
        }
        // Control-plane changes in the lookback and the window.
        let changes = match di {
            11 => vec![(
                "PutBucketPolicy",
                json!({"bucketName": "data", "bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}}),
                None,
            )],
            12 => vec![(
                "PutBucketVersioning",
                json!({"bucketName": "data", "VersioningConfiguration": {"Status": "Suspended"}}),
                None,
            )],
            14 => vec![
                (
                    "DeleteBucketPublicAccessBlock",
                    json!({"bucketName": "exports"}),
                    None,
                ),
                (
                    "PutBucketAcl",
                    json!({"bucketName": "exports", "x-amz-acl": ["public-read"]}),
                    Some("AccessDenied"),
                ),
                ("PutBucketTagging", json!({"bucketName": "logs"}), None),
            ],
            3 => vec![("DeleteBucketPolicy", json!({"bucketName": "old"}), None)],
            _ => vec![],
        };
        for (k, (name, params, err)) in changes.into_iter().enumerate() {
            let mut r = management(&format!("{day}T05:{:02}:00Z", k), thief, name, params);
            r["eventID"] = json!(format!("ev-{day}-{k}"));
            if let Some(e) = err {
                r["errorCode"] = json!(e);
            }
            owner.push(r);
        }
        // Deletions: a burst by the thief in the window, a trickle by the app every day.
        let burst = if window { 130 } else { 0 };
        for k in 0..burst {
            let mut r = management(
                &format!("{day}T06:{:02}:{:02}Z", k / 60, k % 60),
                thief,
                if k % 2 == 0 {
                    "DeleteObject"
                } else {
                    "DeleteObjects"
                },
                json!({"bucketName": "exports", "key": format!("k/{k}")}),
            );
            r["eventCategory"] = json!("Data");
            owner.push(r);
        }
        for k in 0..5 {
            let mut r = management(
                &format!("{day}T07:0{k}:00Z"),
                app,
                "DeleteObject",
                json!({"bucketName": "logs", "key": format!("old/{k}")}),
            );
            r["eventCategory"] = json!("Data");
            owner.push(r);
        }
        // Decoys in the owner's folder: another service, data-event writes, and a GetObject
        // stamped after the window ends.
        let mut ec2 = management(&format!("{day}T08:00:00Z"), app, "RunInstances", json!({}));
        ec2["eventSource"] = json!("ec2.amazonaws.com");
        owner.push(ec2);
        let mut put = management(
            &format!("{day}T08:01:00Z"),
            app,
            "PutObject",
            json!({"bucketName": "data", "key": "x"}),
        );
        put["eventCategory"] = json!("Data");
        owner.push(put);
        write_day(root, OWNER, REGION, day, &owner, 0);
        if let Some(next) = all_days.get(di + 1).cloned().or_else(|| {
            Some(days(day, 2)[1].clone()) // the window's next day for the last one
        }) {
            write_day(root, OWNER, REGION, &next, &late, 500);
        }
        // Another account and another region: never counted with the filters set.
        let decoy: Vec<Value> = (0..20)
            .map(|i| {
                let mut r = get_object(
                    &format!("{day}T1{}:00:00Z", i % 10),
                    thief,
                    "192.0.2.1",
                    Some("curl/8"),
                    "other",
                    "k",
                    json!(7_777_777),
                    false,
                    None,
                );
                r["recipientAccountId"] = json!(OTHER_ACCOUNT);
                r
            })
            .collect();
        write_day(root, OTHER_ACCOUNT, REGION, day, &decoy, 0);
        let far: Vec<Value> = decoy
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r["recipientAccountId"] = json!(OWNER);
                r["awsRegion"] = json!("us-east-1");
                r
            })
            .collect();
        write_day(root, OWNER, "us-east-1", day, &far, 0);
    }
}

fn python() -> PathBuf {
    let moto = PathBuf::from(
        std::env::var("EGRESSWATCH_MOTO_SERVER")
            .expect("EGRESSWATCH_MOTO_SERVER (scripts/test.sh)"),
    );
    moto.with_file_name("python")
}

/// Run `sql` on DuckDB over the trail at `root`, as scripts/duckdb-athena.py does.
fn duckdb(root: &Path, sql: &str, dir: &Path) -> Value {
    let file = dir.join("query.sql");
    std::fs::write(&file, sql).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/duckdb-athena.py");
    let out = Command::new(python())
        .arg(script)
        .arg("--trail")
        .arg(root)
        .arg("--sql")
        .arg(&file)
        .arg("--database")
        .arg("trails")
        .output()
        .expect("running scripts/duckdb-athena.py");
    assert!(
        out.status.success(),
        "DuckDB failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Where two JSON values first differ (a path and both sides), to keep failures readable.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                first_difference(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: {} vs {} items", x.len(), y.len()));
            }
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| {
                first_difference(p, q, &format!("{path}[{i}]"))
                    .map(|d| format!("{d}\n  whole item: {p}\n  vs: {q}"))
            })
        }
        // Shares are quotients of sums of doubles: an engine that sums the callers it does not
        // return (the `others` row) adds in its own order, so they agree to the last bits only.
        // Counts (integers) must be equal.
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (p, q) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            ((p - q).abs() > 1e-12 * p.abs().max(q.abs())).then(|| format!("{path}: {a} vs {b}"))
        }
        _ => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

fn assert_same(a: &Value, b: &Value, what: &str) {
    if let Some(d) = first_difference(a, b, "") {
        panic!("{what}: {d}");
    }
}

/// The parts of `callers --format json` that must agree across sources (the data-quality
/// counts and the query statistics differ by nature: files read vs rows returned).
fn answer(v: &Value) -> Value {
    json!({
        "window": v["window"], "baseline": v["baseline"], "callers": v["callers"],
        "others": v["others"],
        "events": v["events"], "bytes_out": v["bytes_out"], "excess_bytes": v["excess_bytes"],
    })
}

const ATHENA_CONFIG: &str = "[cloudtrail]\nsource = \"athena\"\n\n[cloudtrail.athena]\n\
    database = \"trails\"\ntable = \"cloudtrail_logs\"\nworkgroup = \"primary\"\n\
    output_location = \"s3://athena-results/egresswatch/\"\nregion = \"us-east-1\"\n";

fn callers_args<'a>(cfg: &'a str, source: &'a str) -> Vec<&'a str> {
    vec![
        "callers",
        "--config",
        cfg,
        "--source",
        source,
        "--from",
        DAY,
        "--to",
        DAY,
        "--account",
        OWNER,
        "--region",
        REGION,
        "--format",
        "json",
    ]
}

/// Queue `rows` ({columns, rows}) as moto's next Athena result, header row first.
fn queue_athena(moto: &Moto, rows: &Value) {
    let columns: Vec<Value> = rows["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!({"Name": c, "Label": c, "Type": "varchar"}))
        .collect();
    let cell = |v: &Value| match v {
        Value::Null => json!({}),
        v => json!({"VarCharValue": v.as_str().unwrap()}),
    };
    let mut data = vec![
        json!({"Data": rows["columns"].as_array().unwrap().iter().map(|c| json!({"VarCharValue": c})).collect::<Vec<_>>()}),
    ];
    for r in rows["rows"].as_array().unwrap() {
        data.push(json!({"Data": r.as_array().unwrap().iter().map(cell).collect::<Vec<_>>()}));
    }
    moto.post_json(
        "/moto-api/static/athena/query-results",
        json!({"account_id": common::MOTO_ACCOUNT, "region": "us-east-1",
               "results": [{"rows": data, "column_info": columns}]}),
    );
}

#[test]
fn scanner_sql_engine_and_athena_give_the_same_callers() {
    let moto = Moto::start();
    let bin = Bin::new(&moto.url);
    let root = bin.path("trail");
    generate(&root);
    let cfg = bin.write_config(ATHENA_CONFIG);
    let cfg = cfg.to_str().unwrap();
    let root_s = root.to_str().unwrap();

    // 1. The scanner.
    let local = bin.run_json(&callers_args(cfg, root_s), 0);
    let callers = local["callers"].as_array().unwrap();
    assert!(callers.len() > 40, "a rich answer: {}", callers.len());
    assert!(local["bytes_out"].as_u64().unwrap() > 100_000_000);
    let events = local["events"].to_string();
    for e in [
        "PutBucketPolicy",
        "DeleteBucketPublicAccessBlock",
        "Reconnaissance",
        "DeleteObject burst",
        "attempt failed: AccessDenied",
        "PutBucketVersioning",
    ] {
        assert!(events.contains(e), "{e} in {events}");
    }
    assert!(
        !events.contains("\"old\""),
        "an event before the lookback: {events}"
    );
    assert!(!local.to_string().contains(OTHER_ACCOUNT) && !local.to_string().contains("192.0.2.1"));

    // 2. The SQL egresswatch would send, on a real engine.
    let mut args = callers_args(cfg, "athena");
    args.push("--print-sql");
    let out = bin.run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sql = String::from_utf8(out.stdout).unwrap();
    let sql = sql.trim_end();
    assert!(
        sql.contains("\"timestamp\" IN ('2026/06/01', "),
        "pruned by day: {sql}"
    );
    assert!(sql.contains("'2026/06/16')") && !sql.contains("'2026/06/17'"));
    assert!(sql.contains("\"region\" = 'eu-west-1'"), "pruned by region");
    let rows = duckdb(&root, sql, bin.path("").as_path());
    assert!(rows["rows"].as_array().unwrap().len() > 40);

    let window = (
        common::trail_epoch(&format!("{DAY}T00:00:00Z")),
        common::trail_epoch("2026-06-16T00:00:00Z"),
    );
    let query = egresswatch::correlate::Query {
        window,
        account: Some(OWNER.into()),
        region: Some(REGION.into()),
    };
    let spec = query.spec(&egresswatch::correlate::CloudTrailSettings::default());
    let parsed: egresswatch::correlate::sql::Rows = serde_json::from_value(rows.clone()).unwrap();
    let partial = egresswatch::correlate::sql::fold(&parsed, &spec, false).unwrap();
    assert!(
        !partial
            .quality
            .bad_record_reasons
            .contains_key(egresswatch::correlate::sql::UNREADABLE_ROW),
        "every row readable"
    );
    // Through text, as the binary's answers are (serde_json's float parsing may differ from
    // the value printed by the last bit).
    let folded: Value = serde_json::from_str(
        &serde_json::to_string(&egresswatch::correlate::finalize(partial, &spec)).unwrap(),
    )
    .unwrap();
    assert_same(
        &answer(&folded),
        &answer(&local),
        "the SQL on DuckDB and the scanner differ",
    );
    // Implausible byte counts are bad records with the same reasons in both.
    let reasons = |v: &Value| -> Value {
        let all = v["data_quality"]["bad_record_reasons"].as_object().unwrap();
        Value::Object(
            all.iter()
                .filter(|(k, _)| k.starts_with("bytesTransferredOut"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    };
    let bad = reasons(&local);
    assert_eq!(
        bad.as_object().unwrap().len(),
        3,
        "every kind planted: {bad}"
    );
    assert_eq!(reasons(&folded), bad, "the same bad records, by reason");

    // The engine ranked and summed: the callers beyond the kept 100 came back as one row.
    let others = local["others"]["groups"]
        .as_u64()
        .expect("an others rollup");
    assert!(others > 0, "{}", local["others"]);
    let count = |rows: &Value, section: &str| {
        rows["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r[0] == section)
            .count()
    };
    // One row carries the rest, summed: as many callers as the scanner summed.
    let col = |name: &str| {
        rows["columns"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c == name)
            .unwrap()
    };
    let carried: Vec<u64> = rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r[col("o_groups")].as_str())
        .map(|g| g.parse().unwrap())
        .collect();
    assert_eq!(carried, [others]);
    assert!(
        count(&rows, "get") < 100 * 3,
        "kept callers only: {}",
        count(&rows, "get")
    );

    // 2a. A smaller limit: the SQL ranks by excess (window bytes above each principal's
    // baseline rate, with a baseline here) exactly as the scanner does, so the same ten callers
    // come back, and the summed rest carries exact counts.
    let mut args = callers_args(cfg, root_s);
    args.extend(["--limit", "10"]);
    let local10 = bin.run_json(&args, 0);
    assert_eq!(local10["callers"].as_array().unwrap().len(), 10);
    let mut args = callers_args(cfg, "athena");
    args.extend(["--limit", "10", "--print-sql"]);
    let out = bin.run(&args);
    assert!(out.status.success());
    let sql10 = String::from_utf8(out.stdout).unwrap();
    assert!(sql10.contains("rank <= 10)"), "{sql10}");
    let rows10 = duckdb(&root, sql10.trim_end(), bin.path("").as_path());
    assert!(
        count(&rows10, "get") < count(&rows, "get"),
        "fewer rows for fewer callers"
    );
    let parsed: egresswatch::correlate::sql::Rows = serde_json::from_value(rows10).unwrap();
    let partial = egresswatch::correlate::sql::fold(&parsed, &spec, false).unwrap();
    assert_eq!(
        partial.quality.bad_records,
        local10["data_quality"]["bad_records"].as_u64().unwrap(),
        "the same bad records"
    );
    let folded10: Value = serde_json::from_str(
        &serde_json::to_string(&egresswatch::correlate::finalize_keeping(
            partial, &spec, 10,
        ))
        .unwrap(),
    )
    .unwrap();
    assert_same(&answer(&folded10), &answer(&local10), "--limit 10");
    // --limit 1: nearly every caller summed; reconnaissance is still judged on the baseline
    // principals and IPs it needs (its events must not change with the limit).
    let mut args = callers_args(cfg, root_s);
    args.extend(["--limit", "1"]);
    let local1 = bin.run_json(&args, 0);
    assert_eq!(local1["events"], local["events"]);
    let mut args = callers_args(cfg, "athena");
    args.extend(["--limit", "1", "--print-sql"]);
    let out = bin.run(&args);
    assert!(out.status.success());
    let sql1 = String::from_utf8(out.stdout).unwrap();
    let rows1 = duckdb(&root, sql1.trim_end(), bin.path("").as_path());
    let parsed: egresswatch::correlate::sql::Rows = serde_json::from_value(rows1).unwrap();
    let partial = egresswatch::correlate::sql::fold(&parsed, &spec, false).unwrap();
    let folded1: Value = serde_json::from_str(
        &serde_json::to_string(&egresswatch::correlate::finalize_keeping(partial, &spec, 1))
            .unwrap(),
    )
    .unwrap();
    assert_same(&answer(&folded1), &answer(&local1), "--limit 1");
    // Some kept callers are judged by baseline facts the engine returned for them alone.
    assert!(
        local10["callers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["new"].as_array().unwrap().is_empty()),
        "a kept caller known from the baseline: {}",
        local10["callers"]
    );
    assert_eq!(
        local10["others"]["requests"].as_u64().unwrap()
            + local10["callers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["requests"].as_u64().unwrap())
                .sum::<u64>(),
        local["others"]["requests"].as_u64().unwrap()
            + callers
                .iter()
                .map(|c| c["requests"].as_u64().unwrap())
                .sum::<u64>(),
        "the same requests in all, whatever the limit"
    );

    // 2b. A table partitioned by year, month and day (AWS's manual layout): same answer.
    let ymd_bin = Bin::new(&moto.url);
    let ymd_cfg = ymd_bin.write_config(&format!(
        "{ATHENA_CONFIG}date_partitions = [\"year\", \"month\", \"day\"]\n"
    ));
    let mut args = callers_args(ymd_cfg.to_str().unwrap(), "athena");
    args.push("--print-sql");
    let out = ymd_bin.run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ymd_sql = String::from_utf8(out.stdout).unwrap();
    assert!(ymd_sql.contains("(\"year\" = '2026' AND \"month\" = '06' AND \"day\" = '16')"));
    let ymd_rows = duckdb(&root, ymd_sql.trim_end(), ymd_bin.path("").as_path());
    let parsed: egresswatch::correlate::sql::Rows = serde_json::from_value(ymd_rows).unwrap();
    let partial = egresswatch::correlate::sql::fold(&parsed, &spec, false).unwrap();
    let ymd: Value = serde_json::from_str(
        &serde_json::to_string(&egresswatch::correlate::finalize(partial, &spec)).unwrap(),
    )
    .unwrap();
    assert_same(&answer(&ymd), &answer(&local), "year/month/day partitions");

    // 3. The Athena path, with DuckDB's rows as moto's canned answer.
    queue_athena(&moto, &rows);
    let athena = bin.run_json(&callers_args(cfg, "athena"), 0);
    assert_same(
        &answer(&athena),
        &answer(&local),
        "Athena path and scanner differ",
    );
    assert_eq!(athena["query"]["engine"], "athena");
    assert_eq!(
        athena["query"]["rows"].as_u64().unwrap() as usize,
        rows["rows"].as_array().unwrap().len()
    );
    let sent = moto.requests("StartQueryExecution");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["QueryString"], sql, "moto got the query DuckDB ran");
    assert_eq!(sent[0]["WorkGroup"], "primary");
    assert_eq!(sent[0]["QueryExecutionContext"]["Database"], "trails");
    assert_eq!(
        sent[0]["ResultConfiguration"]["OutputLocation"],
        "s3://athena-results/egresswatch/"
    );
}

/// A small canned answer: one window caller (2 requests, 3 MB) and its baseline.
fn small_rows() -> Value {
    let cols = [
        "section",
        "principal",
        "ip",
        "ua",
        "bucket",
        "detail",
        "err",
        "whole",
        "n",
        "bytes",
        "errors",
        "objects",
        "first_t",
        "last_t",
        "presigned",
        "vpc",
        "id_type",
        "id_arn",
        "id_account",
    ];
    let user = "arn:aws:iam::111122223333:user/contractor";
    json!({
        "columns": cols,
        "rows": [
            ["get", user, "203.0.113.50", "rclone/v1.65", "exports", null, null, "1", "2", "3000000",
             "0", "2", "2026-06-15T03:00:00Z", "2026-06-15T03:05:00Z", "0", "0", "IAMUser", user, OWNER],
            ["base", "arn:aws:iam::111122223333:user/app", "10.0.0.5", "aws-cli/2", "exports", null, null,
             "1", "9", "1000", "0", "1", "2026-06-10T03:00:00Z", "2026-06-10T03:00:00Z", "0", "0",
             "IAMUser", null, OWNER],
        ]
    })
}

/// Athena executions advance one state every `times` GetQueryExecution calls.
fn athena_progression(moto: &Moto, times: u32) {
    moto.post_json(
        "/moto-api/state-manager/set-transition",
        json!({"model_name": "athena::execution",
               "transition": {"progression": "manual", "times": times}}),
    );
}

#[test]
fn athena_waits_through_queued_and_running_and_stops_a_query_past_its_timeout() {
    let moto = Moto::start();
    let bin = Bin::new(&moto.url);
    // QUEUED for two checks, RUNNING for two more, then SUCCEEDED.
    athena_progression(&moto, 2);
    queue_athena(&moto, &small_rows());
    let cfg = bin.write_config(&format!("{ATHENA_CONFIG}timeout_seconds = 30\n"));
    let cfg = cfg.to_str().unwrap();
    let v = bin.run_json(&callers_args(cfg, "athena"), 0);
    let top = &v["callers"][0];
    assert_eq!(
        top["principal"],
        "arn:aws:iam::111122223333:user/contractor"
    );
    assert_eq!(
        (top["requests"].as_u64(), top["bytes_out"].as_u64()),
        (Some(2), Some(3_000_000))
    );
    assert!(top["new"].to_string().contains("new principal"));
    assert!(top["flags"]
        .to_string()
        .contains("bulk download tool (rclone)"));
    // The table names the engine, the bytes scanned and their cost.
    queue_athena(&moto, &small_rows());
    let mut args = callers_args(cfg, "athena");
    args.truncate(args.len() - 2);
    let out = bin.run(&args);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains("queried in athena (query ") && table.contains("scanned, $0.0000; 2 rows"),
        "{table}"
    );
    assert!(table.contains("user/contractor / 203.0.113.50 / rclone/v1.65 / exports"));
    let polls = moto.requests("GetQueryExecution").len();
    assert!(
        polls >= 4,
        "polled through QUEUED and RUNNING: {polls} checks"
    );
    assert!(moto.requests("StopQueryExecution").is_empty());

    // A query that never finishes: stopped after the timeout, with a clear error.
    athena_progression(&moto, 1_000_000);
    let cfg = bin.write_config(&format!("{ATHENA_CONFIG}timeout_seconds = 1\n"));
    let out = bin.run(&callers_args(cfg.to_str().unwrap(), "athena"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("did not finish within 1 s (stopped)")
            && stderr.contains("cloudtrail.athena.timeout_seconds"),
        "{stderr}"
    );
    let started = moto.requests("StartQueryExecution");
    let stopped = moto.requests("StopQueryExecution");
    assert_eq!((started.len(), stopped.len()), (3, 1));
    assert!(stopped[0]["QueryExecutionId"].is_string());
}

#[test]
fn the_daily_run_delivers_with_correlation_unavailable_when_the_query_times_out() {
    use common::{eu_spike_bill, Receiver};
    let moto = Moto::start();
    moto.queue_cost_and_usage(&[eu_spike_bill("2026-06-16", "111111111111")]);
    athena_progression(&moto, 1_000_000);
    let receiver = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());
    let cfg = bin.write_config(&format!(
        "[notify.slack]\n\n{ATHENA_CONFIG}timeout_seconds = 1\n"
    ));
    let v = bin.run_json(
        &[
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--date",
            "2026-06-16",
            "--format",
            "json",
        ],
        0,
    );
    let i = &v["incidents"][0];
    let err = i["cloudtrail"]["error"].as_str().unwrap_or_default();
    assert!(err.contains("did not finish within 1 s"), "{i:#}");
    assert!(i["cloudtrail"]["analysis"].is_null());
    let got = receiver.received();
    assert_eq!(got.len(), 1, "the report is delivered all the same");
    let msg = got[0].to_string();
    assert!(msg.contains("Correlation unavailable"), "{msg}");
    assert!(msg.contains("internet-out") || msg.contains("EU"), "{msg}");
    assert_eq!(moto.requests("StopQueryExecution").len(), 1);
}

#[test]
fn activity_counts_agree_across_the_scanner_the_sql_and_athena() {
    use egresswatch::correlate::{activity_spec, sql, Query};
    let moto = Moto::start();
    let local_bin = Bin::new(&moto.url);
    let sql_bin = Bin::new(&moto.url);
    let root = local_bin.path("trail");
    generate(&root);
    let ignore = "ListBuckets";
    let allow = "arn:aws:iam::111122223333:role/etl";
    let common = format!(
        "allow_principals = [\"{allow}\"]\n\n[activity]\nhistory_days = 7\nignore_events = [\"{ignore}\"]\n"
    );
    let local_cfg = local_bin.write_config(&format!(
        "[cloudtrail]\nsource = \"{}\"\n{common}",
        root.display()
    ));
    let sql_cfg = sql_bin.write_config(&format!(
        "{}\n[cloudtrail]\nsource = \"athena\"\n{common}",
        ATHENA_CONFIG.replace("[cloudtrail]\nsource = \"athena\"\n", "")
    ));
    let args = |cfg: &Path| -> Vec<String> {
        [
            "activity",
            "--config",
            cfg.to_str().unwrap(),
            "--from",
            DAY,
            "--to",
            DAY,
            "--format",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let a = args(&local_cfg);
    let local = local_bin.run_json(&a.iter().map(String::as_str).collect::<Vec<_>>(), 0);
    let days = local["days"].as_array().unwrap();
    assert!(days.len() > 10, "{local:#}");
    assert!(
        !local["findings"].as_array().unwrap().is_empty(),
        "{local:#}"
    );
    assert!(
        !local.to_string().contains(&format!("\"{ignore}\"")),
        "ignored events are not counted"
    );

    // The query the Athena source sends for the days the store lacks (the history and the day).
    let settings = egresswatch::correlate::CloudTrailSettings {
        allow_principals: vec![allow.into()],
        ..Default::default()
    };
    let first = chrono::NaiveDate::from_ymd_opt(2026, 6, 8).unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2026, 6, 15).unwrap();
    let spec = activity_spec(
        &Query::days(first, last, None, None),
        &settings,
        vec![ignore.into()],
    );
    let table = sql::AthenaTable {
        database: "trails".into(),
        ..Default::default()
    };
    let q = sql::activity_query(&spec, &sql::Dialect::Athena(table)).unwrap();
    let mut a = args(&sql_cfg);
    a.push("--print-sql".into());
    let printed = sql_bin.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(printed.status.success());
    assert_eq!(
        String::from_utf8(printed.stdout).unwrap().trim_end(),
        q,
        "--print-sql shows the query"
    );
    assert!(
        !sql_bin.path("state.db").exists(),
        "--print-sql stores nothing"
    );
    let rows = duckdb(&root, &q, sql_bin.path("").as_path());
    let parsed: sql::Rows = serde_json::from_value(rows.clone()).unwrap();
    let (counts, bad) = sql::fold_activity(&parsed).unwrap();
    assert_eq!(bad, 0);
    let day = chrono::NaiveDate::from_ymd_opt(2026, 6, 15).unwrap();
    let engine_days: Vec<Value> = counts
        .iter()
        .filter(|c| c.day == day)
        .map(|c| json!({"day": c.day, "account": c.account, "region": c.region, "event": c.event, "outcome": c.outcome, "count": c.count}))
        .collect();
    assert_same(
        &Value::Array(engine_days),
        &local["days"],
        "activity: DuckDB and the scanner differ",
    );
    // AWS services' own calls are series of their own, in both (CloudTrail's ACL checks).
    assert!(
        local["days"]
            .as_array()
            .is_some_and(|d| d.iter().any(|r| r["outcome"] == "success (AWS service)")),
        "{:#}",
        local["days"]
    );

    queue_athena(&moto, &rows);
    let a = args(&sql_cfg);
    let athena = sql_bin.run_json(&a.iter().map(String::as_str).collect::<Vec<_>>(), 0);
    assert_same(&athena, &local, "activity: Athena path and scanner differ");
    let sent = moto.requests("StartQueryExecution");
    assert_eq!(sent.len(), 1, "one query for the eight missing days");
    assert_eq!(sent[0]["QueryString"], q.as_str());
}
