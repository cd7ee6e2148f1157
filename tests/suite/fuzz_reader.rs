//! Property tests for the CloudTrail reader: arbitrary and damaged input never panics, and the
//! three layouts of one trail (`{"Records":[...]}`, a bare array, JSON Lines) read the same.
//!
//! The cargo-fuzz targets in fuzz/ run the same path for minutes; these run in CI in seconds
//! (a bounded number of cases per property). Each record read goes through every accessor,
//! `classify` and `Partial::add`, and each file through `finalize`, as the scanner does.

use std::io::Write;

use egresswatch::correlate::controlplane::classify;
use egresswatch::correlate::{finalize, AnalysisSpec, Partial};
use egresswatch::sources::cloudtrail::reader::{decode, for_each_record, FileOutcome};
use egresswatch::sources::cloudtrail::record::{parse_event_time, Record};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Map, Value};

/// Cases per property in CI (a few seconds in all); `PROPTEST_CASES=20000` for a longer run.
const CASES: u32 = 512;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(CASES),
        // Keep a failing run short in CI.
        max_shrink_iters: 2048,
        // What failed is kept as unit tests beside the fix and as fuzz/seeds (read by
        // `fuzz_seeds_read_as_expected`), not as a .proptest-regressions file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const Y2020: i64 = 1_577_836_800;
const Y2030: i64 = 1_893_456_000;
const YEAR0: i64 = -62_167_219_200;

/// A wide analysis: the window is 2020–2029, the baseline and lookback everything before.
fn spec() -> AnalysisSpec {
    AnalysisSpec {
        window: (Y2020, Y2030),
        baseline: (YEAR0, Y2020),
        lookback: (YEAR0, Y2030),
        account: None,
        region: None,
        known_cidrs: vec!["10.0.0.0/8".parse().unwrap()],
        allow_principals: vec!["arn:aws:iam::111122223333:user/backup".into()],
        allow_cidrs: vec!["192.0.2.0/24".parse().unwrap()],
        delete_burst: 3,
        activity: None,
    }
}

/// What one record read as (compared across the three layouts).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    name: String,
    principal: String,
    bytes_out: u64,
    epoch: Option<i64>,
    bucket: Option<String>,
    key: Option<String>,
    role: Option<String>,
    cross_account: Option<String>,
    presigned: bool,
    anonymous: bool,
    severity: Option<String>,
}

/// Everything the scanner does with one record, with the invariants that tie the accessors.
fn exercise(r: &Record<'_>, partial: &mut Partial, spec: &AnalysisSpec) -> Seen {
    let epoch = r.epoch_seconds();
    assert_eq!(epoch, r.event_time.as_deref().and_then(parse_event_time));
    let principal = r.principal().into_owned();
    if r.is_anonymous() {
        assert_eq!(principal, "anonymous");
        assert_eq!(r.cross_account(), None);
    }
    if let Some(c) = r.cross_account() {
        assert!(!c.is_empty());
        assert_ne!(Some(c), r.recipient_account_id.as_deref());
    }
    let presigned = r.presigned();
    assert_eq!(
        presigned,
        r.additional
            .as_ref()
            .and_then(|a| a.authentication_method.as_deref())
            == Some("QueryString")
    );
    let obj = r.object();
    let params: Option<Value> = r
        .request_parameters
        .and_then(|raw| serde_json::from_str(raw.get()).ok());
    let verdict = classify(r.name(), params.as_ref(), r.recipient_account_id.as_deref());
    if let Some(v) = &verdict {
        assert!(!v.why.is_empty());
    }
    partial.add(r, spec);
    Seen {
        name: r.name().to_string(),
        principal,
        bytes_out: r.bytes_out(),
        epoch,
        bucket: obj.bucket.map(|c| c.into_owned()),
        key: obj.key.map(|c| c.into_owned()),
        role: r.role().map(str::to_string),
        cross_account: r.cross_account().map(str::to_string),
        presigned,
        anonymous: r.is_anonymous(),
        severity: verdict.map(|v| v.severity.as_str().to_string()),
    }
}

