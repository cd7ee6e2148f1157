//! High-risk S3 control-plane changes: which events matter, how much, and why, in one line.
//!
//! The decisions read the request parameters of the event itself: a bucket policy is decoded
//! (a `"*"` principal or a foreign account is high), ACL grants are read (AllUsers or
//! AuthenticatedUsers is high), a versioning change is high only when it suspends, logging only
//! when it turns off, replication only when it leaves the account. Request parameters come from
//! the caller and can be malformed: every lookup is defensive and falls back to a plain
//! "changed" verdict.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// Read-only calls that map a target before an attack: reported when they come from a new
/// principal, source or agent.
pub const RECON: &[&str] = &[
    "ListBuckets",
    "ListAllMyBuckets",
    "GetBucketLocation",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketAcl",
    "GetBucketVersioning",
    "GetBucketPublicAccessBlock",
    "GetAccountPublicAccessBlock",
    "GetBucketLogging",
    "GetBucketReplication",
    "GetBucketEncryption",
];

/// Name prefixes of the S3 management writes judged by the catch-all rule of [`classify`]
/// (every change it reports starts with one of them; the SQL sources select by them).
pub const CHANGE_PREFIXES: &[&str] = &["Put", "Delete", "Create", "Update"];

/// Object deletions: counted in bursts, not listed one by one.
pub const DELETES: &[&str] = &["DeleteObject", "DeleteObjects"];

/// Object reads and writes (data events), not control-plane changes.
fn is_object_level(name: &str) -> bool {
    const OBJECT: &[&str] = &[
        "GetObject",
        "HeadObject",
        "PutObject",
        "CopyObject",
        "PostObject",
        "RestoreObject",
        "SelectObjectContent",
        "ListObjects",
        "ListObjectsV2",
        "ListObjectVersions",
        "ListBucket",
        "ListMultipartUploadParts",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
        "GetObjectAttributes",
        "GetObjectTagging",
        "PutObjectTagging",
        "DeleteObjectTagging",
        "GetObjectAcl",
        "GetObjectRetention",
        "GetObjectLegalHold",
    ];
    OBJECT.contains(&name)
}

/// A verdict on one control-plane event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub severity: Severity,
    pub why: String,
}

fn v(severity: Severity, why: impl Into<String>) -> Option<Verdict> {
    Some(Verdict {
        severity,
        why: why.into(),
    })
}

/// `params["k"]`, also when the value is wrapped in a one-element list (CloudTrail logs request
/// headers as lists: `"x-amz-acl": ["public-read"]`).
fn get<'v>(params: &'v Value, k: &str) -> Option<&'v Value> {
    match params.get(k)? {
        Value::Array(a) if a.len() == 1 => a.first(),
        other => Some(other),
    }
}

fn str_of<'v>(params: &'v Value, k: &str) -> Option<&'v str> {
    get(params, k)?.as_str()
}

/// The accounts a policy principal names (`"*"` is returned as `*`).
fn principals(p: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |x: &Value| {
        if let Some(s) = x.as_str() {
            out.push(s.to_string());
        }
    };
    match p {
        Value::String(_) => push(p),
        Value::Object(m) => {
            for (k, val) in m {
                if k != "AWS" && k != "CanonicalUser" && k != "Federated" {
                    continue; // Service principals are AWS itself.
                }
                match val {
                    Value::Array(a) => a.iter().for_each(&mut push),
                    other => push(other),
                }
            }
        }
        _ => {}
    }
    out
}

/// The account id inside an ARN or a bare id.
fn account_of(principal: &str) -> Option<&str> {
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        return Some(principal);
    }
    principal
        .strip_prefix("arn:")?
        .split(':')
        .nth(3)
        .filter(|a| !a.is_empty())
}

