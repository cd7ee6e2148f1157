//! The parser and the control-plane classifier against real trails from public projects
//! (../shared/reference/cloudtrail): every file parses with no panic, and every S3
//! control-plane event gets a verdict; the detection-rule set's positive cases are high.

use std::path::{Path, PathBuf};

use egresswatch::correlate::controlplane::{classify, Severity};
use egresswatch::sources::cloudtrail::reader::{decode, for_each_record};
use serde_json::Value;

fn reference() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/cloudtrail");
    assert!(
        p.is_dir(),
        "the reference trails are expected beside the checkout at {}",
        p.display()
    );
    p
}

fn trail_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            trail_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json")
            && !p.to_string_lossy().ends_with(".index.json")
        {
            out.push(p);
        }
    }
}

#[test]
fn every_reference_file_parses_and_every_s3_control_plane_event_is_classified() {
    let mut files = vec![];
    trail_files(&reference(), &mut files);
    assert!(files.len() >= 50, "{} files", files.len());
    let (mut records, mut classified, mut s3_management) = (0u64, 0u64, 0u64);
    for f in &files {
        let data = decode(std::fs::read(f).unwrap()).unwrap();
        let out = for_each_record(&data, |r| {
            // Every accessor on every record: no panic whatever the shape.
            let _ = (
                r.principal(),
                r.object(),
                r.epoch_seconds(),
                r.bytes_out(),
                r.presigned(),
                r.cross_account(),
                r.role(),
            );
            if !r.is_s3() || r.event_category.as_deref() == Some("Data") {
                return;
            }
            let params: Option<Value> = r
                .request_parameters
                .and_then(|p| serde_json::from_str(p.get()).ok());
            if let Some(v) = classify(r.name(), params.as_ref(), r.recipient_account_id.as_deref())
            {
                assert!(!v.why.is_empty());
                classified += 1;
            }
            s3_management += 1;
        });
        assert!(out.error.is_none(), "{}: {:?}", f.display(), out.error);
        assert_eq!(out.bad_records, 0, "{}", f.display());
        records += out.records;
    }
    assert_eq!(records, 2900 + 459, "all records of both sets");
    // Object-level calls logged as management events in the hand-edited set are data, not
    // control plane: everything else gets a verdict.
    assert!(
        classified >= s3_management - 25,
        "{classified} of {s3_management}"
    );
    assert!(classified > 100, "{classified}");
}

#[test]
fn the_rule_sets_positive_cases_are_high() {
    let dir = reference().join("panther-rule-tests");
    let index: Value = serde_json::from_slice(
        &std::fs::read(dir.join("panther_cloudtrail_test_events.index.json")).unwrap(),
    )
    .unwrap();
    let trail: Value = serde_json::from_slice(
        &std::fs::read(dir.join("panther_cloudtrail_test_events.json")).unwrap(),
    )
    .unwrap();
    let records = trail["Records"].as_array().unwrap();
    const HIGH: &[&str] = &[
        "AWS.CloudTrail.ResourceMadePublic",
        "AWS.S3.DeleteBucketEncryption",
        "AWS.S3.DeletePublicAccessBlock",
        "AWS.S3.DisableBucketLogging",
        "AWS.S3.SuspendVersioning",
    ];
    let mut checked = 0;
    for e in index["index"].as_array().unwrap() {
        let rule = e["rule_id"].as_str().unwrap();
        if e["expected"] != true || !HIGH.contains(&rule) || e["eventSource"] != "s3.amazonaws.com"
        {
            continue;
        }
        let r = &records[e["i"].as_u64().unwrap() as usize];
        let v = classify(
            r["eventName"].as_str().unwrap(),
            r.get("requestParameters").filter(|p| !p.is_null()),
            r["recipientAccountId"].as_str(),
        )
        .unwrap();
        assert_eq!(
            v.severity,
            Severity::High,
            "{rule} ({}): {}",
            e["test"],
            v.why
        );
        checked += 1;
    }
    assert!(checked >= 5, "{checked}");
}
