use serde_json::Value;

use super::*;
use crate::model::coverage::{
    AdvancedSelector, BasicSelector, DataResource, FieldSelector, GuardDutyRegion, MetricsConfig,
    ServiceControlPolicy,
};

// ---- builders ----

fn field(name: &str) -> FieldSelector {
    FieldSelector {
        field: name.into(),
        ..FieldSelector::default()
    }
}

fn equals(name: &str, v: &[&str]) -> FieldSelector {
    FieldSelector {
        equals: v.iter().map(|s| s.to_string()).collect(),
        ..field(name)
    }
}

/// Data, AWS::S3::Object, and the extra field selectors.
fn s3_selector(extra: Vec<FieldSelector>) -> AdvancedSelector {
    let mut fs = vec![
        equals("eventCategory", &["Data"]),
        equals("resources.type", &["AWS::S3::Object"]),
    ];
    fs.extend(extra);
    AdvancedSelector {
        name: Some("S3".into()),
        field_selectors: fs,
    }
}

fn not_starts(v: &str) -> FieldSelector {
    FieldSelector {
        not_starts_with: vec![v.into()],
        ..field("resources.ARN")
    }
}

fn trail(name: &str, home: &str, multi: bool, selectors: Selectors) -> Trail {
    Trail {
        name: name.into(),
        arn: format!("arn:aws:cloudtrail:{home}:111122223333:trail/{name}"),
        home_region: home.into(),
        multi_region: multi,
        organization: false,
        logging: Some(true),
        selectors,
    }
}

fn basic(values: &[&str]) -> Selectors {
    Selectors::Basic(vec![BasicSelector {
        read_write_type: "All".into(),
        include_management_events: true,
        data_resources: vec![DataResource {
            kind: "AWS::S3::Object".into(),
            values: values.iter().map(|s| s.to_string()).collect(),
        }],
    }])
}

/// A bucket with every guard rail on, so that only what a test changes is a blind spot.
fn bucket(name: &str, region: &str) -> BucketFacts {
    BucketFacts {
        name: name.into(),
        region: region.into(),
        public_access_block: Some(all_bpa()),
        policy_public: Some(false),
        versioning: Some("Enabled".into()),
        mfa_delete: Some(true),
        request_metrics: vec![MetricsConfig {
            id: "EntireBucket".into(),
            filter: None,
        }],
    }
}

fn all_bpa() -> PublicAccessBlock {
    PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    }
}

fn inventory(trails: Vec<Trail>, buckets: Vec<BucketFacts>) -> Inventory {
    Inventory {
        account: "111122223333".into(),
        collected_at: "2025-01-01T00:00:00Z".into(),
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        trails,
        buckets,
        scps: Some(Vec::new()),
        org_path: vec!["r-root".into(), "ou-a".into(), "111122223333".into()],
        ..Inventory::default()
    }
}

fn of<'a>(c: &'a Coverage, name: &str) -> &'a BucketCoverage {
    c.buckets
        .iter()
        .find(|b| b.bucket == name)
        .unwrap_or_else(|| panic!("no bucket {name}"))
}

fn org_trail_inventory() -> Inventory {
    let mut t = trail(
        "org-trail",
        "us-east-1",
        true,
        Selectors::Advanced(vec![s3_selector(vec![not_starts(
            "arn:aws:s3:::secret-exports/",
        )])]),
    );
    t.organization = true;
    inventory(
        vec![t],
        vec![
            bucket("secret-exports", "eu-west-1"),
            bucket("secret-exports-archive", "eu-west-1"),
            bucket("data", "us-east-1"),
        ],
    )
}

// ---- the fix's shell words and CLI JSON, read back ----

