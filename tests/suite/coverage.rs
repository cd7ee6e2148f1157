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

/// A local trail (in `bin`'s folder) holding `records` of `account` in eu-west-1 on `day`.
fn trail_of(bin: &Bin, account: &str, day: &str, mut records: Vec<Value>) -> std::path::PathBuf {
    use crate::common::trail::{day_dir, file_name, gz, records_file, write};
    for r in &mut records {
        r["recipientAccountId"] = json!(account);
    }
    let root = bin.path("trail");
    write(
        &root,
        &format!(
            "{}{}",
            day_dir(account, "eu-west-1", day),
            file_name(account, "eu-west-1", day, 1)
        ),
        &gz(&records_file(&records)),
    );
    root
}

/// moto holding `posture::plant`'s account: buckets `alpha` (public), `beta-eu` (excluded by
/// the organisation trail's advanced selector) and `trail-logs`, a prefix-only basic trail, an
/// SCP denying DeleteBucket, GuardDuty detectors.
fn planted_moto() -> crate::common::Moto {
    use egresswatch::sources::posture::PostureClients;
    let moto = crate::common::Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conf = crate::posture::moto_config(&moto.url).await;
        let regions = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
        crate::posture::plant(&PostureClients::from_config(&conf, &regions)).await;
    });
    moto
}

/// The "done when", end to end against moto: an organisation trail whose advanced
/// selector excludes one bucket (`beta-eu`, planted by `posture::plant` with a public bucket,
/// a prefix-only basic trail and an SCP denying DeleteBucket). `coverage --format json` marks
/// exactly that bucket as not attributable, and the daily run's incident in its region says
/// its bytes cannot be named, instead of guessing.
#[test]
fn the_excluded_bucket_is_named_by_coverage_and_by_the_incident_in_its_region() {
    use crate::common::trail::{get_object, Who};
    use crate::common::{day, eu_spike_bill, MOTO_ACCOUNT};
    use chrono::Days;
    let moto = planted_moto();
    let bin = Bin::new(&moto.url);

    // 1. The coverage, read from moto by the binary.
    let v = bin.run_json(
        &[
            "coverage",
            "--region",
            "eu-west-1",
            "--region",
            "us-east-1",
            "--format",
            "json",
        ],
        0,
    );
    assert_eq!(v["account"], MOTO_ACCOUNT);
    let not: Vec<&str> = v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["attribution"] != "full")
        .map(|b| b["bucket"].as_str().unwrap())
        .collect();
    assert_eq!(not, ["beta-eu"], "{v:#}");
    assert_eq!(v["buckets"][0]["attribution"], "none");
    assert!(v["scps_read"].as_bool().unwrap(), "{v:#}");
    // What moto cannot answer is listed, never guessed (the account's access block).
    assert!(
        v["errors"]
            .to_string()
            .contains("s3:GetAccountPublicAccessBlock"),
        "{}",
        v["errors"]
    );

    // 2. A spike in eu-west-1 of the same account; the trail holds only an app's small reads.
    let run_date = "2026-06-16";
    let spike = day(run_date) - Days::new(1);
    // The bill of the account the credentials read (coverage is of that account).
    moto.queue_cost_and_usage(&[eu_spike_bill(run_date, MOTO_ACCOUNT)]);
    let d = spike.to_string();
    let records: Vec<Value> = (0..5)
        .map(|i| {
            get_object(
                &format!("{d}T0{i}:00:00Z"),
                Who::User("arn:aws:iam::123456789012:user/app"),
                "10.0.0.5",
                Some("aws-sdk-java/2.20.0"),
                "trail-logs",
                &format!("k{i}"),
                json!(1_000),
                false,
                None,
            )
        })
        .collect();
    let root = trail_of(&bin, MOTO_ACCOUNT, &d, records);
    let cfg = bin.write_config(&format!(
        "[cloudtrail]\nsource = \"{}\"\nbaseline_days = 3\n\n[coverage]\nregions = [\"eu-west-1\"]\n",
        root.display()
    ));
    let run = bin.run_json(
        &[
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--date",
            run_date,
            "--format",
            "json",
        ],
        0,
    );
    let i = &run["incidents"][0];
    assert_eq!(i["region"], "eu-west-1", "{run:#}");
    let ct = &i["cloudtrail"];
    assert_eq!(
        ct["coverage"]["not_attributable"][0][0], "beta-eu",
        "{ct:#}"
    );
    assert_eq!(ct["coverage"]["attributable"], 0);
    let reasons = ct["reconciliation"]["reasons"].to_string();
    assert!(
        reasons.contains("no trail records GetObject on 1 bucket(s) of eu-west-1")
            && reasons.contains("beta-eu")
            // The organisation trail's selectors were read in its home region (us-east-1),
            // though only eu-west-1 was looked at.
            && reasons.contains("NotStartsWith"),
        "{reasons}"
    );
    assert!(
        !reasons.contains("may cover only some buckets"),
        "{reasons}"
    );
    // moto has no GuardDuty findings API: the run still delivers, with none.
    assert!(ct["guardduty"].is_null(), "{ct:#}");
}

