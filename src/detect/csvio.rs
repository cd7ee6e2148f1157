//! `egresswatch detect`: the streaming detector on any `timestamp,value` CSV.
//!
//! This is how the detector is used outside the cost pipeline (CloudWatch exports, benchmark
//! series) and how it is scored. Input: a header `timestamp,value`, then one row per point,
//! timestamps `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS`, or ISO 8601 (`T`, fractions, `Z` or an
//! offset: read as UTC). Real files are taken as they are: CRLF, quoted fields, an empty value (a
//! gap: echoed, not judged), repeated or out-of-order timestamps (kept in input order, with a
//! warning: a clock change is no reason to refuse a series). Output: the input rows, in order,
//! with `expected,lower,upper,score,anomaly` appended. Every output row depends only on its own
//! and earlier input rows.

use std::io::Write;

use chrono::{NaiveDate, NaiveDateTime};

use super::online::{Direction, OnlineDetector, OnlineParams, Seasonality};

/// A parsed input: the raw fields (echoed back as given) and their parsed values.
pub struct CsvSeries<'a> {
    pub rows: Vec<(&'a str, &'a str)>,
    pub times: Vec<NaiveDateTime>,
    /// `None`: an empty value, a gap.
    pub values: Vec<Option<f64>>,
    /// What was taken as it is but a person should know (repeated or out-of-order timestamps,
    /// gaps), one line each.
    pub warnings: Vec<String>,
}

/// Parse a timestamp: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` (or with a `T`), with fractions of a
/// second, and ISO 8601 / RFC 3339 with `Z` or an offset (converted to UTC).
pub fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Some(t) = parse_fixed(s.as_bytes()) {
        return Some(t);
    }
    if s.len() == 10 {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    if let Ok(t) = chrono::DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.naive_utc());
    }
    let bare = s.strip_suffix('Z').unwrap_or(s);
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(bare, f).ok())
}

/// The fast path for the two fixed layouts (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS`): a million
/// rows spend most of their parse time here, and chrono's format-string parser is several
/// times slower. Anything unusual falls back to chrono.
fn parse_fixed(b: &[u8]) -> Option<NaiveDateTime> {
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() != 10 && b.len() != 19 {
        return None;
    }
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)?;
    if b.len() == 10 {
        return date.and_hms_opt(0, 0, 0);
    }
    if b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    date.and_hms_opt(digits(11..13)?, digits(14..16)?, digits(17..19)?)
}

/// Split one CSV line into fields (RFC 4180: a quoted field may hold commas and `""`). The
/// fields are the raw slices, quotes included.
fn fields(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&line[start..]);
    out
}

/// A field's text: surrounding spaces and quotes off, `""` as `"`.
fn unquote(f: &str) -> std::borrow::Cow<'_, str> {
    let f = f.trim();
    match f.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) if inner.contains("\"\"") => inner.replace("\"\"", "\"").into(),
        Some(inner) => inner.into(),
        None => f.into(),
    }
}

/// Read the CSV text. Errors name the line: `input.csv:17: `abc` is not a number`.
pub fn read<'a>(text: &'a str, label: &str) -> Result<CsvSeries<'a>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate();
    let header = loop {
        match lines.next() {
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((i, l)) => break (i, l),
            None => {
                return Err(format!(
                    "{label}: empty input (expected a header `timestamp,value`)"
                ))
            }
        }
    };
    let cols: Vec<String> = fields(header.1.strip_suffix('\r').unwrap_or(header.1))
        .iter()
        .map(|c| unquote(c).to_ascii_lowercase())
        .collect();
    if cols != ["timestamp", "value"] {
        return Err(format!(
            "{label}:{}: the header must be `timestamp,value`, found `{}`",
            header.0 + 1,
            header.1.trim()
        ));
    }
    let mut s = CsvSeries {
        rows: Vec::new(),
        times: Vec::new(),
        values: Vec::new(),
        warnings: Vec::new(),
    };
    let (mut repeated, mut backwards, mut gaps) = (Vec::new(), Vec::new(), Vec::new());
    for (i, line) in lines {
        let n = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let f = fields(line);
        if f.len() != 2 {
            return Err(format!(
                "{label}:{n}: expected two fields `timestamp,value`, found {}",
                f.len()
            ));
        }
        let (ts, val) = (f[0], f[1]);
        let t = parse_timestamp(&unquote(ts)).ok_or_else(|| {
            format!("{label}:{n}: `{ts}` is not a timestamp (YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or ISO 8601)")
        })?;
        let text_value = unquote(val);
        let v = if text_value.is_empty() {
            gaps.push(n);
            None
        } else {
            Some(
                text_value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| format!("{label}:{n}: `{val}` is not a number"))?,
            )
        };
        if let Some(prev) = s.times.last() {
            if t == *prev {
                repeated.push(n);
            } else if t < *prev {
                backwards.push(n);
            }
        }
        s.rows.push((ts, val));
        s.times.push(t);
        s.values.push(v);
    }
    let lines_of = |v: &[usize]| {
        let shown: Vec<String> = v.iter().take(5).map(|n| n.to_string()).collect();
        format!(
            "{}{}",
            shown.join(", "),
            if v.len() > 5 { ", ..." } else { "" }
        )
    };
    if !repeated.is_empty() {
        s.warnings.push(format!(
            "{label}: {} row(s) repeat the previous row's timestamp (lines {}): kept in input order",
            repeated.len(),
            lines_of(&repeated)
        ));
    }
    if !backwards.is_empty() {
        s.warnings.push(format!(
            "{label}: {} row(s) go back in time (lines {}): kept in input order",
            backwards.len(),
            lines_of(&backwards)
        ));
    }
    if !gaps.is_empty() {
        s.warnings.push(format!(
            "{label}: {} empty value(s) (lines {}): gaps, echoed and not judged",
            gaps.len(),
            lines_of(&gaps)
        ));
    }
    Ok(s)
}

