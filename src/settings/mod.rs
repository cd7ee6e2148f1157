//! Settings helpers: what every component needs to read its own part of the config file.
//!
//! Each component owns its settings beside its code: the table as written (`Raw…`, every field
//! optional, deserialized by serde), the validated form, and the validation, which goes through
//! a [`Check`]. `Check` knows the file's text, so every error names file, line and key path
//! (`egresswatch.toml:12:1: detect.min_robust_z: …`), and it collects errors instead of stopping
//! at the first, so that one `check-config` lists every problem. `config` composes the
//! components' tables and checks only what spans tables. Secrets never pass through here: a
//! [`SecretSource`] names where one is read, when it is needed.
//!
//! This is a leaf: it imports nothing of the crate but the model.

pub mod errors;
pub mod locate;
pub mod secret;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use toml_edit::Document;

use crate::model::Family;
pub use locate::Seg;
use locate::{display_path, line_col, span_of};
pub use secret::{Secret, SecretError, SecretSource, UnreadableSecret};

/// One problem in a config file, with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.key, self.message)
        }
    }
}

/// A key path from plain keys.
pub fn keys(path: &[&str]) -> Vec<Seg> {
    path.iter().map(|k| Seg::Key((*k).to_string())).collect()
}

/// `base` with one more key.
pub fn with(base: &[Seg], key: &str) -> Vec<Seg> {
    let mut v = base.to_vec();
    v.push(Seg::Key(key.to_string()));
    v
}

/// `base` with one more array index.
pub fn at_index(base: &[Seg], index: usize) -> Vec<Seg> {
    let mut v = base.to_vec();
    v.push(Seg::Index(index));
    v
}

/// The typed readers of one config file: each reads a value, checks it, and on a bad value
/// records an error at the value's line and returns the default, so validation goes on.
pub struct Check<'a> {
    text: &'a str,
    label: &'a str,
    doc: &'a Document<String>,
    errors: Vec<ConfigError>,
}

impl<'a> Check<'a> {
    pub fn new(text: &'a str, label: &'a str, doc: &'a Document<String>) -> Self {
        Check {
            text,
            label,
            doc,
            errors: Vec::new(),
        }
    }

    /// An error at a byte span of the file (or at no place).
    pub fn error_at(
        &self,
        span: Option<std::ops::Range<usize>>,
        key: String,
        message: String,
    ) -> ConfigError {
        error_at(self.text, self.label, span, key, message)
    }

    /// Record an error at `path`.
    pub fn fail(&mut self, path: &[Seg], message: impl Into<String>) {
        let err = self.error_at(span_of(self.doc, path), display_path(path), message.into());
        self.errors.push(err);
    }

    /// Record an error that was found elsewhere (the deserializer's).
    pub fn push(&mut self, e: ConfigError) {
        self.errors.push(e);
    }

    /// The errors recorded so far.
    pub fn into_errors(self) -> Vec<ConfigError> {
        self.errors
    }

    pub fn int(&mut self, path: &[Seg], v: Option<i64>, default: u32, min: i64, max: i64) -> u32 {
        match v {
            None => default,
            Some(x) if (min..=max).contains(&x) => x as u32,
            Some(x) => {
                self.fail(path, format!("{x} is out of range ({min} to {max})"));
                default
            }
        }
    }

    /// A finite number in `[min, max]` (or `(min, max]` when `exclusive_min`).
    pub fn num(
        &mut self,
        path: &[Seg],
        v: Option<f64>,
        default: f64,
        range: (f64, f64),
        exclusive_min: bool,
    ) -> f64 {
        let (min, max) = range;
        match v {
            None => default,
            Some(x) if x.is_finite() && (x > min || (!exclusive_min && x == min)) && x <= max => x,
            Some(x) => {
                let lo = if exclusive_min {
                    "greater than"
                } else {
                    "at least"
                };
                let hi = if max.is_finite() {
                    format!(" and at most {max}")
                } else {
                    String::new()
                };
                self.fail(path, format!("{x} must be a finite number {lo} {min}{hi}"));
                default
            }
        }
    }

