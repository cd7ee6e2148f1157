//! Generated CloudTrail for tests: records with a known answer, written in the delivery layout.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

pub const OWNER: &str = "111122223333";
pub const REGION: &str = "eu-west-1";

#[derive(Clone, Copy)]
pub enum Who<'a> {
    User(&'a str),
    /// (session ARN, role ARN, account)
    Role(&'a str, &'a str, &'a str),
    Anonymous,
    Service(&'a str),
}

impl Who<'_> {
    /// The label egresswatch is documented to give this caller.
    pub fn label(&self) -> String {
        match self {
            Who::User(arn) => arn.to_string(),
            Who::Role(session, _, _) => session.to_string(),
            Who::Anonymous => "anonymous".into(),
            Who::Service(by) => format!("AWS service: {by}"),
        }
    }

    fn identity(&self) -> Value {
        match self {
            Who::User(arn) => {
                let acct = arn.split(':').nth(4).unwrap_or(OWNER);
                json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": arn, "accountId": acct, "accessKeyId": "AKIAEXAMPLE", "userName": "u"})
            }
            Who::Role(session, role, acct) => json!({
                "type": "AssumedRole", "principalId": "AROAEXAMPLE:s", "arn": session, "accountId": acct,
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": acct}, "attributes": {"mfaAuthenticated": "false"}}}),
            Who::Anonymous => {
                json!({"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"})
            }
            Who::Service(by) => json!({"type": "AWSService", "invokedBy": by}),
        }
    }
}

/// A GetObject data event. `bytes` may be an integer or a float, as in real trails.
#[allow(clippy::too_many_arguments)]
pub fn get_object(
    time: &str,
    who: Who,
    ip: &str,
    ua: Option<&str>,
    bucket: &str,
    key: &str,
    bytes: Value,
    presigned: bool,
    error: Option<&str>,
) -> Value {
    let mut r = json!({
        "eventVersion": "1.09", "userIdentity": who.identity(), "eventTime": time,
        "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": REGION,
        "sourceIPAddress": ip,
        "requestParameters": {"bucketName": bucket, "Host": format!("{bucket}.s3.{REGION}.amazonaws.com"), "key": key},
        "responseElements": null,
        "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
            "AuthenticationMethod": if presigned { "QueryString" } else { "AuthHeader" }, "x-amz-id-2": "x", "bytesTransferredOut": bytes},
        "requestID": "R", "eventID": "E", "readOnly": true,
        "resources": [{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")}],
        "eventType": "AwsApiCall", "managementEvent": false, "recipientAccountId": OWNER, "eventCategory": "Data"
    });
    if let Some(ua) = ua {
        r["userAgent"] = json!(ua);
    }
    if let Some(e) = error {
        r["errorCode"] = json!(e);
        r["errorMessage"] = json!("Access Denied");
        r["additionalEventData"]["bytesTransferredOut"] = json!(0);
    }
    r
}

/// A management event on a bucket.
pub fn management(time: &str, who: Who, name: &str, params: Value) -> Value {
    json!({
        "eventVersion": "1.09", "userIdentity": who.identity(), "eventTime": time,
        "eventSource": "s3.amazonaws.com", "eventName": name, "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0",
        "requestParameters": params, "responseElements": null, "requestID": "R", "eventID": "E",
        "readOnly": false, "eventType": "AwsApiCall", "managementEvent": true,
        "recipientAccountId": OWNER, "eventCategory": "Management"
    })
}

/// `AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/` for a day `YYYY-MM-DD`.
pub fn day_dir(account: &str, region: &str, day: &str) -> String {
    let (y, rest) = day.split_at(4);
    let (m, d) = rest[1..].split_at(2);
    format!("AWSLogs/{account}/CloudTrail/{region}/{y}/{m}/{}/", &d[1..])
}

pub fn file_name(account: &str, region: &str, day: &str, n: usize) -> String {
    format!(
        "{account}_CloudTrail_{region}_{}T{:04}Z_{:016}.json.gz",
        day.replace('-', ""),
        n * 5,
        n
    )
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Write `body` at `root/rel`, creating folders.
pub fn write(root: &Path, rel: &str, body: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

pub fn records_file(records: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({"Records": records})).unwrap()
}
