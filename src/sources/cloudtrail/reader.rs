//! From a file's bytes to records: gunzip if needed, then `{"Records":[...]}`, a bare array, or
//! JSON Lines (CloudTrail Lake and SIEM exports).
//!
//! Each record is parsed on its own (first as raw JSON, then into the typed [`Record`]), so one
//! malformed record is counted and skipped without losing its neighbours; a truncated or corrupt
//! file keeps the records read before the damage and is reported as bad. Nothing here panics on
//! any input (the fuzz tests feed it arbitrary bytes).

use std::collections::BTreeMap;
use std::io::Read;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::record::Record;

/// Why records were skipped, and how many: reason → count.
pub type Reasons = BTreeMap<&'static str, u64>;

/// Why a record was skipped by the reader (the analysis adds its own: see `correlate`).
pub const NOT_AN_OBJECT: &str = "not a JSON object";
pub const NOT_A_RECORD: &str = "not a CloudTrail record (a field of the wrong type)";
pub const NOT_JSON: &str = "a line that is not JSON";

/// What reading one file gave.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    /// Records handed to the callback.
    pub records: u64,
    /// Records that were JSON but not a readable CloudTrail record.
    pub bad_records: u64,
    /// Why they were bad: the counts add up to `bad_records`.
    pub bad_reasons: Reasons,
    /// Why the file (or its tail) could not be read.
    pub error: Option<String>,
}

impl FileOutcome {
    fn bad(&mut self, reason: &'static str) {
        self.bad_records += 1;
        *self.bad_reasons.entry(reason).or_insert(0) += 1;
    }
}

/// The decompressed size a trail file may have unless configured otherwise
/// (`cloudtrail.max_file_bytes`): 1 GiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

/// Why a file was refused for its size: it says which bound and where it is set.
pub fn too_large(max: u64, gzip: bool) -> String {
    if gzip {
        format!("inflates past {max} bytes (cloudtrail.max_file_bytes)")
    } else {
        format!("is larger than {max} bytes (cloudtrail.max_file_bytes)")
    }
}

/// [`decode_bounded`] with the default bound ([`DEFAULT_MAX_FILE_BYTES`]).
pub fn decode(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    decode_bounded(bytes, DEFAULT_MAX_FILE_BYTES)
}

/// Gunzip `bytes` when they start with the gzip magic; otherwise return them as they are.
/// Several gzip members in a row are read as one stream.
///
/// The output never exceeds `max` bytes: a file that inflates (or, plain, is) larger is an error
/// ([`too_large`]), found as soon as the output passes `max`, with at most `max` bytes held,
/// whatever size the gzip trailer claims (a 3 MB gzip can claim, and hold, gigabytes).
///
/// A CloudTrail file is one gzip member whose trailer states its size, so it is inflated in one
/// call by libdeflate (about twice zlib's speed: inflating is half the cost of a scan) into a
/// buffer of that size when it is within `max`; anything else (several members, a size that
/// does not match, one above `max`) goes through flate2's streaming decoder, capped at `max`.
pub fn decode_bounded(bytes: Vec<u8>, max: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    decode_bounded_into(bytes, max, &mut out)?;
    Ok(out)
}

/// [`decode_bounded`] into `out`, whose buffer is reused: a scan decodes hundreds of files of
/// a few megabytes each, and a fresh buffer per file left the allocator's heap fragmented and
/// resident (on a 338,000-caller day, 240 MB of RSS instead of 160).
pub fn decode_bounded_into(bytes: Vec<u8>, max: u64, out: &mut Vec<u8>) -> Result<(), String> {
    let max_len = usize::try_from(max).unwrap_or(usize::MAX);
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        if bytes.len() > max_len {
            return Err(too_large(max, false));
        }
        *out = bytes;
        return Ok(());
    }
    if inflate_single_member(&bytes, max_len, out) {
        return Ok(());
    }
    // The trailer's ISIZE (size mod 4 GiB) is a good capacity hint when it is plausible.
    let hint = bytes
        .len()
        .checked_sub(4)
        .map(|i| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]) as usize)
        .filter(|n| *n <= bytes.len().saturating_mul(64))
        .unwrap_or(bytes.len().saturating_mul(8));
    out.clear();
    out.reserve(hint.min(max_len).min(1 << 30));
    match read_capped(flate2::read::MultiGzDecoder::new(&bytes[..]), max_len, out) {
        Ok(()) => Ok(()),
        Err(Capped::Past) => Err(too_large(max, true)),
        Err(Capped::Io(e)) => Err(format!("corrupt gzip stream: {e}")),
    }
}

