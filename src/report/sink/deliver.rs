//! Delivery: send an outbox message to its sink, with retries, and say what happened.
//!
//! Within one run a message is tried up to `max_attempts` times: exponential backoff with full
//! jitter from `backoff` (capped at 60 s); a 429 waits for its `Retry-After`; any other 4xx fails
//! at once (retrying a rejected payload or a revoked URL only hammers the receiver). Whatever
//! still fails stays in the outbox for the next run. Every request carries the message's
//! idempotency key (`Idempotency-Key`, and `webhook-id` for the signed webhook), so a receiver
//! that deduplicates sees one message however often it is re-sent.
//!
//! URLs are credentials: they are checked (https, or http to loopback only), never logged, and
//! stripped from reqwest's errors.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use crate::settings::Secret;
use crate::state::OutboxMessage;

/// Retries within one run (a message that still fails stays queued for the next run).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    pub max_attempts: u32,
    /// The first backoff; doubled each retry, with jitter, up to 60 s.
    pub backoff: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            max_attempts: 4,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// Slack or Teams incoming webhook: POST the payload as is.
    Hook { url: Secret, timeout: Duration },
    /// The generic webhook: POST, signed with the Standard Webhooks scheme when a secret is set.
    Signed {
        url: Secret,
        secret: Option<Secret>,
        timeout: Duration,
    },
    /// A file (JSON Lines, appended) or stdout (`-`).
    File(std::path::PathBuf),
}

/// Check that a webhook URL is one we are willing to send to: HTTPS, or plain HTTP to loopback
/// (a local relay, or the tests). The error never contains the URL.
pub fn check_url(url: &Secret) -> anyhow::Result<reqwest::Url> {
    let u = reqwest::Url::parse(url.expose())
        .map_err(|_| anyhow!("the webhook URL is not a valid URL"))?;
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    };
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        _ => bail!("the webhook URL must use https (plain http only to a loopback address)"),
    }
}

/// The Standard Webhooks signature header value: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
/// with the secret `whsec_<base64>`.
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &str) -> anyhow::Result<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = secret.expose().trim();
    let key = key.strip_prefix("whsec_").unwrap_or(key);
    let key = b64
        .decode(key)
        .map_err(|_| anyhow!("the webhook signing secret must be `whsec_` followed by base64"))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key).map_err(|_| anyhow!("unusable signing secret"))?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", b64.encode(mac.finalize().into_bytes())))
}

/// One attempt's failure: whether it is worth another attempt, and after how long at least.
struct Failure {
    retry: bool,
    after: Option<Duration>,
    message: String,
}

async fn attempt(
    client: &reqwest::Client,
    target: &Target,
    msg: &OutboxMessage,
) -> Result<(), Failure> {
    let fail = |retry, message: String| Failure {
        retry,
        after: None,
        message,
    };
    let (url, timeout) = match target {
        Target::File(path) => {
            return super::file::append(path, &msg.payload)
                .map_err(|e| fail(true, format!("writing {}: {e}", path.display())));
        }
        Target::Hook { url, timeout } | Target::Signed { url, timeout, .. } => (url, *timeout),
    };
    let parsed = check_url(url).map_err(|e| fail(false, e.to_string()))?;
    let mut req = client
        .post(parsed)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", &msg.idempotency_key)
        .body(msg.payload.clone());
    if let Target::Signed { secret, .. } = target {
        let ts = chrono::Utc::now().timestamp();
        req = req
            .header("webhook-id", &msg.idempotency_key)
            .header("webhook-timestamp", ts.to_string());
        if let Some(s) = secret {
            let sig = sign(s, &msg.idempotency_key, ts, &msg.payload)
                .map_err(|e| fail(false, e.to_string()))?;
            req = req.header("webhook-signature", sig);
        }
    }
    let resp = req.send().await.map_err(|e| {
        fail(
            true,
            format!("could not reach the receiver: {}", e.without_url()),
        )
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(60)));
    let body: String = resp
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    let message = format!("the receiver answered {status}: {}", body.trim());
    Err(match status.as_u16() {
        429 => Failure {
            retry: true,
            after: retry_after.or(Some(Duration::from_secs(1))),
            message,
        },
        408 => Failure {
            retry: true,
            after: retry_after,
            message,
        },
        400..=499 => Failure {
            retry: false,
            after: None,
            message,
        },
        _ => Failure {
            retry: true,
            after: retry_after,
            message,
        },
    })
}

/// Send one message, retrying as configured. `Ok` once delivered; `Err` with the last reason.
/// `on_attempt` is told of every attempt's outcome (for the outbox's attempt count).
pub async fn deliver(
    client: &reqwest::Client,
    target: &Target,
    msg: &OutboxMessage,
    settings: &DeliverySettings,
    mut on_attempt: impl FnMut(Option<&str>),
) -> anyhow::Result<()> {
    let mut last = String::new();
    for n in 0..settings.max_attempts {
        match attempt(client, target, msg).await {
            Ok(()) => {
                on_attempt(None);
                return Ok(());
            }
            Err(f) => {
                on_attempt(Some(&f.message));
                tracing::warn!(sink = %msg.sink, message = msg.id, attempt = n + 1, error = %f.message, "delivery failed");
                last = f.message;
                if !f.retry || n + 1 == settings.max_attempts {
                    break;
                }
                let backoff = settings
                    .backoff
                    .saturating_mul(1 << n.min(16))
                    .min(Duration::from_secs(60));
                let jittered = backoff.mul_f64(rand::rng().random_range(0.5..1.0));
                let wait = f.after.map_or(jittered, |a| a.max(jittered));
                tokio::time::sleep(wait).await;
            }
        }
    }
    Err(anyhow!("{last}")).context(format!("delivering message {} to {}", msg.id, msg.sink))
}

/// The HTTP client every delivery shares.
pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("egresswatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_loopback() {
        assert!(check_url(&Secret::new("https://hooks.slack.com/services/T/B/X")).is_ok());
        assert!(check_url(&Secret::new("http://127.0.0.1:9999/hook")).is_ok());
        assert!(check_url(&Secret::new("http://[::1]:9999/hook")).is_ok());
        assert!(check_url(&Secret::new("http://localhost/hook")).is_ok());
        let e = check_url(&Secret::new("http://hooks.slack.com/services/T/B/X")).unwrap_err();
        assert!(!e.to_string().contains("hooks.slack.com"), "{e}");
        assert!(
            check_url(&Secret::new("http://10.0.0.1/hook")).is_err(),
            "private is not loopback"
        );
        assert!(check_url(&Secret::new("not a url")).is_err());
    }

    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        // The example from the Standard Webhooks specification.
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(sign(&Secret::new("whsec_not base64!"), "i", 1, "b").is_err());
    }
}
