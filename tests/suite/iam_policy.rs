//! deploy/iam-policy.json grants exactly the AWS operations the code calls: a test that fails
//! when the code calls something the policy lacks, or the policy grants something never called.

use std::collections::BTreeSet;
use std::path::Path;

/// SDK operation (snake_case method on a client) → the IAM actions it needs. An operation
/// missing here fails the test: add it here AND to deploy/iam-policy.json. Some need more than
/// their own action: Athena reads the catalog (Glue), the trail and its results bucket with the
/// caller's permissions. `get_query_results` is both Athena's and CloudTrail Lake's.
const ACTIONS: &[(&str, &[&str])] = &[
    ("get_cost_and_usage", &["ce:GetCostAndUsage"]),
    ("list_objects_v2", &["s3:ListBucket"]),
    ("get_object", &["s3:GetObject"]),
    ("put_object", &["s3:PutObject"]),
    ("list_metrics", &["cloudwatch:ListMetrics"]),
    ("get_metric_data", &["cloudwatch:GetMetricData"]),
    ("put_metric_data", &["cloudwatch:PutMetricData"]),
    (
        "start_query_execution",
        &[
            "athena:StartQueryExecution",
            "glue:GetDatabase",
            "glue:GetTable",
            "glue:GetPartitions",
            "s3:GetBucketLocation",
            "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts",
        ],
    ),
    ("get_query_execution", &["athena:GetQueryExecution"]),
    (
        "get_query_results",
        &["athena:GetQueryResults", "cloudtrail:GetQueryResults"],
    ),
    ("stop_query_execution", &["athena:StopQueryExecution"]),
    ("start_query", &["cloudtrail:StartQuery"]),
    ("cancel_query", &["cloudtrail:CancelQuery"]),
    // The posture (sources::posture). GetCallerIdentity needs no permission.
    ("get_caller_identity", &[]),
    ("list_buckets", &["s3:ListAllMyBuckets"]),
    ("get_bucket_location", &["s3:GetBucketLocation"]),
    // S3's (a bucket's) and s3control's (the account's): one method name, two clients.
    (
        "get_public_access_block",
        &[
            "s3:GetBucketPublicAccessBlock",
            "s3:GetAccountPublicAccessBlock",
        ],
    ),
    ("get_bucket_policy_status", &["s3:GetBucketPolicyStatus"]),
    ("get_bucket_versioning", &["s3:GetBucketVersioning"]),
    (
        "list_bucket_metrics_configurations",
        &["s3:GetMetricsConfiguration"],
    ),
    ("describe_trails", &["cloudtrail:DescribeTrails"]),
    ("get_trail_status", &["cloudtrail:GetTrailStatus"]),
    ("get_event_selectors", &["cloudtrail:GetEventSelectors"]),
    (
        "list_event_data_stores",
        &["cloudtrail:ListEventDataStores"],
    ),
    ("get_event_data_store", &["cloudtrail:GetEventDataStore"]),
    ("list_detectors", &["guardduty:ListDetectors"]),
    ("get_detector", &["guardduty:GetDetector"]),
    ("list_findings", &["guardduty:ListFindings"]),
    ("get_findings", &["guardduty:GetFindings"]),
    ("list_policies", &["organizations:ListPolicies"]),
    ("describe_policy", &["organizations:DescribePolicy"]),
    (
        "list_targets_for_policy",
        &["organizations:ListTargetsForPolicy"],
    ),
    ("list_parents", &["organizations:ListParents"]),
    (
        "describe_organization",
        &["organizations:DescribeOrganization"],
    ),
];

/// Client methods that are Rust, not AWS operations.
const NOT_OPERATIONS: &[&str] = &["clone", "config", "as_ref", "to_owned"];

fn sources(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(std::fs::read_to_string(p).unwrap());
        }
    }
}

/// Every `client.<operation>()` call in src/ (whitespace and line breaks between the parts allowed).
fn operations_called() -> BTreeSet<String> {
    let mut texts = vec![];
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut texts,
    );
    let mut ops = BTreeSet::new();
    for t in texts {
        let flat: String = t.split_whitespace().collect::<Vec<_>>().join("");
        let mut rest = flat.as_str();
        while let Some(i) = rest.find("client.") {
            rest = &rest[i + "client.".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if rest[name.len()..].starts_with("()")
                && !name.is_empty()
                && !NOT_OPERATIONS.contains(&name.as_str())
            {
                ops.insert(name);
            }
        }
    }
    ops
}

/// Calls the SDK makes for the code without a `client.<operation>()` in src/: a credentials
/// provider named in the source → the actions it needs.
const INDIRECT: &[(&str, &[&str])] = &[
    // `coverage.role_name`: the member account's role, assumed for its coverage.
    ("AssumeRoleProvider", &["sts:AssumeRole"]),
];

/// The actions [`INDIRECT`] needs for what src/ names.
fn indirect_actions() -> BTreeSet<String> {
    let mut texts = vec![];
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut texts,
    );
    let all = texts.concat();
    INDIRECT
        .iter()
        .filter(|(name, _)| all.contains(name))
        .flat_map(|(_, actions)| actions.iter().map(|a| a.to_string()))
        .collect()
}

fn policy_actions() -> BTreeSet<String> {
    let p: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/iam-policy.json"))
            .unwrap(),
    )
    .unwrap();
    let mut out = BTreeSet::new();
    for s in p["Statement"].as_array().unwrap() {
        assert_eq!(s["Effect"], "Allow", "only Allow statements");
        for a in s["Action"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            assert!(!a.contains('*'), "no wildcard actions: {a}");
            out.insert(a.to_string());
        }
    }
    out
}

#[test]
fn the_policy_grants_exactly_what_the_code_calls() {
    let ops = operations_called();
    assert!(
        ops.contains("get_cost_and_usage") && ops.contains("get_metric_data"),
        "the scan finds the calls: {ops:?}"
    );
    let mut needed = BTreeSet::new();
    for op in &ops {
        let Some((_, actions)) = ACTIONS.iter().find(|(o, _)| o == op) else {
            panic!("the code calls `{op}`, which this test does not know: add its IAM action to ACTIONS and to deploy/iam-policy.json");
        };
        needed.extend(actions.iter().map(|a| a.to_string()));
    }
    let indirect = indirect_actions();
    assert!(
        indirect.contains("sts:AssumeRole"),
        "the scan finds the role assumption"
    );
    needed.extend(indirect);
    let granted = policy_actions();
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty(),
        "deploy/iam-policy.json lacks {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "deploy/iam-policy.json grants {extra:?}, which the code never calls"
    );
}

#[test]
fn the_scan_would_notice_a_new_call() {
    // The same scan over a snippet: a call split across lines, as rustfmt writes them.
    let snippet = "let r = self\n    .client\n    .delete_object()\n    .bucket(b)";
    let flat: String = snippet.split_whitespace().collect();
    assert!(flat.contains("client.delete_object()"));
    assert!(
        !ACTIONS.iter().any(|(o, _)| *o == "delete_object"),
        "an unknown operation makes the main test fail"
    );
}
