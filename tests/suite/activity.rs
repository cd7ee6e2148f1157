//! S3 activity trends: a reconnaissance burst from a new principal and a wall of AccessDenied on
//! GetObject are found and attributed; ignored, they are not; a first PutBucketReplication is
//! reported once.

use crate::common;

use common::trail::*;
use common::{ce_response, Bin, Moto, Receiver};
use serde_json::{json, Value};

const D: &str = "2026-06-15";

fn day_offset(k: i64) -> String {
    (chrono::NaiveDate::parse_from_str(D, "%Y-%m-%d").unwrap() + chrono::Duration::days(k))
        .to_string()
}

fn write_trail(root: &std::path::Path) {
    let app = Who::User("arn:aws:iam::111122223333:user/app");
    let attacker = Who::User("arn:aws:iam::111122223333:user/intruder");
    let admin = Who::Role(
        "arn:aws:sts::111122223333:assumed-role/admin/alice",
        "arn:aws:iam::111122223333:role/admin",
        OWNER,
    );
    for k in -14..=1 {
        let day = day_offset(k);
        let mut recs = vec![];
        for i in 0..100 {
            recs.push(get_object(
                &format!("{day}T{:02}:{:02}:00Z", 8 + i / 60, i % 60),
                app,
                "10.0.0.5",
                Some("aws-sdk-java/2.20.0"),
                "data",
                &format!("k{i}"),
                json!(1000),
                false,
                None,
            ));
        }
        for i in 0..(4 + (k.rem_euclid(3)) as u32) {
            recs.push(management(
                &format!("{day}T07:{i:02}:00Z"),
                app,
                "GetBucketAcl",
                json!({"bucketName": "data"}),
            ));
        }
        if k == 0 {
            for i in 0..300 {
                let mut r = management(
                    &format!("{day}T02:{:02}:{:02}Z", i / 60, i % 60),
                    attacker,
                    "GetBucketAcl",
                    json!({"bucketName": format!("b{i}")}),
                );
                r["sourceIPAddress"] = json!("198.51.100.99");
                r["userAgent"] = json!("aws-cli/2.15.0 command/s3api.get-bucket-acl");
                recs.push(r);
            }
            for i in 0..400 {
                let mut r = get_object(
                    &format!("{day}T03:{:02}:{:02}Z", i / 60, i % 60),
                    attacker,
                    "198.51.100.99",
                    Some("python-requests/2.31"),
                    "data",
                    &format!("s{i}"),
                    json!(0),
                    false,
                    Some("AccessDenied"),
                );
                r["eventCategory"] = json!("Data");
                recs.push(r);
            }
        }
        if k >= 0 {
            recs.push(management(
                &format!("{day}T12:00:00Z"),
                admin,
                "PutBucketReplication",
                json!({"bucketName": "data"}),
            ));
        }
        write(
            root,
            &format!(
                "{}{}",
                day_dir(OWNER, REGION, &day),
                file_name(OWNER, REGION, &day, 1)
            ),
            &gz(&records_file(&recs)),
        );
    }
}

/// `egresswatch activity --format json` over `[from, to]`, expecting exit 0.
fn activity_json(bin: &Bin, cfg: &str, root: &str, from: &str, to: &str) -> Value {
    bin.run_json(
        &[
            "activity", "--config", cfg, "--source", root, "--from", from, "--to", to, "--format",
            "json",
        ],
        0,
    )
}

fn findings(v: &Value) -> Vec<Value> {
    v["findings"].as_array().unwrap().clone()
}

#[test]
fn bursts_are_found_with_their_driver_and_ignored_events_are_not() {
    let bin = Bin::new("http://127.0.0.1:9");
    let root = bin.path("trail");
    write_trail(&root);
    let cfg = bin.write_config("[cloudtrail]\nsource = \"unused\"\n\n[activity]\n");
    let v = activity_json(&bin, cfg.to_str().unwrap(), root.to_str().unwrap(), D, D);
    let f = findings(&v);
    let recon = f
        .iter()
        .find(|x| x["event"] == "GetBucketAcl" && x["kind"] == "rise")
        .unwrap_or_else(|| panic!("{f:#?}"));
    assert_eq!(recon["count"], 300 + 4);
    assert_eq!(
        recon["principal"],
        "arn:aws:iam::111122223333:user/intruder"
    );
    assert_eq!(recon["source_ip"], "198.51.100.99");
    assert_eq!(recon["new_principal"], true);
    assert!(
        recon["why"]
            .as_str()
            .unwrap()
            .starts_with("GetBucketAcl: 304 calls vs"),
        "{}",
        recon["why"]
    );
    let denied = f
        .iter()
        .find(|x| x["event"] == "GetObject" && x["outcome"] == "AccessDenied")
        .unwrap_or_else(|| panic!("{f:#?}"));
    assert_eq!(denied["kind"], "rise");
    assert_eq!(
        denied["principal"],
        "arn:aws:iam::111122223333:user/intruder"
    );
    assert!(
        denied["why"]
            .as_str()
            .unwrap()
            .contains("GetObject AccessDenied: 400 calls"),
        "{}",
        denied["why"]
    );
    assert!(
        !f.iter()
            .any(|x| x["event"] == "GetObject" && x["outcome"] == "success"),
        "the ordinary traffic is quiet: {f:#?}"
    );
    let first = f
        .iter()
        .filter(|x| x["kind"] == "first-seen")
        .collect::<Vec<_>>();
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!(first[0]["event"], "PutBucketReplication");
    // The daily table.
    assert!(v["days"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["event"] == "GetObject" && r["outcome"] == "AccessDenied" && r["count"] == 400));

    // The same trail with those events ignored gives none of those findings.
    let bin2 = Bin::new("http://127.0.0.1:9");
    let cfg2 = bin2.write_config("[cloudtrail]\nsource = \"unused\"\n\n[activity]\nignore_events = [\"GetBucketAcl\", \"GetObject\"]\n");
    let v2 = activity_json(&bin2, cfg2.to_str().unwrap(), root.to_str().unwrap(), D, D);
    assert!(
        findings(&v2)
            .iter()
            .all(|x| x["event"] != "GetBucketAcl" && x["event"] != "GetObject"),
        "{:#?}",
        findings(&v2)
    );
    assert!(v2["days"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["event"] != "GetObject"));
}

