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
//! stripped from reqwest's errors. Redirects are never followed: a 3xx is a failed attempt (the
//! body and the `webhook-signature` never go to a host nobody configured, and the `Location`,
//! which may embed a secret, is never printed). What the receiver answers on a failure is read
//! up to [`MAX_ERROR_BODY`] bytes and kept as one short line.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use crate::settings::errors::{human_error, one_line, MAX_ERROR_CHARS};
use crate::settings::secret::{looks_like_secret, NOT_SHOWN};
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

/// The most of a receiver's error body that is read (the rest is never downloaded).
pub const MAX_ERROR_BODY: usize = 4096;

/// The most of it that is kept, in characters.
const KEPT_ERROR_BODY: usize = 200;

/// The start of a receiver's error body as one short line: at most [`MAX_ERROR_BODY`] bytes
/// read, control characters out, anything shaped like a secret (a URL, a token) masked.
async fn error_body(resp: &mut reqwest::Response) -> String {
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < MAX_ERROR_BODY {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ERROR_BODY - buf.len();
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let line = one_line(&text, MAX_ERROR_BODY);
    let masked: Vec<&str> = line
        .split(' ')
        .map(|w| if looks_like_secret(w) { NOT_SHOWN } else { w })
        .collect::<Vec<_>>();
    one_line(&masked.join(" "), KEPT_ERROR_BODY)
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
            return super::file::append(path, &msg.payload).map_err(|e| {
                fail(
                    true,
                    one_line(&format!("writing {}: {e}", path.display()), MAX_ERROR_CHARS),
                )
            });
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
    let mut resp = req.send().await.map_err(|e| {
        fail(
            true,
            format!(
                "could not reach the receiver: {}",
                human_error(&e.without_url())
            ),
        )
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    if status.is_redirection() {
        // Never followed, never retried within the run: the message stays queued until the
        // configured URL is the receiver's real one. The Location is not shown (secrets).
        return Err(fail(
            false,
            format!(
                "the receiver answered {} and redirected to another location; egresswatch does \
                 not follow redirects (configure the final URL)",
                status.as_u16()
            ),
        ));
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(60)));
    let body = error_body(&mut resp).await;
    drop(resp);
    let message = one_line(
        &format!("the receiver answered HTTP status {status}: {body}"),
        MAX_ERROR_CHARS,
    );
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
        // A redirect would carry the body and the signature to a host nobody configured (and
        // may downgrade https to http): none is followed, a 3xx is a failed attempt.
        .redirect(reqwest::redirect::Policy::none())
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