fn bucket_policy(params: &Value, own: Option<&str>) -> Option<Verdict> {
    let policy = match get(params, "bucketPolicy") {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => v,
            Err(_) => {
                return v(
                    Severity::Medium,
                    "bucket policy replaced (policy text unreadable)",
                )
            }
        },
        Some(p @ Value::Object(_)) => p.clone(),
        _ => return v(Severity::Medium, "bucket policy replaced"),
    };
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => vec![],
    };
    let mut foreign = Vec::new();
    for s in statements {
        if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let Some(p) = s.get("Principal") else {
            continue;
        };
        for who in principals(p) {
            if who == "*" {
                let conditional = s
                    .get("Condition")
                    .is_some_and(|c| c.as_object().is_some_and(|m| !m.is_empty()));
                return if conditional {
                    v(
                        Severity::Medium,
                        "bucket policy allows Principal \"*\" under conditions",
                    )
                } else {
                    v(
                        Severity::High,
                        "bucket policy makes the bucket public (Principal \"*\")",
                    )
                };
            }
            if let (Some(acct), Some(own)) = (account_of(&who), own) {
                if acct != own && !foreign.contains(&acct.to_string()) {
                    foreign.push(acct.to_string());
                }
            }
        }
    }
    if !foreign.is_empty() {
        return v(
            Severity::High,
            format!(
                "bucket policy grants access to another account ({})",
                foreign.join(", ")
            ),
        );
    }
    v(Severity::Medium, "bucket policy replaced")
}

const PUBLIC_GROUPS: &[(&str, &str)] = &[
    ("AllUsers", "everyone (AllUsers)"),
    ("AuthenticatedUsers", "any AWS account (AuthenticatedUsers)"),
];

fn acl(params: &Value, what: &str) -> Option<Verdict> {
    if let Some(canned) = str_of(params, "x-amz-acl") {
        return match canned {
            "public-read" | "public-read-write" => {
                v(Severity::High, format!("{what} ACL set to {canned}"))
            }
            "authenticated-read" => v(
                Severity::High,
                format!("{what} ACL readable by any AWS account"),
            ),
            other => v(Severity::Low, format!("{what} ACL set to {other}")),
        };
    }
    let text = params.to_string();
    for (group, label) in PUBLIC_GROUPS {
        if text.contains(&format!("/global/{group}")) {
            return v(
                Severity::High,
                format!("{what} ACL grants access to {label}"),
            );
        }
    }
    for h in [
        "x-amz-grant-read",
        "x-amz-grant-full-control",
        "x-amz-grant-read-acp",
        "x-amz-grant-write",
    ] {
        if let Some(g) = str_of(params, h) {
            if PUBLIC_GROUPS.iter().any(|(grp, _)| g.contains(grp)) {
                return v(
                    Severity::High,
                    format!("{what} ACL grants {h} to a public group"),
                );
            }
        }
    }
    v(Severity::Low, format!("{what} ACL changed"))
}

fn public_access_block(params: &Value, scope: &str) -> Option<Verdict> {
    let cfg = get(params, "PublicAccessBlockConfiguration");
    let flags = [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ];
    let off: Vec<&str> = match cfg {
        Some(c) => flags
            .iter()
            .copied()
            .filter(|f| {
                matches!(c.get(*f), Some(Value::Bool(false)))
                    || c.get(*f).and_then(Value::as_str) == Some("false")
            })
            .collect(),
        None => {
            return v(
                Severity::Medium,
                format!("{scope} public access block changed"),
            )
        }
    };
    if off.is_empty() {
        v(Severity::Low, format!("{scope} public access block set"))
    } else {
        v(
            Severity::High,
            format!(
                "{scope} public access block weakened ({} off)",
                off.join(", ")
            ),
        )
    }
}

fn versioning(params: &Value) -> Option<Verdict> {
    let status = get(params, "VersioningConfiguration")
        .and_then(|c| c.get("Status"))
        .and_then(Value::as_str);
    let mfa_off = get(params, "VersioningConfiguration")
        .and_then(|c| c.get("MfaDelete"))
        .and_then(Value::as_str)
        == Some("Disabled");
    match status {
        Some("Suspended") | Some("Disabled") => v(
            Severity::High,
            "versioning suspended: overwritten and deleted objects can no longer be recovered",
        ),
        Some("Enabled") if mfa_off => v(
            Severity::Medium,
            "versioning enabled with MFA delete disabled",
        ),
        Some(s) => v(Severity::Info, format!("versioning set to {s}")),
        None => v(Severity::Low, "versioning configuration changed"),
    }
}

