//! Whether event selectors record a GetObject on a bucket, for every key it may hold.
//!
//! A GetObject event has fixed fields (`eventCategory` Data, `resources.type`
//! AWS::S3::Object, `readOnly` true, `eventName` GetObject, `eventSource` s3.amazonaws.com)
//! and one that varies: `resources.ARN` is `arn:aws:s3:::bucket/` followed by any key. Fixed
//! fields are matched as values; the ARN is decided for the set of all keys, exactly: every
//! key, some keys or none. Basic selectors are ARN prefixes on the same object ARN. Any other
//! field (`userIdentity.arn`, …) depends on the call, so it records some calls at most.
//!
//! Bucket names are prefix-unsafe (`arn:aws:s3:::logs` is a prefix of `logs-archive`'s
//! objects): every comparison is on the full object ARN, never on a name.

use std::collections::HashSet;

use crate::model::coverage::{AdvancedSelector, BasicSelector, FieldSelector};

/// The bucket a selector is judged for.
#[derive(Debug, Clone)]
pub(super) struct Bucket {
    /// `arn:aws:s3:::` in the bucket's partition.
    pub arn_root: String,
    /// `arn:aws:s3:::bucket/`: every object ARN of the bucket starts with it.
    pub base: String,
    /// `arn:aws:s3:::bucket`: the bucket's own ARN.
    pub arn: String,
}

impl Bucket {
    pub fn new(name: &str, region: &str) -> Bucket {
        let arn_root = format!("arn:{}:s3:::", partition(region));
        Bucket {
            base: format!("{arn_root}{name}/"),
            arn: format!("{arn_root}{name}"),
            arn_root,
        }
    }
}

/// The ARN partition of a region (`aws` unless it is a China, GovCloud or isolated region).
pub(super) fn partition(region: &str) -> &'static str {
    const PARTITIONS: &[(&str, &str)] = &[
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-iso-", "aws-iso"),
    ];
    PARTITIONS
        .iter()
        .find(|(p, _)| region.starts_with(p))
        .map_or("aws", |(_, name)| name)
}

/// How much of a bucket's GetObject calls a selector (or a list of them) records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reach {
    All,
    /// Some calls only: what part ("keys under reports/", …), one entry per selector.
    Some(Vec<String>),
    None(Miss),
}

/// Why a selector records none of a bucket's GetObject calls, least telling first: one
/// selector misses for its first reason (the minimum), a list for its most telling (the
/// maximum).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Miss {
    /// It records no S3 object data events at all (management events, other resources).
    NoS3Data,
    /// It records S3 object data events of other buckets (or other keys) only.
    OtherBuckets,
    /// It records this bucket's data events but not GetObject ("readOnly Equals false").
    Filtered(String),
    /// It would record the bucket but an exclusion leaves it out ("resources.ARN
    /// NotStartsWith arn:aws:s3:::b/").
    Excluded(String),
}

/// The values GetObject has in the fixed fields an advanced selector may test.
const FIXED: &[(&str, &str)] = &[
    ("readOnly", "true"),
    ("eventName", "GetObject"),
    ("eventSource", "s3.amazonaws.com"),
];

/// At most this many values are named in a sentence.
const NAMED: usize = 3;

/// Whether any selector of the list records the bucket's GetObject.
pub(super) fn basic(selectors: &[BasicSelector], b: &Bucket) -> Reach {
    any(selectors.iter().map(|s| basic_one(s, b)))
}

/// Whether any advanced selector of the list records the bucket's GetObject.
pub(super) fn advanced(selectors: &[AdvancedSelector], b: &Bucket) -> Reach {
    any(selectors.iter().map(|s| advanced_one(s, b)))
}