#[test]
fn a_first_put_bucket_replication_is_reported_once() {
    let bin = Bin::new("http://127.0.0.1:9");
    let root = bin.path("trail");
    write_trail(&root);
    let cfg = bin.write_config("[cloudtrail]\nsource = \"unused\"\n\n[activity]\n");
    let cfg = cfg.to_str().unwrap();
    let first = activity_json(&bin, cfg, root.to_str().unwrap(), D, D);
    assert!(findings(&first)
        .iter()
        .any(|x| x["kind"] == "first-seen" && x["event"] == "PutBucketReplication"));
    let next = day_offset(1);
    let v = activity_json(&bin, cfg, root.to_str().unwrap(), &next, &next);
    assert!(
        !findings(&v).iter().any(|x| x["kind"] == "first-seen"),
        "not again the next day: {:#?}",
        findings(&v)
    );
}

#[test]
fn the_daily_run_reports_activity_on_a_quiet_bill_once() {
    let moto = Moto::start();
    let run_date = day_offset(1);
    let to = common::day(&run_date);
    let from = to - chrono::Days::new(121);
    // A bill with no spike: only the activity finds anything.
    moto.queue_cost_and_usage(&[ce_response(from, to, to, None, None)]);
    let receiver = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());
    let root = bin.path("trail");
    write_trail(&root);
    let cfg = bin.write_config(&format!(
        "[notify.slack]\n\n[cloudtrail]\nsource = \"{}\"\n\n[activity]\n",
        root.display()
    ));
    let cfg = cfg.to_str().unwrap();
    let run = |bin: &Bin| {
        bin.run_json(
            &[
                "run", "--config", cfg, "--date", &run_date, "--format", "json",
            ],
            0,
        )
    };
    let v = run(&bin);
    assert!(v["incidents"].as_array().unwrap().is_empty(), "{v:#}");
    let acts = v["activity"].as_array().expect("activity in the report");
    assert!(
        acts.iter()
            .any(|x| x["event"] == "GetBucketAcl" && x["kind"] == "rise"),
        "{acts:#?}"
    );
    let got = receiver.received();
    assert_eq!(got.len(), 1, "one message for the new findings");
    let text = got[0].to_string();
    assert!(text.contains("S3 activity on"), "{text}");
    assert!(text.contains("GetBucketAcl"), "{text}");
    // The same day again: the findings are known, nothing is announced twice.
    let again = run(&bin);
    assert!(!again["activity"].as_array().unwrap().is_empty());
    assert_eq!(receiver.received().len(), 1, "announced once");
}

#[test]
fn per_event_thresholds_and_allow_listed_principals_quiet_a_rise() {
    let run = |extra: &str| {
        let bin = Bin::new("http://127.0.0.1:9");
        let root = bin.path("trail");
        write_trail(&root);
        let cfg = bin.write_config(&format!(
            "[cloudtrail]\nsource = \"unused\"\n{extra}\n[activity]\nthreshold_z_by_event = {{ GetBucketAcl = 1000000.0 }}\n"
        ));
        let v = activity_json(&bin, cfg.to_str().unwrap(), root.to_str().unwrap(), D, D);
        findings(&v)
    };
    let f = run("");
    assert!(
        !f.iter().any(|x| x["event"] == "GetBucketAcl"),
        "GetBucketAcl needs a score of 1e6: {f:#?}"
    );
    assert!(
        f.iter()
            .any(|x| x["event"] == "GetObject" && x["outcome"] == "AccessDenied"),
        "other events keep the default threshold: {f:#?}"
    );
    let f = run("allow_principals = [\"arn:aws:iam::111122223333:user/intruder\"]\n");
    assert!(
        !f.iter().any(|x| x["kind"] == "rise"),
        "the allow-listed caller is not counted: {f:#?}"
    );
}