fn replication(params: &Value, own: Option<&str>) -> Option<Verdict> {
    let text = params.to_string();
    // Destination account: an explicit Account field, or the account in a destination ARN.
    let mut accounts = Vec::new();
    if let Some(rules) = get(params, "ReplicationConfiguration").and_then(|c| c.get("Rule")) {
        let rules: Vec<&Value> = match rules {
            Value::Array(a) => a.iter().collect(),
            r => vec![r],
        };
        for r in rules {
            if let Some(a) = r
                .get("Destination")
                .and_then(|d| d.get("Account"))
                .and_then(Value::as_str)
            {
                accounts.push(a.to_string());
            }
        }
    }
    match (accounts.iter().find(|a| Some(a.as_str()) != own), own) {
        (Some(a), Some(_)) => v(
            Severity::High,
            format!("replication to another account ({a})"),
        ),
        _ if text.contains("AccessControlTranslation") => v(
            Severity::High,
            "replication hands object ownership to the destination account",
        ),
        _ => v(
            Severity::Medium,
            "replication configured: objects are copied out of this bucket",
        ),
    }
}

fn logging(params: &Value) -> Option<Verdict> {
    match get(params, "BucketLoggingStatus") {
        Some(s) if s.get("LoggingEnabled").is_some() => {
            v(Severity::Low, "server access logging configured")
        }
        Some(_) => v(Severity::High, "server access logging turned off"),
        None => v(Severity::Medium, "server access logging changed"),
    }
}

