//! A string that must never reach a log, an error message or the terminal.
//!
//! Webhook URLs (Slack, Teams, the signed webhook) and signing secrets are bearer credentials:
//! whoever has one can post to the channel. They come from the environment or a file (named by
//! a [`SecretSource`]) and live only inside [`Secret`], whose `Debug` and `Display` print a
//! placeholder. A secret pasted where its variable's name or file's path belongs is recognised
//! by its shape ([`looks_like_secret`]): the config refuses it, and every message that names a
//! source ([`SecretSource`]'s `Display`, [`SecretError`]) shows [`NOT_SHOWN`] in its place.

use std::fmt;
use std::path::PathBuf;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// A URL with everything but scheme and host hidden (`https://hooks.slack.com/****`), for
    /// `check-config`; anything that is not a URL is fully hidden.
    pub fn masked_url(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(u) if u.host_str().is_some() => {
                format!("{}://{}/****", u.scheme(), u.host_str().unwrap_or(""))
            }
            _ => "****".into(),
        }
    }

    /// The secret itself; call only where it is handed to the transport.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret is read from. The secret itself never passes through the config.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// The largest secret file read: a webhook URL or a signing secret is far smaller.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Why a secret could not be read. Names where it was looked for, never what was found; a
/// variable name or path that itself looks like a secret is not shown either.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretError {
    /// The environment variable is not set (or not valid UTF-8).
    Unset(String),
    /// The file cannot be read: its path and why.
    Unreadable(PathBuf, String),
    /// What was read is empty (after trimming).
    Empty(SecretSource),
    /// The file is larger than any secret.
    TooLarge(PathBuf),
}

impl SecretError {
    /// An environment variable that is not set (as opposed to one that is set but unusable).
    pub fn is_unset(&self) -> bool {
        matches!(self, SecretError::Unset(_))
    }
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::Unset(name) => {
                write!(f, "environment variable {} is not set", shown(name))
            }
            SecretError::Unreadable(path, why) => write!(
                f,
                "cannot read the file {}: {why}",
                shown(&path.to_string_lossy())
            ),
            SecretError::Empty(source) => write!(f, "the {source} is empty"),
            SecretError::TooLarge(path) => write!(
                f,
                "the file {} is larger than {} KiB: not a secret",
                shown(&path.to_string_lossy()),
                MAX_SECRET_FILE / 1024
            ),
        }
    }
}

impl std::error::Error for SecretError {}

/// A configured secret that cannot be read or used, with the key that names its source
/// (`notify.webhook.secret_file`): a configuration error (exit 2), never "send without it".
#[derive(Debug, Clone, PartialEq)]
pub struct UnreadableSecret {
    /// The key path, e.g. `notify.webhook.secret_file`.
    pub key: String,
    /// What the secret is ("the webhook's signing secret").
    pub what: String,
    /// Why it cannot be used, naming where it was looked for and never what was found.
    pub problem: String,
}

impl fmt::Display for UnreadableSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.key, self.what, self.problem)
    }
}

impl std::error::Error for UnreadableSecret {}

impl SecretSource {
    /// Read the secret. Errors name where it was looked for, never what was found.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let value = match self {
            SecretSource::Env(name) => {
                std::env::var(name).map_err(|_| SecretError::Unset(name.clone()))?
            }
            SecretSource::File(path) => read_bounded(path)?,
        };
        let value = value.trim().to_string();
        if value.is_empty() {
            return Err(SecretError::Empty(self.clone()));
        }
        Ok(Secret::new(value))
    }
}

/// A secret file, at most [`MAX_SECRET_FILE`] bytes (a path to `/dev/zero` or a log file must
/// not fill memory).
fn read_bounded(path: &std::path::Path) -> Result<String, SecretError> {
    use std::io::Read;
    let why = |e: std::io::Error| {
        // The io error's text, without anything it may quote.
        let text = match e.kind() {
            std::io::ErrorKind::InvalidData => "it is not UTF-8 text".to_string(),
            _ => e.to_string(),
        };
        SecretError::Unreadable(path.to_path_buf(), text)
    };
    let f = std::fs::File::open(path).map_err(why)?;
    let mut buf = Vec::new();
    f.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(why)?;
    if buf.len() as u64 > MAX_SECRET_FILE {
        return Err(SecretError::TooLarge(path.to_path_buf()));
    }
    String::from_utf8(buf).map_err(|_| {
        SecretError::Unreadable(path.to_path_buf(), "it is not UTF-8 text".to_string())
    })
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(n) => write!(f, "environment variable {}", shown(n)),
            SecretSource::File(p) => write!(f, "file {}", shown(&p.to_string_lossy())),
        }
    }
}

/// What is shown in place of a name or path that looks like a secret.
pub const NOT_SHOWN: &str = "<a value that looks like a secret, not shown>";