/// The union of selectors: all if any records all, else the parts, else the most telling miss.
fn any(reaches: impl Iterator<Item = Reach>) -> Reach {
    let mut parts = Vec::new();
    let mut miss = Miss::NoS3Data;
    for r in reaches {
        match r {
            Reach::All => return Reach::All,
            Reach::Some(p) => parts.extend(p),
            Reach::None(m) => miss = miss.max(m),
        }
    }
    if parts.is_empty() {
        Reach::None(miss)
    } else {
        Reach::Some(parts)
    }
}

fn basic_one(s: &BasicSelector, b: &Bucket) -> Reach {
    let values: Vec<&String> = s
        .data_resources
        .iter()
        .filter(|d| d.kind == "AWS::S3::Object")
        .flat_map(|d| &d.values)
        .collect();
    if values.is_empty() {
        return Reach::None(Miss::NoS3Data);
    }
    let mut parts = Vec::new();
    let mut all = false;
    for v in values {
        if is_every_bucket(v, b) || *v == b.arn || *v == b.base {
            all = true;
        } else if let Some(prefix) = v.strip_prefix(b.base.as_str()) {
            parts.push(format!("keys under {prefix}"));
        }
    }
    if !all && parts.is_empty() {
        return Reach::None(Miss::OtherBuckets);
    }
    if s.read_write_type.eq_ignore_ascii_case("WriteOnly") {
        return Reach::None(Miss::Filtered("ReadWriteType WriteOnly".into()));
    }
    if all {
        Reach::All
    } else {
        Reach::Some(vec![parts.join(" or ")])
    }
}

/// `arn:aws:s3` and `arn:aws:s3:::` (and what lies between) name every bucket, current and
/// future.
fn is_every_bucket(v: &str, b: &Bucket) -> bool {
    let short = b.arn_root.trim_end_matches(':');
    v.len() >= short.len() && b.arn_root.starts_with(v)
}

/// One advanced selector: every field must match.
fn advanced_one(s: &AdvancedSelector, b: &Bucket) -> Reach {
    let field = |name: &str| -> Vec<&FieldSelector> {
        s.field_selectors
            .iter()
            .filter(|f| f.field.eq_ignore_ascii_case(name))
            .collect()
    };
    let category = field("eventCategory");
    if category.is_empty() || !holds_all(&category, "Data") {
        return Reach::None(Miss::NoS3Data);
    }
    let kind = field("resources.type");
    if kind.is_empty() || !holds_all(&kind, "AWS::S3::Object") {
        return Reach::None(Miss::NoS3Data);
    }
    let mut misses = Vec::new();
    let mut parts = Vec::new();
    for (name, value) in FIXED {
        let fs = field(name);
        if !holds_all(&fs, value) {
            misses.push(Miss::Filtered(culprit(&fs, value)));
        }
    }
    let arn = field("resources.ARN");
    if !arn.is_empty() {
        match keys_reached(&arn, &b.base) {
            Keys::All => {}
            Keys::Some => parts.push(describe_keys(&arn, &b.base)),
            Keys::None => misses.push(arn_culprit(&arn, b)),
        }
    }
    let known = |f: &str| {
        ["eventCategory", "resources.type", "resources.ARN"]
            .iter()
            .chain(FIXED.iter().map(|(n, _)| n))
            .any(|k| k.eq_ignore_ascii_case(f))
    };
    let mut others: Vec<&str> = Vec::new();
    for f in &s.field_selectors {
        if !known(&f.field) && !others.contains(&f.field.as_str()) {
            others.push(&f.field);
        }
    }
    for name in others {
        let fs: Vec<&FieldSelector> = s
            .field_selectors
            .iter()
            .filter(|f| f.field == name)
            .collect();
        match keys_reached(&fs, "") {
            Keys::All => {}
            Keys::Some => parts.push(format!("only calls whose {name} matches")),
            Keys::None => misses.push(Miss::Filtered(describe_ops(name, &fs))),
        }
    }
    if let Some(m) = misses.into_iter().min() {
        Reach::None(m)
    } else if parts.is_empty() {
        Reach::All
    } else {
        Reach::Some(vec![parts.join(", ")])
    }
}

