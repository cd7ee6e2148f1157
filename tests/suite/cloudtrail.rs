//! Naming the callers: the same generated trail read from a local directory and from moto's S3
//! gives the same aggregation, exact to the byte, as an independent computation in this test.

use crate::common;

use std::collections::BTreeMap;

use common::trail::*;
use common::{Bin, Moto};
use serde_json::{json, Value};

const DAY: &str = "2026-06-15";
const ORG: &str = "o-abc123def4";

struct Trail {
    /// (relative path, bytes): everything written, decoys included.
    files: Vec<(String, Vec<u8>)>,
    /// The GetObject records egresswatch must count (in scope, readable, in the window).
    visible: Vec<Value>,
    /// Trail files in the folders the scope needs (including broken ones).
    files_in_scope: u64,
}

fn owner_dir(day: &str) -> String {
    format!(
        "AWSLogs/{ORG}/{}",
        &day_dir(OWNER, REGION, day)["AWSLogs/".len()..]
    )
}

fn build() -> Trail {
    let app = Who::User("arn:aws:iam::111122223333:user/app");
    let etl = Who::Role(
        "arn:aws:sts::111122223333:assumed-role/etl/i-0abc",
        "arn:aws:iam::111122223333:role/etl",
        OWNER,
    );
    let partner = Who::User("arn:aws:iam::999988887777:user/partner");
    let svc = Who::Service("cloudtrail.amazonaws.com");
    let hostile_ua = "<!channel> <https://evil.example|click>";
    let t = |h: u32, m: u32| format!("{DAY}T{h:02}:{m:02}:00Z");

    let mut files = Vec::new();
    let mut visible = Vec::new();
    let mut in_scope = 0;

    // Baseline (5 days before): the app, 1 MB from its usual place.
    let base = vec![get_object(
        "2026-06-10T09:00:00Z",
        app,
        "10.0.0.5",
        Some("aws-sdk-java/2.20.0"),
        "data",
        "k0",
        json!(1_000_000),
        false,
        None,
    )];
    files.push((
        format!(
            "{}{}",
            owner_dir("2026-06-10"),
            file_name(OWNER, REGION, "2026-06-10", 1)
        ),
        gz(&records_file(&base)),
    ));
    in_scope += 1;
    // Lookback: the bucket was made public three days before.
    let public = management(
        "2026-06-12T08:00:00Z",
        app,
        "PutBucketPolicy",
        json!({"bucketName": "data", "bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}}),
    );
    files.push((
        format!(
            "{}{}",
            owner_dir("2026-06-12"),
            file_name(OWNER, REGION, "2026-06-12", 1)
        ),
        gz(&records_file(&[public])),
    ));
    in_scope += 1;

    // The window.
    let mut w = Vec::new();
    for i in 0..30 {
        w.push(get_object(
            &t(1, i),
            app,
            "10.0.0.5",
            Some("aws-sdk-java/2.20.0"),
            "data",
            &format!("a{i}"),
            json!(1_000_000),
            false,
            None,
        ));
    }
    for i in 0..50 {
        // Floats, as some records carry them; keys repeat (25 distinct objects).
        w.push(get_object(
            &t(2, i),
            etl,
            "203.0.113.9",
            Some("rclone/v1.65.0"),
            "data",
            &format!("b{}", i % 25),
            json!(2_500_000.0),
            false,
            None,
        ));
    }
    for i in 0..5 {
        w.push(get_object(
            &t(3, i),
            etl,
            "203.0.113.9",
            Some("rclone/v1.65.0"),
            "data",
            "secret",
            json!(0),
            false,
            Some("AccessDenied"),
        ));
    }
    for i in 0..5 {
        w.push(get_object(
            &t(4, i),
            Who::Anonymous,
            "192.0.2.1",
            None,
            "public",
            &format!("p{i}"),
            json!(123_456),
            false,
            None,
        ));
    }
    for i in 0..3 {
        w.push(get_object(
            &t(5, i),
            partner,
            "198.51.100.7",
            Some(hostile_ua),
            "data",
            &format!("d{i}"),
            json!(7_777_777),
            true,
            None,
        ));
    }
    w.push(get_object(
        &t(6, 0),
        svc,
        "cloudtrail.amazonaws.com",
        Some("cloudtrail.amazonaws.com"),
        "data",
        "s0",
        json!(42),
        false,
        None,
    ));
    let mut versioning = management(
        &t(7, 0),
        etl,
        "PutBucketVersioning",
        json!({"bucketName": "data", "VersioningConfiguration": {"Status": "Suspended"}}),
    );
    versioning["sourceIPAddress"] = json!("203.0.113.9");
    let recon: Vec<Value> = (0..25)
        .map(|i| {
            let mut r = management(
                &t(0, i),
                etl,
                "GetBucketAcl",
                json!({"bucketName": "data", "acl": [""]}),
            );
            r["sourceIPAddress"] = json!("203.0.113.9");
            r
        })
        .collect();
    visible.extend(w.iter().cloned());
    // Three gzipped files, one plain .json, one JSON Lines export.
    let (a, rest) = w.split_at(40);
    let (b, c) = rest.split_at(30);
    let mut a = a.to_vec();
    a.push(versioning);
    a.extend(recon);
    files.push((
        format!("{}{}", owner_dir(DAY), file_name(OWNER, REGION, DAY, 1)),
        gz(&records_file(&a)),
    ));
    files.push((
        format!("{}{}", owner_dir(DAY), file_name(OWNER, REGION, DAY, 2)),
        gz(&records_file(b)),
    ));
    let (c1, c2) = c.split_at(c.len() / 2);
    files.push((
        format!(
            "{}{}",
            owner_dir(DAY),
            file_name(OWNER, REGION, DAY, 3).replace(".json.gz", ".json")
        ),
        records_file(c1),
    ));
    let jsonl: Vec<u8> = c2
        .iter()
        .flat_map(|r| format!("{r}\n").into_bytes())
        .collect();
    files.push((
        format!(
            "{}{}",
            owner_dir(DAY),
            file_name(OWNER, REGION, DAY, 4).replace(".json.gz", ".jsonl")
        ),
        jsonl,
    ));
    in_scope += 4;

    // Delivery delay: an event of 23:58 delivered after midnight, in the next day's folder.
    let late = get_object(
        &t(23, 58),
        app,
        "10.0.0.5",
        Some("aws-sdk-java/2.20.0"),
        "data",
        "late",
        json!(5_000),
        false,
        None,
    );
    let next_day = get_object(
        "2026-06-16T00:03:00Z",
        app,
        "10.0.0.5",
        Some("aws-sdk-java/2.20.0"),
        "data",
        "after",
        json!(9),
        false,
        None,
    );
    visible.push(late.clone());
    files.push((
        format!(
            "{}{}",
            owner_dir("2026-06-16"),
            file_name(OWNER, REGION, "2026-06-16", 1)
        ),
        gz(&records_file(&[late, next_day])),
    ));
    in_scope += 1;

    // Damage: a corrupt gzip, a truncated file (two records survive), an invalid record.
    let mut corrupt = gz(&records_file(&[get_object(
        &t(8, 0),
        app,
        "10.0.0.5",
        None,
        "data",
        "x",
        json!(1),
        false,
        None,
    )]));
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    corrupt[mid + 1] ^= 0x55;
    files.push((
        format!("{}{}", owner_dir(DAY), file_name(OWNER, REGION, DAY, 5)),
        corrupt,
    ));
    let survivors: Vec<Value> = (0..2)
        .map(|i| {
            get_object(
                &t(9, i),
                app,
                "10.0.0.6",
                Some("curl/8.4.0"),
                "data",
                &format!("t{i}"),
                json!(333),
                false,
                None,
            )
        })
        .collect();
    let mut third = survivors.clone();
    third.push(get_object(
        &t(9, 2),
        app,
        "10.0.0.6",
        Some("curl/8.4.0"),
        "data",
        "t2",
        json!(333),
        false,
        None,
    ));
    let full = records_file(&third);
    let cut = full.len() - 60;
    files.push((
        format!("{}{}", owner_dir(DAY), file_name(OWNER, REGION, DAY, 6)),
        gz(&full[..cut]),
    ));
    visible.extend(survivors);
    let mut invalid = get_object(
        &t(10, 0),
        app,
        "10.0.0.5",
        None,
        "data",
        "bad",
        json!(999_999),
        false,
        None,
    );
    invalid["eventTime"] = json!(12345);
    let ok = get_object(
        &t(10, 1),
        app,
        "10.0.0.5",
        Some("aws-sdk-java/2.20.0"),
        "data",
        "good",
        json!(11),
        false,
        None,
    );
    visible.push(ok.clone());
    files.push((
        format!("{}{}", owner_dir(DAY), file_name(OWNER, REGION, DAY, 7)),
        gz(&records_file(&[invalid, ok])),
    ));
    in_scope += 3;

    // Decoys that must never be read: another account, another region, a day far away with
    // in-window times, and a digest.
    let decoy = |who| {
        records_file(&[get_object(
            &t(12, 0),
            who,
            "10.9.9.9",
            None,
            "data",
            "decoy",
            json!(10_000_000_000u64),
            false,
            None,
        )])
    };
    files.push((
        format!(
            "{}{}",
            day_dir("444455556666", REGION, DAY),
            file_name("444455556666", REGION, DAY, 1)
        ),
        gz(&decoy(app)),
    ));
    files.push((
        format!(
            "AWSLogs/{ORG}/{}",
            &day_dir(OWNER, "us-east-1", DAY)["AWSLogs/".len()..]
        ) + &file_name(OWNER, "us-east-1", DAY, 1),
        gz(&decoy(app)),
    ));
    files.push((
        format!(
            "{}{}",
            owner_dir("2026-07-30"),
            file_name(OWNER, REGION, "2026-07-30", 1)
        ),
        gz(&decoy(app)),
    ));
    files.push((
        format!("AWSLogs/{ORG}/{OWNER}/CloudTrail-Digest/{REGION}/2026/06/15/{OWNER}_CloudTrail-Digest_{REGION}_x.json.gz"),
        gz(b"{\"digestStartTime\":\"x\"}"),
    ));
    Trail {
        files,
        visible,
        files_in_scope: in_scope,
    }
}

/// The expected aggregation, computed from the visible records without egresswatch's code.
/// (principal, source IP, user agent, bucket) → (requests, bytes out, errors).
type Aggregation = BTreeMap<(String, String, String, String), (u64, u64, u64)>;

fn expected(visible: &[Value]) -> Aggregation {
    let mut out = BTreeMap::new();
    for r in visible {
        let id = &r["userIdentity"];
        let principal = if id["accountId"] == "ANONYMOUS_PRINCIPAL" {
            "anonymous".to_string()
        } else if let Some(arn) = id["arn"].as_str() {
            arn.to_string()
        } else {
            format!("AWS service: {}", id["invokedBy"].as_str().unwrap())
        };
        let key = (
            principal,
            r["sourceIPAddress"].as_str().unwrap_or("").to_string(),
            r["userAgent"].as_str().unwrap_or("").to_string(),
            r["requestParameters"]["bucketName"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let e = out.entry(key).or_insert((0, 0, 0));
        e.0 += 1;
        if r.get("errorCode").is_some() {
            e.2 += 1;
        } else {
            e.1 += r["additionalEventData"]["bytesTransferredOut"]
                .as_f64()
                .unwrap() as u64;
        }
    }
    out
}

fn got(v: &Value) -> Aggregation {
    v["callers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["principal"].as_str().unwrap().to_string(),
                    c["source_ip"].as_str().unwrap().to_string(),
                    c["user_agent"].as_str().unwrap().to_string(),
                    c["bucket"].as_str().unwrap().to_string(),
                ),
                (
                    c["requests"].as_u64().unwrap(),
                    c["bytes_out"].as_u64().unwrap(),
                    c["errors"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

fn caller<'v>(v: &'v Value, principal: &str) -> &'v Value {
    v["callers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["principal"] == principal)
        .unwrap_or_else(|| panic!("no caller {principal}"))
}

const ARGS: &[&str] = &[
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
];

fn check(v: &Value, t: &Trail) {
    assert_eq!(
        got(v),
        expected(&t.visible),
        "the aggregation, exact to the byte"
    );
    let q = &v["data_quality"];
    assert_eq!(
        q["files"], t.files_in_scope,
        "only the scope's folders are read: {q}"
    );
    assert_eq!(q["bad_files"], 2, "{q}");
    assert_eq!(q["bad_records"], 1, "{q}");

    let etl = caller(v, "arn:aws:sts::111122223333:assumed-role/etl/i-0abc");
    assert_eq!(
        etl["objects"], 26,
        "25 distinct objects, and the denied one"
    );
    let new: Vec<&str> = etl["new"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(
        new.contains(&"new principal") && new.contains(&"new source IP"),
        "{new:?}"
    );
    assert!(
        etl["flags"]
            .to_string()
            .contains("bulk download tool (rclone)"),
        "{}",
        etl["flags"]
    );
    assert_eq!(etl["role"], "arn:aws:iam::111122223333:role/etl");
    assert!(caller(v, "anonymous")["flags"]
        .to_string()
        .contains("anonymous"));
    let partner = caller(v, "arn:aws:iam::999988887777:user/partner");
    let flags = partner["flags"].to_string();
    assert!(
        flags.contains("cross-account (999988887777)")
            && flags.contains("presigned URL (3 requests)"),
        "{flags}"
    );
    let app = v["callers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["principal"] == "arn:aws:iam::111122223333:user/app" && c["source_ip"] == "10.0.0.5"
        })
        .unwrap();
    assert!(
        app["new"].to_string().contains("growth ×"),
        "{}",
        app["new"]
    );
    // The biggest new downloader explains the largest share of the excess.
    assert_eq!(
        v["callers"][0]["principal"],
        "arn:aws:sts::111122223333:assumed-role/etl/i-0abc"
    );
    let shares: f64 = v["callers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["share_of_bytes"].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9);

    let events = v["events"].as_array().unwrap();
    let find = |name: &str| {
        events
            .iter()
            .find(|e| e["event_name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {events:#?}"))
    };
    let policy = find("PutBucketPolicy");
    assert_eq!(
        (
            policy["severity"].as_str(),
            policy["before_window"].as_bool()
        ),
        (Some("high"), Some(true))
    );
    assert_eq!(find("PutBucketVersioning")["severity"], "high");
    let recon = find("Reconnaissance");
    assert!(
        recon["why"].as_str().unwrap().contains("GetBucketAcl×25"),
        "{recon}"
    );
}

#[test]
fn local_directory_and_s3_give_the_same_exact_aggregation() {
    let t = build();
    let bin = Bin::new("http://127.0.0.1:9");
    let root = bin.path("trail");
    for (rel, body) in &t.files {
        write(&root, rel, body);
    }
    let mut args = vec!["callers", "--source", root.to_str().unwrap()];
    args.extend_from_slice(ARGS);
    let local = bin.run_json(&args, 0);
    check(&local, &t);

    let moto = Moto::start();
    let http = reqwest::blocking::Client::new();
    assert!(http
        .put(format!("{}/trail-bucket", moto.url))
        .send()
        .unwrap()
        .status()
        .is_success());
    for (rel, body) in &t.files {
        let r = http
            .put(format!("{}/trail-bucket/org-trail/{rel}", moto.url))
            .body(body.clone())
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{rel}: {}", r.status());
    }
    let s3_bin = Bin::new(&moto.url);
    let mut args = vec!["callers", "--source", "s3://trail-bucket/org-trail"];
    args.extend_from_slice(ARGS);
    let s3 = s3_bin.run_json(&args, 0);
    check(&s3, &t);
    assert_eq!(
        s3["callers"], local["callers"],
        "S3 and local agree on every caller"
    );
    assert_eq!(s3["events"], local["events"]);
}

#[test]
fn without_account_and_region_filters_the_decoy_account_is_read() {
    let t = build();
    let bin = Bin::new("http://127.0.0.1:9");
    let root = bin.path("trail");
    for (rel, body) in &t.files {
        write(&root, rel, body);
    }
    let v = bin.run_json(
        &[
            "callers",
            "--source",
            root.to_str().unwrap(),
            "--from",
            DAY,
            "--to",
            DAY,
            "--format",
            "json",
        ],
        0,
    );
    // The other account and the other region now count; the far day and the digest still do not.
    let bytes: u64 = v["callers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bytes_out"].as_u64().unwrap())
        .sum();
    let expected: u64 = expected(&t.visible).values().map(|e| e.1).sum();
    assert_eq!(bytes, expected + 2 * 10_000_000_000);
}

#[test]
fn the_table_output_is_readable_and_defuses_control_characters() {
    let bin = Bin::new("http://127.0.0.1:9");
    let root = bin.path("trail");
    let r = get_object(
        &format!("{DAY}T01:00:00Z"),
        Who::User("arn:aws:iam::111122223333:user/x"),
        "10.0.0.1",
        Some("evil\u{1b}[2J\u{7}agent"),
        "data",
        "k",
        json!(5),
        false,
        None,
    );
    write(
        &root,
        &format!("{}{}", owner_dir(DAY), file_name(OWNER, REGION, DAY, 1)),
        &gz(&records_file(&[r])),
    );
    let out = bin.run(&[
        "callers",
        "--source",
        root.to_str().unwrap(),
        "--from",
        DAY,
        "--to",
        DAY,
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("arn:aws:iam::111122223333:user/x"), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "escape sequences reach the terminal: {text:?}"
    );
    let missing = bin.run(&[
        "callers",
        "--source",
        bin.path("nope").to_str().unwrap(),
        "--from",
        DAY,
        "--to",
        DAY,
    ]);
    assert_eq!(missing.status.code(), Some(1));
}
