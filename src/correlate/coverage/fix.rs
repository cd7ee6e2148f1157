//! The exact commands that close a blind spot, and the selectors they write.
//!
//! `put-event-selectors` (and `update-event-data-store`) replace every selector: a fix writes
//! the trail's whole list, the existing selectors kept as read (less the exclusions it removes)
//! plus the one it adds, in the CLI's JSON shape. Every string goes through [`sh`]: names and
//! values come from AWS and may hold quotes or newlines.

use serde::Serialize;

use super::selectors::{self, Bucket, Reach};
use crate::model::coverage::{AdvancedSelector, BasicSelector, DataResource, FieldSelector};

/// A word for a POSIX shell: as is when it is plainly safe, else single-quoted (`'` as
/// `'\''`).
pub(super) fn sh(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.:/@+,".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// An advanced selector as the CLI reads it (`--advanced-event-selectors`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CliAdvanced<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    field_selectors: Vec<CliField<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CliField<'a> {
    field: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    equals: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    starts_with: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    ends_with: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    not_equals: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    not_starts_with: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    not_ends_with: &'a [String],
}

/// A basic selector as the CLI reads it (`--event-selectors`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CliBasic<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    read_write_type: &'a str,
    include_management_events: bool,
    data_resources: Vec<CliData<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CliData<'a> {
    #[serde(rename = "Type")]
    kind: &'a str,
    values: &'a [String],
}

pub(super) fn advanced_json(selectors: &[AdvancedSelector]) -> String {
    let cli: Vec<CliAdvanced> = selectors
        .iter()
        .map(|s| CliAdvanced {
            name: s.name.as_deref(),
            field_selectors: s
                .field_selectors
                .iter()
                .map(|f| CliField {
                    field: &f.field,
                    equals: &f.equals,
                    starts_with: &f.starts_with,
                    ends_with: &f.ends_with,
                    not_equals: &f.not_equals,
                    not_starts_with: &f.not_starts_with,
                    not_ends_with: &f.not_ends_with,
                })
                .collect(),
        })
        .collect();
    serde_json::to_string(&cli).unwrap_or_default()
}

pub(super) fn basic_json(selectors: &[BasicSelector]) -> String {
    let cli: Vec<CliBasic> = selectors
        .iter()
        .map(|s| CliBasic {
            read_write_type: &s.read_write_type,
            include_management_events: s.include_management_events,
            data_resources: s
                .data_resources
                .iter()
                .map(|d| CliData {
                    kind: &d.kind,
                    values: &d.values,
                })
                .collect(),
        })
        .collect();
    serde_json::to_string(&cli).unwrap_or_default()
}

/// Buckets one fix names by ARN at most: CloudTrail takes 500 values across a trail's advanced
/// selectors and 250 data resources across its basic ones, and a command naming thousands
/// would be refused (and repeated in every bucket's blind spot). Beyond this, the fix records
/// every bucket's object events.
pub(super) const MAX_BUCKETS_NAMED: usize = 100;

/// The name of the selector a fix adds when it records every bucket.
pub(super) const EVERY_BUCKET: &str = "S3 object events on every bucket";

/// A selector recording every object of `buckets` (named by ARN, or, beyond
/// [`MAX_BUCKETS_NAMED`], every bucket but those `keep_out` leaves out: a trail records what any
/// selector matches, so the trail's exclusions are repeated here).
pub(super) fn new_advanced(
    names: &[&str],
    buckets: &[Bucket],
    keep_out: &[String],
) -> AdvancedSelector {
    if buckets.len() > MAX_BUCKETS_NAMED {
        let mut field_selectors = vec![
            FieldSelector {
                field: "eventCategory".into(),
                equals: vec!["Data".into()],
                ..FieldSelector::default()
            },
            FieldSelector {
                field: "resources.type".into(),
                equals: vec!["AWS::S3::Object".into()],
                ..FieldSelector::default()
            },
        ];
        if !keep_out.is_empty() {
            field_selectors.push(FieldSelector {
                field: "resources.ARN".into(),
                not_starts_with: keep_out.to_vec(),
                ..FieldSelector::default()
            });
        }
        return AdvancedSelector {
            name: Some(EVERY_BUCKET.into()),
            field_selectors,
        };
    }
    let name = match names {
        [one] => format!("S3 GetObject on {one}"),
        _ => format!("S3 GetObject on {} buckets", names.len()),
    };
    let field = |f: &str, v: Vec<String>, starts: bool| {
        let mut fs = FieldSelector {
            field: f.into(),
            ..FieldSelector::default()
        };
        if starts {
            fs.starts_with = v;
        } else {
            fs.equals = v;
        }
        fs
    };
    AdvancedSelector {
        name: Some(name),
        field_selectors: vec![
            field("eventCategory", vec!["Data".into()], false),
            field("resources.type", vec!["AWS::S3::Object".into()], false),
            field(
                "resources.ARN",
                buckets.iter().map(|b| b.base.clone()).collect(),
                true,
            ),
        ],
    }
}

