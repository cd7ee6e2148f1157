//! Units and how figures read: bytes per GB, UTC midnights, and numbers written for people.
//!
//! Cost Explorer's "GB" is 2^30 bytes (a GiB); CloudWatch and CloudTrail count bytes. Every
//! stage converts with [`BYTES_PER_GB`], and every figure a person reads is written by the
//! functions here, so that the terminal, the messages and the HTML agree to the digit.

use chrono::{DateTime, NaiveDate, Utc};

/// Bytes in one billed GB (Cost Explorer's GB is 2^30 bytes).
pub const BYTES_PER_GB: f64 = 1_073_741_824.0;

/// The UTC midnight that starts `day`.
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// The UTC midnight that starts `day`, in seconds since the epoch.
pub fn midnight_epoch(day: NaiveDate) -> i64 {
    midnight(day).timestamp()
}

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
