//! Errors for people: one short line that names what went wrong, never a debug dump.
//!
//! The AWS SDK's and reqwest's errors are chains: "dispatch failure" → "io error" → "client
//! error (Connect)" → "tcp connect error" → "Connection refused (os error 111)", and their
//! `Debug` (which `DisplayErrorContext` appends) is a nest of `{ … }` structs with headers and
//! request ids. [`human_error`] walks the chain and says the kind (timeout, cannot resolve host,
//! TLS, connection refused, HTTP status, no AWS credentials, the service's own code and message),
//! or else the innermost readable message, cut to one line of at most [`MAX_ERROR_CHARS`].
//!
//! A leaf, like the rest of `settings`: every source may use it.

use std::error::Error;

/// The longest error line [`human_error`] returns, in characters.
pub const MAX_ERROR_CHARS: usize = 300;

/// What kind of failure a chain is, most telling first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Credentials,
    Dns,
    Tls,
    Timeout,
    Refused,
    Closed,
}

/// Levels that only say which layer failed ("dispatch failure", "io error"): never the cause.
const GENERIC: &[&str] = &[
    "dispatch failure",
    "io error",
    "other",
    "user error",
    "timeout",
    "service error",
    "response error",
    "failed to construct request",
    "unhandled error",
    "error sending request",
    "client error (connect)",
    "client error (sendrequest)",
    "tcp connect error",
    "error trying to connect",
    "builder error",
    "request or response body error",
    "error decoding response body",
];

/// One short line for a person: the kind of failure and its innermost readable cause.
pub fn human_error(e: &(dyn Error + 'static)) -> String {
    let mut kind: Option<Kind> = None;
    let mut status: Option<u16> = None;
    let mut service: Option<String> = None;
    let mut readable: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn Error + 'static)> = Some(e);
    let mut depth = 0;
    while let Some(level) = cur {
        depth += 1;
        if depth > 32 {
            break;
        }
        let mut found = |k: Kind| kind = Some(kind.map_or(k, |old| old.min(k)));
        if let Some(m) = level.downcast_ref::<aws_smithy_types::error::ErrorMetadata>() {
            let text = match (m.code(), m.message()) {
                (Some(c), Some(msg)) => format!("{c}: {msg}"),
                (Some(c), None) => c.to_string(),
                (None, Some(msg)) => msg.to_string(),
                (None, None) => String::new(),
            };
            if !text.is_empty() {
                service.get_or_insert(text);
            }
            cur = level.source();
            continue;
        }
        if let Some(io) = level.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => found(Kind::Refused),
                K::TimedOut => found(Kind::Timeout),
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    found(Kind::Closed)
                }
                _ => {}
            }
        }
        if let Some(r) = level.downcast_ref::<reqwest::Error>() {
            if r.is_timeout() {
                found(Kind::Timeout);
            }
            if let Some(s) = r.status() {
                status.get_or_insert(s.as_u16());
            }
        }
        let text = match level.downcast_ref::<reqwest::Error>() {
            // reqwest's Display carries the URL, which may be a secret.
            Some(_) => String::new(),
            None => one_line(&level.to_string(), MAX_ERROR_CHARS),
        };
        let lower = text.to_ascii_lowercase();
        if lower.contains("credential") {
            found(Kind::Credentials);
        }
        if [
            "dns error",
            "failed to lookup address",
            "name or service not known",
        ]
        .iter()
        .chain(&["nodename nor servname", "no such host", "name resolution"])
        .any(|p| lower.contains(p))
        {
            found(Kind::Dns);
        }
        if [
            "certificate",
            "tls",
            "handshake",
            "ssl",
            "corrupt message",
            "fatal alert",
        ]
        .iter()
        .chain(&["peer is incompatible", "peer misbehaved", "unknownissuer"])
        .any(|p| lower.contains(p))
        {
            found(Kind::Tls);
        }
        if lower.contains("timed out") || lower.contains("deadline has elapsed") {
            found(Kind::Timeout);
        }
        if lower.contains("connection refused") {
            found(Kind::Refused);
        }
        if lower.contains("connection reset")
            || lower.contains("connection closed")
            || lower.contains("broken pipe")
        {
            found(Kind::Closed);
        }
        if !text.is_empty() && !is_debug_dump(&text) && !GENERIC.contains(&lower.trim()) {
            readable.push(text);
        }
        cur = level.source();
    }
    let innermost = readable.last().cloned().unwrap_or_default();
    let with = |head: &str| {
        if innermost.is_empty() || innermost.eq_ignore_ascii_case(head) {
            head.to_string()
        } else {
            format!("{head}: {innermost}")
        }
    };
    let line = match (kind, &service, status) {
        (Some(Kind::Credentials), _, _) => with("no AWS credentials found"),
        (_, Some(s), _) => s.clone(),
        (_, None, Some(n)) => format!("HTTP status {n}"),
        (Some(Kind::Dns), ..) => with("cannot resolve host"),
        (Some(Kind::Tls), ..) => with("TLS error"),
        (Some(Kind::Timeout), ..) => "timed out".to_string(),
        (Some(Kind::Refused), ..) => "connection refused".to_string(),
        (Some(Kind::Closed), ..) => with("the connection was closed"),
        (None, None, None) if !innermost.is_empty() => innermost,
        (None, None, None) => match readable.first() {
            Some(t) => t.clone(),
            // reqwest's own text may carry the URL.
            None if e.is::<reqwest::Error>() => "the HTTP request failed".to_string(),
            None => one_line(&e.to_string(), MAX_ERROR_CHARS),
        },
    };
    let line = strip_debug(&line);
    one_line(&line, MAX_ERROR_CHARS)
}

