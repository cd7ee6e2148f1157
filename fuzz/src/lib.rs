//! What both fuzz targets run per file: decode → for_each_record → every Record accessor,
//! `classify` and `Partial::add` per record → `finalize`, with the invariants that tie them.
//! tests/suite/fuzz_reader.rs runs the same path in CI under proptest.

use egresswatch::correlate::controlplane::classify;
use egresswatch::correlate::{finalize, AnalysisSpec, Partial};
use egresswatch::sources::cloudtrail::reader::{decode, for_each_record, FileOutcome};
use egresswatch::sources::cloudtrail::record::{parse_event_time, Record};
use serde_json::Value;

const Y2020: i64 = 1_577_836_800;
const Y2030: i64 = 1_893_456_000;
const YEAR0: i64 = -62_167_219_200;

/// A wide analysis: the window is 2020–2029 (the reference trails are from 2023), the baseline
/// and the lookback everything since year 0.
pub fn spec() -> AnalysisSpec {
    AnalysisSpec {
        window: (Y2020, Y2030),
        baseline: (YEAR0, Y2020),
        lookback: (YEAR0, Y2030),
        account: None,
        region: None,
        known_cidrs: vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
        allow_principals: vec!["arn:aws:iam::111122223333:user/backup".into()],
        allow_cidrs: vec!["192.0.2.0/24".parse().unwrap()],
        delete_burst: 2,
        activity: None,
    }
}

/// What one record read as: compared across layouts by the record_json target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub name: String,
    pub principal: String,
    pub bytes_out: u64,
    pub epoch: Option<i64>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub role: Option<String>,
    pub cross_account: Option<String>,
    pub presigned: bool,
    pub anonymous: bool,
    pub verdict: Option<(String, String)>,
}

/// Every accessor, `classify` and `Partial::add` on one record.
pub fn exercise(r: &Record<'_>, partial: &mut Partial, spec: &AnalysisSpec) -> Seen {
    let epoch = r.epoch_seconds();
    assert_eq!(epoch, r.event_time.as_deref().and_then(parse_event_time));
    let principal = r.principal().into_owned();
    let anonymous = r.is_anonymous();
    if anonymous {
        assert_eq!(principal, "anonymous");
        assert_eq!(r.cross_account(), None);
    }
    let cross_account = r.cross_account().map(str::to_string);
    if let Some(c) = &cross_account {
        assert!(!c.is_empty());
        assert_ne!(Some(c.as_str()), r.recipient_account_id.as_deref());
    }
    let presigned = r.presigned();
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
        cross_account,
        presigned,
        anonymous,
        verdict: verdict.map(|v| (v.severity.as_str().to_string(), v.why)),
    }
}

/// Records of already decoded data, run through the whole analysis.
pub fn read_decoded(data: &[u8]) -> (Vec<Seen>, FileOutcome) {
    let spec = spec();
    let mut partial = Partial::default();
    let mut seen = Vec::new();
    let outcome = for_each_record(data, |r| seen.push(exercise(&r, &mut partial, &spec)));
    assert_eq!(outcome.records, seen.len() as u64);
    partial.file_done(
        "fuzz",
        outcome.records,
        outcome.bad_records,
        outcome.error.clone(),
    );
    let a = finalize(partial, &spec);
    assert_eq!(a.data_quality.records, outcome.records);
    // The window's bytes are the callers' bytes (saturating: counts come from the log).
    // Kept callers and the rolled-up others.
    let window: u128 = a.callers.iter().map(|c| u128::from(c.bytes_out)).sum::<u128>()
        + a.others.as_ref().map_or(0, |o| u128::from(o.bytes_out));
    assert_eq!(window.min(u128::from(u64::MAX)), u128::from(a.bytes_out));
    for c in &a.callers {
        assert!((0.0..=1.0 + 1e-9).contains(&c.share_of_bytes), "{c:?}");
        assert!((0.0..=1.0 + 1e-9).contains(&c.share_of_excess), "{c:?}");
    }
    (seen, outcome)
}

/// A file's bytes as the scanner reads them.
pub fn read_file(bytes: &[u8]) -> Option<(Vec<Seen>, FileOutcome)> {
    let data = decode(bytes.to_vec()).ok()?;
    Some(read_decoded(&data))
}

/// JSON text without the whitespace outside strings (so a record fits on one JSON Lines line
/// without changing a byte of its content, duplicate keys and escapes included).
pub fn minify(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_str, mut esc) = (false, false);
    for &b in json {
        if in_str {
            out.push(b);
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else if !b.is_ascii_whitespace() {
            out.push(b);
            in_str = b == b'"';
        }
    }
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