/// Whether every operator of every field selector holds for `v`.
pub(super) fn holds_all(fs: &[&FieldSelector], v: &str) -> bool {
    fs.iter().all(|f| holds(f, v))
}

/// Whether one field selector holds for `v`: each positive operator present is met by one of
/// its values, each negative one by none.
fn holds(f: &FieldSelector, v: &str) -> bool {
    (f.equals.is_empty() || f.equals.iter().any(|e| e == v))
        && (f.starts_with.is_empty() || f.starts_with.iter().any(|p| v.starts_with(p.as_str())))
        && (f.ends_with.is_empty() || f.ends_with.iter().any(|s| v.ends_with(s.as_str())))
        && !f.not_equals.iter().any(|e| e == v)
        && !f.not_starts_with.iter().any(|p| v.starts_with(p.as_str()))
        && !f.not_ends_with.iter().any(|s| v.ends_with(s.as_str()))
}

/// The first operator that fails for `v`, as AWS names it ("eventName Equals PutObject").
fn culprit(fs: &[&FieldSelector], v: &str) -> String {
    for f in fs {
        let name = f.field.as_str();
        if !f.equals.is_empty() && !f.equals.iter().any(|e| e == v) {
            return op(name, "Equals", &f.equals);
        }
        if !f.starts_with.is_empty() && !f.starts_with.iter().any(|p| v.starts_with(p.as_str())) {
            return op(name, "StartsWith", &f.starts_with);
        }
        if !f.ends_with.is_empty() && !f.ends_with.iter().any(|s| v.ends_with(s.as_str())) {
            return op(name, "EndsWith", &f.ends_with);
        }
        if let Some(e) = f.not_equals.iter().find(|e| *e == v) {
            return format!("{name} NotEquals {e}");
        }
        if let Some(p) = f.not_starts_with.iter().find(|p| v.starts_with(p.as_str())) {
            return format!("{name} NotStartsWith {p}");
        }
        if let Some(s) = f.not_ends_with.iter().find(|s| v.ends_with(s.as_str())) {
            return format!("{name} NotEndsWith {s}");
        }
    }
    fs.first().map_or_else(String::new, |f| f.field.clone())
}

/// "field Operator a, b, c (and 2 more)".
fn op(field: &str, operator: &str, values: &[String]) -> String {
    format!(
        "{field} {operator} {}",
        named(values.iter().map(String::as_str))
    )
}

/// Up to [`NAMED`] values, then how many more.
pub(super) fn named<'a>(values: impl ExactSizeIterator<Item = &'a str>) -> String {
    let n = values.len();
    let mut s = values.take(NAMED).collect::<Vec<_>>().join(", ");
    if n > NAMED {
        s.push_str(&format!(" (and {} more)", n - NAMED));
    }
    s
}

/// Every operator of the field selectors, for a field no call can satisfy.
fn describe_ops(name: &str, fs: &[&FieldSelector]) -> String {
    let mut out = Vec::new();
    for f in fs {
        for (operator, values) in operators(f) {
            if !values.is_empty() {
                out.push(op(name, operator, values));
            }
        }
    }
    if out.is_empty() {
        name.to_string()
    } else {
        out.join(", ")
    }
}

fn operators(f: &FieldSelector) -> [(&'static str, &Vec<String>); 6] {
    [
        ("Equals", &f.equals),
        ("StartsWith", &f.starts_with),
        ("EndsWith", &f.ends_with),
        ("NotEquals", &f.not_equals),
        ("NotStartsWith", &f.not_starts_with),
        ("NotEndsWith", &f.not_ends_with),
    ]
}

/// Which values `base` followed by a non-empty key (any key) can take under the operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keys {
    All,
    Some,
    None,
}

/// Decide the field selectors (all must hold) for `base` + any non-empty key.
pub(super) fn keys_reached(fs: &[&FieldSelector], base: &str) -> Keys {
    if !some_key(fs, base) {
        Keys::None
    } else if fs.iter().all(|f| every_key(f, base)) {
        Keys::All
    } else {
        Keys::Some
    }
}