/// The words a POSIX shell reads from a command (single quotes and backslashes only).
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    cur.push(d);
                }
            }
            '\\' => {
                in_word = true;
                cur.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// The word after `flag` (the last occurrence).
fn arg(cmd: &str, flag: &str) -> String {
    let w = words(cmd);
    let i = w
        .iter()
        .rposition(|x| x == flag)
        .unwrap_or_else(|| panic!("no {flag} in {cmd}"));
    w[i + 1].clone()
}

/// The CLI's advanced selector JSON as the model's selectors; fails on any key the CLI does
/// not know.
fn from_cli(json: &str) -> Vec<AdvancedSelector> {
    let v: Value = serde_json::from_str(json).expect("the fix's JSON parses");
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            for k in s.as_object().unwrap().keys() {
                assert!(["Name", "FieldSelectors"].contains(&k.as_str()), "{k}");
            }
            AdvancedSelector {
                name: s["Name"].as_str().map(str::to_string),
                field_selectors: s["FieldSelectors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| {
                        for k in f.as_object().unwrap().keys() {
                            let known = [
                                "Field",
                                "Equals",
                                "StartsWith",
                                "EndsWith",
                                "NotEquals",
                                "NotStartsWith",
                                "NotEndsWith",
                            ];
                            assert!(known.contains(&k.as_str()), "{k}");
                        }
                        FieldSelector {
                            field: f["Field"].as_str().unwrap().into(),
                            equals: list(&f["Equals"]),
                            starts_with: list(&f["StartsWith"]),
                            ends_with: list(&f["EndsWith"]),
                            not_equals: list(&f["NotEquals"]),
                            not_starts_with: list(&f["NotStartsWith"]),
                            not_ends_with: list(&f["NotEndsWith"]),
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

fn spot<'a>(c: &'a Coverage, bucket: &str, severity: &str) -> &'a BlindSpot {
    c.blind_spots
        .iter()
        .find(|s| s.bucket.as_deref() == Some(bucket) && s.severity == severity)
        .unwrap_or_else(|| {
            panic!(
                "no {severity} blind spot for {bucket}: {:#?}",
                c.blind_spots
            )
        })
}

// ---- recording ----

#[test]
fn org_trail_exclusion_marks_exactly_the_excluded_bucket() {
    let c = evaluate(&org_trail_inventory());
    let secret = of(&c, "secret-exports");
    assert_eq!(secret.attribution, Attribution::None);
    assert!(secret.recorded_by.is_empty());
    assert_eq!(
        secret.why,
        "no trail records its GetObject data events: trail org-trail's advanced selector \
         excludes it (resources.ARN NotStartsWith arn:aws:s3:::secret-exports/)"
    );
    let archive = of(&c, "secret-exports-archive");
    assert_eq!(archive.attribution, Attribution::Full, "{}", archive.why);
    assert_eq!(archive.recorded_by, vec!["trail org-trail (all objects)"]);
    assert_eq!(of(&c, "data").attribution, Attribution::Full);
    // Not attributable first.
    assert_eq!(c.buckets[0].bucket, "secret-exports");
    let region = c.region("111122223333", "eu-west-1").unwrap();
    assert_eq!(region.not_attributable.len(), 1);
    assert_eq!(region.attributable, 1);
}

#[test]
fn exclusion_fix_removes_the_exclusion_and_round_trips_to_full() {
    let mut inv = org_trail_inventory();
    // An account's own trail: its exclusion leaves out only buckets this inventory sees.
    inv.trails[0].organization = false;
    let c = evaluate(&inv);
    let s = spot(&c, "secret-exports", "high");
    assert!(s.what.contains("the fix removes the exclusion from trail org-trail's selectors (resources.ARN NotStartsWith arn:aws:s3:::secret-exports/)"), "{}", s.what);
    assert!(s.fix.starts_with(
        "aws cloudtrail put-event-selectors --trail-name org-trail --region us-east-1 \
         --advanced-event-selectors '"
    ));
    let new = from_cli(&arg(&s.fix, "--advanced-event-selectors"));
    // Removing the exclusion suffices: nothing is added.
    assert_eq!(new.len(), 1);
    assert!(!s.fix.contains("NotStartsWith"));
    let mut fixed = inv.clone();
    fixed.trails[0].selectors = Selectors::Advanced(new);
    let after = evaluate(&fixed);
    for b in &after.buckets {
        assert_eq!(b.attribution, Attribution::Full, "{}: {}", b.bucket, b.why);
    }
    assert!(!after.blind_spots.iter().any(|s| s.severity == "high"));
}

#[test]
fn exclusion_shared_with_a_recorded_bucket_is_kept_and_a_selector_added() {
    // `arn:aws:s3:::secret` leaves out secret-a and secret-b; secret-b is recorded by another
    // trail, so that exclusion stays and secret-a gets a selector of its own. `tmp/` leaves out
    // tmp only: it is removed.
    let main = trail(
        "main",
        "us-east-1",
        true,
        Selectors::Advanced(vec![s3_selector(vec![FieldSelector {
            not_starts_with: vec!["arn:aws:s3:::secret".into(), "arn:aws:s3:::tmp/".into()],
            ..field("resources.ARN")
        }])]),
    );
    let side = trail(
        "side",
        "us-east-1",
        true,
        basic(&["arn:aws:s3:::secret-b/"]),
    );
    let inv = inventory(
        vec![main, side],
        vec![
            bucket("secret-a", "us-east-1"),
            bucket("secret-b", "us-east-1"),
            bucket("tmp", "us-east-1"),
            bucket("other", "us-east-1"),
        ],
    );
    let c = evaluate(&inv);
    assert_eq!(of(&c, "secret-a").attribution, Attribution::None);
    assert_eq!(of(&c, "secret-b").attribution, Attribution::Full);
    assert_eq!(of(&c, "tmp").attribution, Attribution::None);
    assert_eq!(of(&c, "other").attribution, Attribution::Full);
    let fix_a = &spot(&c, "secret-a", "high").fix;
    let fix_tmp = &spot(&c, "tmp", "high").fix;
    // One command for every bucket of the trail: applying one does not undo another.
    assert_eq!(fix_a, fix_tmp);
    assert!(spot(&c, "secret-a", "high")
        .what
        .contains("the same command records secret-a, tmp"));
    let new = from_cli(&arg(fix_a, "--advanced-event-selectors"));
    assert_eq!(new.len(), 2);
    assert_eq!(
        new[0].field_selectors[2].not_starts_with,
        vec!["arn:aws:s3:::secret"]
    );
    assert_eq!(
        new[1].field_selectors[2].starts_with,
        vec!["arn:aws:s3:::secret-a/"]
    );
    let mut fixed = inv.clone();
    fixed.trails[0].selectors = Selectors::Advanced(new);
    for b in &evaluate(&fixed).buckets {
        assert_eq!(b.attribution, Attribution::Full, "{}: {}", b.bucket, b.why);
    }
}

#[test]
fn single_region_basic_prefix_is_partial_at_home_and_none_elsewhere() {
    let t = trail(
        "data-trail",
        "us-east-1",
        false,
        basic(&["arn:aws:s3:::data/reports/"]),
    );
    let home = evaluate(&inventory(
        vec![t.clone()],
        vec![bucket("data", "us-east-1")],
    ));
    let b = of(&home, "data");
    assert_eq!(b.attribution, Attribution::Partial);
    assert_eq!(
        b.recorded_by,
        vec!["trail data-trail (keys under reports/)"]
    );
    assert!(b.why.contains("keys under reports/"), "{}", b.why);
    let away = evaluate(&inventory(vec![t], vec![bucket("data", "eu-west-1")]));
    let b = of(&away, "data");
    assert_eq!(b.attribution, Attribution::None);
    assert!(
        b.why
            .contains("trail data-trail is single-region and records only us-east-1"),
        "{}",
        b.why
    );
    // No logging trail covers eu-west-1: the fix creates one.
    let s = spot(&away, "data", "high");
    assert!(s
        .fix
        .starts_with("aws cloudtrail create-trail --name egresswatch-data-events"));
    assert!(s.fix.contains("--is-multi-region-trail --region eu-west-1"));
    let mut fixed = inventory(vec![], vec![bucket("data", "eu-west-1")]);
    let mut created = trail(
        "egresswatch-data-events",
        "eu-west-1",
        true,
        Selectors::Unknown,
    );
    created.selectors = Selectors::Advanced(from_cli(&arg(&s.fix, "--advanced-event-selectors")));
    fixed.trails.push(created);
    assert_eq!(of(&evaluate(&fixed), "data").attribution, Attribution::Full);
}

#[test]
fn partial_fix_adds_the_selector_that_records_all_of_the_bucket() {
    let adv = Selectors::Advanced(vec![s3_selector(vec![FieldSelector {
        starts_with: vec!["arn:aws:s3:::data/reports/".into()],
        ..field("resources.ARN")
    }])]);
    let inv = inventory(
        vec![trail("t", "us-east-1", true, adv)],
        vec![bucket("data", "us-east-1")],
    );
    let c = evaluate(&inv);
    assert_eq!(of(&c, "data").attribution, Attribution::Partial);
    let s = spot(&c, "data", "medium");
    let new = from_cli(&arg(&s.fix, "--advanced-event-selectors"));
    assert_eq!(new.len(), 2, "the existing selector is kept");
    assert_eq!(new[1].name.as_deref(), Some("S3 GetObject on data"));
    let mut fixed = inv.clone();
    fixed.trails[0].selectors = Selectors::Advanced(new);
    assert_eq!(of(&evaluate(&fixed), "data").attribution, Attribution::Full);
}

#[test]
fn basic_trail_fix_keeps_basic_selectors_and_round_trips() {
    let t = trail(
        "b-trail",
        "us-east-1",
        true,
        basic(&["arn:aws:s3:::other/"]),
    );
    let inv = inventory(vec![t], vec![bucket("data", "us-east-1")]);
    let c = evaluate(&inv);
    let b = of(&c, "data");
    assert_eq!(b.attribution, Attribution::None);
    assert!(
        b.why.contains("records other buckets' data events only"),
        "{}",
        b.why
    );
    let fix = &spot(&c, "data", "high").fix;
    let json: Value = serde_json::from_str(&arg(fix, "--event-selectors")).unwrap();
    let sels: Vec<BasicSelector> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| BasicSelector {
            read_write_type: s["ReadWriteType"].as_str().unwrap().into(),
            include_management_events: s["IncludeManagementEvents"].as_bool().unwrap(),
            data_resources: s["DataResources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| DataResource {
                    kind: d["Type"].as_str().unwrap().into(),
                    values: serde_json::from_value(d["Values"].clone()).unwrap(),
                })
                .collect(),
        })
        .collect();
    assert_eq!(sels.len(), 2);
    let mut fixed = inv.clone();
    fixed.trails[0].selectors = Selectors::Basic(sels);
    assert_eq!(of(&evaluate(&fixed), "data").attribution, Attribution::Full);
}

#[test]
fn management_events_only_records_no_bucket() {
    let t1 = trail(
        "mgmt",
        "us-east-1",
        true,
        Selectors::Basic(vec![BasicSelector {
            read_write_type: "All".into(),
            include_management_events: true,
            data_resources: vec![],
        }]),
    );
    let t2 = trail(
        "mgmt-adv",
        "us-east-1",
        true,
        Selectors::Advanced(vec![AdvancedSelector {
            name: None,
            field_selectors: vec![equals("eventCategory", &["Management"])],
        }]),
    );
    let c = evaluate(&inventory(
        vec![t1, t2],
        vec![bucket("a", "us-east-1"), bucket("b", "eu-west-1")],
    ));
    for b in &c.buckets {
        assert_eq!(b.attribution, Attribution::None);
        assert_eq!(
            b.why,
            "no trail records S3 data events (only management events)"
        );
    }
    let none = evaluate(&inventory(vec![], vec![bucket("a", "us-east-1")]));
    assert!(of(&none, "a")
        .why
        .contains("no trail or event data store found"));
}

#[test]
fn stopped_trail_is_not_attributable_and_the_fix_starts_it() {
    let mut t = trail("stopped", "eu-west-1", true, basic(&["arn:aws:s3"]));
    t.logging = Some(false);
    let c = evaluate(&inventory(vec![t], vec![bucket("a", "us-east-1")]));
    let b = of(&c, "a");
    assert_eq!(b.attribution, Attribution::None);
    assert!(
        b.why
            .contains("trail stopped records it but is not logging"),
        "{}",
        b.why
    );
    let s = spot(&c, "a", "high");
    assert_eq!(
        s.fix,
        "aws cloudtrail start-logging --name stopped --region eu-west-1"
    );
}

#[test]
fn logging_status_unknown_is_unknown() {
    let mut t = trail("t", "us-east-1", true, basic(&["arn:aws:s3"]));
    t.logging = None;
    let c = evaluate(&inventory(vec![t], vec![bucket("a", "us-east-1")]));
    assert_eq!(of(&c, "a").attribution, Attribution::Unknown);
}

#[test]
fn read_only_false_and_put_object_only_record_no_get_object() {
    let write_only = trail(
        "writes",
        "us-east-1",
        true,
        Selectors::Advanced(vec![s3_selector(vec![equals("readOnly", &["false"])])]),
    );
    let c = evaluate(&inventory(vec![write_only], vec![bucket("a", "us-east-1")]));
    let b = of(&c, "a");
    assert_eq!(b.attribution, Attribution::None);
    assert!(
        b.why.contains(
            "trail writes records S3 data events but not GetObject (readOnly Equals false)"
        ),
        "{}",
        b.why
    );

    let puts = trail(
        "puts",
        "us-east-1",
        true,
        Selectors::Advanced(vec![s3_selector(vec![equals("eventName", &["PutObject"])])]),
    );
    let inv = inventory(vec![puts], vec![bucket("a", "us-east-1")]);
    let c = evaluate(&inv);
    let b = of(&c, "a");
    assert_eq!(b.attribution, Attribution::None);
    assert!(b.why.contains("eventName Equals PutObject"), "{}", b.why);
    // The fix adds a selector next to the PutObject one; read back, it records the bucket.
    let mut fixed = inv.clone();
    fixed.trails[0].selectors = Selectors::Advanced(from_cli(&arg(
        &spot(&c, "a", "high").fix,
        "--advanced-event-selectors",
    )));
    assert_eq!(of(&evaluate(&fixed), "a").attribution, Attribution::Full);

    let gets = trail(
        "gets",
        "us-east-1",
        true,
        Selectors::Advanced(vec![s3_selector(vec![
            equals("readOnly", &["true"]),
            equals("eventName", &["GetObject", "PutObject"]),
            equals("eventSource", &["s3.amazonaws.com"]),
        ])]),
    );
    let c = evaluate(&inventory(vec![gets], vec![bucket("a", "us-east-1")]));
    assert_eq!(of(&c, "a").attribution, Attribution::Full);
}

#[test]
fn other_fields_make_recording_conditional() {
    let t = trail(
        "t",
        "us-east-1",
        true,
        Selectors::Advanced(vec![s3_selector(vec![FieldSelector {
            starts_with: vec!["arn:aws:iam::111122223333:role/app".into()],
            ..field("userIdentity.arn")
        }])]),
    );
    let c = evaluate(&inventory(vec![t], vec![bucket("a", "us-east-1")]));
    let b = of(&c, "a");
    assert_eq!(b.attribution, Attribution::Partial);
    assert!(b.why.contains("userIdentity.arn"), "{}", b.why);
}

#[test]
fn data_category_without_resource_type_records_nothing() {
    let t = trail(
        "t",
        "us-east-1",
        true,
        Selectors::Advanced(vec![AdvancedSelector {
            name: None,
            field_selectors: vec![equals("eventCategory", &["Data"])],
        }]),
    );
    let c = evaluate(&inventory(vec![t], vec![bucket("a", "us-east-1")]));
    assert_eq!(of(&c, "a").attribution, Attribution::None);
}

#[test]
fn lake_store_records_only_when_enabled() {
    let store = |status: &str| EventDataStore {
        name: "lake".into(),
        arn: "arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/abc".into(),
        home_region: "us-east-1".into(),
        multi_region: true,
        organization: true,
        status: status.into(),
        advanced_selectors: vec![s3_selector(vec![])],
    };
    let mut inv = inventory(vec![], vec![bucket("a", "eu-west-1")]);
    inv.event_data_stores = vec![store("ENABLED")];
    let c = evaluate(&inv);
    assert_eq!(of(&c, "a").attribution, Attribution::Full);
    assert_eq!(
        of(&c, "a").recorded_by,
        vec!["event data store lake (all objects)"]
    );
    // A store that records PutObject only: the fix updates it, and read back it records all.
    let mut puts = store("ENABLED");
    puts.advanced_selectors = vec![s3_selector(vec![equals("eventName", &["PutObject"])])];
    inv.event_data_stores = vec![puts];
    let c = evaluate(&inv);
    assert_eq!(of(&c, "a").attribution, Attribution::None);
    let fix = &spot(&c, "a", "high").fix;
    assert!(fix.starts_with(
        "aws cloudtrail update-event-data-store --event-data-store \
         arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/abc --region us-east-1 "
    ));
    let mut fixed = inv.clone();
    fixed.event_data_stores[0].advanced_selectors =
        from_cli(&arg(fix, "--advanced-event-selectors"));
    assert_eq!(of(&evaluate(&fixed), "a").attribution, Attribution::Full);
    inv.event_data_stores = vec![store("STOPPED_INGESTION")];
    let c = evaluate(&inv);
    let b = of(&c, "a");
    assert_eq!(b.attribution, Attribution::None);
    assert!(
        b.why
            .contains("event data store lake records it but is STOPPED_INGESTION"),
        "{}",
        b.why
    );
    assert_eq!(
        spot(&c, "a", "high").fix,
        "aws cloudtrail start-event-data-store-ingestion --event-data-store \
         arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/abc --region us-east-1"
    );
}

#[test]
fn unknown_selectors_are_unknown_unless_another_trail_records() {
    let t = trail("t", "us-east-1", true, Selectors::Unknown);
    let c = evaluate(&inventory(vec![t.clone()], vec![bucket("a", "us-east-1")]));
    let b = of(&c, "a");
    assert_eq!(b.attribution, Attribution::Unknown);
    assert!(
        b.why
            .contains("trail t's event selectors could not be read"),
        "{}",
        b.why
    );
    assert_eq!(spot(&c, "a", "medium").bucket.as_deref(), Some("a"));
    let other = trail("all", "us-east-1", true, basic(&["arn:aws:s3:::"]));
    let c = evaluate(&inventory(vec![t, other], vec![bucket("a", "us-east-1")]));
    assert_eq!(of(&c, "a").attribution, Attribution::Full);
}

// ---- guard rails ----

#[test]
fn public_bucket_is_high_and_bpa_combines_levels() {
    let all = trail("all", "us-east-1", true, basic(&["arn:aws:s3"]));
    let mut public = bucket("open", "us-east-1");
    public.policy_public = Some(true);
    public.public_access_block = None;
    let mut half = bucket("half", "us-east-1");
    half.public_access_block = Some(PublicAccessBlock {
        block_public_acls: true,
        ..PublicAccessBlock::default()
    });
    let mut inv = inventory(vec![all], vec![public, half]);
    inv.account_public_access_block = Some(PublicAccessBlock {
        ignore_public_acls: true,
        ..PublicAccessBlock::default()
    });
    let c = evaluate(&inv);
    let s = spot(&c, "open", "high");
    assert_eq!(
        s.fix,
        "aws s3api put-public-access-block --bucket open --public-access-block-configuration \
         BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
    );
    let h = of(&c, "half").public_access_block;
    assert!(h.block_public_acls && h.ignore_public_acls);
    assert!(!h.block_public_policy && !h.restrict_public_buckets);
    assert!(spot(&c, "half", "low")
        .what
        .contains("BlockPublicPolicy, RestrictPublicBuckets off"));
    assert!(c.blind_spots.iter().any(|s| s
        .fix
        .starts_with("aws s3control put-public-access-block --account-id 111122223333")));
    inv.account_public_access_block = Some(all_bpa());
    let c = evaluate(&inv);
    assert!(of(&c, "half").public_access_block.all());
    assert!(!c
        .blind_spots
        .iter()
        .any(|s| s.bucket.as_deref() == Some("half") && s.what.contains("Block Public Access")));
}

#[test]
fn metrics_versioning_mfa_and_guardduty_blind_spots() {
    let all = trail("all", "us-east-1", true, basic(&["arn:aws:s3"]));
    let mut b = bucket("b", "us-east-1");
    b.request_metrics = vec![];
    b.versioning = Some("Suspended".into());
    b.mfa_delete = Some(false);
    let mut prefixed = bucket("p", "eu-west-1");
    prefixed.request_metrics[0].filter = Some("prefix logs/".into());
    let mut inv = inventory(vec![all], vec![b, prefixed]);
    inv.guardduty = vec![
        GuardDutyRegion {
            region: "us-east-1".into(),
            detector_id: None,
            s3_protection: None,
        },
        GuardDutyRegion {
            region: "eu-west-1".into(),
            detector_id: Some("d-1".into()),
            s3_protection: Some(false),
        },
        GuardDutyRegion {
            region: "ap-south-1".into(),
            detector_id: None,
            s3_protection: None,
        },
    ];
    let c = evaluate(&inv);
    assert_eq!(of(&c, "p").request_metrics, vec!["prefix logs/"]);
    let fixes: Vec<&str> = c.blind_spots.iter().map(|s| s.fix.as_str()).collect();
    for want in [
        "aws s3api put-bucket-metrics-configuration --bucket b --id EntireBucket --metrics-configuration Id=EntireBucket",
        "aws s3api put-bucket-versioning --bucket b --versioning-configuration Status=Enabled",
        "aws s3api put-bucket-versioning --bucket b --versioning-configuration Status=Enabled,MFADelete=Enabled --mfa \"SERIAL CODE\"",
        "aws guardduty create-detector --enable --region us-east-1 --features Name=S3_DATA_EVENTS,Status=ENABLED",
        "aws guardduty update-detector --detector-id d-1 --region eu-west-1 --features Name=S3_DATA_EVENTS,Status=ENABLED",
    ] {
        assert!(fixes.contains(&want), "missing {want}: {fixes:#?}");
    }
    // No bucket in ap-south-1: no blind spot there.
    assert!(!c.blind_spots.iter().any(|s| s.region == "ap-south-1"));
    assert_eq!(of(&c, "b").guardduty_s3_protection, Some(false));
    assert_eq!(c.guardduty, inv.guardduty);
}

fn scp(id: &str, targets: &[&str], document: &str) -> ServiceControlPolicy {
    ServiceControlPolicy {
        id: id.into(),
        name: format!("{id}-name"),
        targets: targets.iter().map(|s| s.to_string()).collect(),
        document: document.into(),
    }
}

fn scp_inventory(policies: Vec<ServiceControlPolicy>) -> Inventory {
    let all = trail("all", "us-east-1", true, basic(&["arn:aws:s3"]));
    let mut inv = inventory(
        vec![all],
        vec![bucket("a", "us-east-1"), bucket("b", "eu-west-1")],
    );
    inv.scps = Some(policies);
    inv
}

fn certainty<'a>(b: &'a BucketCoverage, action: &str, policy: &str) -> Option<&'a str> {
    b.scp_denies
        .iter()
        .find(|d| d.action == action && d.policy == policy)
        .map(|d| d.certainty.as_str())
}

