//! Structured: one CloudTrail record (JSON, or gzipped JSON) per input, mutated as JSON by the
//! custom mutator below (swap value types, insert the fields egresswatch reads with awkward
//! values, drop, copy and wrap nodes), starting from a corpus of real records.
//!
//! Per input, the whole path runs on the record as a file, then the same record is read in
//! every layout: `{"Records":[r]}` (minified, as written, and with other keys after Records),
//! `[r]`, JSON Lines, two copies of it, and gzipped. All must read the same records (every accessor, the verdict) and the same
//! counts.
#![no_main]

use egresswatch::sources::cloudtrail::reader::decode;
use egresswatch_fuzz::{gzip, minify, read_decoded, read_file};
use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

fuzz_target!(|data: &[u8]| {
    let Some(_) = read_file(data) else { return };
    let Ok(text) = decode(data.to_vec()) else {
        return;
    };
    let Ok(raw) = serde_json::from_slice::<&RawValue>(&text) else {
        return;
    };
    let rec = minify(raw.get().as_bytes());
    let cat = |parts: &[&[u8]]| parts.concat();

    let (one, o1) = read_decoded(&cat(&[b"{\"Records\":[", &rec, b"]}"]));
    assert_eq!(o1.records + o1.bad_records, 1, "{o1:?}");
    assert_eq!(o1.error, None);
    let as_written = cat(&[b"{\"Records\":[\n", raw.get().as_bytes(), b"\n]}"]);
    let (w, ow) = read_decoded(&as_written);
    assert_eq!((&w, &ow), (&one, &o1), "as written");
    // Other keys after Records are skipped, escaped or not.
    let extra = cat(&[
        b"{\"Records\":[",
        &rec,
        b"],\"x\\\"y\":",
        &rec,
        b",\"z\":",
        &rec,
        b"}",
    ]);
    let (x, ox) = read_decoded(&extra);
    assert_eq!((&x, &ox), (&one, &o1), "keys after Records");
    let (a, oa) = read_decoded(&cat(&[b"[", &rec, b"]"]));
    assert_eq!((&a, &oa), (&one, &o1), "bare array");
    // JSON Lines, unless the line itself reads as another layout (its first byte decides).
    let other_layout = rec.starts_with(b"[") || rec.starts_with(b"{\"Records\"");
    if !other_layout {
        let (l, ol) = read_decoded(&cat(&[&rec, b"\n"]));
        assert_eq!(l, one, "JSON Lines");
        assert_eq!(
            (ol.records, ol.bad_records, ol.error.is_some()),
            (o1.records, o1.bad_records, o1.records == 0),
            "JSON Lines"
        );
        let (l2, ol2) = read_decoded(&cat(&[&rec, b"\n\r\n", &rec]));
        assert_eq!(l2, [one.clone(), one.clone()].concat(), "JSON Lines ×2");
        assert_eq!(ol2.records, 2 * o1.records);
    }
    let (two, o2) = read_decoded(&cat(&[b"{\"Records\":[", &rec, b",", &rec, b"]}"]));
    assert_eq!(two, [one.clone(), one.clone()].concat(), "two copies");
    assert_eq!(
        (o2.records, o2.bad_records),
        (2 * o1.records, 2 * o1.bad_records)
    );
    let gz = gzip(&cat(&[b"[", &rec, b"]"]));
    let (g, og) = read_file(&gz).expect("our own gzip decodes");
    assert_eq!((&g, &og), (&one, &o1), "gzipped");
});

// ---- the structured mutator ----

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "userIdentity",
    "type",
    "principalId",
    "arn",
    "accountId",
    "invokedBy",
    "sessionContext",
    "sessionIssuer",
    "requestParameters",
    "bucketName",
    "key",
    "additionalEventData",
    "bytesTransferredOut",
    "AuthenticationMethod",
    "errorCode",
    "recipientAccountId",
    "vpcEndpointId",
    "eventCategory",
    "bucketPolicy",
    "Statement",
    "Effect",
    "Principal",
    "AWS",
    "CanonicalUser",
    "Federated",
    "Service",
    "Condition",
    "x-amz-acl",
    "x-amz-grant-read",
    "x-amz-grant-full-control",
    "AccessControlPolicy",
    "URI",
    "PublicAccessBlockConfiguration",
    "BlockPublicAcls",
    "RestrictPublicBuckets",
    "VersioningConfiguration",
    "Status",
    "MfaDelete",
    "ReplicationConfiguration",
    "Rule",
    "Destination",
    "Account",
    "AccessControlTranslation",
    "BucketLoggingStatus",
    "LoggingEnabled",
    "Expiration",
    "Records",
];

