//! The command line without AWS: config errors, exit codes, help, and the offline demo.

use crate::common;

use common::Bin;

#[test]
fn check_config_names_file_line_and_key_of_a_misspelled_key() {
    let bin = Bin::new("http://127.0.0.1:9");
    let p = bin.path("bad.toml");
    std::fs::write(
        &p,
        "[detect]\nhistory_days = 90\nmin_excess_usdd = 5\n\n[state]\npathh = \"x.db\"\n",
    )
    .unwrap();
    let out = bin.run(&["check-config", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "every error, one per line:\n{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "{}:3:1: detect.min_excess_usdd: unknown key",
            p.display()
        )),
        "{stderr}"
    );
    assert!(
        lines[0].contains("did you mean `min_excess_usd`"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!("{}:6:1: state.pathh:", p.display())),
        "{stderr}"
    );
}

#[test]
fn check_config_accepts_the_example_and_rejects_a_missing_file() {
    let bin = Bin::new("http://127.0.0.1:9");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml.example");
    let out = bin.run(&["check-config", example]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));

    let out = bin.run(&["check-config", "does-not-exist.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist.toml: cannot read"));
}

#[test]
fn a_bad_config_stops_run_with_exit_2_before_touching_aws() {
    let bin = Bin::new("http://127.0.0.1:9");
    let p = bin.path("bad.toml");
    std::fs::write(&p, "[detect]\nmin_robust_z = -1\n").unwrap();
    let out = bin.run(&["run", "--config", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(":2:1: detect.min_robust_z"), "{stderr}");
    assert!(
        !bin.path("egresswatch.db").exists(),
        "no store is created for a bad config"
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let bin = Bin::new("http://127.0.0.1:9");
    let out = bin.run(&["run", "--date", "2026-02-30"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a date"));
    let out = bin.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = bin.run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "sync", "series", "check-config", "demo"] {
        assert!(help.contains(cmd), "--help lists {cmd}");
    }
    let out = bin.run(&["run", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--date", "--dry-run", "--format"] {
        assert!(help.contains(flag), "run --help explains {flag}");
    }
}

#[test]
fn demo_runs_offline_and_names_the_planted_spike() {
    // No AWS endpoint that answers, no credentials needed: the demo must not touch the network.
    let bin = Bin::new("http://127.0.0.1:9");
    let out_dir = bin.path("demo-out");
    let out = bin.run(&["demo", "--out", out_dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // scripts/gen-demo-data.py plants the spike in account 111111111111 (prod-data), eu-west-1,
    // internet egress, on the last day, 2026-11-25.
    assert!(
        stdout.contains("internet-out in eu-west-1 / account prod-data (111111111111)"),
        "{stdout}"
    );
    assert!(stdout.contains("2026-11-25: observed"), "{stdout}");
    // The security half: the caller, what is new about them, the change that came before.
    assert!(
        stdout.contains(
            "arn:aws:iam::111111111111:user/contractor-jdoe from 185.220.101.7 (rclone/v1.65.0)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("new principal") && stdout.contains("bulk download tool (rclone)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PutBucketPolicy prod-analytics: bucket policy makes the bucket public"),
        "{stdout}"
    );
    assert!(stdout.contains("CloudTrail attributes"), "{stdout}");
    // Which bucket: CloudWatch request metrics attribute the growth.
    assert!(
        stdout.contains("bucket prod-analytics: 1480.0 GB downloaded"),
        "{stdout}"
    );
    // The finance half.
    assert!(
        stdout.contains("finance: $") && stdout.contains("excess by month end"),
        "{stdout}"
    );
    // The coverage: the organisation trail's advanced selector excludes reports-archive, so
    // the incident names it as the bucket whose bytes cannot be attributed; GuardDuty's
    // finding inside the incident's window leads its security lines; the one no incident holds
    // is in the security part; the coverage section closes the report.
    assert!(
        stdout.contains("no trail records GetObject on 1 bucket(s) of eu-west-1")
            && stdout.contains("reports-archive (")
            && stdout.contains("NotStartsWith"),
        "{stdout}"
    );
    assert!(
        stdout.contains("GuardDuty high Exfiltration:S3/AnomalousBehavior on prod-analytics"),
        "{stdout}"
    );
    let security = stdout
        .find("Security (2026-11-25)")
        .expect("a security part");
    assert!(stdout[security..].contains("Discovery:S3/AnomalousBehavior on legacy-uploads"));
    assert!(
        stdout.contains("Coverage (account 111111111111, read 2026-11-26T06:00:00Z): 4 bucket(s)"),
        "{stdout}"
    );
    let cov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("coverage.json")).unwrap()).unwrap();
    assert_eq!(cov["schema"], "egresswatch.coverage/v1");
    let not: Vec<&str> = cov["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["attribution"] == "none")
        .map(|b| b["bucket"].as_str().unwrap())
        .collect();
    assert_eq!(not, ["reports-archive"], "{cov}");
    let html = std::fs::read_to_string(out_dir.join("coverage.html")).unwrap();
    assert!(html.contains("<h2 id=\"coverage\">Coverage</h2>"));
    for f in [
        "report.txt",
        "run.json",
        "slack-message.json",
        "teams-message.json",
        "webhook.json",
        "egresswatch.db",
        "coverage.json",
        "coverage.html",
    ] {
        assert!(out_dir.join(f).exists(), "{f} written");
        assert!(stdout.contains(f), "stdout names {f}");
    }
    let msg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("slack-message.json")).unwrap())
            .unwrap();
    assert!(msg["text"].as_str().unwrap().contains("S3 egress incident"));
    // Running it twice gives the same report: the demo starts from a fresh store.
    let again = bin.run(&["demo", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&again.stdout), stdout);
}