#[test]
fn scp_on_the_root_denies_delete_bucket_everywhere() {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:Delete*","Resource":"*"}]}"#;
    let c = evaluate(&scp_inventory(vec![scp("p-del", &["r-root"], doc)]));
    assert!(c.scps_read);
    for b in &c.buckets {
        assert_eq!(
            certainty(b, "s3:DeleteBucket", "p-del-name"),
            Some("denies")
        );
        assert_eq!(certainty(b, "s3:PutBucketPolicy", "p-del-name"), None);
        // The low blind spot names what is still not denied, not DeleteBucket.
        let s = spot(&c, &b.bucket, "low");
        let statement: Value = serde_json::from_str(&s.fix).unwrap();
        let actions = statement["Action"].as_array().unwrap();
        assert!(!actions.contains(&Value::from("s3:DeleteBucket")));
        assert!(actions.contains(&Value::from("s3:PutBucketPolicy")));
        assert_eq!(
            statement["Resource"],
            Value::from(format!("arn:aws:s3:::{}", b.bucket))
        );
    }
}

#[test]
fn scp_with_condition_or_not_action_possibly_denies() {
    let cond = r#"{"Statement":{"Effect":"Deny","Action":["s3:PutBucketPolicy","s3:DeleteBucket"],"Resource":"arn:aws:s3:::a","Condition":{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/admin"}}}}"#;
    let not_action = r#"{"Statement":[{"Effect":"Deny","NotAction":["s3:Get*","s3:List*"],"Resource":"*"},{"Effect":"Deny","NotAction":"s3:*","Resource":"*"}]}"#;
    let c = evaluate(&scp_inventory(vec![
        scp("p-cond", &["111122223333"], cond),
        scp("p-not", &["ou-a"], not_action),
    ]));
    let a = of(&c, "a");
    assert_eq!(
        certainty(a, "s3:PutBucketPolicy", "p-cond-name"),
        Some("possibly denies")
    );
    assert_eq!(certainty(a, "s3:PutBucketAcl", "p-cond-name"), None);
    assert_eq!(
        certainty(of(&c, "b"), "s3:PutBucketPolicy", "p-cond-name"),
        None
    );
    assert_eq!(
        certainty(a, "s3:PutEncryptionConfiguration", "p-not-name"),
        Some("possibly denies")
    );
}