/// Read a file's bytes as the scanner does: decode, every record, then finalize.
fn read_all(bytes: Vec<u8>) -> Result<(Vec<Seen>, FileOutcome), String> {
    let data = decode(bytes)?;
    let spec = spec();
    let mut partial = Partial::default();
    let mut seen = Vec::new();
    let outcome = for_each_record(&data, |r| seen.push(exercise(&r, &mut partial, &spec)));
    assert_eq!(
        outcome.records,
        seen.len() as u64,
        "records counted = records handed over"
    );
    partial.file_done(
        "f",
        outcome.records,
        outcome.bad_records,
        outcome.error.clone(),
    );
    let a = finalize(partial, &spec);
    assert_eq!(a.data_quality.records, outcome.records);
    // The window's bytes are the callers' bytes (saturating: counts come from the log).
    // Kept callers and the rolled-up others.
    let window_bytes: u128 = a
        .callers
        .iter()
        .map(|c| u128::from(c.bytes_out))
        .sum::<u128>()
        + a.others.as_ref().map_or(0, |o| u128::from(o.bytes_out));
    assert_eq!(
        window_bytes.min(u128::from(u64::MAX)),
        u128::from(a.bytes_out)
    );
    for c in &a.callers {
        assert!((0.0..=1.0 + 1e-9).contains(&c.share_of_bytes), "{c:?}");
        assert!((0.0..=1.0 + 1e-9).contains(&c.share_of_excess), "{c:?}");
    }
    Ok((seen, outcome))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

// ---- generators ----

/// Text with the characters that need escaping in JSON, non-ASCII, and the aggregation key's
/// separator (U+001F).
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 /:._*\\-\"\\\\\n\t\u{1f}\u{e9}\u{2028}\u{1f600}]{0,12}"
}

fn account() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("111122223333".to_string()),
        Just("999988887777".to_string()),
        Just(String::new()),
        "[0-9]{12}",
    ]
}

/// `bytesTransferredOut` in one of the shapes trails use, with the count it must read as.
fn bytes_field() -> impl Strategy<Value = (Option<Value>, u64)> {
    let n = 0u64..(1 << 40);
    prop_oneof![
        n.clone().prop_map(|n| (Some(json!(n)), n)),
        n.clone().prop_map(|n| (Some(json!(n as f64)), n)),
        (n.clone(), 0usize..4).prop_map(|(n, q)| {
            let f = n as f64 + q as f64 * 0.25;
            (Some(json!(f)), f.round() as u64)
        }),
        n.clone().prop_map(|n| (Some(json!(n.to_string())), n)),
        n.prop_map(|n| (Some(json!(format!(" {n}.0 "))), n)),
        Just((Some(Value::Null), 0)),
        Just((None, 0)),
        (1i64..1_000_000).prop_map(|n| (Some(json!(-n)), 0)),
        Just((Some(json!("not a number")), 0)),
        // Absurd counts (larger than any S3 object) saturate; the sums saturate too.
        Just((Some(json!(1u64 << 53)), 1 << 53)),
        Just((Some(json!(u64::MAX)), u64::MAX)),
        Just((Some(json!(1e25)), u64::MAX)),
        Just((Some(json!("18446744073709551615")), u64::MAX)),
    ]
}

fn event_time() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => (2015i32..2029, 1u32..13, 1u32..29, 0u32..24, 0u32..60, 0u32..60).prop_map(
            |(y, mo, d, h, mi, s)| Some(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"))
        ),
        1 => Just(None),
        1 => text().prop_map(Some),
        1 => "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z?".prop_map(Some),
    ]
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("GetObject".to_string()),
        1 => prop::sample::select(vec![
            "PutBucketPolicy", "PutBucketAcl", "PutObjectAcl", "DeleteObject", "DeleteObjects",
            "ListBuckets", "GetBucketAcl", "PutBucketReplication", "PutBucketVersioning",
            "PutBucketLogging", "PutBucketPublicAccessBlock", "PutBucketLifecycle",
            "CreateBucket", "DeleteBucketEncryption", "HeadObject",
        ]).prop_map(str::to_string),
        1 => text(),
    ]
}

