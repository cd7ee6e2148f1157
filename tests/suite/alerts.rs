//! Issue 16, the command line's part: hostile text never reaches a terminal raw, the example
//! config runs as it is, the file sink keeps to whole lines and off stdout, every type error of a
//! config is named at once, `--quiet` is silent on success, the man page says what a scheduler
//! needs, and a closed pipe ends the output quietly.

use std::io::Read;
use std::process::{Command, Stdio};

use crate::common;
use common::{ce_response, day, Bin, Moto};
use serde_json::json;

fn unsafe_chars(s: &str) -> Vec<char> {
    s.chars()
        .filter(|c| {
            (c.is_control() && !matches!(c, '\n' | '\t'))
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

#[test]
fn hostile_text_in_a_bill_and_a_csv_never_reaches_the_terminal_raw() {
    let moto = Moto::start();
    let bin = Bin::new(&moto.url);
    let cfg = bin.write_config("");
    let cfg = cfg.to_str().unwrap();
    // A saved page whose usage type carries a terminal escape and a bidi override.
    let d = day("2026-03-02");
    let mut page = ce_response(
        d,
        d + chrono::Days::new(2),
        d + chrono::Days::new(9),
        None,
        None,
    );
    page["ResultsByTime"][0]["Groups"][0]["Keys"][1] =
        json!("EU-Data\u{1b}[2J\u{202e}Transfer-Out-Bytes");
    page["ResultsByTime"][0]["Groups"][1]["Metrics"]["UsageQuantity"]["Amount"] =
        json!("\u{1b}]0;pwned\u{7}12");
    let f = bin.path("page.json");
    std::fs::write(&f, page.to_string()).unwrap();
    let out = bin.run(&["import", "--config", cfg, f.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        unsafe_chars(&stderr).is_empty(),
        "import stderr: {stderr:?}"
    );
    for format in ["table", "csv"] {
        let out = bin.run(&["series", "--config", cfg, "--format", format]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(stdout.contains("Transfer-Out-Bytes"), "{stdout}");
        assert!(
            unsafe_chars(&stdout).is_empty(),
            "series --format {format}: {stdout:?}"
        );
    }
    // `detect` echoes a bad cell of its input in its error: never raw.
    let csv = bin.path("s.csv");
    std::fs::write(&csv, "timestamp,value\n2026-01-01,\u{1b}[31m\u{202e}7\n").unwrap();
    let out = bin.run(&["detect", "--input", csv.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a number"), "{stderr}");
    assert!(
        unsafe_chars(&stderr).is_empty(),
        "detect stderr: {stderr:?}"
    );
}

#[test]
fn every_type_error_of_a_config_is_named_at_once() {
    let bin = Bin::new("http://127.0.0.1:9");
    let p = bin.path("bad.toml");
    std::fs::write(
        &p,
        "[detect]\nmin_robust_z = \"four\"\nhistory_days = \"many\"\n\n[notify]\nmax_attempts = true\n\n[report]\nmode = \"weekly\"\n",
    )
    .unwrap();
    let out = bin.run(&["check-config", p.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for (line, key) in [
        (2, "detect.min_robust_z"),
        (3, "detect.history_days"),
        (6, "notify.max_attempts"),
        (9, "report.mode"),
    ] {
        assert!(
            stderr.contains(&format!("bad.toml:{line}:")) && stderr.contains(key),
            "{key} at line {line}:\n{stderr}"
        );
    }
}

#[test]
fn the_file_sink_refuses_stdout_where_commands_print() {
    let bin = Bin::new("http://127.0.0.1:9");
    let p = bin.path("c.toml");
    std::fs::write(&p, "[notify.file]\npath = \"-\"\n").unwrap();
    let out = bin.run(&["check-config", p.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("c.toml:2:")
            && stderr.contains("notify.file.path")
            && stderr.contains("stdout"),
        "{stderr}"
    );
}

#[test]
fn the_example_config_runs_as_it_is() {
    let moto = Moto::start();
    let d = day("2026-06-15");
    // A planted spike: the run has an incident to correlate and announce.
    let spike = common::Spike {
        account: "111111111111",
        usage_type: "EU-DataTransfer-Out-Bytes",
        day: d - chrono::Days::new(1),
        factor: 20.0,
    };
    moto.queue_cost_and_usage(&[ce_response(
        d - chrono::Days::new(130),
        d,
        d - chrono::Days::new(3),
        Some(spike),
        None,
    )]);
    let bin = Bin::new(&moto.url);
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml.example"))
            .unwrap()
            .replace("egresswatch.db", bin.path("state.db").to_str().unwrap());
    let p = bin.path("example.toml");
    std::fs::write(&p, example).unwrap();
    let out = bin.run(&[
        "run",
        "--config",
        p.to_str().unwrap(),
        "--date",
        "2026-06-15",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the example config, unedited:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("1 incident"), "{stdout}");
    for s in [&stdout, &stderr] {
        assert!(
            !s.contains("Correlation unavailable") && !s.contains("my-cloudtrail-bucket"),
            "a placeholder was used as if real:\n{s}"
        );
    }
}

#[test]
fn quiet_prints_nothing_on_success_and_logs_are_plain_off_a_terminal() {
    let moto = Moto::start();
    let d = day("2026-06-15");
    moto.queue_cost_and_usage(&[ce_response(
        d - chrono::Days::new(130),
        d,
        d - chrono::Days::new(3),
        None,
        None,
    )]);
    let bin = Bin::new(&moto.url);
    let cfg = bin.write_config("");
    let cfg = cfg.to_str().unwrap();
    let out = bin.run(&["run", "--config", cfg, "--date", "2026-06-15", "--quiet"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without --quiet (and RUST_LOG=debug from the harness), logs go to a pipe: no colour codes.
    let out = bin.run(&["run", "--config", cfg, "--date", "2026-06-15"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!out.stdout.is_empty());
    assert!(
        !out.stderr.contains(&0x1b),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_man_page_says_exit_codes_environment_and_files() {
    let bin = Bin::new("http://127.0.0.1:9");
    let out = bin.run(&["man"]);
    let man = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for s in [
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
        "EGRESSWATCH_CONFIG",
        "NO_COLOR",
    ] {
        assert!(man.contains(s), "the man page lacks {s}");
    }
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    // Far more output than a pipe holds, so that writing goes on after the reader has gone.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("big.csv");
    let mut body = String::from("timestamp,value\n");
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    for i in 0..100_000u32 {
        let t = start.and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::minutes(i64::from(i));
        body.push_str(&format!(
            "{},{}\n",
            t.format("%Y-%m-%d %H:%M:%S"),
            100 + i % 7
        ));
    }
    std::fs::write(&csv, body).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_egresswatch"))
        .args(["detect", "--input", csv.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe: the rest of the page has nowhere to go.
    let mut stdout = child.stdout.take().unwrap();
    let mut one = [0u8; 1];
    stdout.read_exact(&mut one).unwrap();
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    assert!(status.code() != Some(101), "not a panic: {status:?}");
}
