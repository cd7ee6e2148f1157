//! A string that must never reach a log, an error message or the terminal.
//!
//! Webhook URLs (Slack, Teams, the signed webhook) and signing secrets are bearer credentials:
//! whoever has one can post to the channel. They come from the environment or a file (named by
//! a [`SecretSource`]) and live only inside [`Secret`], whose `Debug` and `Display` print a
//! placeholder.

use std::fmt;
use std::path::PathBuf;

use anyhow::Context;

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

impl SecretSource {
    /// Read the secret. Errors name where it was looked for, never what was found.
    pub fn resolve(&self) -> anyhow::Result<Secret> {
        let value = match self {
            SecretSource::Env(name) => std::env::var(name).with_context(|| {
                format!("environment variable {name} is not set (the config names it for a secret)")
            })?,
            SecretSource::File(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading a secret from {}", path.display()))?,
        };
        let value = value.trim().to_string();
        if value.is_empty() {
            anyhow::bail!("the secret from {self} is empty");
        }
        Ok(Secret::new(value))
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(n) => write!(f, "environment variable {n}"),
            SecretSource::File(p) => write!(f, "file {}", p.display()),
        }
    }
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
}