fn user_identity() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        (text(), account()).prop_map(|(n, a)| Some(json!({
            "type": "IAMUser", "arn": format!("arn:aws:iam::{a}:user/{n}"), "accountId": a,
            "principalId": "AIDA", "accessKeyId": null,
        }))),
        (text(), account()).prop_map(|(n, a)| Some(json!({
            "type": "AssumedRole", "arn": format!("arn:aws:sts::{a}:assumed-role/{n}/s"),
            "accountId": a, "sessionContext": {"sessionIssuer": {"arn": format!("arn:aws:iam::{a}:role/{n}"), "type": "Role"},
            "attributes": {"mfaAuthenticated": "false"}},
        }))),
        text().prop_map(|s| Some(json!({"type": "AWSService", "invokedBy": s}))),
        Just(Some(json!({"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"}))),
        (text(), text()).prop_map(|(k, p)| Some(json!({"type": k, "principalId": p}))),
        Just(Some(json!({}))),
        Just(Some(Value::Null)),
        Just(None),
    ]
}

fn request_parameters() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => (text(), text()).prop_map(|(b, k)| Some(json!({"bucketName": b, "key": k, "Host": "x"}))),
        1 => (text(), account()).prop_map(|(b, a)| Some(json!({"bucketName": b, "bucketPolicy": {
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": [format!("arn:aws:iam::{a}:root"), "*"]}}]}}))),
        1 => account().prop_map(|a| Some(json!({"bucketPolicy": format!(
            "{{\"Statement\":{{\"Effect\":\"Allow\",\"Principal\":\"{a}\"}}}}")}))),
        1 => text().prop_map(|s| Some(json!({"x-amz-acl": [s], "VersioningConfiguration": {"Status": "Suspended"},
            "ReplicationConfiguration": {"Rule": [{"Destination": {"Account": "999988887777"}}]},
            "BucketLoggingStatus": {}, "PublicAccessBlockConfiguration": {"BlockPublicAcls": "false"}}))),
        1 => Just(Some(Value::Null)),
        1 => Just(None),
        1 => Just(Some(json!(["not", "an", "object"]))),
        1 => Just(Some(json!({"bucketName": 5, "key": ["k"]}))),
    ]
}

/// One readable record as JSON, with the bytes it must read as and its name.
fn record() -> impl Strategy<Value = (Value, u64, String)> {
    let a = (
        event_time(),
        event_name(),
        prop::option::of(prop_oneof![
            4 => Just("s3.amazonaws.com".to_string()),
            1 => text()
        ]),
        user_identity(),
        request_parameters(),
    );
    let b = (
        bytes_field(),
        prop_oneof![Just(0u8), Just(1), Just(2), Just(3)],
        prop::option::of(prop_oneof![Just("QueryString".to_string()), text()]),
        prop::option::of(account()),
        prop::option::of(text()),
        prop::option::of(prop_oneof![
            Just("198.51.100.7".to_string()),
            Just("10.1.2.3".to_string()),
            text()
        ]),
        prop::option::of(prop_oneof![
            Just("Data".to_string()),
            Just("Management".to_string())
        ]),
    );
    (a, b).prop_map(
        |(
            (time, name, source, who, params),
            ((bytes, want), shape, auth, recipient, ua, ip, cat),
        )| {
            let mut m = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    m.insert(k.to_string(), v);
                }
            };
            put("eventVersion", Some(json!("1.08")));
            put("eventTime", time.map(Value::String));
            put("eventName", Some(Value::String(name.clone())));
            put("eventSource", source.map(Value::String));
            put("userIdentity", who);
            put("requestParameters", params);
            put("recipientAccountId", recipient.map(Value::String));
            put("userAgent", ua.map(Value::String));
            put("sourceIPAddress", ip.map(Value::String));
            put("eventCategory", cat.map(Value::String));
            put(
                "resources",
                Some(json!([{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/k"}])),
            );
            // The bytes live in additionalEventData: present with the field, present without
            // it, null, or missing.
            let want = match shape {
                0 | 1 => {
                    let mut ad = Map::new();
                    if let Some(b) = bytes {
                        ad.insert("bytesTransferredOut".into(), b);
                    }
                    ad.insert("bytesTransferredIn".into(), json!(0));
                    if let Some(a) = auth {
                        ad.insert("AuthenticationMethod".into(), Value::String(a));
                    }
                    put("additionalEventData", Some(Value::Object(ad)));
                    want
                }
                2 => {
                    put("additionalEventData", Some(Value::Null));
                    0
                }
                _ => 0,
            };
            (Value::Object(m), want, name)
        },
    )
}

/// JSON that is not a readable record (each counts as one bad record).
fn bad_record() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"eventName": 5})),
        Just(json!({"eventTime": ["2023-07-10T11:42:36Z"]})),
        Just(json!({"additionalEventData": {"bytesTransferredOut": {"n": 1}}})),
        Just(json!({"additionalEventData": {"bytesTransferredOut": true}})),
        Just(json!({"userIdentity": "root"})),
        Just(json!(7)),
        Just(json!("record")),
        Just(json!([{"eventName": "GetObject"}])),
        // Arrays are not records, even ones serde could read positionally.
        Just(json!([])),
        Just(json!([
            "2023-07-10T11:42:36Z",
            "s3.amazonaws.com",
            "GetObject"
        ])),
        Just(Value::Null),
    ]
}