/// Whether `f` holds for `base` + every non-empty key.
fn every_key(f: &FieldSelector, base: &str) -> bool {
    let in_bucket = |v: &String| v.len() > base.len() && v.starts_with(base);
    f.equals.is_empty()
        && (f.starts_with.is_empty() || f.starts_with.iter().any(|p| base.starts_with(p.as_str())))
        && (f.ends_with.is_empty() || f.ends_with.iter().any(String::is_empty))
        && !f.not_equals.iter().any(in_bucket)
        && !f
            .not_starts_with
            .iter()
            .any(|p| base.starts_with(p.as_str()) || p.starts_with(base))
        && f.not_ends_with.is_empty()
}

/// Whether `base` + some non-empty key satisfies every field selector.
///
/// With an `Equals`, its values are the only candidates. Otherwise a witness is built:
/// `p + filler + n`, `p` the longest prefix a satisfying value must start with (`base` or one
/// of the `StartsWith` values extending it), `n` the longest suffix it must end with (one of
/// the `EndsWith` values, or none). Such a pair exists iff a witness does; the filler's first
/// character differs from the next character of every `NotStartsWith` value extending `p`, its
/// last from the character before every `NotEndsWith` value extending `n`, and its length
/// steps past every `NotEquals` value: so the witness fails no negative operator that `p` and
/// `n` do not already fail.
fn some_key(fs: &[&FieldSelector], base: &str) -> bool {
    if let Some(eq) = fs.iter().find(|f| !f.equals.is_empty()) {
        return eq
            .equals
            .iter()
            .any(|v| v.len() > base.len() && v.starts_with(base) && holds_all(fs, v));
    }
    let banned_prefix = |p: &str| {
        fs.iter()
            .any(|f| f.not_starts_with.iter().any(|x| p.starts_with(x.as_str())))
    };
    let starts_ok = |p: &str| {
        fs.iter().all(|f| {
            f.starts_with.is_empty() || f.starts_with.iter().any(|s| p.starts_with(s.as_str()))
        })
    };
    let prefixes = std::iter::once(base).chain(
        fs.iter()
            .flat_map(|f| &f.starts_with)
            .map(String::as_str)
            .filter(|s| s.len() > base.len() && s.starts_with(base)),
    );
    let Some(p) = prefixes
        .into_iter()
        .find(|p| starts_ok(p) && !banned_prefix(p))
    else {
        return false;
    };
    let banned_suffix = |n: &str| {
        fs.iter()
            .any(|f| f.not_ends_with.iter().any(|x| n.ends_with(x.as_str())))
    };
    let ends_ok = |n: &str| {
        fs.iter()
            .all(|f| f.ends_with.is_empty() || f.ends_with.iter().any(|s| n.ends_with(s.as_str())))
    };
    let suffixes =
        std::iter::once("").chain(fs.iter().flat_map(|f| &f.ends_with).map(String::as_str));
    let Some(n) = suffixes
        .into_iter()
        .find(|n| ends_ok(n) && !banned_suffix(n))
    else {
        return false;
    };
    let after_p: HashSet<char> = fs
        .iter()
        .flat_map(|f| &f.not_starts_with)
        .filter_map(|x| x.strip_prefix(p).and_then(|rest| rest.chars().next()))
        .collect();
    let before_n: HashSet<char> = fs
        .iter()
        .flat_map(|f| &f.not_ends_with)
        .filter_map(|x| x.strip_suffix(n).and_then(|rest| rest.chars().next_back()))
        .collect();
    let first = unused(&after_p);
    let last = unused(&before_n);
    let not_equal: usize = fs.iter().map(|f| f.not_equals.len()).sum();
    // Each length is a different value: one of the first |NotEquals| + 1 is not excluded.
    // Each candidate is checked in full, so a flaw in the construction could only miss a
    // witness, never invent one.
    (0..=not_equal).any(|k| holds_all(fs, &format!("{p}{first}{}{last}{n}", "x".repeat(k))))
}