const STRINGS: &[&str] = &[
    "GetObject",
    "HeadObject",
    "DeleteObject",
    "DeleteObjects",
    "ListBuckets",
    "GetBucketAcl",
    "PutBucketPolicy",
    "PutBucketAcl",
    "PutObjectAcl",
    "PutBucketPublicAccessBlock",
    "PutAccountPublicAccessBlock",
    "PutBucketVersioning",
    "PutBucketReplication",
    "PutBucketLogging",
    "PutBucketLifecycle",
    "DeleteBucketEncryption",
    "PutSomethingNew",
    "s3.amazonaws.com",
    "QueryString",
    "AuthHeader",
    "ANONYMOUS_PRINCIPAL",
    "AnonymousPrincipal",
    "AWSService",
    "AssumedRole",
    "IAMUser",
    "2023-07-10T11:42:36Z",
    "2023-07-10T11:42:36.123Z",
    "2023-02-31T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2023-07-10 11:42:36",
    "*",
    "999988887777",
    "111122223333",
    "arn:aws:iam::999988887777:root",
    "arn:aws:sts::999988887777:assumed-role/r/s",
    "arn:",
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "uri=http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
    "public-read",
    "authenticated-read",
    "Suspended",
    "Disabled",
    "Enabled",
    "false",
    "Allow",
    "Deny",
    "Data",
    "Management",
    "AccessDenied",
    "198.51.100.7",
    "10.1.2.3",
    "2001:db8::1",
    "aws-cli/2.15.0 Python/3.11",
    "rclone/v1.66.0",
    "\u{1f}",
    "é\u{2028}\u{1f600}",
    "\\\"",
    "",
    "1e400",
    "NaN",
    "-1",
    " 12 ",
    "18446744073709551616",
    "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\"}]}",
    "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"999988887777\"]}}}",
    "{\"Statement\":",
];

fn number(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(1.5),
        3 => json!(1e308),
        4 => json!(-0.0),
        5 => json!(u64::MAX),
        6 => json!(i64::MIN),
        7 => json!(1u64 << 53),
        8 => json!((1u64 << 53) + 1),
        9 => json!(5_497_558_138_880u64),
        10 => json!(rng.next() >> rng.below(64)),
        11 => json!(f64::from_bits(rng.next()).clamp(-1e300, 1e300)),
        12 => json!(1_688_989_356),
        _ => json!(rng.below(4096)),
    }
}

fn interesting(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => number(rng),
        3..=5 => Value::String(rng.pick(STRINGS).to_string()),
        6 => Value::Array(vec![interesting(rng, depth + 1)]),
        7 => Value::Array(vec![]),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.below(3) {
                m.insert(rng.pick(KEYS).to_string(), interesting(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

/// A random node: descend from the root, stopping at each level with some chance.
fn random_node<'v>(v: &'v mut Value, rng: &mut Rng) -> &'v mut Value {
    let stop = rng.below(3) == 0;
    let len = match &*v {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    if stop || len == 0 {
        return v;
    }
    let i = rng.below(len);
    match v {
        Value::Object(m) => random_node(m.values_mut().nth(i).unwrap(), rng),
        Value::Array(a) => random_node(&mut a[i], rng),
        _ => unreachable!(),
    }
}

fn mutate(root: &mut Value, rng: &mut Rng) {
    // A copy of some subtree, to splice elsewhere.
    let donor = random_node(root, rng).clone();
    let node = random_node(root, rng);
    match rng.below(10) {
        0 => *node = interesting(rng, 0),
        1 => *node = donor,
        2 => *node = Value::Array(vec![node.take()]), // header lists: ["public-read"]
        3 => {
            // Stringify a value (numbers as strings, a policy as its JSON text).
            *node = Value::String(node.to_string().trim_matches('"').to_string())
        }
        _ => match node {
            Value::Object(m) => match rng.below(3) {
                0 if !m.is_empty() => {
                    let k = m.keys().nth(rng.below(m.len())).unwrap().clone();
                    m.remove(&k);
                }
                _ => {
                    m.insert(rng.pick(KEYS).to_string(), interesting(rng, 0));
                }
            },
            Value::Array(a) => match rng.below(3) {
                0 if !a.is_empty() => {
                    a.remove(rng.below(a.len()));
                }
                1 if !a.is_empty() => {
                    let x = a[rng.below(a.len())].clone();
                    a.push(x);
                }
                _ => a.push(interesting(rng, 1)),
            },
            Value::String(s) => {
                if rng.below(2) == 0 {
                    *s = rng.pick(STRINGS).to_string();
                } else {
                    // Byte-level mutation of the text, kept valid UTF-8.
                    let mut b = s.clone().into_bytes();
                    let len = b.len();
                    b.resize(len + 16, 0);
                    let n = fuzzer_mutate(&mut b, len, len + 16);
                    b.truncate(n);
                    *s = String::from_utf8_lossy(&b).into_owned();
                }
            }
            Value::Number(_) => *node = number(rng),
            Value::Bool(b) => *b = !*b,
            Value::Null => *node = interesting(rng, 0),
        },
    }
}

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let mut rng = Rng(u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    // Sometimes plain byte mutation: syntax damage, duplicate keys, odd escapes.
    if rng.below(8) == 0 {
        return fuzzer_mutate(data, size, max_size);
    }
    let input = &data[..size];
    let was_gz = input.starts_with(&[0x1f, 0x8b]);
    let Ok(text) = decode(input.to_vec()) else {
        return fuzzer_mutate(data, size, max_size);
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(&text) else {
        return fuzzer_mutate(data, size, max_size);
    };
    for _ in 0..=rng.below(4) {
        mutate(&mut v, &mut rng);
    }
    let mut out = if rng.below(4) == 0 {
        serde_json::to_vec_pretty(&v)
    } else {
        serde_json::to_vec(&v)
    }
    .unwrap();
    if was_gz != (rng.below(16) == 0) {
        out = gzip(&out);
    }
    if out.len() > max_size {
        return fuzzer_mutate(data, size, max_size);
    }
    data[..out.len()].copy_from_slice(&out);
    out.len()
});