#[derive(Debug, Clone)]
struct Trail {
    /// Every element in order: Ok(good record) or Err(bad one).
    items: Vec<Result<(Value, u64, String), Value>>,
    /// A top-level key after "Records" in the object layout, with its value.
    extra: Option<(String, Value)>,
    pretty: bool,
}

impl Trail {
    fn good(&self) -> impl Iterator<Item = &(Value, u64, String)> {
        self.items.iter().filter_map(|i| i.as_ref().ok())
    }

    fn values(&self) -> Vec<&Value> {
        self.items
            .iter()
            .map(|i| match i {
                Ok((v, _, _)) => v,
                Err(v) => v,
            })
            .collect()
    }

    fn array(&self) -> String {
        if self.pretty {
            serde_json::to_string_pretty(&self.values()).unwrap()
        } else {
            serde_json::to_string(&self.values()).unwrap()
        }
    }

    fn records_object(&self) -> String {
        let extra = match &self.extra {
            Some((k, v)) => format!(",{}:{v}", Value::String(k.clone())),
            None => String::new(),
        };
        format!("{{\"Records\":{}{extra}}}", self.array())
    }

    fn json_lines(&self) -> String {
        let mut s = String::new();
        for v in self.values() {
            s.push_str(&v.to_string());
            s.push('\n');
        }
        s
    }

    fn layout(&self, form: u8) -> String {
        match form % 3 {
            0 => self.records_object(),
            1 => self.array(),
            _ => self.json_lines(),
        }
    }
}

fn trail() -> impl Strategy<Value = Trail> {
    (
        prop::collection::vec(
            prop_oneof![5 => record().prop_map(Ok), 1 => bad_record().prop_map(Err)],
            0..16,
        ),
        prop::option::of((
            text(),
            prop_oneof![Just(json!(1)), Just(json!({"a": [1, "x"]}))],
        )),
        any::<bool>(),
    )
        .prop_map(|(items, extra, pretty)| Trail {
            items,
            extra,
            pretty,
        })
}

