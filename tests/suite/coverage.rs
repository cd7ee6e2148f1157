//! `egresswatch coverage` on saved inventories (the judgement; the collection from AWS is
//! `posture.rs`): the setup — an organisation trail whose advanced selectors exclude one
//! bucket, a trail with basic selectors on a prefix, a public bucket, an SCP denying
//! DeleteBucket — and hostile or broken input.

use crate::common::Bin;
use serde_json::{json, Value};

/// The account's inventory as the collector writes it (`--save-inventory`).
fn inventory() -> Value {
    json!({
        "account": "111111111111",
        "collected_at": "2026-11-30T06:00:00Z",
        "regions": ["eu-west-1", "us-east-1"],
        "trails": [
            {"name": "org-trail", "arn": "arn:aws:cloudtrail:us-east-1:999999999999:trail/org-trail",
             "home_region": "us-east-1", "multi_region": true, "organization": true, "logging": true,
             "selectors": {"kind": "advanced", "selectors": [
                {"name": "management", "field_selectors": [{"field": "eventCategory", "equals": ["Management"]}]},
                {"name": "S3 objects but exports", "field_selectors": [
                    {"field": "eventCategory", "equals": ["Data"]},
                    {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                    {"field": "resources.ARN", "not_starts_with": ["arn:aws:s3:::exports/"]}]}]}},
            {"name": "uploads-trail", "arn": "arn:aws:cloudtrail:us-east-1:111111111111:trail/uploads-trail",
             "home_region": "us-east-1", "multi_region": false, "organization": false, "logging": true,
             "selectors": {"kind": "basic", "selectors": [
                {"read_write_type": "All", "include_management_events": true,
                 "data_resources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::uploads/incoming/"]}]}]}}
        ],
        "event_data_stores": [],
        "buckets": [
            {"name": "exports", "region": "eu-west-1", "public_access_block": null, "policy_public": false,
             "versioning": "Enabled", "mfa_delete": false, "request_metrics": []},
            {"name": "exports-archive", "region": "eu-west-1", "public_access_block": null, "policy_public": false,
             "versioning": "Enabled", "mfa_delete": false, "request_metrics": [{"id": "EntireBucket", "filter": null}]},
            {"name": "<img src=x onerror=alert(1)>", "region": "eu-west-1", "public_access_block": null,
             "policy_public": true, "versioning": "Off", "mfa_delete": false, "request_metrics": []},
            {"name": "uploads", "region": "us-east-1", "public_access_block": null, "policy_public": false,
             "versioning": "Enabled", "mfa_delete": false, "request_metrics": []}
        ],
        "account_public_access_block": null,
        "guardduty": [{"region": "eu-west-1", "detector_id": "d1", "s3_protection": true},
                      {"region": "us-east-1", "detector_id": null, "s3_protection": null}],
        "scps": [{"id": "p-1", "name": "no-bucket-deletion", "targets": ["r-root"],
                  "document": "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"s3:DeleteBucket\",\"Resource\":\"*\"}}"}],
        "org_path": ["r-root", "ou-prod", "111111111111"],
        "errors": []
    })
}

fn write(bin: &Bin, name: &str, v: &Value) -> String {
    let p = bin.path(name);
    std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn exactly_the_excluded_bucket_is_not_attributable_and_blind_spots_come_first_with_fixes() {
    let bin = Bin::new("http://127.0.0.1:9");
    let inv = write(&bin, "inv.json", &inventory());
    let v = bin.run_json(&["coverage", "--inventory", &inv, "--format", "json"], 0);
    assert_eq!(v["schema"], "egresswatch.coverage/v1");
    let buckets = v["buckets"].as_array().unwrap();
    let by = |name: &str| {
        buckets
            .iter()
            .find(|b| b["bucket"] == name)
            .unwrap()
            .clone()
    };
    let not: Vec<&str> = buckets
        .iter()
        .filter(|b| b["attribution"] == "none")
        .map(|b| b["bucket"].as_str().unwrap())
        .collect();
    assert_eq!(not, ["exports"], "{v:#}");
    // A neighbour whose name starts with the excluded one is recorded.
    assert_eq!(by("exports-archive")["attribution"], "full");
    let why = by("exports")["why"].as_str().unwrap().to_string();
    assert!(
        why.contains("org-trail") && why.contains("NotStartsWith"),
        "{why}"
    );
    // Blind spots come first in the bucket list, and the SCP is read.
    assert_eq!(buckets[0]["bucket"], "exports");
    assert!(by("exports-archive")["scp_denies"]
        .to_string()
        .contains("s3:DeleteBucket"));
    // The blind spots: most serious first; the excluded bucket's fix is a selector command.
    let spots = v["blind_spots"].as_array().unwrap();
    assert_eq!(spots[0]["severity"], "high");
    let fix = spots
        .iter()
        .find(|s| s["bucket"] == "exports" && s["severity"] == "high")
        .expect("a high blind spot for exports")["fix"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        fix.contains("put-event-selectors") && fix.contains("org-trail"),
        "{fix}"
    );
    let sev: Vec<&str> = spots
        .iter()
        .map(|s| s["severity"].as_str().unwrap())
        .collect();
    let rank = |s: &str| {
        ["high", "medium", "low"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    assert!(sev.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "{sev:?}");
    // The public bucket is a high blind spot; no GuardDuty in us-east-1 is one too.
    assert!(spots
        .iter()
        .any(|s| s["bucket"] == "<img src=x onerror=alert(1)>" && s["severity"] == "high"));
    assert!(spots
        .iter()
        .any(|s| s["region"] == "us-east-1" && s["fix"].to_string().contains("guardduty")));

    // The table: blind spots before the bucket list; the HTML escapes the hostile name.
    let out = bin.run(&["coverage", "--inventory", &inv]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        table.find("Blind spots").unwrap() < table.find("\nbucket ").unwrap(),
        "{table}"
    );
    let out = bin.run(&["coverage", "--inventory", &inv, "--format", "html"]);
    let page = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!page.contains("<img src=x"), "escaped");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn a_broken_inventory_is_one_line_and_exit_2() {
    let bin = Bin::new("http://127.0.0.1:9");
    let p = bin.path("bad.json");
    std::fs::write(&p, b"{\"account\": 1").unwrap();
    let out = bin.run(&["coverage", "--inventory", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("bad.json"), "{err}");
    let out = bin.run(&["coverage", "--region", "not a region"]);
    assert_eq!(out.status.code(), Some(2));
}