#[test]
fn scp_elsewhere_does_not_apply_and_a_malformed_one_is_an_error() {
    let doc = r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    let c = evaluate(&scp_inventory(vec![
        scp("p-other", &["ou-other"], doc),
        scp(
            "p-bad",
            &["r-root"],
            r#"{"Statement":[{"Effect":"Deny","Action":"s3:*""#,
        ),
        scp("p-bad2", &["r-root"], r#"{"Statement":"nope"}"#),
    ]));
    assert!(c.buckets.iter().all(|b| b.scp_denies.is_empty()));
    assert!(c
        .errors
        .iter()
        .any(|e| e.contains("p-bad-name") && e.contains("cannot read")));
    assert!(c.errors.iter().any(|e| e.contains("p-bad2-name")));
}

#[test]
fn unread_scps_are_one_low_blind_spot() {
    let mut inv = scp_inventory(vec![]);
    inv.scps = None;
    inv.errors = vec!["organizations:ListPolicies: AccessDeniedException".into()];
    let c = evaluate(&inv);
    assert!(!c.scps_read);
    let s: Vec<&BlindSpot> = c
        .blind_spots
        .iter()
        .filter(|s| s.what.starts_with("service control policies not read"))
        .collect();
    assert_eq!(s.len(), 1);
    assert!(s[0].what.contains("AccessDeniedException"));
    assert_eq!(s[0].severity, "low");
    assert_eq!(c.errors, inv.errors);
}

// ---- order, quoting, robustness ----

#[test]
fn blind_spots_and_buckets_are_sorted() {
    let data = trail(
        "data-trail",
        "us-east-1",
        true,
        basic(&["arn:aws:s3:::p/x/", "arn:aws:s3:::f/"]),
    );
    let mut open = bucket("open", "us-east-1");
    open.policy_public = Some(true);
    let mut lowb = bucket("f", "eu-west-1");
    lowb.request_metrics.clear();
    let inv = inventory(
        vec![data],
        vec![
            lowb,
            bucket("p", "us-east-1"),
            open,
            bucket("n2", "eu-west-1"),
            bucket("n1", "us-east-1"),
        ],
    );
    let c = evaluate(&inv);
    let ranks: Vec<u8> = c
        .blind_spots
        .iter()
        .map(|s| severity_rank(&s.severity))
        .collect();
    let mut sorted = ranks.clone();
    sorted.sort();
    assert_eq!(ranks, sorted);
    assert_eq!(c.blind_spots[0].severity, "high");
    let highs: Vec<(&str, Option<&str>)> = c
        .blind_spots
        .iter()
        .filter(|s| s.severity == "high")
        .map(|s| (s.region.as_str(), s.bucket.as_deref()))
        .collect();
    assert_eq!(
        highs,
        vec![
            ("eu-west-1", Some("n2")),
            ("us-east-1", Some("n1")),
            ("us-east-1", Some("open")),
            ("us-east-1", Some("open")),
        ]
    );
    let order: Vec<&str> = c.buckets.iter().map(|b| b.bucket.as_str()).collect();
    assert_eq!(order, vec!["n2", "n1", "open", "p", "f"]);
}

#[test]
fn names_with_quotes_are_quoted_for_the_shell() {
    let name = "it's a \"trail\"\n$(rm -rf /)";
    let mut sel = s3_selector(vec![not_starts("arn:aws:s3:::b/")]);
    sel.name = Some("don't; `x`".into());
    let t = trail(name, "us-east-1", true, Selectors::Advanced(vec![sel]));
    let inv = inventory(vec![t], vec![bucket("b", "us-east-1")]);
    let c = evaluate(&inv);
    let fix = &spot(&c, "b", "high").fix;
    assert_eq!(arg(fix, "--trail-name"), name);
    let new = from_cli(&arg(fix, "--advanced-event-selectors"));
    assert_eq!(new[0].name.as_deref(), Some("don't; `x`"));
    let mut fixed = inv.clone();
    fixed.trails[0].selectors = Selectors::Advanced(new);
    assert_eq!(of(&evaluate(&fixed), "b").attribution, Attribution::Full);
}

/// A small LCG: reproducible without a dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.next() % from.len()]
    }
    fn values(&mut self, from: &[&str]) -> Vec<String> {
        let n = self.next() % 3;
        (0..n).map(|_| self.pick(from).to_string()).collect()
    }
}

