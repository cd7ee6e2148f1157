//! Number formatting and escaping shared by every renderer.

/// `1234567.891` with 2 decimals → `1,234,567.89`.
pub fn num(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s.as_str(), None),
    };
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    if v < 0.0 && out.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.insert(0, '-');
    }
    out
}

/// Dollars: `$1,234.56`.
pub fn usd(v: f64) -> String {
    if v < 0.0 {
        format!("-${}", num(-v, 2))
    } else {
        format!("${}", num(v, 2))
    }
}

/// Usage with its unit: GB with one decimal, requests as whole numbers.
pub fn usage(v: f64, unit: &str) -> String {
    if unit.eq_ignore_ascii_case("GB") {
        format!("{} GB", num(v, 1))
    } else {
        format!("{} {}", num(v, 0), unit.to_lowercase())
    }
}

/// Percent over expected, or "new" when nothing was expected.
pub fn pct(p: Option<f64>) -> String {
    match p {
        Some(p) => format!("+{}%", num(p, 0)),
        None => "new".to_string(),
    }
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