/// Why [`read_capped`] stopped.
#[derive(Debug)]
enum Capped {
    /// The output would pass the cap.
    Past,
    Io(std::io::Error),
}

/// Read `r` to its end into `out`, failing as soon as the output would pass `max` bytes.
/// `out` never holds more than `max` bytes, and its buffer never grows past `max` (or its
/// starting capacity).
fn read_capped(mut r: impl Read, max: usize, out: &mut Vec<u8>) -> Result<(), Capped> {
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Capped::Io(e)),
        };
        if n > max.saturating_sub(out.len()) {
            return Err(Capped::Past);
        }
        // Grow by doubling, but never past `max`: the buffer is bounded as the output is.
        if out.capacity() - out.len() < n {
            let want = out.capacity().saturating_mul(2).max(out.len() + n);
            out.reserve_exact(want.min(max) - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// One-shot inflate of a single-member gzip file of plausible stated size, at most `max`
/// bytes; `None` to fall back.
fn inflate_single_member(bytes: &[u8], max: usize, out: &mut Vec<u8>) -> bool {
    let n = bytes.len();
    let Some(isize) = n
        .checked_sub(4)
        .and_then(|i| bytes.get(i..))
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map(|t| u32::from_le_bytes(t) as usize)
    else {
        return false;
    };
    // At most the bound, and 1,032x the compressed size (deflate's maximum ratio). The buffer
    // is the stated size: libdeflate never writes past it (a file that lies about its size
    // fails here and is read by the capped stream).
    if isize == 0 || isize > max || isize > n.saturating_mul(1032) {
        return false;
    }
    // libdeflate inflates only the first member and ignores what follows it: `cat a.gz a.gz`
    // would read as one copy of a. Every further member starts with 1f 8b 08, so a file
    // without those bytes after its own header is one member (the rest fall back to flate2).
    let tail = bytes.get(10..n.saturating_sub(8)).unwrap_or_default();
    if tail
        .windows(3)
        .any(|w| w[0] == 0x1f && w[1] == 0x8b && w[2] == 0x08)
    {
        return false;
    }
    // The buffer keeps what it held: only a larger file grows (and zeroes) it.
    if out.len() < isize {
        out.resize(isize, 0);
    }
    out.truncate(isize);
    let mut d = libdeflater::Decompressor::new();
    matches!(d.gzip_decompress(bytes, out), Ok(len) if len == isize)
}

/// Call `f` for every record in `data` (already decoded).
pub fn for_each_record<'a>(data: &'a [u8], mut f: impl FnMut(Record<'a>)) -> FileOutcome {
    let mut out = FileOutcome::default();
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace() && *b != 0xEF && *b != 0xBB && *b != 0xBF);
    let Some(start) = start else {
        out.error = Some("empty file".into());
        return out;
    };
    let mut handle = |raw: &'a RawValue, out: &mut FileOutcome| match serde_json::from_str::<
        Record<'a>,
    >(raw.get())
    {
        Ok(r) => {
            out.records += 1;
            f(r);
        }
        Err(_) => out.bad(NOT_A_RECORD),
    };
    let body = &data[start..];
    if body[0] == b'{' && (looks_like_records_object(body) || first_object_has_records(body)) {
        // Fast path: a clean file is parsed in one typed pass. Only when that fails (a bad
        // record, a truncated file) is it read again record by record, which isolates damage.
        // The whole file is checked as UTF-8 once (a fast pass over the bytes), so the parser
        // need not check every string it reads on its own (a twentieth of a scan's time).
        let typed = match std::str::from_utf8(body) {
            Ok(text) => serde_json::from_str::<TypedFile<'a>>(text),
            Err(_) => serde_json::from_slice::<TypedFile<'a>>(body),
        };
        if let Ok(all) = typed {
            out.records = all.records.len() as u64;
            all.records.into_iter().for_each(|r| f(r.0));
            return out;
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        let seed = RecordsObject {
            out: &mut out,
            f: &mut handle,
        };
        if let Err(e) = seed.deserialize(&mut de).and_then(|()| de.end()) {
            out.error = Some(format!("invalid or truncated JSON: {e}"));
        }
    } else if body[0] == b'[' {
        let mut de = serde_json::Deserializer::from_slice(body);
        let seed = RecordsArray {
            out: &mut out,
            f: &mut handle,
        };
        if let Err(e) = de.deserialize_seq(seed).and_then(|()| de.end()) {
            out.error = Some(format!("invalid or truncated JSON: {e}"));
        }
    } else {
        // JSON Lines: one record per line.
        let mut lines = 0u64;
        for line in body.split(|b| *b == b'\n') {
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            lines += 1;
            match serde_json::from_slice::<&'a RawValue>(line) {
                Ok(raw) if raw.get().starts_with('{') => handle(raw, &mut out),
                Ok(_) => out.bad(NOT_AN_OBJECT),
                Err(_) => out.bad(NOT_JSON),
            }
        }
        if lines > 0 && out.records == 0 {
            out.error = Some("neither {\"Records\":[...]} nor JSON Lines of records".into());
        }
    }
    out
}

/// Whether the first top-level object has a `Records` key anywhere (`{"x":1,"Records":[...]}`):
/// such a file is a trail file, not JSON Lines. Keys are read as they stream by, so a file
/// truncated after its `Records` key still counts.
fn first_object_has_records(body: &[u8]) -> bool {
    struct Keys<'f>(&'f mut bool);
    impl<'de> Visitor<'de> for Keys<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
            while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if k == "Records" {
                    *self.0 = true;
                    return Ok(());
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let mut found = false;
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = de.deserialize_map(Keys(&mut found));
    found
}

/// A whole `{"Records":[...]}` file, typed in one pass.
#[derive(serde::Deserialize)]
struct TypedFile<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<ObjectRecord<'a>>,
}