#[test]
fn random_selectors_never_panic_and_fixes_round_trip() {
    const FIELDS: &[&str] = &[
        "eventCategory",
        "resources.type",
        "resources.ARN",
        "readOnly",
        "eventName",
        "eventSource",
        "userIdentity.arn",
        "",
        "RESOURCES.arn",
    ];
    const VALUES: &[&str] = &[
        "Data",
        "Management",
        "AWS::S3::Object",
        "true",
        "false",
        "GetObject",
        "PutObject",
        "s3.amazonaws.com",
        "arn:aws:s3",
        "arn:aws:s3:::",
        "arn:aws:s3:::a",
        "arn:aws:s3:::a/",
        "arn:aws:s3:::a/x/",
        "arn:aws:s3:::ab/",
        "arn:aws:s3:::b/",
        ".csv",
        "",
        "é/ü",
        "'",
    ];
    let mut rng = Lcg(42);
    let mut round_trips = 0;
    for round in 0..400 {
        let mut trails = Vec::new();
        for t in 0..rng.next() % 3 {
            let selectors = match rng.next() % 3 {
                0 => Selectors::Unknown,
                1 => Selectors::Basic(
                    (0..rng.next() % 3)
                        .map(|_| BasicSelector {
                            read_write_type: rng.pick(&["All", "ReadOnly", "WriteOnly", ""]).into(),
                            include_management_events: true,
                            data_resources: vec![DataResource {
                                kind: rng
                                    .pick(&["AWS::S3::Object", "AWS::Lambda::Function"])
                                    .into(),
                                values: rng.values(VALUES),
                            }],
                        })
                        .collect(),
                ),
                _ => Selectors::Advanced(
                    (0..rng.next() % 4)
                        .map(|_| AdvancedSelector {
                            name: Some(rng.pick(VALUES).into()),
                            field_selectors: (0..rng.next() % 6)
                                .map(|_| FieldSelector {
                                    field: rng.pick(FIELDS).into(),
                                    equals: rng.values(VALUES),
                                    starts_with: rng.values(VALUES),
                                    ends_with: rng.values(VALUES),
                                    not_equals: rng.values(VALUES),
                                    not_starts_with: rng.values(VALUES),
                                    not_ends_with: rng.values(VALUES),
                                })
                                .collect(),
                        })
                        .collect(),
                ),
            };
            let mut tr = trail(
                &format!("t{t}"),
                rng.pick(&["us-east-1", "eu-west-1"]),
                rng.next().is_multiple_of(2),
                selectors,
            );
            tr.logging = [Some(true), Some(false), None][rng.next() % 3];
            trails.push(tr);
        }
        let buckets = ["a", "ab", "b", ""]
            .iter()
            .map(|n| bucket(n, rng.pick(&["us-east-1", "eu-west-1", "cn-north-1"])))
            .collect();
        let mut inv = inventory(trails, buckets);
        inv.scps = Some(vec![scp(
            "p",
            &["r-root"],
            rng.pick(&[
                "{}",
                "[",
                r#"{"Statement":{"Effect":"Deny","Action":"s3:*"}}"#,
            ]),
        )]);
        let c = evaluate(&inv);
        assert_eq!(c.buckets.len(), 4, "round {round}");
        // Every selector fix, applied, records its bucket in full.
        for s in c
            .blind_spots
            .iter()
            .filter(|s| s.fix.contains("--advanced-event-selectors"))
        {
            let name = s.bucket.as_deref().unwrap();
            let mut fixed = inv.clone();
            let new = Selectors::Advanced(from_cli(&arg(&s.fix, "--advanced-event-selectors")));
            if s.fix.starts_with("aws cloudtrail create-trail") {
                let mut t = trail("egresswatch-data-events", &s.region, true, new);
                t.logging = Some(true);
                fixed.trails.push(t);
            } else {
                let trail_name = arg(&s.fix, "--trail-name");
                let t = fixed
                    .trails
                    .iter_mut()
                    .find(|t| t.name == trail_name)
                    .unwrap();
                t.selectors = new;
            }
            let after = evaluate(&fixed);
            let b = after.buckets.iter().find(|b| b.bucket == name).unwrap();
            assert_eq!(
                b.attribution,
                Attribution::Full,
                "round {round}: {s:#?}\n{}",
                b.why
            );
            round_trips += 1;
        }
    }
    assert!(round_trips > 50, "{round_trips}");
}