/// Bytes that look like JSON often enough to get past the first token.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\\",
            "\\u00e9",
            "\\ud800",
            "null",
            "true",
            "-1",
            "1e999",
            "0.5",
            "18446744073709551616",
            "\n",
            " ",
            "\u{feff}",
            "{\"Records\":[",
            "\"eventName\":",
            "\"GetObject\"",
            "\"PutBucketPolicy\"",
            "\"eventSource\":\"s3.amazonaws.com\"",
            "\"eventTime\":\"2023-07-10T11:42:36Z\"",
            "\"additionalEventData\":{\"bytesTransferredOut\":",
            "\"userIdentity\":{\"type\":\"AWSService\",\"invokedBy\":",
            "\"requestParameters\":",
            "{\"bucketPolicy\":",
            "\"recipientAccountId\":\"1\"",
            "\"accountId\":\"2\"",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 1..4),
    ];
    prop::collection::vec(fragment, 0..48).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes (random, JSON-like, or behind a gzip header) read without panicking, and the
    /// records counted are the records handed over.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..1024), jsonish()],
        gz in any::<bool>(),
    ) {
        let input = if gz { gzip(&bytes) } else { bytes.clone() };
        match read_all(input) {
            Ok((seen, outcome)) => {
                prop_assert_eq!(outcome.records, seen.len() as u64);
                // Nothing at all read and nothing wrong is only possible for an empty
                // Records array or object.
                if outcome.records == 0 && outcome.bad_records == 0 && outcome.error.is_none() {
                    let t = String::from_utf8_lossy(&bytes);
                    prop_assert!(t.contains('[') || t.contains("Records"), "{:?}", t);
                }
            }
            Err(e) => prop_assert!(!gz, "a valid gzip stream failed to decode: {}", e),
        }
    }

    /// The same trail as `{"Records":[...]}`, as a bare array and as JSON Lines, plain or
    /// gzipped, reads as the same records with the same bytes, and the bytes are what was
    /// written (int, float, numeric string, null or missing).
    #[test]
    fn three_layouts_read_the_same(t in trail(), gz in any::<bool>()) {
        let good: Vec<_> = t.good().cloned().collect();
        let bad = (t.items.len() - good.len()) as u64;
        let want_names: Vec<&str> = good.iter().map(|g| g.2.as_str()).collect();
        let want_bytes: u128 = good.iter().map(|g| u128::from(g.1)).sum();
        let mut reads = Vec::new();
        // JSON Lines whose first line is an array is a bare array (the layout is told by the
        // first byte): that layout is not comparable then.
        let first_is_array = matches!(t.values().first(), Some(Value::Array(_)));
        let forms = if first_is_array { 2 } else { 3 };
        for form in 0..forms {
            let text = t.layout(form);
            let input = if gz { gzip(text.as_bytes()) } else { text.into_bytes() };
            let (seen, o) = read_all(input).unwrap();
            let names: Vec<&str> = seen.iter().map(|s| s.name.as_str()).collect();
            prop_assert_eq!(&names, &want_names, "layout {}", form);
            prop_assert_eq!(o.records, good.len() as u64, "layout {}", form);
            prop_assert_eq!(o.bad_records, bad, "layout {}", form);
            let bytes: u128 = seen.iter().map(|s| u128::from(s.bytes_out)).sum();
            prop_assert_eq!(bytes, want_bytes, "layout {}", form);
            if form == 2 {
                // JSON Lines with no readable record is reported (it may not be JSON Lines).
                prop_assert_eq!(o.error.is_some(), good.is_empty(), "{:?}", o.error);
            } else {
                prop_assert_eq!(&o.error, &None, "layout {}", form);
            }
            reads.push(seen);
        }
        prop_assert!(reads.iter().all(|r| r == &reads[0]));
    }

    /// A file cut at any byte never panics, reads only records the whole file has (the first
    /// ones, in order), and a cut object or array is reported as damaged.
    #[test]
    fn truncation_never_panics_and_never_adds_records(t in trail(), form in 0u8..3, cut in any::<Index>()) {
        let text = t.layout(form);
        let whole = text.as_bytes();
        let (all, o_all) = read_all(whole.to_vec()).unwrap();
        let at = cut.index(whole.len() + 1);
        let (part, o_part) = read_all(whole[..at].to_vec()).unwrap();
        prop_assert!(o_part.records <= o_all.records);
        prop_assert_eq!(&part[..], &all[..part.len()]);
        if form != 2 && at < whole.len() {
            prop_assert!(o_part.error.is_some(), "cut at {} of {}: {:?}", at, whole.len(), o_part);
        }
        // Cutting a gzip stream is always an error (once the magic is there).
        let gz = gzip(whole);
        let at = cut.index(gz.len());
        let r = decode(gz[..at].to_vec());
        if at >= 2 {
            prop_assert!(r.is_err(), "gzip cut at {} of {} decoded", at, gz.len());
        } else {
            prop_assert_eq!(r.unwrap(), &gz[..at]);
        }
    }

    /// Several gzip members in a row (`cat a.gz b.gz`, the same file twice) decode to all of
    /// their data, in order.
    #[test]
    fn every_gzip_member_decodes(
        t in trail(),
        form in 0u8..3,
        cuts in prop::collection::vec(any::<Index>(), 0..4),
        twice in any::<bool>(),
    ) {
        let text = t.layout(form).into_bytes();
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(text.len() + 1)).collect();
        at.extend([0, text.len()]);
        at.sort_unstable();
        at.dedup();
        let (mut gz, mut want) = (Vec::new(), Vec::new());
        for w in at.windows(2) {
            gz.extend(gzip(&text[w[0]..w[1]]));
            want.extend_from_slice(&text[w[0]..w[1]]);
        }
        if twice {
            gz = [gz.clone(), gz].concat();
            want = [want.clone(), want].concat();
        }
        prop_assert_eq!(decode(gz).unwrap(), want);
    }

    /// Flipping bytes of a gzip stream either fails to decode or (CRC-32 protects the data)
    /// decodes to exactly the original; never a panic, never silently different data.
    #[test]
    fn gzip_byte_flips_error_or_decode_intact(
        t in trail(),
        form in 0u8..3,
        flips in prop::collection::vec((any::<Index>(), 1u8..=255), 1..5),
    ) {
        let text = t.layout(form);
        let mut gz = gzip(text.as_bytes());
        for (i, x) in &flips {
            let i = i.index(gz.len());
            gz[i] ^= x;
        }
        let magic = gz[0] == 0x1f && gz[1] == 0x8b;
        match decode(gz.clone()) {
            Ok(out) if magic => prop_assert_eq!(out, text.as_bytes()),
            Ok(out) => prop_assert_eq!(out, gz.clone()),
            Err(e) => prop_assert!(magic && e.contains("gzip"), "{}", e),
        }
        // And whatever came out is read without panicking.
        let _ = read_all(gz);
    }
}