/// Judge one S3 management event. `None` for names that are not control-plane changes (object
/// reads and writes); every other S3 management event gets a verdict, `info` when routine.
pub fn classify(name: &str, params: Option<&Value>, own_account: Option<&str>) -> Option<Verdict> {
    let null = Value::Null;
    let p = params.unwrap_or(&null);
    match name {
        "PutBucketPolicy" => bucket_policy(p, own_account),
        "DeleteBucketPolicy" => v(Severity::Medium, "bucket policy removed"),
        "PutBucketAcl" => acl(p, "bucket"),
        "PutObjectAcl" => acl(p, "object"),
        "PutBucketPublicAccessBlock" => public_access_block(p, "bucket"),
        "PutAccountPublicAccessBlock" => public_access_block(p, "account"),
        "DeleteBucketPublicAccessBlock" => v(Severity::High, "bucket public access block removed"),
        "DeleteAccountPublicAccessBlock" => {
            v(Severity::High, "account public access block removed")
        }
        "CreateBucket" => v(Severity::Low, "bucket created"),
        "DeleteBucket" => v(Severity::Medium, "bucket deleted"),
        "PutBucketEncryption" => v(Severity::Low, "default encryption changed"),
        "DeleteBucketEncryption" => v(Severity::High, "default encryption removed"),
        "PutBucketVersioning" => versioning(p),
        "PutBucketReplication" => replication(p, own_account),
        "DeleteBucketReplication" => v(Severity::Low, "replication removed"),
        "PutBucketLifecycle" | "PutBucketLifecycleConfiguration" => {
            let expires = p.to_string().contains("Expiration");
            if expires {
                v(Severity::Medium, "lifecycle rules expire (delete) objects")
            } else {
                v(Severity::Low, "lifecycle rules changed")
            }
        }
        "DeleteBucketLifecycle" => v(Severity::Low, "lifecycle rules removed"),
        "PutBucketLogging" => logging(p),
        "PutBucketOwnershipControls" => v(Severity::Low, "object ownership setting changed"),
        "PutBucketCors" => v(Severity::Low, "CORS rules changed"),
        "PutBucketWebsite" => v(Severity::Medium, "static website hosting enabled"),
        "PutObjectLockConfiguration" => v(Severity::Low, "object lock configuration changed"),
        n if RECON.contains(&n) => v(
            Severity::Info,
            "configuration read (reconnaissance when from a new source)",
        ),
        n if DELETES.contains(&n) => None,
        n if is_object_level(n) => None,
        n if n.starts_with("Get") || n.starts_with("List") || n.starts_with("Head") => {
            v(Severity::Info, "configuration read")
        }
        n if CHANGE_PREFIXES.iter().any(|p| n.starts_with(p)) => {
            v(Severity::Low, "configuration changed")
        }
        _ => v(Severity::Info, "other S3 management call"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(name: &str, p: Value) -> Verdict {
        classify(name, Some(&p), Some("111111111111")).unwrap()
    }

    #[test]
    fn policies() {
        let public = json!({"bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject"}]}});
        assert_eq!(c("PutBucketPolicy", public).severity, Severity::High);
        let star = json!({"bucketPolicy": {"Statement": {"Effect": "Allow", "Principal": "*"}}});
        assert_eq!(c("PutBucketPolicy", star).severity, Severity::High);
        let conditional = json!({"bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}}]}});
        assert_eq!(c("PutBucketPolicy", conditional).severity, Severity::Medium);
        let foreign = json!({"bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::999988887777:root"]}}]}});
        let f = c("PutBucketPolicy", foreign);
        assert_eq!(f.severity, Severity::High);
        assert!(f.why.contains("999988887777"));
        let own = json!({"bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:role/x"}}]}});
        assert_eq!(c("PutBucketPolicy", own).severity, Severity::Medium);
        let service = json!({"bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}}]}});
        assert_eq!(c("PutBucketPolicy", service).severity, Severity::Medium);
        assert_eq!(
            c(
                "PutBucketPolicy",
                json!({"bucketPolicy": "invalid-json-policy"})
            )
            .severity,
            Severity::Medium
        );
        assert!(classify("PutBucketPolicy", None, None).is_some());
    }

    #[test]
    fn acls_access_blocks_versioning_logging_replication() {
        assert_eq!(
            c("PutBucketAcl", json!({"x-amz-acl": ["public-read"]})).severity,
            Severity::High
        );
        assert_eq!(
            c("PutBucketAcl", json!({"x-amz-acl": ["private"]})).severity,
            Severity::Low
        );
        let grant = json!({"AccessControlPolicy": {"AccessControlList": {"Grant": [{"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]}}});
        assert_eq!(c("PutObjectAcl", grant).severity, Severity::High);
        let weak = json!({"PublicAccessBlockConfiguration": {"BlockPublicAcls": false, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": true}});
        assert_eq!(
            c("PutBucketPublicAccessBlock", weak).severity,
            Severity::High
        );
        let strong = json!({"PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": true}});
        assert_eq!(
            c("PutAccountPublicAccessBlock", strong).severity,
            Severity::Low
        );
        assert_eq!(
            c("DeleteAccountPublicAccessBlock", json!({})).severity,
            Severity::High
        );
        assert_eq!(
            c(
                "PutBucketVersioning",
                json!({"VersioningConfiguration": {"Status": "Suspended"}})
            )
            .severity,
            Severity::High
        );
        assert_eq!(
            c(
                "PutBucketVersioning",
                json!({"VersioningConfiguration": {"Status": "Enabled"}})
            )
            .severity,
            Severity::Info
        );
        assert_eq!(
            c(
                "PutBucketLogging",
                json!({"BucketLoggingStatus": {"xmlns": "x"}})
            )
            .severity,
            Severity::High
        );
        assert_eq!(
            c(
                "PutBucketLogging",
                json!({"BucketLoggingStatus": {"LoggingEnabled": {"TargetBucket": "l"}}})
            )
            .severity,
            Severity::Low
        );
        let out = json!({"ReplicationConfiguration": {"Rule": {"Destination": {"Bucket": "arn:aws:s3:::x", "Account": "999988887777"}}}});
        assert_eq!(c("PutBucketReplication", out).severity, Severity::High);
        assert_eq!(
            c("PutBucketReplication", json!({"bucketName": "b"})).severity,
            Severity::Medium
        );
        assert_eq!(
            c("DeleteBucketEncryption", json!({})).severity,
            Severity::High
        );
        assert!(classify("GetObject", None, None).is_none());
        assert!(classify("PutObject", None, None).is_none());
        assert!(classify("DeleteObjects", None, None).is_none());
        assert_eq!(
            classify("GetBucketAcl", None, None).unwrap().severity,
            Severity::Info
        );
    }
}
