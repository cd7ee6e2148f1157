//! The one sanitizer per target, and cutting: every path that puts a string from AWS or a log in
//! front of a person goes through here (numbers: [`crate::model::units`]).
//!
//! Every target drops what no reader should meet in a report line: control characters (C0, DEL,
//! C1: a terminal escape can rewrite the screen) and the Unicode bidirectional controls
//! (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C: `exe.txt` can read as `txt.exe`),
//! shown as `\u{fffd}` so that a reader sees something was there. Then each target escapes its
//! own syntax: [`terminal`], [`csv`], [`mrkdwn`] (Slack), [`teams`], [`html`]. Strings an attacker
//! chooses (user agents, principals, keys) are cut by [`display`] before layout, so one 8 KB user
//! agent cannot push an incident out of a message.

pub use crate::model::units::{num, pct, usage, usd};

/// Whether `c` must never reach a reader: a control character (line breaks included; callers
/// that keep them say so) or a bidirectional control.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
}

/// What replaces an unsafe character: a space for a control, a visible mark for a bidi control.
fn replacement(c: char) -> char {
    if c.is_control() {
        ' '
    } else {
        '\u{fffd}'
    }
}

/// For a terminal or a log line: unsafe characters replaced.
pub fn terminal(s: &str) -> String {
    s.chars()
        .map(|c| if is_unsafe(c) { replacement(c) } else { c })
        .collect()
}

/// An attacker-chosen string made fit for layout: unsafe characters replaced and cut to `max`
/// characters (the cut marked with an ellipsis), before any target's escaping.
pub fn display(s: &str, max: usize) -> String {
    truncate(&terminal(s), max)
}

/// Escape text for Slack mrkdwn. Everything that came from AWS or logs passes through here:
/// `<!channel>` or `<https://evil|click>` must arrive as visible text, not a mention or a link.
pub fn mrkdwn(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if is_unsafe(c) => out.push(replacement(c)),
            c => out.push(c),
        }
    }
    out
}

/// Escape text for Teams Markdown: every ASCII punctuation mark gets a backslash, so no link,
/// emphasis or autolinked URL can be smuggled in.
pub fn teams(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
            out.push(c);
        } else if is_unsafe(c) {
            out.push(replacement(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Escape text for HTML content and attribute values (line breaks kept).
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push('\n'),
            c if is_unsafe(c) => out.push(replacement(c)),
            c => out.push(c),
        }
    }
    out
}

/// A CSV field: a formula a spreadsheet would run is defused with a leading `'` (also behind a
/// tab, CR or LF, which spreadsheets strip), unsafe characters other than line breaks replaced,
/// and the field quoted when needed (RFC 4180).
pub fn csv(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if is_unsafe(c) && !matches!(c, '\n' | '\r' | '\t') {
                replacement(c)
            } else {
                c
            }
        })
        .collect();
    let trimmed = clean.trim_start_matches(['\t', '\r', '\n', ' ']);
    let s = if trimmed.starts_with(['=', '+', '-', '@']) || clean.starts_with(['\t', '\r']) {
        format!("'{clean}")
    } else {
        clean
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Cut `s` to at most `max` characters, marking the cut with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_and_signs() {
        assert_eq!(num(1234567.891, 2), "1,234,567.89");
        assert_eq!(num(999.0, 0), "999");
        assert_eq!(num(-1234.5, 1), "-1,234.5");
        assert_eq!(num(-0.001, 1), "0.0");
        assert_eq!(usd(1234.5), "$1,234.50");
        assert_eq!(usage(1500.26, "GB"), "1,500.3 GB");
        assert_eq!(usage(2_000_000.0, "Requests"), "2,000,000 requests");
        assert_eq!(pct(None), "new");
    }

    #[test]
    fn mrkdwn_defuses_mentions_and_links() {
        let e = mrkdwn("<!channel> <https://evil.example|click> & co\n");
        assert_eq!(
            e,
            "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; co "
        );
        assert!(!e.contains('<') && !e.contains('>'));
    }

    #[test]
    fn truncates_by_characters() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo wörld", 5), "héll…");
    }

    #[test]
    fn every_target_drops_controls_and_bidi_overrides() {
        let hostile = "a\u{202e}gpj.exe\u{1b}[2J\u{0}b\u{2066}c";
        for out in [
            terminal(hostile),
            mrkdwn(hostile),
            teams(hostile),
            html(hostile),
            csv(hostile),
            display(hostile, 100),
        ] {
            assert!(!out.chars().any(is_unsafe), "{out:?}");
            assert!(
                out.contains('\u{fffd}'),
                "a bidi control leaves a mark: {out:?}"
            );
        }
        assert_eq!(html("a\nb"), "a\nb", "HTML keeps line breaks");
    }

    #[test]
    fn csv_formulas_are_defused_behind_tabs_and_line_breaks() {
        for f in [
            "=1+1",
            "+1",
            "-1",
            "@SUM(A1)",
            "\t=1+1",
            "\r=1+1",
            "\n=HYPERLINK(\"x\")",
            " =1",
        ] {
            let out = csv(f);
            let inner = out.trim_start_matches('"');
            assert!(inner.starts_with('\''), "{f:?} → {out:?}");
        }
        assert_eq!(csv("plain"), "plain");
        assert_eq!(csv("a,b"), "\"a,b\"");
    }

    #[test]
    fn display_cuts_before_layout() {
        let ua = "x".repeat(8192);
        assert_eq!(display(&ua, 120).chars().count(), 120);
        assert!(display(&ua, 120).ends_with('…'));
        assert_eq!(display("aws-cli/2.15", 120), "aws-cli/2.15");
    }
}