/// Whether a level's text is a `Debug` dump (`Foo { a: 1 }`, `Some(…)`) rather than a message.
fn is_debug_dump(s: &str) -> bool {
    (s.contains(" { ") && s.contains('}')) || s.contains("Some(") || s.contains(": None")
}

/// Cut a message at the first `Debug` struct it holds (`… (DispatchFailure(DispatchFailure {`).
fn strip_debug(s: &str) -> String {
    let mut cut: Option<usize> = None;
    for p in [
        "Some(",
        "(DispatchFailure",
        "(ConnectorError",
        "(ProviderChainError",
    ] {
        if let Some(i) = s.find(p) {
            cut = Some(cut.map_or(i, |c| c.min(i)));
        }
    }
    if let Some(i) = s.find(" { ") {
        // The struct's name is the word before the brace.
        let start = s[..i]
            .rfind(|c: char| c.is_whitespace() || c == '(')
            .map_or(0, |j| j);
        cut = Some(cut.map_or(start, |c| c.min(start)));
    }
    match cut {
        Some(i) => {
            let out = s[..i].trim_end_matches([' ', '(', ':', ',']).trim();
            if out.is_empty() {
                "an error with no readable description".to_string()
            } else {
                out.to_string()
            }
        }
        None => s.to_string(),
    }
}

/// `s` on one line of at most `max` characters: control and bidirectional-override characters
/// out, runs of whitespace collapsed, an ellipsis where it was cut.
pub fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let mut n = 0;
    let mut space = false;
    for c in s.chars() {
        let c = if c.is_whitespace() || c.is_control() {
            ' '
        } else {
            c
        };
        if matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
        {
            continue;
        }
        if c == ' ' {
            if space || n == 0 {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        if n == max.saturating_sub(1) {
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('…');
            return out;
        }
        out.push(c);
        n += 1;
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Chain(&'static str, Option<Box<dyn Error + 'static>>);
    impl std::fmt::Display for Chain {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Chain {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref()
        }
    }

    fn chain(levels: &[&'static str], last: Option<Box<dyn Error + 'static>>) -> Chain {
        let mut inner = last;
        for l in levels.iter().rev() {
            inner = Some(Box::new(Chain(l, inner)));
        }
        *inner.unwrap().downcast::<Chain>().unwrap()
    }

    #[test]
    fn names_the_kind_of_a_connection_failure() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let e = chain(
            &["dispatch failure", "io error", "client error (Connect)"],
            Some(Box::new(refused)),
        );
        assert_eq!(human_error(&e), "connection refused");
        let dns = chain(
            &[
                "dispatch failure",
                "io error",
                "client error (Connect)",
                "dns error",
                "failed to lookup address information: Name or service not known",
            ],
            None,
        );
        assert_eq!(
            human_error(&dns),
            "cannot resolve host: failed to lookup address information: Name or service not known"
        );
        let t = chain(&["request has timed out"], None);
        assert_eq!(human_error(&t), "timed out");
        let tls = chain(
            &[
                "error sending request",
                "invalid peer certificate: UnknownIssuer",
            ],
            None,
        );
        assert_eq!(
            human_error(&tls),
            "TLS error: invalid peer certificate: UnknownIssuer"
        );
        let creds = chain(
            &[
                "failed to construct request",
                "no providers in chain provided credentials",
            ],
            None,
        );
        assert_eq!(
            human_error(&creds),
            "no AWS credentials found: no providers in chain provided credentials"
        );
    }

    #[test]
    fn a_service_error_is_its_code_and_message() {
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code("AccessDeniedException")
            .message("User: arn:aws:iam::1:user/x is not authorized")
            .build();
        let e = chain(
            &["service error", "unhandled error (AccessDeniedException)"],
            Some(Box::new(meta)),
        );
        assert_eq!(
            human_error(&e),
            "AccessDeniedException: User: arn:aws:iam::1:user/x is not authorized"
        );
    }

    #[test]
    fn never_a_debug_dump_and_never_long() {
        let e = chain(
            &["dispatch failure (DispatchFailure(DispatchFailure { source: ConnectorError { kind: Io } }))"],
            None,
        );
        let h = human_error(&e);
        assert!(!h.contains('{') && !h.contains("DispatchFailure"), "{h}");
        let long = "x".repeat(5000) + "\n\u{1b}[31m\u{202e}";
        let h = one_line(&long, MAX_ERROR_CHARS);
        assert!(h.chars().count() <= MAX_ERROR_CHARS);
        assert!(!h.contains('\n') && !h.contains('\u{1b}') && !h.contains('\u{202e}'));
        assert_eq!(one_line("a\n\tb  c\r\n", 300), "a b c");
    }
}