#[test]
fn event_time_rejects_what_is_not_a_timestamp() {
    // parse_event_time never panics on short or multi-byte input and agrees with chrono.
    for s in [
        "",
        "2023",
        "2023-07-10T11:42:3",
        "2023-07-10T11:42:3é",
        "é023-07-10T11:42:36Z",
    ] {
        assert_eq!(parse_event_time(s), None, "{s}");
    }
    assert_eq!(parse_event_time("0000-01-01T00:00:00Z"), Some(YEAR0));
    assert_eq!(
        parse_event_time("2029-12-31T23:59:59Z"),
        Some(Y2030 - 1),
        "the window's last second"
    );
}

/// The fuzz seeds (fuzz/seeds/, regressions included) read as they should.
#[test]
fn fuzz_seeds_read_as_expected() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let read = |name: &str| read_all(std::fs::read(dir.join(name)).unwrap()).unwrap();
    let counts = |o: &FileOutcome| (o.records, o.bad_records, o.error.is_some());

    let (quirks, o) = read("quirks.json");
    assert_eq!(counts(&o), (6, 0, false));
    let (lines, o) = read("quirks.jsonl");
    assert_eq!(counts(&o), (6, 0, false));
    assert_eq!(quirks, lines);
    let principals: Vec<&str> = quirks.iter().map(|s| s.principal.as_str()).collect();
    assert_eq!(
        principals,
        [
            "arn:aws:iam::111122223333:user/app",
            "arn:aws:iam::111122223333:user/app",
            "arn:aws:sts::999988887777:assumed-role/etl/s",
            "AWS service: cloudtrail.amazonaws.com",
            "anonymous",
            "arn:aws:iam::111122223333:user/app",
        ]
    );
    let bytes: Vec<u64> = quirks.iter().map(|s| s.bytes_out).collect();
    assert_eq!(bytes, [1234, 1234, 77, 0, 5, 9]);
    assert_eq!(quirks[2].cross_account.as_deref(), Some("999988887777"));
    assert!(quirks[5].presigned && quirks[4].anonymous);

    let (ctrl, o) = read("control_plane.json");
    assert_eq!(counts(&o), (13, 0, false));
    let severities: Vec<&str> = ctrl
        .iter()
        .map(|s| s.severity.as_deref().unwrap_or("-"))
        .collect();
    assert_eq!(
        severities,
        [
            "high", "high", "high", "high", "high", "high", "high", "high", "medium", "-", "-",
            "info", "info"
        ]
    );

    // Regressions found by fuzzing.
    assert_eq!(
        counts(&read("escaped_key_after_records.json").1),
        (1, 1, false)
    );
    assert_eq!(
        counts(&read("arrays_are_not_records.json").1),
        (1, 2, false)
    );
    let (two, o) = read("two_equal_gzip_members.jsonl.gz");
    assert_eq!(counts(&o), (4, 0, false));
    assert_eq!(two[..2], two[2..]);
    let (huge, o) = read("huge_bytes.json");
    assert_eq!(counts(&o), (3, 0, false));
    assert!(huge.iter().all(|s| s.bytes_out == u64::MAX));
    let (_, o) = read("concatenated_files.json");
    assert_eq!(counts(&o), (1, 0, true));
    assert_eq!(counts(&read("bom.json").1), (1, 0, false));
}