#[test]
fn giant_selector_lists_are_fine() {
    let many: Vec<String> = (0..2000).map(|i| format!("arn:aws:s3:::b{i}/")).collect();
    let sel = s3_selector(vec![FieldSelector {
        not_starts_with: many.clone(),
        not_equals: many.clone(),
        starts_with: many,
        ..field("resources.ARN")
    }]);
    let t = trail("big", "us-east-1", true, Selectors::Advanced(vec![sel]));
    let c = evaluate(&inventory(
        vec![t],
        vec![bucket("b7", "us-east-1"), bucket("z", "us-east-1")],
    ));
    assert_eq!(of(&c, "b7").attribution, Attribution::None);
    assert!(
        of(&c, "b7").why.contains("NotStartsWith arn:aws:s3:::b7/"),
        "{}",
        of(&c, "b7").why
    );
    assert_eq!(of(&c, "z").attribution, Attribution::None);
}

/// ListBuckets is global, trails are listed per region: a bucket in a region not read is not
/// called unrecorded (a false high blind spot) unless a multi-region trail records it.
#[test]
fn a_bucket_in_a_region_not_read_is_unknown_unless_a_multi_region_trail_records_it() {
    let everything = Selectors::Advanced(vec![s3_selector(vec![])]);
    let mut inv = inventory(
        vec![trail("home-only", "eu-west-1", false, everything.clone())],
        vec![
            bucket("here", "eu-west-1"),
            bucket("elsewhere", "ap-south-1"),
            bucket("nowhere", ""),
        ],
    );
    inv.regions = vec!["eu-west-1".into()];
    let c = evaluate(&inv);
    assert_eq!(of(&c, "here").attribution, Attribution::Full);
    for b in ["elsewhere", "nowhere"] {
        assert_eq!(of(&c, b).attribution, Attribution::Unknown, "{b}");
        assert!(of(&c, b).why.contains("was not read"), "{}", of(&c, b).why);
        assert!(
            !c.blind_spots
                .iter()
                .any(|s| s.bucket.as_deref() == Some(b) && s.severity != "low"),
            "{b}: {:?}",
            c.blind_spots
        );
    }
    let spot = c
        .blind_spots
        .iter()
        .find(|s| s.region == "ap-south-1" && s.bucket.is_none())
        .expect("one spot for the region not read");
    assert!(spot.fix.contains("--region ap-south-1"), "{}", spot.fix);
    // The region's coverage is not offered for an incident there.
    assert!(c.region("111122223333", "ap-south-1").is_none());
    assert!(c.region("111122223333", "eu-west-1").is_some());

    // A multi-region trail recording every bucket records it wherever it is.
    inv.trails = vec![trail("everywhere", "eu-west-1", true, everything)];
    let c = evaluate(&inv);
    assert_eq!(of(&c, "elsewhere").attribution, Attribution::Full);
}