/// A character not in `used`.
fn unused(used: &HashSet<char>) -> char {
    ('a'..='z')
        .chain((0x100u32..).filter_map(char::from_u32))
        .find(|c| !used.contains(c))
        .unwrap_or('a')
}

/// Which keys a resources.ARN field selector leaves, for a bucket it reaches in part.
fn describe_keys(fs: &[&FieldSelector], base: &str) -> String {
    let key = |v: &String| {
        v.strip_prefix(base)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
    };
    let mut positive = Vec::new();
    let mut negative = Vec::new();
    for f in fs {
        let under: Vec<String> = f.starts_with.iter().filter_map(key).collect();
        if !under.is_empty() {
            positive.push(format!(
                "keys under {}",
                named(under.iter().map(String::as_str))
            ));
        }
        let exact: Vec<String> = f.equals.iter().filter_map(key).collect();
        if !exact.is_empty() {
            let word = if exact.len() == 1 { "key" } else { "keys" };
            positive.push(format!(
                "{word} {}",
                named(exact.iter().map(String::as_str))
            ));
        }
        let ending: Vec<&str> = f
            .ends_with
            .iter()
            .filter(|s| !s.is_empty())
            .map(String::as_str)
            .collect();
        if !ending.is_empty() {
            positive.push(format!("keys ending {}", named(ending.into_iter())));
        }
        let not_under: Vec<String> = f.not_starts_with.iter().filter_map(key).collect();
        if !not_under.is_empty() {
            negative.push(format!(
                "not under {}",
                named(not_under.iter().map(String::as_str))
            ));
        }
        let not_exact: Vec<String> = f.not_equals.iter().filter_map(key).collect();
        if !not_exact.is_empty() {
            let other = named(not_exact.iter().map(String::as_str));
            negative.push(format!("other than {other}"));
        }
        if !f.not_ends_with.is_empty() {
            let ending = named(f.not_ends_with.iter().map(String::as_str));
            negative.push(format!("not ending {ending}"));
        }
    }
    match (positive.is_empty(), negative.is_empty()) {
        (true, true) => "some keys".into(),
        (true, false) => format!("keys {}", negative.join(", ")),
        _ => positive
            .into_iter()
            .chain(negative)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Why a resources.ARN field selector reaches none of the bucket's keys: its positive
/// operators name other buckets, or one exclusion leaves this bucket out (named).
fn arn_culprit(fs: &[&FieldSelector], b: &Bucket) -> Miss {
    let positive: Vec<FieldSelector> = fs
        .iter()
        .map(|f| FieldSelector {
            field: f.field.clone(),
            equals: f.equals.clone(),
            starts_with: f.starts_with.clone(),
            ends_with: f.ends_with.clone(),
            ..FieldSelector::default()
        })
        .collect();
    let refs: Vec<&FieldSelector> = positive.iter().collect();
    if !some_key(&refs, &b.base) {
        return Miss::OtherBuckets;
    }
    let mut excluded = Vec::new();
    for f in fs {
        for (operator, values) in operators(f).into_iter().skip(3) {
            for v in values {
                let mut one = FieldSelector::default();
                match operator {
                    "NotEquals" => one.not_equals = vec![v.clone()],
                    "NotStartsWith" => one.not_starts_with = vec![v.clone()],
                    _ => one.not_ends_with = vec![v.clone()],
                }
                let mut with: Vec<&FieldSelector> = refs.clone();
                with.push(&one);
                if !some_key(&with, &b.base) {
                    return Miss::Excluded(format!("{} {operator} {v}", f.field));
                }
                excluded.push(format!("{operator} {v}"));
            }
        }
    }
    let name = fs.first().map_or("resources.ARN", |f| f.field.as_str());
    Miss::Excluded(format!(
        "{name} {}",
        named(excluded.iter().map(String::as_str))
    ))
}

/// Whether a negative resources.ARN value leaves out every key of the bucket (the exclusion
/// a fix removes).
pub(super) fn excludes_bucket(operator: &str, value: &str, b: &Bucket) -> bool {
    match operator {
        "NotStartsWith" => b.base.starts_with(value),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(field: &str) -> FieldSelector {
        FieldSelector {
            field: field.into(),
            ..FieldSelector::default()
        }
    }

    fn keys(f: FieldSelector, bucket: &str) -> Keys {
        keys_reached(&[&f], &Bucket::new(bucket, "us-east-1").base)
    }

    #[test]
    fn arn_starts_with_is_decided_for_every_key() {
        let mut f = fs("resources.ARN");
        f.starts_with = vec!["arn:aws:s3:::".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::All);
        f.starts_with = vec!["arn:aws:s3:::b/".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::All);
        f.starts_with = vec!["arn:aws:s3:::b/reports/".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::Some);
        // The prefix trap, both ways.
        f.starts_with = vec!["arn:aws:s3:::bx/".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::None);
        f.starts_with = vec!["arn:aws:s3:::logs".into()];
        assert_eq!(keys(f.clone(), "logs-archive"), Keys::All);
        f.starts_with = vec!["arn:aws:s3:::logs/".into()];
        assert_eq!(keys(f, "logs-archive"), Keys::None);
    }

    #[test]
    fn arn_negative_operators_exclude_all_some_or_none() {
        let mut f = fs("resources.ARN");
        f.not_starts_with = vec!["arn:aws:s3:::b/".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::None);
        assert_eq!(keys(f.clone(), "b-archive"), Keys::All);
        f.not_starts_with = vec!["arn:aws:s3:::b/tmp/".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::Some);
        // Keys starting with a, and ending with a, are excluded: "b" is left.
        f.not_starts_with = vec!["arn:aws:s3:::b/a".into()];
        f.not_ends_with = vec!["a".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::Some);
        f.not_ends_with = vec![];
        f.not_starts_with = vec!["arn:aws:s3:::b".into()];
        assert_eq!(keys(f.clone(), "b-archive"), Keys::None);
        f.not_starts_with = vec![];
        f.not_ends_with = vec![".tmp".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::Some);
        f.not_ends_with = vec!["".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::None);
        f.not_ends_with = vec![];
        f.not_equals = vec!["arn:aws:s3:::b/x".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::Some);
        assert_eq!(keys(f, "c"), Keys::All);
    }

    #[test]
    fn arn_positive_and_negative_together() {
        let mut f = fs("resources.ARN");
        f.starts_with = vec!["arn:aws:s3:::b/".into()];
        f.not_starts_with = vec!["arn:aws:s3:::b/".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::None);
        f.starts_with = vec!["arn:aws:s3:::b/a/".into()];
        f.not_starts_with = vec!["arn:aws:s3:::b/a/x".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::Some);
        f.equals = vec!["arn:aws:s3:::b/a/x1".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::None);
        f.equals = vec!["arn:aws:s3:::b/a/y".into()];
        assert_eq!(keys(f.clone(), "b"), Keys::Some);
        let mut g = fs("resources.ARN");
        g.ends_with = vec![".csv".into()];
        g.not_ends_with = vec!["s.csv".into(), "x.csv".into()];
        assert_eq!(keys(g.clone(), "b"), Keys::Some);
        g.not_ends_with = vec!["csv".into()];
        assert_eq!(keys(g, "b"), Keys::None);
        let mut h = fs("resources.ARN");
        h.equals = vec!["arn:aws:s3:::other/k".into()];
        assert_eq!(keys(h, "b"), Keys::None);
    }

    #[test]
    fn not_equals_cannot_exhaust_the_keys() {
        // Every witness the filler builds is excluded one at a time: still some key is left.
        let mut f = fs("resources.ARN");
        f.starts_with = vec!["arn:aws:s3:::b/k".into()];
        f.not_equals = (0..5)
            .map(|i| format!("arn:aws:s3:::b/ka{}a", "x".repeat(i)))
            .collect();
        assert_eq!(keys(f, "b"), Keys::Some);
    }

    /// The decision against brute force: every key of up to 8 characters over {a, b, c}, for
    /// random operators over short values (the witness the decision builds is that short).
    #[test]
    fn keys_reached_agrees_with_brute_force() {
        const PREFIXES: &[&str] = &[
            "", "arn:", "arn:b", "arn:b/", "arn:b/a", "arn:b/ab", "arn:b/ba", "arn:bb/", "a",
        ];
        const SUFFIXES: &[&str] = &["", "a", "b", "ab", "ba", "aa", "bab"];
        let mut keys = vec![String::new()];
        let mut all = Vec::new();
        for _ in 0..8 {
            keys = keys
                .iter()
                .flat_map(|k| ['a', 'b', 'c'].map(|c| format!("{k}{c}")))
                .collect();
            all.extend(keys.iter().map(|k| format!("arn:b/{k}")));
        }
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        let mut seen = [0; 3];
        for _ in 0..1000 {
            let mut values = |from: &[&str]| -> Vec<String> {
                // Mostly empty, so that every verdict comes up.
                let n = (next() % 6).saturating_sub(3);
                (0..n)
                    .map(|_| from[next() % from.len()].to_string())
                    .collect()
            };
            let equals = values(PREFIXES)
                .into_iter()
                .map(|p| {
                    if p.starts_with("arn:b/") {
                        format!("{p}a")
                    } else {
                        p
                    }
                })
                .collect();
            let mut f = FieldSelector {
                field: "resources.ARN".into(),
                equals,
                starts_with: values(PREFIXES),
                ends_with: values(SUFFIXES),
                not_equals: values(PREFIXES),
                not_starts_with: values(PREFIXES),
                not_ends_with: values(SUFFIXES),
            };
            if next().is_multiple_of(2) {
                f.equals.clear();
            }
            let hits = all.iter().filter(|v| holds(&f, v)).count();
            let brute = match hits {
                0 => Keys::None,
                n if n == all.len() => Keys::All,
                _ => Keys::Some,
            };
            assert_eq!(keys_reached(&[&f], "arn:b/"), brute, "{f:?}");
            seen[brute as usize] += 1;
        }
        // Each verdict came up: the comparison is not vacuous.
        assert!(seen.iter().all(|n| *n > 10), "{seen:?}");
    }

    #[test]
    fn basic_values_are_prefixes_of_the_object_arn() {
        let sel = |v: &str| BasicSelector {
            read_write_type: "All".into(),
            include_management_events: true,
            data_resources: vec![crate::model::coverage::DataResource {
                kind: "AWS::S3::Object".into(),
                values: vec![v.into()],
            }],
        };
        let b = Bucket::new("logs-archive", "eu-west-1");
        assert_eq!(basic(&[sel("arn:aws:s3")], &b), Reach::All);
        assert_eq!(basic(&[sel("arn:aws:s3:::")], &b), Reach::All);
        assert_eq!(basic(&[sel("arn:aws:s3:::logs-archive")], &b), Reach::All);
        assert_eq!(
            basic(&[sel("arn:aws:s3:::logs")], &b),
            Reach::None(Miss::OtherBuckets)
        );
        assert_eq!(
            basic(&[sel("arn:aws:s3:::logs-archive/2024/")], &b),
            Reach::Some(vec!["keys under 2024/".into()])
        );
        let cn = Bucket::new("b", "cn-north-1");
        assert_eq!(basic(&[sel("arn:aws-cn:s3:::b/")], &cn), Reach::All);
        assert_eq!(
            basic(&[sel("arn:aws:s3:::b/")], &cn),
            Reach::None(Miss::OtherBuckets)
        );
    }
}
