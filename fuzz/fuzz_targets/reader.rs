//! Arbitrary bytes as a trail file: decode → for_each_record → every Record accessor,
//! classify and Partial::add per record → finalize. Must never panic; the counts must agree.
//! Plain input is also gzipped as two members in a row (`cat a.gz a.gz`), which must decode
//! to the input twice.
#![no_main]

use egresswatch::sources::cloudtrail::reader::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((seen, outcome)) = egresswatch_fuzz::read_file(data) {
        assert_eq!(seen.len() as u64, outcome.records);
    }
    if !data.starts_with(&[0x1f, 0x8b]) {
        let member = egresswatch_fuzz::gzip(data);
        let twice = decode([&member[..], &member].concat()).expect("our own gzip decodes");
        assert!(twice.len() == 2 * data.len() && twice[..data.len()] == *data);
        assert_eq!(twice[data.len()..], *data);
    }
});