/// No SCP restricts the organisation's management account: its buckets get no SCP denial
/// (however the policies read), and one spot says so instead of a per-bucket SCP to write.
#[test]
fn scps_do_not_restrict_the_management_account() {
    let everything = Selectors::Advanced(vec![s3_selector(vec![])]);
    let mut inv = inventory(
        vec![trail("all", "eu-west-1", true, everything)],
        vec![bucket("ledger", "eu-west-1")],
    );
    inv.scps = Some(vec![ServiceControlPolicy {
        id: "p-1".into(),
        name: "deny-everything".into(),
        targets: vec!["r-root".into()],
        document: r#"{"Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*"}}"#.into(),
    }]);
    assert!(
        !evaluate(&inv).buckets[0].scp_denies.is_empty(),
        "a member account"
    );
    inv.org_path = vec![crate::model::coverage::MANAGEMENT_ACCOUNT.into()];
    let c = evaluate(&inv);
    assert!(c.buckets[0].scp_denies.is_empty());
    assert!(c
        .blind_spots
        .iter()
        .any(|s| s.what.contains("management account") && s.bucket.is_none()));
    assert!(!c
        .blind_spots
        .iter()
        .any(|s| s.what.contains("no service control policy denies")));
}

/// An organisation trail's exclusion may leave out other accounts' buckets, which one
/// account's inventory cannot see: the fix keeps it and adds a selector for the bucket.
#[test]
fn an_organization_trails_exclusion_is_kept_and_a_selector_added() {
    let inv = org_trail_inventory();
    let c = evaluate(&inv);
    let s = spot(&c, "secret-exports", "high");
    assert!(s.what.contains("management account"), "{}", s.what);
    assert!(!s.what.contains("removes the exclusion"), "{}", s.what);
    let new = from_cli(&arg(&s.fix, "--advanced-event-selectors"));
    assert_eq!(new.len(), 2, "the old selector and one for the bucket");
    assert!(
        s.fix.contains("NotStartsWith"),
        "the exclusion stays: {}",
        s.fix
    );
    let mut fixed = inv.clone();
    fixed.trails[0].selectors = Selectors::Advanced(new);
    for b in &evaluate(&fixed).buckets {
        assert_eq!(b.attribution, Attribution::Full, "{}: {}", b.bucket, b.why);
    }
}

