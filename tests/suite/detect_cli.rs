//! `egresswatch detect` on CSV series: shape of the output, no look-ahead, bad input.

use crate::common;

use common::Bin;

/// 5-minute points with a daily cycle, deterministic noise and one planted spike.
fn series(n: usize, spike_at: usize) -> String {
    let start =
        chrono::NaiveDateTime::parse_from_str("2014-04-01 00:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
    let mut s = String::from("timestamp,value\n");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state % 1000) as f64 / 1000.0 - 0.5;
        let mut v = 100.0 + 40.0 * (i as f64 * std::f64::consts::TAU / 288.0).sin() + 6.0 * noise;
        if i == spike_at {
            v += 90.0;
        }
        let t = start + chrono::Duration::minutes(5 * i as i64);
        s.push_str(&format!("{},{v:.3}\n", t.format("%Y-%m-%d %H:%M:%S")));
    }
    s
}

fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn twenty_thousand_rows_in_one_row_per_input_row_with_scores_in_range() {
    let bin = Bin::new("http://127.0.0.1:9");
    let input = bin.path("in.csv");
    let text = series(20_000, 15_000);
    std::fs::write(&input, &text).unwrap();
    let output = bin.path("out.csv");
    let out = bin.run(&[
        "detect",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(&output).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "timestamp,value,expected,lower,upper,score,anomaly"
    );
    let got = rows(&csv);
    let inp = rows(&text);
    assert_eq!(got.len(), 20_000);
    let mut best = (0.0, 0);
    for (i, (g, r)) in got.iter().zip(&inp).enumerate() {
        assert_eq!(g[0], r[0], "row {i} keeps its timestamp, in order");
        assert_eq!(g[1], r[1]);
        let score: f64 = g[5].parse().unwrap();
        assert!((0.0..=1.0).contains(&score), "row {i}: score {score}");
        assert!(g[6] == "0" || g[6] == "1");
        assert_eq!(
            g[6] == "1",
            score >= 0.5,
            "row {i}: the flag is the score at the threshold"
        );
        let (lower, upper): (f64, f64) = (g[3].parse().unwrap(), g[4].parse().unwrap());
        assert!(lower <= upper);
        if score > best.0 {
            best = (score, i);
        }
    }
    assert_eq!(best.1, 15_000, "the planted spike has the highest score");
    let flagged = got.iter().filter(|g| g[6] == "1").count();
    assert!(
        flagged < 20,
        "{flagged} flags on a clean cycle with one spike"
    );
}

#[test]
fn appending_rows_never_changes_earlier_output() {
    let bin = Bin::new("http://127.0.0.1:9");
    let full = series(3_000, 2_000);
    let lines: Vec<&str> = full.lines().collect();
    let run = |n: usize| {
        let p = bin.path(&format!("in-{n}.csv"));
        std::fs::write(&p, lines[..=n].join("\n")).unwrap();
        let out = bin.run(&["detect", "--input", p.to_str().unwrap()]);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let whole = run(3_000);
    let whole: Vec<&str> = whole.lines().collect();
    // Cuts around the warm-up, the seasonal decision (3 days of 288 points) and the spike.
    for cut in [3, 10, 500, 863, 864, 865, 1999, 2001] {
        let part = run(cut);
        let part: Vec<&str> = part.lines().collect();
        assert_eq!(part.len(), cut + 1);
        assert_eq!(
            part[..],
            whole[..=cut],
            "output of the first {cut} rows changed"
        );
    }
}

#[test]
fn daily_input_uses_weekly_seasonality_and_direction_up_ignores_drops() {
    let bin = Bin::new("http://127.0.0.1:9");
    let mut s = String::from("timestamp,value\n");
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 6).unwrap();
    for i in 0..140u64 {
        let weekly = [100.0, 104.0, 99.0, 97.0, 95.0, 40.0, 35.0][(i % 7) as usize];
        let v = if i == 120 {
            3.0
        } else if i == 130 {
            600.0
        } else {
            weekly + (i % 3) as f64
        };
        s.push_str(&format!("{},{v}\n", start + chrono::Days::new(i)));
    }
    let p = bin.path("daily.csv");
    std::fs::write(&p, s).unwrap();
    let both = bin.run(&["detect", "--input", p.to_str().unwrap()]);
    let up = bin.run(&[
        "detect",
        "--input",
        p.to_str().unwrap(),
        "--direction",
        "up",
    ]);
    let flags = |o: &std::process::Output| -> Vec<usize> {
        rows(&String::from_utf8_lossy(&o.stdout))
            .iter()
            .enumerate()
            .filter(|(i, r)| *i >= 35 && r[6] == "1")
            .map(|(i, _)| i)
            .collect()
    };
    assert_eq!(flags(&both), vec![120, 130]);
    assert_eq!(flags(&up), vec![130]);
    // Weekends are expected low: the weekly pattern was learned.
    let r = rows(&String::from_utf8_lossy(&both.stdout));
    let sat: f64 = r[117][2].parse().unwrap();
    let wed: f64 = r[114][2].parse().unwrap();
    assert!(
        sat < 0.6 * wed,
        "Saturday expected {sat} vs Wednesday {wed}"
    );
}

#[test]
fn malformed_rows_name_the_line_and_exit_2() {
    let bin = Bin::new("http://127.0.0.1:9");
    let p = bin.path("bad.csv");
    std::fs::write(
        &p,
        "timestamp,value\n2026-01-01,1\n2026-01-02,2\n2026-01-03,two\n",
    )
    .unwrap();
    let out = bin.run(&["detect", "--input", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.csv:4: `two` is not a number"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no partial output");
    let out = bin.run(&["detect", "--input", p.to_str().unwrap(), "--period", "zero"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A clock change repeats an hour, a logger writes CRLF and quotes, a sensor drops a reading:
/// the file is judged as it is, row for row, with a warning; never refused.
#[test]
fn a_real_file_with_repeated_times_crlf_quotes_and_gaps_is_judged_row_for_row() {
    let bin = Bin::new("http://127.0.0.1:9");
    let clean = series(2_000, 1_500);
    let mut text = String::new();
    for (k, line) in clean.lines().enumerate() {
        let line = match k {
            // Quoted fields, ISO 8601 with T and Z.
            0 => "\"timestamp\",\"value\"".to_string(),
            10 => {
                let (t, v) = line.split_once(',').unwrap();
                format!("\"{}Z\",\"{v}\"", t.replace(' ', "T"))
            }
            // A gap.
            20 => format!("{},", line.split_once(',').unwrap().0),
            _ => line.to_string(),
        };
        text.push_str(&line);
        text.push_str("\r\n");
        // An hour repeated by a clock change, and one row out of order.
        if k == 100 {
            text.push_str(&format!("{line}\r\n"));
        }
        if k == 200 {
            text.push_str("2014-04-01 00:00:00,100\r\n");
        }
    }
    let input = bin.path("real.csv");
    std::fs::write(&input, &text).unwrap();
    let out = bin.run(&["detect", "--input", input.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("repeat") && stderr.contains("back in time"),
        "{stderr}"
    );
    assert!(stderr.contains("gap"), "{stderr}");
    // Under --quiet (cron) the same file succeeds silently, with the same rows.
    let quiet = bin.run(&["detect", "--quiet", "--input", input.to_str().unwrap()]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    assert_eq!(quiet.stdout, out.stdout);
    let got = rows(&stdout);
    assert_eq!(
        got.len(),
        text.lines().count() - 1,
        "one output row per input row"
    );
    assert!(
        got[19][2..].iter().all(|c| c.is_empty()),
        "the gap is not judged: {:?}",
        got[19]
    );
    // The planted spike is still found, at its row (shifted by the two inserted rows).
    let flagged: Vec<usize> = got
        .iter()
        .enumerate()
        .filter(|(_, r)| r.last().map(String::as_str) == Some("1"))
        .map(|(i, _)| i)
        .collect();
    assert!(flagged.contains(&(1_500 + 2)), "{flagged:?}");
}