/// The typical interval between points, in seconds (the median step).
pub fn interval_seconds(times: &[NaiveDateTime]) -> Option<f64> {
    if times.len() < 2 {
        return None;
    }
    // Forward steps only: a repeated or backward timestamp says nothing of the interval.
    let mut steps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_seconds() as f64)
        .filter(|s| *s > 0.0)
        .collect();
    if steps.is_empty() {
        return None;
    }
    Some(super::seasonal_mad::median(&mut steps))
}

/// How the caller asked for seasonality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodArg {
    Auto,
    Fixed(usize),
}

impl std::str::FromStr for PeriodArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(PeriodArg::Auto);
        }
        match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(PeriodArg::Fixed(n)),
            _ => Err(format!(
                "`{s}` is not a period: a whole number of points (1: none) or `auto`"
            )),
        }
    }
}

/// The detector's parameters for this input. `log_scale`: model `ln(value + 1)` (for usage and
/// cost series, whose seasonality and noise are multiplicative; values below 0 count as 0).
pub fn params_for(
    series: &CsvSeries,
    period: PeriodArg,
    direction: Direction,
    threshold_z: f64,
    log_scale: bool,
) -> OnlineParams {
    let interval = interval_seconds(&series.times).unwrap_or(86_400.0);
    let mut p = OnlineParams::for_interval(interval);
    p.log_offset = log_scale.then_some(1.0);
    if !log_scale {
        // An additive model's floor must not assume a unit: keep only the numerical one.
        p.abs_floor = 1e-9;
    }
    if let PeriodArg::Fixed(n) = period {
        p.seasonality = if n <= 1 {
            Seasonality::None
        } else {
            Seasonality::Fixed(n)
        };
    }
    p.direction = direction;
    p.threshold_z = threshold_z;
    p
}