/// Thousands of buckets without data events: one short fix recording every bucket, not a
/// command naming each (CloudTrail refuses more than 500 ARN values a trail), and it round
/// trips.
#[test]
fn many_buckets_get_one_selector_for_every_bucket() {
    let buckets: Vec<BucketFacts> = (0..1_000)
        .map(|i| bucket(&format!("b{i:04}"), "us-east-1"))
        .collect();
    let mgmt = Selectors::Advanced(vec![AdvancedSelector {
        name: None,
        field_selectors: vec![equals("eventCategory", &["Management"])],
    }]);
    let inv = inventory(vec![trail("main", "us-east-1", true, mgmt)], buckets);
    let c = evaluate(&inv);
    let s = spot(&c, "b0000", "high");
    assert!(s.fix.len() < 2_000, "{} bytes", s.fix.len());
    assert!(s.what.contains("every bucket"), "{}", s.what);
    let mut fixed = inv.clone();
    fixed.trails[0].selectors =
        Selectors::Advanced(from_cli(&arg(&s.fix, "--advanced-event-selectors")));
    assert!(evaluate(&fixed)
        .buckets
        .iter()
        .all(|b| b.attribution == Attribution::Full));
}

/// A region whose trails could not be listed is judged as not read (not "no trail there").
#[test]
fn a_region_whose_trails_could_not_be_listed_is_not_read() {
    let mut inv = inventory(vec![], vec![bucket("denied-here", "eu-west-1")]);
    inv.regions = vec!["eu-west-1".into()];
    assert_eq!(evaluate(&inv).buckets[0].attribution, Attribution::None);
    inv.regions_unread = vec!["eu-west-1".into()];
    let c = evaluate(&inv);
    assert_eq!(c.buckets[0].attribution, Attribution::Unknown);
    assert!(
        !c.blind_spots.iter().any(|s| s.severity == "high"),
        "{:?}",
        c.blind_spots
    );
    assert!(c.region("111122223333", "eu-west-1").is_none());
}

/// Beyond the buckets one command can name, the "every bucket" selector repeats the exclusions
/// an organisation trail keeps (they may leave out other accounts' buckets, or its own log
/// bucket), and says so.
#[test]
fn the_every_bucket_fix_keeps_the_trails_other_exclusions() {
    let buckets: Vec<BucketFacts> = (0..300)
        .map(|i| bucket(&format!("x{i:03}"), "us-east-1"))
        .collect();
    let mut t = trail(
        "org",
        "us-east-1",
        true,
        Selectors::Advanced(vec![s3_selector(vec![FieldSelector {
            // Leaves out every x… bucket here, and another account's log bucket.
            not_starts_with: vec!["arn:aws:s3:::x".into(), "arn:aws:s3:::org-logs/".into()],
            ..field("resources.ARN")
        }])]),
    );
    t.organization = true;
    let inv = inventory(vec![t], buckets);
    let c = evaluate(&inv);
    let s = spot(&c, "x000", "high");
    assert!(
        s.what
            .contains("every bucket's object events but those the trail leaves out"),
        "{}",
        s.what
    );
    let new = from_cli(&arg(&s.fix, "--advanced-event-selectors"));
    let every = new
        .iter()
        .find(|sel| sel.name.as_deref() == Some("S3 object events on every bucket"))
        .expect("the every-bucket selector");
    let arn = every
        .field_selectors
        .iter()
        .find(|f| f.field == "resources.ARN")
        .expect("exclusions kept");
    assert_eq!(
        arn.not_starts_with,
        vec!["arn:aws:s3:::org-logs/".to_string()]
    );
    let mut fixed = inv.clone();
    fixed.trails[0].selectors = Selectors::Advanced(new);
    assert!(evaluate(&fixed)
        .buckets
        .iter()
        .all(|b| b.attribution == Attribution::Full));
}
