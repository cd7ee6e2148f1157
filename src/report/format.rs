//! Escaping and cutting shared by every renderer (numbers: [`crate::model::units`]).

pub use crate::model::units::{num, pct, usage, usd};

/// Escape text for Slack mrkdwn. Everything that came from AWS or logs passes through here:
/// `<!channel>` or `<https://evil|click>` must arrive as visible text, not a mention or a link.
pub fn mrkdwn(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // Control characters have no business in a report line.
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
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
}