/// `s`, or [`NOT_SHOWN`] when it has the shape of a secret: for every message that names where
/// a secret is read from, in case a secret was pasted where its name or path belongs.
pub fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    if looks_like_secret(s) {
        std::borrow::Cow::Borrowed(NOT_SHOWN)
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Whether `s` has the shape of a secret rather than of an environment variable's name or a
/// file's path: a URL (`https://…`), a Slack or Teams webhook host, a Standard Webhooks secret
/// (`whsec_…`), a Slack token (`xox…-`), or a long random-looking token (base64 or hex).
pub fn looks_like_secret(s: &str) -> bool {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    if lower.contains("://")
        || lower.starts_with("whsec_")
        || lower.contains("hooks.slack.com")
        || lower.contains("webhook.office.com")
        || lower.contains("logic.azure.com")
    {
        return true;
    }
    if ["xoxb-", "xoxp-", "xoxa-", "xoxs-", "xapp-"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return true;
    }
    // Base64 as a whole (with `+`, `/`, `=` padding), not a path.
    let b64 = !t.starts_with('/')
        && !t.starts_with('.')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        && token_like(&t.replace(['+', '/', '='], ""));
    b64 || t.split(['/', '.', '_', '-', '\\', ' ']).any(token_like)
}

/// One word of a name or path that looks random: long hex, or long base62/64 whose character
/// classes (lower, upper, digit) change as often as in a random key (a CamelCase name changes
/// only at its word starts).
fn token_like(w: &str) -> bool {
    let len = w.chars().count();
    if len < 20
        || !w
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '=')
    {
        return false;
    }
    let digits = w.chars().filter(|c| c.is_ascii_digit()).count();
    if w.chars().all(|c| c.is_ascii_hexdigit()) && digits * 5 >= len {
        return true;
    }
    let class = |c: char| {
        if c.is_ascii_digit() {
            0
        } else if c.is_ascii_lowercase() {
            1
        } else {
            2
        }
    };
    let chars: Vec<u8> = w.chars().map(class).collect();
    let changes = chars.windows(2).filter(|p| p[0] != p[1]).count();
    let mixed = chars.contains(&1) && chars.contains(&2);
    digits >= 2 && mixed && changes * 20 >= len * 9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_its_value() {
        let s = Secret::new("https://hooks.slack.com/services/T000/B000/XXXX");
        assert!(!format!("{s}").contains("hooks"));
        assert!(!format!("{s:?}").contains("hooks"));
        assert_eq!(
            s.expose(),
            "https://hooks.slack.com/services/T000/B000/XXXX"
        );
        assert_eq!(s.masked_url(), "https://hooks.slack.com/****");
        assert_eq!(Secret::new("whsec_abc").masked_url(), "****");
    }

    #[test]
    fn secret_shapes_are_recognised_and_names_and_paths_are_not() {
        for secret in [
            "https://hooks.slack.com/services/T000/B000/XXXX",
            "hooks.slack.com/services/T000/B000/XXXX",
            "http://127.0.0.1:9/hook",
            "https://prod-01.westus.logic.azure.com:443/workflows/abc",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "q1Jx8mV3+Zr0/Kp7LwT5nB2cY9dHs4fGa6eUo1iXk0Q=",
            "3f2a9c0d11e4b7a23f2a9c0d11e4b7a2",
            "xoxb-1234-5678-abcdef",
            "/run/secrets/MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ] {
            assert!(looks_like_secret(secret), "{secret}");
            assert_eq!(shown(secret), NOT_SHOWN);
        }
        for name in [
            "EGRESSWATCH_WEBHOOK_SECRET",
            "EGRESSWATCH_SLACK_WEBHOOK_URL",
            "MY_COMPANY_PRODUCTION_EGRESSWATCH_SLACK_WEBHOOK_URL_2",
            "SLACKHOOKPRODUCTIONCHANNEL2024X",
            "/run/secrets/egresswatch-webhook-secret",
            "/etc/egresswatch/EgressWatchSlackHook2024Prod",
            "EgressWatchSlackHook2024Prod",
            "./secrets/slack-url.txt",
            "/nonexistent",
            "/var/lib/kubelet/pods/123e4567-e89b-12d3-a456-426614174000/volumes/hook",
        ] {
            assert!(!looks_like_secret(name), "{name}");
            assert_eq!(shown(name), name);
        }
    }

    #[test]
    fn errors_name_the_place_and_mask_a_pasted_secret() {
        let e = SecretSource::Env("EGRESSWATCH_TEST_SURELY_UNSET_9".into())
            .resolve()
            .unwrap_err();
        assert!(e.is_unset());
        assert_eq!(
            e.to_string(),
            "environment variable EGRESSWATCH_TEST_SURELY_UNSET_9 is not set"
        );
        let pasted = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let e = SecretSource::Env(pasted.into()).resolve().unwrap_err();
        assert!(!e.to_string().contains("MfKQ9r8"), "{e}");
        let url = "https://hooks.slack.com/services/T000/B000/XXXX";
        let e = SecretSource::File(url.into()).resolve().unwrap_err();
        assert!(!e.to_string().contains("hooks.slack"), "{e}");
        assert!(!SecretSource::File(url.into()).to_string().contains("hooks"));
        let e = SecretSource::File("/nonexistent".into())
            .resolve()
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read the file /nonexistent: "),
            "{e}"
        );
    }

    #[test]
    fn a_huge_file_is_not_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big");
        std::fs::write(&f, vec![b'a'; 70 * 1024]).unwrap();
        let e = SecretSource::File(f).resolve().unwrap_err();
        assert!(matches!(e, SecretError::TooLarge(_)), "{e}");
    }
}