    pub fn family(&mut self, path: &[Seg], name: &str) -> Option<Family> {
        match name.parse::<Family>() {
            Ok(f) => Some(f),
            Err(e) => {
                self.fail(path, e);
                None
            }
        }
    }

    /// A list of CIDRs (a bare IP address is its /32 or /128).
    pub fn cidrs(
        &mut self,
        base: &[Seg],
        key: &str,
        list: Option<Vec<String>>,
    ) -> Vec<ipnet::IpNet> {
        let mut out = Vec::new();
        for (i, c) in list.unwrap_or_default().iter().enumerate() {
            let parsed = c
                .parse::<ipnet::IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(n) => out.push(n),
                Err(_) => self.fail(
                    &at_index(&with(base, key), i),
                    format!("`{c}` is not a CIDR (like 203.0.113.0/24) or an IP address"),
                ),
            }
        }
        out
    }

    /// A secret named by an environment variable (`env_key`) or a file (`file_key`), not both;
    /// `default_env` when neither is given.
    ///
    /// These keys name where a secret is, never the secret: a value with the shape of one (a
    /// URL, `whsec_…`, a Slack host, a long random token; see [`secret::looks_like_secret`]) is
    /// refused with a message that names the key and never repeats the value.
    pub fn secret(
        &mut self,
        base: &[Seg],
        (env_key, env): (&str, Option<String>),
        (file_key, file): (&str, Option<String>),
        default_env: Option<&str>,
    ) -> Option<SecretSource> {
        let mut pasted = false;
        if env.as_deref().is_some_and(secret::looks_like_secret) {
            self.fail(
                &with(base, env_key),
                "a secret seems to have been pasted here (the value is not shown): this key takes \
                 the name of an environment variable (letters, digits, _), not the URL itself nor \
                 any other secret; put the secret in that variable",
            );
            pasted = true;
        }
        if file.as_deref().is_some_and(secret::looks_like_secret) {
            self.fail(
                &with(base, file_key),
                "a secret seems to have been pasted here (the value is not shown): this key takes \
                 the path of a file that holds the secret, not the secret itself",
            );
            pasted = true;
        }
        if pasted {
            return None;
        }
        match (env, file) {
            (Some(_), Some(_)) => {
                self.fail(
                    &with(base, file_key),
                    format!("give either {env_key} or {file_key}, not both"),
                );
                None
            }
            (Some(env), None) => {
                let valid = !env.is_empty()
                    && !env.starts_with(|c: char| c.is_ascii_digit())
                    && env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if valid {
                    Some(SecretSource::Env(env))
                } else {
                    self.fail(
                        &with(base, env_key),
                        "must be the name of an environment variable (letters, digits, _), not the URL itself (the value is not shown)",
                    );
                    None
                }
            }
            (None, Some(file)) if file.trim().is_empty() => {
                self.fail(&with(base, file_key), "must not be empty");
                None
            }
            (None, Some(file)) => Some(SecretSource::File(PathBuf::from(file))),
            (None, None) => default_env.map(|e| SecretSource::Env(e.into())),
        }
    }

    /// `timeout_seconds` under `base`: more than 0, at most 300, 10 by default.
    pub fn timeout(&mut self, base: &[Seg], v: Option<f64>) -> Duration {
        Duration::from_secs_f64(self.num(
            &with(base, "timeout_seconds"),
            v,
            10.0,
            (0.0, 300.0),
            true,
        ))
    }
}

/// An error in `text` (named `label`) at a byte span.
pub fn error_at(
    text: &str,
    label: &str,
    span: Option<std::ops::Range<usize>>,
    key: String,
    message: String,
) -> ConfigError {
    let (line, column) = match span {
        Some(s) => {
            let (l, c) = line_col(text, s.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    ConfigError {
        file: label.to_string(),
        line,
        column,
        key,
        message,
    }
}
