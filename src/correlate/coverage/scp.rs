//! Which service control policies deny the calls that open or destroy a bucket.
//!
//! An SCP is a Deny (or Allow) list: only its `Deny` statements can stop a call. A statement
//! certainly denies an action on a bucket when its `Action` matches the action, its `Resource`
//! the bucket's ARN and it has no `Condition`; a condition, or a `NotAction` / `NotResource`
//! that leaves the call in, makes it "possibly" (the request decides, or the statement is a
//! guard rail of another kind, such as a region lock). Actions match case-insensitively,
//! resources case-sensitively, both with `*` and `?` wildcards, as IAM does.

use serde_json::Value;

/// The calls whose denial protects a bucket from being opened up or destroyed.
pub(super) const GUARDED: &[&str] = &[
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutEncryptionConfiguration",
];

pub(super) const DENIES: &str = "denies";
pub(super) const POSSIBLY: &str = "possibly denies";

/// One Deny statement, as far as this module reads it.
#[derive(Debug, Clone)]
pub(super) struct Deny {
    /// `Action` (true) or `NotAction` (false), and its patterns.
    action_listed: bool,
    actions: Vec<String>,
    /// `Resource` (true) or `NotResource` (false); no element at all reads as `Resource: *`.
    resource_listed: bool,
    resources: Vec<String>,
    conditional: bool,
}

/// The Deny statements of a policy document, or why it cannot be read.
pub(super) fn parse(document: &str) -> Result<Vec<Deny>, String> {
    let doc: Value = serde_json::from_str(document).map_err(|e| format!("not JSON: {e}"))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        Some(_) => return Err("Statement is neither an object nor a list".into()),
        None => return Err("no Statement".into()),
    };
    let mut out = Vec::new();
    for (i, s) in statements.into_iter().enumerate() {
        let Value::Object(s) = s else {
            return Err(format!("statement {} is not an object", i + 1));
        };
        if s.get("Effect").and_then(Value::as_str) != Some("Deny") {
            continue;
        }
        let strings = |key: &str| -> Result<Option<Vec<String>>, String> {
            match s.get(key) {
                None => Ok(None),
                Some(Value::String(v)) => Ok(Some(vec![v.clone()])),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .map(Some)
                    .ok_or_else(|| format!("statement {}: {key} holds a non-string", i + 1)),
                Some(_) => Err(format!(
                    "statement {}: {key} is not a string or list",
                    i + 1
                )),
            }
        };
        let (action_listed, actions) = match (strings("Action")?, strings("NotAction")?) {
            (Some(a), _) => (true, a),
            (None, Some(a)) => (false, a),
            (None, None) => continue,
        };
        let (resource_listed, resources) = match (strings("Resource")?, strings("NotResource")?) {
            (Some(r), _) => (true, r),
            (None, Some(r)) => (false, r),
            (None, None) => (true, vec!["*".to_string()]),
        };
        let conditional = match s.get("Condition") {
            None | Some(Value::Null) => false,
            Some(Value::Object(c)) => !c.is_empty(),
            Some(_) => true,
        };
        out.push(Deny {
            action_listed,
            actions: actions.iter().map(|a| a.to_lowercase()).collect(),
            resource_listed,
            resources,
            conditional,
        });
    }
    Ok(out)
}

/// Whether the statements deny `action` on the resource `arn`: [`DENIES`], [`POSSIBLY`], or
/// not at all.
pub(super) fn certainty(statements: &[Deny], action: &str, arn: &str) -> Option<&'static str> {
    let action = action.to_lowercase();
    let mut best = None;
    for s in statements {
        let action_in = s.actions.iter().any(|p| glob(p, &action));
        let resource_in = s.resources.iter().any(|p| glob(p, arn));
        let verdict = match (s.action_listed, action_in, s.resource_listed, resource_in) {
            (true, false, _, _) | (false, true, _, _) => None,
            (_, _, true, false) | (_, _, false, true) => None,
            (true, true, true, true) if !s.conditional => Some(DENIES),
            _ => Some(POSSIBLY),
        };
        match verdict {
            Some(DENIES) => return Some(DENIES),
            Some(v) => best = Some(v),
            None => {}
        }
    }
    best
}

/// IAM's wildcard match: `*` any run of characters, `?` one character.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_iam() {
        assert!(glob("s3:delete*", "s3:deletebucket"));
        assert!(glob("*", "s3:putbucketacl"));
        assert!(glob("s3:put?ucket*", "s3:putbucketpolicy"));
        assert!(!glob("s3:putbucket*", "s3:putencryptionconfiguration"));
        assert!(glob("arn:aws:s3:::*", "arn:aws:s3:::b"));
        assert!(!glob("arn:aws:s3:::b/*", "arn:aws:s3:::b"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b*c", "aXbYbZ"));
        assert!(glob("", ""));
        assert!(!glob("", "x"));
    }

    #[test]
    fn statements_read_strings_or_lists() {
        let doc = r#"{"Statement":{"Effect":"Deny","Action":"S3:DeleteBucket","Resource":["arn:aws:s3:::b"]}}"#;
        let s = parse(doc).unwrap();
        assert_eq!(
            certainty(&s, "s3:DeleteBucket", "arn:aws:s3:::b"),
            Some(DENIES)
        );
        assert_eq!(certainty(&s, "s3:DeleteBucket", "arn:aws:s3:::c"), None);
        assert_eq!(certainty(&s, "s3:PutBucketAcl", "arn:aws:s3:::b"), None);
        let not_resource = r#"{"Statement":[{"Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::keep"}]}"#;
        let s = parse(not_resource).unwrap();
        assert_eq!(
            certainty(&s, "s3:DeleteBucket", "arn:aws:s3:::b"),
            Some(POSSIBLY)
        );
        assert_eq!(certainty(&s, "s3:DeleteBucket", "arn:aws:s3:::keep"), None);
        assert!(parse(r#"{"Statement":[1]}"#).is_err());
        assert!(parse(r#"{"Statement":[{"Effect":"Deny","Action":[1]}]}"#).is_err());
        assert!(parse("{").is_err());
    }
}