/// The selectors that make every bucket of `fixing` fully recorded: `existing` with the
/// exclusions of those buckets removed where that alone records them (an exclusion is removed
/// only when every bucket of the inventory it leaves out is being fixed), then, for the
/// buckets still not recorded, one new selector. Also what was removed, for the reader.
///
/// `keep_exclusions`: an organisation trail's or store's exclusion may leave out buckets of
/// other accounts, which this inventory cannot see: it stays, and the buckets get a selector
/// of their own (a trail records what any of its selectors matches).
pub(super) fn advanced_fix(
    existing: &[AdvancedSelector],
    fixing: &[(&str, Bucket)],
    inventory: &[Bucket],
    keep_exclusions: bool,
) -> (Vec<AdvancedSelector>, Vec<String>) {
    let mut out = existing.to_vec();
    let mut removed = Vec::new();
    let fixed_base = |base: &str| fixing.iter().any(|(_, b)| b.base == base);
    for sel in out.iter_mut().filter(|_| !keep_exclusions) {
        let mut candidate = sel.clone();
        let mut gone = Vec::new();
        for f in candidate
            .field_selectors
            .iter_mut()
            .filter(|f| f.field.eq_ignore_ascii_case("resources.ARN"))
        {
            f.not_starts_with.retain(|v| {
                let ours = fixing
                    .iter()
                    .any(|(_, b)| selectors::excludes_bucket("NotStartsWith", v, b));
                let only_ours = inventory
                    .iter()
                    .filter(|b| selectors::excludes_bucket("NotStartsWith", v, b))
                    .all(|b| fixed_base(&b.base));
                if ours && only_ours {
                    gone.push(format!("{} NotStartsWith {v}", f.field));
                    false
                } else {
                    true
                }
            });
        }
        if gone.is_empty() {
            continue;
        }
        candidate.field_selectors.retain(|f| {
            !(f.equals.is_empty()
                && f.starts_with.is_empty()
                && f.ends_with.is_empty()
                && f.not_equals.is_empty()
                && f.not_starts_with.is_empty()
                && f.not_ends_with.is_empty())
        });
        // Keep the change only where it records a bucket in full that this selector did not.
        let helps = fixing.iter().any(|(_, b)| {
            selectors::advanced(std::slice::from_ref(&candidate), b) == Reach::All
                && selectors::advanced(std::slice::from_ref(sel), b) != Reach::All
        });
        if helps {
            *sel = candidate;
            removed.extend(gone);
        }
    }
    let (names, left): (Vec<&str>, Vec<Bucket>) = fixing
        .iter()
        .filter(|(_, b)| selectors::advanced(&out, b) != Reach::All)
        .map(|(n, b)| (*n, b.clone()))
        .unzip();
    if !left.is_empty() {
        // The exclusions the trail keeps that leave out none of these buckets.
        let mut keep_out: Vec<String> = out
            .iter()
            .flat_map(|sel| sel.field_selectors.iter())
            .filter(|f| f.field.eq_ignore_ascii_case("resources.ARN"))
            .flat_map(|f| f.not_starts_with.iter())
            .filter(|v| {
                !left
                    .iter()
                    .any(|b| selectors::excludes_bucket("NotStartsWith", v, b))
            })
            .cloned()
            .collect();
        keep_out.sort();
        keep_out.dedup();
        out.push(new_advanced(&names, &left, &keep_out));
    }
    (out, removed)
}

/// Basic selectors that record every object of the buckets: a new selector, or (a trail has at
/// most five) the buckets' ARNs added to the first selector that records reads.
pub(super) fn basic_fix(
    existing: &[BasicSelector],
    fixing: &[(&str, Bucket)],
) -> Vec<BasicSelector> {
    let mut out = existing.to_vec();
    let left: Vec<String> = fixing
        .iter()
        .filter(|(_, b)| selectors::basic(&out, b) != Reach::All)
        .map(|(_, b)| b.base.clone())
        .collect();
    if left.is_empty() {
        return out;
    }
    // Too many to name: every bucket (`arn:aws:s3`, the partition's prefix).
    let values = if left.len() > MAX_BUCKETS_NAMED {
        let all = left[0]
            .split(":::")
            .next()
            .unwrap_or("arn:aws:s3")
            .to_string();
        vec![all]
    } else {
        left
    };
    let resource = DataResource {
        kind: "AWS::S3::Object".into(),
        values,
    };
    let reads = out
        .iter_mut()
        .find(|s| !s.read_write_type.eq_ignore_ascii_case("WriteOnly"));
    match reads {
        Some(s) if existing.len() >= 5 => s.data_resources.push(resource),
        _ => out.push(BasicSelector {
            read_write_type: "All".into(),
            include_management_events: false,
            data_resources: vec![resource],
        }),
    }
    out
}

/// An SCP statement denying `actions` on the bucket to everyone but an administrators' role
/// (a placeholder to name), in IAM's element order.
pub(super) fn scp_statement(actions: &[&str], bucket_arn: &str) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Statement<'a> {
        sid: &'a str,
        effect: &'a str,
        action: &'a [&'a str],
        resource: &'a str,
        condition: serde_json::Value,
    }
    let s = Statement {
        sid: "ProtectBucket",
        effect: "Deny",
        action: actions,
        resource: bucket_arn,
        condition: serde_json::json!({
            "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/<your-admin-role>"}
        }),
    };
    serde_json::to_string(&s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_quotes_what_the_shell_would_read() {
        assert_eq!(sh("my-bucket.logs"), "my-bucket.logs");
        assert_eq!(sh(""), "''");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh("a b$(x)\n"), "'a b$(x)\n'");
        assert_eq!(sh("~x"), "'~x'");
    }

    #[test]
    fn cli_json_uses_the_cli_names_and_omits_empty_operators() {
        let b = Bucket::new("b", "us-east-1");
        let json = advanced_json(&[new_advanced(&["b"], &[b], &[])]);
        assert_eq!(
            json,
            r#"[{"Name":"S3 GetObject on b","FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]},{"Field":"resources.ARN","StartsWith":["arn:aws:s3:::b/"]}]}]"#
        );
    }
}