/// A number for the output: short, exact enough, never in exponent form for ordinary values.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return if v > 0.0 {
            "inf".into()
        } else if v < 0.0 {
            "-inf".into()
        } else {
            "nan".into()
        };
    }
    if v.abs() >= 1e15 || (v != 0.0 && v.abs() < 1e-6) {
        return format!("{v:e}");
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Run the detector over the series and write `timestamp,value,expected,lower,upper,score,
/// anomaly`, one row per input row, as each verdict is made (nothing but the detector's state is
/// kept, so memory does not grow with the verdicts).
pub fn detect_to(
    out: &mut impl Write,
    series: &CsvSeries,
    params: &OnlineParams,
) -> std::io::Result<()> {
    let mut detector = OnlineDetector::new(params.clone());
    writeln!(out, "timestamp,value,expected,lower,upper,score,anomaly")?;
    for (((ts, val), v), t) in series.rows.iter().zip(&series.values).zip(&series.times) {
        let Some(v) = v else {
            // A gap: echoed, not judged, and the detector's state is left as it was.
            writeln!(out, "{},{},,,,,", ts.trim(), val.trim())?;
            continue;
        };
        let day = params.month_end.then(|| t.date());
        let o = detector.step(*v, day);
        writeln!(
            out,
            "{},{},{},{},{},{},{}",
            ts.trim(),
            val.trim(),
            num(o.expected),
            num(o.lower),
            num(o.upper),
            num(o.score),
            u8::from(o.anomaly)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_timestamp_forms_and_names_bad_lines() {
        let s = read("timestamp,value\n2026-01-01,1.5\n2026-01-02,2\n", "x.csv").unwrap();
        assert_eq!(s.values, vec![Some(1.5), Some(2.0)]);
        let s = read(
            "timestamp,value\r\n2014-04-01 00:00:00,10\r\n2014-04-01 00:05:00,11\r\n",
            "x.csv",
        )
        .unwrap();
        assert_eq!(interval_seconds(&s.times), Some(300.0));
        let e = read("timestamp,value\n2026-01-01,1\n2026-01-02,abc\n", "x.csv")
            .err()
            .unwrap();
        assert_eq!(e, "x.csv:3: `abc` is not a number");
        let e = read("timestamp,value\n2026-01-01,1\nnot-a-date,2\n", "x.csv")
            .err()
            .unwrap();
        assert!(
            e.starts_with("x.csv:3: `not-a-date` is not a timestamp"),
            "{e}"
        );
        let e = read("time,val\n", "x.csv").err().unwrap();
        assert!(e.starts_with("x.csv:1: the header"), "{e}");
        // Out of order and repeated: kept, in input order, with a warning (not refused).
        let s = read(
            "timestamp,value\n2026-01-02,1\n2026-01-01,2\n2026-01-01,3\n",
            "x.csv",
        )
        .unwrap();
        assert_eq!(s.values, vec![Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("repeat") && s.warnings[1].contains("back in time"));
        let e = read("timestamp,value\n2026-01-02,1,3\n", "x.csv")
            .err()
            .unwrap();
        assert!(e.starts_with("x.csv:2:"), "{e}");
    }

    #[test]
    fn the_fast_timestamp_path_agrees_with_chrono() {
        for t in ["2014-04-01 00:05:00", "2024-02-29 23:59:59", "2026-01-01"] {
            let slow = if t.len() == 10 {
                NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap()
            } else {
                NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").unwrap()
            };
            assert_eq!(parse_fixed(t.as_bytes()), Some(slow), "{t}");
        }
        for bad in [
            "2023-02-29",
            "2014-04-01 24:00:00",
            "2014-13-01",
            "20a4-01-01",
            "2014-04-01T00:00:00",
        ] {
            assert_eq!(parse_fixed(bad.as_bytes()), None, "{bad}");
        }
        assert!(
            parse_timestamp("2014-04-01T00:05:00").is_some(),
            "other layouts still parse"
        );
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(0.1234567), "0.123457");
        assert_eq!(num(-0.0000001), "-1e-7");
        assert_eq!(num(-0.0), "0");
    }

    #[test]
    fn period_argument() {
        assert_eq!("auto".parse::<PeriodArg>().unwrap(), PeriodArg::Auto);
        assert_eq!("288".parse::<PeriodArg>().unwrap(), PeriodArg::Fixed(288));
        assert!("0".parse::<PeriodArg>().is_err());
        assert!("x".parse::<PeriodArg>().is_err());
    }

    #[test]
    fn real_files_are_read_as_they_are() {
        // CRLF, quoted fields (one with a comma inside), ISO 8601 with T, Z and an offset, a gap.
        let text = "\"timestamp\",\"value\"\r\n\"2026-01-01T00:00:00Z\",\"1.5\"\r\n2026-01-01T01:00:00+01:00,2\r\n2026-01-01T01:00:00.500Z,\r\n\"2026-01-01 02:00:00\",\"3\"\r\n";
        let s = read(text, "x.csv").unwrap();
        assert_eq!(s.values, vec![Some(1.5), Some(2.0), None, Some(3.0)]);
        // 01:00+01:00 is midnight UTC: a repeat of the first row, kept.
        assert_eq!(s.times[0], s.times[1]);
        assert!(
            s.warnings.iter().any(|w| w.contains("repeat")),
            "{:?}",
            s.warnings
        );
        assert!(
            s.warnings.iter().any(|w| w.contains("gap")),
            "{:?}",
            s.warnings
        );
        assert_eq!(fields("\"a,b\",c"), vec!["\"a,b\"", "c"]);
        assert!(read("timestamp,value\n\"2026-01-01,1\",2\n", "x.csv").is_err());
        // The gap is echoed and not judged; the detector goes on.
        let params = params_for(&s, PeriodArg::Fixed(1), Direction::Both, 4.0, false);
        let mut out = Vec::new();
        detect_to(&mut out, &s, &params).unwrap();
        let out = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(rows.len(), 5);
        assert!(rows[3].ends_with(",,,,,"), "{}", rows[3]);
        assert!(!rows[4].ends_with(",,,,,"), "{}", rows[4]);
    }
}