/// A record read only from a JSON object, as the record-by-record path does: serde's derive
/// would also read a struct from an array, by position (`[[]]` would be an empty record).
struct ObjectRecord<'a>(Record<'a>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for ObjectRecord<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<Record<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = ObjectRecord<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a record (a JSON object)")
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                let d = serde::de::value::MapAccessDeserializer::new(map);
                serde::Deserialize::deserialize(d).map(ObjectRecord)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Whether an object's first key is `Records` (whitespace allowed).
fn looks_like_records_object(body: &[u8]) -> bool {
    let rest = body[1..].trim_ascii_start();
    rest.starts_with(b"\"Records\"")
}

type Handler<'h, 'a> = dyn FnMut(&'a RawValue, &mut FileOutcome) + 'h;

struct RecordsObject<'o, 'h, 'a> {
    out: &'o mut FileOutcome,
    f: &'o mut Handler<'h, 'a>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for RecordsObject<'_, '_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for RecordsObject<'_, '_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object with Records")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        // Owned: a key with escapes (`"a\"b"`) cannot be borrowed from the input.
        while let Some(key) = map.next_key::<String>()? {
            if key == "Records" {
                map.next_value_seed(RecordsArray {
                    out: self.out,
                    f: self.f,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct RecordsArray<'o, 'h, 'a> {
    out: &'o mut FileOutcome,
    f: &'o mut Handler<'h, 'a>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for RecordsArray<'_, '_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for RecordsArray<'_, '_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            if raw.get().starts_with('{') {
                (self.f)(raw, self.out);
            } else {
                self.out.bad(NOT_AN_OBJECT);
            }
        }
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(()) // "Records": null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_need_not_be_the_first_key() {
        let mut names = vec![];
        let o = for_each_record(
            br#"{"x":{"y":[1,2]},"Records":[{"eventName":"A"},{"eventName":"B"}]}"#,
            |r| names.push(r.name().to_string()),
        );
        assert_eq!(names, ["A", "B"]);
        assert!(o.error.is_none() && o.bad_records == 0);
        // And with a bad record, the record-by-record path still finds them.
        let mut names = vec![];
        let o = for_each_record(
            br#"{"x":1,"Records":[{"eventName":"A"},{"eventName":5}]}"#,
            |r| names.push(r.name().to_string()),
        );
        assert_eq!((names.len(), o.bad_records), (1, 1));
        // JSON Lines whose records have no Records key stay JSON Lines.
        let o = for_each_record(b"{\"eventName\":\"A\"}\n{\"eventName\":\"B\"}\n", |_| {});
        assert_eq!(o.records, 2);
    }

    fn names(data: &[u8]) -> (Vec<String>, FileOutcome) {
        let mut v = vec![];
        let o = for_each_record(data, |r| v.push(r.name().to_string()));
        (v, o)
    }

    #[test]
    fn records_object_array_and_json_lines() {
        let (n, o) = names(br#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#);
        assert_eq!(n, ["A", "B"]);
        assert_eq!(
            o,
            FileOutcome {
                records: 2,
                bad_records: 0,
                bad_reasons: Reasons::new(),
                error: None
            }
        );
        let (n, _) = names(br#"  [{"eventName":"A"}]"#);
        assert_eq!(n, ["A"]);
        let (n, o) = names(b"{\"eventName\":\"A\"}\n\n{\"eventName\":\"B\"}\nnot json\n");
        assert_eq!(n, ["A", "B"]);
        assert_eq!(o.bad_records, 1);
        assert!(o.error.is_none());
        // Other keys before Records are skipped.
        let (n, _) = names(br#"{"Records":[{"eventName":"A"}],"extra":{"x":[1,2]}}"#);
        assert_eq!(n, ["A"]);
    }

    #[test]
    fn a_bad_record_is_skipped_and_a_truncated_file_keeps_what_came_before() {
        let (n, o) =
            names(br#"{"Records":[{"eventName":"A"},{"eventName":5},7,{"eventName":"C"}]}"#);
        assert_eq!(n, ["A", "C"]);
        assert_eq!(o.bad_records, 2);
        let (n, o) = names(br#"{"Records":[{"eventName":"A"},{"eventName":"B"},{"eventNa"#);
        assert_eq!(n, ["A", "B"]);
        assert!(o.error.unwrap().contains("truncated"));
    }

    #[test]
    fn arrays_are_not_records_in_any_layout() {
        // Found by fuzzing: the one-pass path read `[]` and `["t","s3...","GetObject"]` as
        // records (serde reads a struct from an array by position); element by element they
        // are bad records, as in a bare array.
        let file =
            br#"[[],["2023-07-10T11:42:36Z","s3.amazonaws.com","GetObject"],{"eventName":"A"}]"#;
        let (n, o) = names(file);
        assert_eq!((n, o.records, o.bad_records), (vec!["A".to_string()], 1, 2));
        let mut wrapped = br#"{"Records":"#.to_vec();
        wrapped.extend_from_slice(file);
        wrapped.push(b'}');
        let (n, o) = names(&wrapped);
        assert_eq!((n, o.records, o.bad_records), (vec!["A".to_string()], 1, 2));
    }

    #[test]
    fn escaped_keys_beside_records_and_trailing_data() {
        // Found by fuzzing: a key with an escape after Records (read record by record, after a
        // bad record) failed the file with "expected a borrowed string".
        let (n, o) = names(br#"{"Records":[{"eventName":5},{"eventName":"A"}],"a\"b":1}"#);
        assert_eq!((n, o.bad_records), (vec!["A".to_string()], 1));
        assert_eq!(o.error, None);
        // Concatenated files: the second is not silently dropped without a word.
        for two in [
            &br#"{"Records":[{"eventName":"A"}]} {"Records":[{"eventName":"B"}]}"#[..],
            br#"[{"eventName":"A"}] [{"eventName":"B"}]"#,
        ] {
            let (n, o) = names(two);
            assert_eq!(n, ["A"]);
            assert!(o.error.unwrap().contains("trailing"), "{two:?}");
        }
        // Trailing whitespace is fine.
        assert_eq!(names(b"[{\"eventName\":\"A\"}]\n\n").1.error, None);
    }

    #[test]
    fn every_gzip_member_is_read() {
        // Found by fuzzing: with members of equal size (`cat a.gz a.gz`) the trailer's size
        // matched the first member, and the one-shot inflate returned it alone.
        use std::io::Write;
        let gz = |s: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(s).unwrap();
            e.finish().unwrap()
        };
        let a = gz(b"{\"eventName\":\"A\"}\n");
        let b = gz(b"{\"eventName\":\"B\"}\n");
        for (file, want) in [
            ([&a[..], &a].concat(), "AA"),
            ([&a[..], &b].concat(), "AB"),
            ([&a[..], &b, &a].concat(), "ABA"),
            (a.clone(), "A"),
        ] {
            let plain = decode(file).unwrap();
            assert_eq!(names(&plain).0.concat(), want);
        }
    }

    #[test]
    fn gzip_and_corrupt_gzip() {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(br#"{"Records":[{"eventName":"Z"}]}"#).unwrap();
        let gz = e.finish().unwrap();
        let plain = decode(gz.clone()).unwrap();
        assert_eq!(names(&plain).0, ["Z"]);
        let mut broken = gz.clone();
        let mid = broken.len() / 2;
        broken[mid] ^= 0xff;
        broken[mid + 1] ^= 0xff;
        assert!(decode(broken).unwrap_err().contains("corrupt gzip"));
        assert!(
            decode(gz[..gz.len() - 10].to_vec()).is_err(),
            "a truncated gzip is an error"
        );
        assert_eq!(decode(b"plain".to_vec()).unwrap(), b"plain");
    }

    fn gzip_of(chunks: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for c in chunks {
            e.write_all(&c).unwrap();
        }
        e.finish().unwrap()
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_bound_whatever_its_trailer_claims() {
        const MIB: u64 = 1 << 20;
        // 64 MiB of zeros: about 64 KB compressed.
        let bomb = gzip_of((0..64).map(|_| vec![0u8; 1 << 20]));
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let want = too_large(8 * MIB, true);
        assert_eq!(decode_bounded(bomb.clone(), 8 * MIB).unwrap_err(), want);
        // A trailer that understates the size (libdeflate's buffer is then too small) or states
        // exactly the bound: the capped stream stops it all the same.
        for claim in [1000u32, 8 << 20] {
            let mut lying = bomb.clone();
            let n = lying.len();
            lying[n - 4..].copy_from_slice(&claim.to_le_bytes());
            assert_eq!(decode_bounded(lying, 8 * MIB).unwrap_err(), want);
        }
        // Several members, each within the bound, together past it.
        let member = gzip_of(std::iter::once(vec![b' '; 3 << 20]));
        let three = [&member[..], &member, &member].concat();
        assert_eq!(decode_bounded(three.clone(), 8 * MIB).unwrap_err(), want);
        assert_eq!(decode_bounded(three, 9 * MIB).unwrap().len(), 9 << 20);
        // The default bound reads it whole.
        assert_eq!(decode(bomb).unwrap().len(), 64 << 20);
    }

    #[test]
    fn the_bound_is_inclusive_and_applies_to_plain_files() {
        let exact = gzip_of(std::iter::once(vec![b' '; 1 << 20]));
        assert_eq!(
            decode_bounded(exact.clone(), 1 << 20).unwrap().len(),
            1 << 20
        );
        assert_eq!(
            decode_bounded(exact, (1 << 20) - 1).unwrap_err(),
            too_large((1 << 20) - 1, true)
        );
        assert_eq!(decode_bounded(vec![b' '; 10], 10).unwrap().len(), 10);
        assert_eq!(
            decode_bounded(vec![b' '; 11], 10).unwrap_err(),
            "is larger than 10 bytes (cloudtrail.max_file_bytes)"
        );
    }

    #[test]
    fn the_capped_reader_never_holds_more_than_the_bound() {
        // An endless stream of zeros: the reader stops at the bound, and its buffer (the
        // memory it holds) never grew past it.
        for (max, start) in [(5 << 20, 0), (5 << 20, 1 << 20), (3_000_001, 4096)] {
            let mut out = Vec::with_capacity(start);
            let r = read_capped(std::io::repeat(0), max, &mut out);
            assert!(matches!(r, Err(Capped::Past)), "{r:?}");
            assert!(
                out.len() <= max && out.capacity() <= max,
                "{max}: {} / {}",
                out.len(),
                out.capacity()
            );
            assert!(out.len() + (64 << 10) > max, "it reads up to the bound");
        }
        let mut out = Vec::new();
        read_capped(&[7u8; 1000][..], 1000, &mut out).unwrap();
        assert_eq!(out.len(), 1000);
    }

    #[test]
    fn every_bad_record_has_a_reason() {
        let (_, o) = names(br#"{"Records":[{"eventName":"A"},{"eventName":5},7,[1]]}"#);
        assert_eq!(o.bad_records, 3);
        assert_eq!(
            o.bad_reasons,
            Reasons::from([(NOT_A_RECORD, 1), (NOT_AN_OBJECT, 2)])
        );
        let (_, o) = names(b"{\"eventName\":\"A\"}\nnot json\n[1]\n{\"eventName\":[]}\n");
        assert_eq!(
            o.bad_reasons,
            Reasons::from([(NOT_JSON, 1), (NOT_AN_OBJECT, 1), (NOT_A_RECORD, 1)])
        );
        assert_eq!(o.bad_records, o.bad_reasons.values().sum::<u64>());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for g in [
            &b""[..],
            b"   ",
            b"\x00\x01\x02",
            b"{",
            b"[1,2",
            b"{\"Records\":5}",
            b"\xff\xfe",
        ] {
            let (_, o) = names(g);
            assert!(
                o.error.is_some() || o.bad_records > 0 || o.records == 0,
                "{g:?}"
            );
        }
    }
}