/// `backfill` with `[coverage]`: report.html gains the Coverage section, and headless Chromium
/// renders it with the excluded bucket marked.
#[test]
fn the_backfill_page_shows_the_coverage_in_a_real_browser() {
    use crate::common::{ce_response, MOTO_ACCOUNT};
    use chrono::Days;
    let moto = planted_moto();
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today - Days::new(40), today - Days::new(1));
    let bill = ce_response(from - Days::new(120), today, today, None, None);
    let bill: Value =
        serde_json::from_str(&bill.to_string().replace("111111111111", MOTO_ACCOUNT)).unwrap();
    moto.queue_cost_and_usage(&[bill]);
    let bin = Bin::new(&moto.url);
    let cfg = bin.write_config("[coverage]\nregions = [\"eu-west-1\", \"us-east-1\"]\n");
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = out_dir.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<h2 id=\"coverage\">Coverage</h2>"), "{html}");
    let dom = std::process::Command::new(crate::backfill::which_chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            bin.path("chromium-profile").display()
        ))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("running chromium");
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("data-bucket=\"beta-eu\" data-attribution=\"NO\""),
        "the browser's DOM marks the excluded bucket"
    );
    assert!(dom.contains("data-bucket=\"alpha\" data-attribution=\"yes\""));
}

/// With `coverage.role_name`, an incident in another linked account gets that account's
/// coverage, read through the role (moto runs calls made with the assumed role's credentials in
/// the role's account).
#[test]
fn an_incident_in_a_member_account_gets_its_coverage_through_the_role() {
    use crate::common::trail::{get_object, Who};
    use crate::common::{day, eu_spike_bill};
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    use chrono::Days;
    let moto = planted_moto();
    let member = "111111111111";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conf = crate::posture::moto_config(&moto.url).await;
        let creds = aws_sdk_sts::Client::new(&conf)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{member}:role/egresswatch-read"))
            .role_session_name("test")
            .send()
            .await
            .unwrap();
        let c = creds.credentials().unwrap();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    c.access_key_id(),
                    c.secret_access_key(),
                    Some(c.session_token().to_string()),
                    None,
                    "assumed",
                ))
                .region(aws_sdk_s3::config::Region::new("eu-west-1"))
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket()
            .bucket("member-exports")
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    let run_date = "2026-06-16";
    let spike = day(run_date) - Days::new(1);
    moto.queue_cost_and_usage(&[eu_spike_bill(run_date, member)]);
    let bin = Bin::new(&moto.url);
    let d = spike.to_string();
    let r = get_object(
        &format!("{d}T01:00:00Z"),
        Who::User("arn:aws:iam::111111111111:user/app"),
        "10.0.0.5",
        None,
        "logs",
        "k",
        json!(1_000),
        false,
        None,
    );
    let root = trail_of(&bin, member, &d, vec![r]);
    let cfg = bin.write_config(&format!(
        "[cloudtrail]\nsource = \"{}\"\n\n[coverage]\nregions = [\"eu-west-1\"]\nrole_name = \"egresswatch-read\"\n",
        root.display()
    ));
    let cfg = cfg.to_str().unwrap();
    let run = bin.run_json(
        &[
            "run", "--config", cfg, "--date", run_date, "--format", "json",
        ],
        0,
    );
    let cov = &run["incidents"][0]["cloudtrail"]["coverage"];
    assert_eq!(cov["account"], member, "{run:#}");
    assert_eq!(cov["not_attributable"][0][0], "member-exports", "{cov:#}");
    // The CLI reads the same account through the role; without one it refuses (exit 2).
    let v = bin.run_json(
        &[
            "coverage",
            "--config",
            cfg,
            "--account",
            member,
            "--region",
            "eu-west-1",
            "--format",
            "json",
        ],
        0,
    );
    let names: Vec<&str> = v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bucket"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["member-exports"], "{v:#}");
    let bare = bin.path("bare.toml");
    std::fs::write(&bare, "").unwrap();
    let out = bin.run(&[
        "coverage",
        "--config",
        bare.to_str().unwrap(),
        "--account",
        member,
        "--region",
        "eu-west-1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("coverage.role_name"));
}
