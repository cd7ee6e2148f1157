//! A hostile trail: files and records written to exhaust memory or to bury the real callers.
//! A gzip bomb is a bad file (and the scan's memory stays near the bound), implausible byte
//! counts and unreadable times are bad records with their reasons, and a flood of distinct
//! callers is kept to the top ones plus an exact `others` rollup.

use crate::common;

use std::io::Write;
use std::process::Command;

use common::trail::*;
use common::{Bin, Moto};
use serde_json::{json, Value};

const DAY: &str = "2026-06-15";

fn dir(day: &str) -> String {
    day_dir(OWNER, REGION, day)
}

fn t(h: u32, m: u32) -> String {
    format!("{DAY}T{h:02}:{m:02}:00Z")
}

/// `egresswatch callers` for DAY in OWNER/REGION with `cfg`, as JSON.
/// `callers` for the day, owner and region of these tests, then `more`.
fn callers_args<'a>(cfg: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "callers",
        "--config",
        cfg,
        "--from",
        DAY,
        "--to",
        DAY,
        "--account",
        OWNER,
        "--region",
        REGION,
    ];
    args.extend_from_slice(more);
    args
}

fn callers_json(bin: &Bin, cfg: &str) -> Value {
    bin.run_json(&callers_args(cfg, &["--format", "json"]), 0)
}

fn config(bin: &Bin, root: &std::path::Path, extra: &str) -> String {
    let cfg = bin.write_config(&format!(
        "[cloudtrail]\nsource = \"{}\"\nbaseline_days = 0\n{extra}",
        root.display()
    ));
    cfg.to_str().unwrap().to_string()
}

fn user(n: &str) -> String {
    format!("arn:aws:iam::{OWNER}:user/{n}")
}

fn get(who: &str, time: &str, ip: &str, key: &str, bytes: Value) -> Value {
    get_object(
        time,
        Who::User(who),
        ip,
        Some("aws-sdk-go/1.50"),
        "data",
        key,
        bytes,
        false,
        None,
    )
}

/// Peak resident memory of `bin`'s run of `args`, in KiB (`/usr/bin/time -v`), with its
/// output; `None` for the peak where /usr/bin/time is not installed.
fn run_measured(bin: &Bin, args: &[&str]) -> (Option<u64>, std::process::Output) {
    let time = std::path::Path::new("/usr/bin/time");
    if !time.exists() {
        eprintln!("/usr/bin/time is not installed: peak memory not measured");
        return (None, bin.run(args));
    }
    let out = Command::new(time)
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_egresswatch"))
        .args(args)
        .current_dir(bin.dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", bin.dir.path())
        .env("AWS_ENDPOINT_URL", &bin.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kib = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok());
    (kib, out)
}

#[test]
fn a_gzip_bomb_is_a_bad_file_and_the_scan_goes_on_in_bounded_memory() {
    let bin = Bin::new("http://127.0.0.1:9");
    let root = bin.path("trail");
    // Two honest files around the bomb.
    let alice = user("alice");
    let bob = user("bob");
    let first: Vec<Value> = (0..10)
        .map(|i| {
            get(
                &alice,
                &t(1, i),
                "198.51.100.1",
                &format!("a{i}"),
                json!(1_000_000),
            )
        })
        .collect();
    let last: Vec<Value> = (0..4)
        .map(|i| {
            get(
                &bob,
                &t(5, i),
                "198.51.100.2",
                &format!("b{i}"),
                json!(250_000),
            )
        })
        .collect();
    write(
        &root,
        &format!("{}{}", dir(DAY), file_name(OWNER, REGION, DAY, 1)),
        &gz(&records_file(&first)),
    );
    write(
        &root,
        &format!("{}{}", dir(DAY), file_name(OWNER, REGION, DAY, 3)),
        &gz(&records_file(&last)),
    );
    // 200 MiB of zeros, about 200 KB gzipped, with an honest trailer.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mib = vec![0u8; 1 << 20];
    for _ in 0..200 {
        e.write_all(&mib).unwrap();
    }
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let bomb_name = file_name(OWNER, REGION, DAY, 2);
    write(&root, &format!("{}{bomb_name}", dir(DAY)), &bomb);

    let cfg = config(&bin, &root, "max_file_bytes = 8388608\n");
    let args = callers_args(&cfg, &["--format", "json"]);
    let started = std::time::Instant::now();
    let (peak_kib, out) = run_measured(&bin, &args);
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let q = &v["data_quality"];
    assert_eq!(
        (q["files"].as_u64(), q["bad_files"].as_u64()),
        (Some(3), Some(1)),
        "{q}"
    );
    let named = q["bad_file_names"][0].as_str().unwrap();
    assert!(
        named.contains(&bomb_name)
            && named.ends_with("inflates past 8388608 bytes (cloudtrail.max_file_bytes)"),
        "{named}"
    );
    // The other files' callers are intact.
    let callers = v["callers"].as_array().unwrap();
    let by = |p: &str| callers.iter().find(|c| c["principal"] == p).unwrap();
    assert_eq!(
        (
            by(&alice)["requests"].as_u64(),
            by(&alice)["bytes_out"].as_u64()
        ),
        (Some(10), Some(10_000_000))
    );
    assert_eq!(
        (
            by(&bob)["requests"].as_u64(),
            by(&bob)["bytes_out"].as_u64()
        ),
        (Some(4), Some(1_000_000))
    );
    assert_eq!(v["bytes_out"], 11_000_000);
    eprintln!("gzip bomb (200 MiB, bound 8 MiB): {elapsed:?}, peak RSS {peak_kib:?} KiB");
    if let Some(kib) = peak_kib {
        // Inflating the bomb whole would take 200 MiB; the bound holds 8 MiB (plus the input
        // and the binary itself).
        assert!(kib < 120 * 1024, "peak RSS {kib} KiB");
    }

    // The text report names the file and why.
    let out = bin.run(&callers_args(&cfg, &[]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("1 bad files") && text.contains("inflates past 8388608 bytes"),
        "{text}"
    );

    // A plain (not gzipped) file larger than the bound is refused the same way.
    let plain = vec![b' '; (1 << 20) + 1];
    write(&root, &format!("{}{}", dir(DAY), "big.json"), &plain);
    let cfg = config(&bin, &root, "max_file_bytes = 1048576\n");
    let v = callers_json(&bin, &cfg);
    let names = v["data_quality"]["bad_file_names"].to_string();
    assert!(
        names.contains("big.json: is larger than 1048576 bytes (cloudtrail.max_file_bytes)"),
        "{names}"
    );
    assert_eq!(v["bytes_out"], 11_000_000);
}

#[test]
fn implausible_byte_counts_and_times_are_bad_records_with_reasons() {
    let bin = Bin::new("http://127.0.0.1:9");
    let root = bin.path("trail");
    let real = user("real");
    let forger = user("forger");
    let mut records: Vec<Value> = (0..3)
        .map(|i| {
            get(
                &real,
                &t(2, i),
                "198.51.100.1",
                &format!("k{i}"),
                json!(1_000_000),
            )
        })
        .collect();
    for (i, forged) in [json!(1e308), json!(u64::MAX), json!(-5), json!("abc")]
        .into_iter()
        .enumerate()
    {
        records.push(get(&forger, &t(3, i as u32), "203.0.113.66", "x", forged));
    }
    records.push(get(&forger, "yesterday", "203.0.113.66", "x", json!(10)));
    write(
        &root,
        &format!("{}{}", dir(DAY), file_name(OWNER, REGION, DAY, 1)),
        &gz(&records_file(&records)),
    );
    let cfg = config(&bin, &root, "");

    let v = callers_json(&bin, &cfg);
    let q = &v["data_quality"];
    assert_eq!(
        (q["records"].as_u64(), q["bad_records"].as_u64()),
        (Some(8), Some(5)),
        "{q}"
    );
    assert_eq!(
        q["bad_record_reasons"],
        json!({
            "bytesTransferredOut above S3's largest object (5 TiB)": 2,
            "bytesTransferredOut negative": 1,
            "bytesTransferredOut not a number": 1,
            "eventTime missing or not a timestamp": 1,
        }),
        "{q}"
    );
    let callers = v["callers"].as_array().unwrap();
    assert_eq!(
        callers.len(),
        1,
        "the forged records count for nothing: {callers:?}"
    );
    assert_eq!(callers[0]["principal"], real.as_str());
    assert_eq!(callers[0]["bytes_out"], 3_000_000);
    assert_eq!(callers[0]["share_of_bytes"], 1.0);
    assert_eq!(callers[0]["share_of_excess"], 1.0);
    assert_eq!(v["bytes_out"], 3_000_000);

    let out = bin.run(&callers_args(&cfg, &[]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("100.0%"), "{text}");
    assert!(
        text.contains("2 bad record(s): bytesTransferredOut above S3's largest object (5 TiB)"),
        "{text}"
    );
    assert!(
        text.contains("1 bad record(s): eventTime missing or not a timestamp"),
        "{text}"
    );
}

#[test]
fn thousands_of_callers_keep_the_top_ones_and_an_exact_rollup() {
    let bin = Bin::new("http://127.0.0.1:9");
    let root = bin.path("trail");
    let who = user("scraper");
    // 5,000 callers (one per source IP): caller i sends i + 1 KB in one request, and every
    // seventh caller a second, empty, request; spread over 10 files.
    let (mut total_bytes, mut total_requests) = (0u64, 0u64);
    let mut files: Vec<Vec<Value>> = vec![Vec::new(); 10];
    for i in 0..5000u32 {
        let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
        let b = (u64::from(i) + 1) * 1000;
        files[(i % 10) as usize].push(get(&who, &t(4, i % 60), &ip, &format!("k{i}"), json!(b)));
        total_bytes += b;
        total_requests += 1;
        if i % 7 == 0 {
            files[(i % 10) as usize].push(get(
                &who,
                &t(6, i % 60),
                &ip,
                &format!("k{i}"),
                json!(0),
            ));
            total_requests += 1;
        }
    }
    for (n, records) in files.iter().enumerate() {
        write(
            &root,
            &format!("{}{}", dir(DAY), file_name(OWNER, REGION, DAY, n + 1)),
            &gz(&records_file(records)),
        );
    }
    let cfg = config(&bin, &root, "max_callers_kept = 100\n");
    let out = bin.run(&callers_args(&cfg, &["--format", "json"]));
    assert!(out.status.success());
    let size = out.stdout.len();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let callers = v["callers"].as_array().unwrap();
    assert_eq!(callers.len(), 100);
    let others = &v["others"];
    assert_eq!(others["groups"], 4900, "{others}");
    let sum = |f: &str| {
        callers.iter().map(|c| c[f].as_u64().unwrap()).sum::<u64>() + others[f].as_u64().unwrap()
    };
    assert_eq!(sum("bytes_out"), total_bytes);
    assert_eq!(sum("requests"), total_requests);
    assert_eq!(sum("objects"), 5000);
    assert_eq!(sum("errors"), 0);
    assert_eq!(v["bytes_out"].as_u64(), Some(total_bytes));
    // The kept ones are the top 100 (no baseline: the excess is the bytes), most first.
    assert_eq!(callers[0]["source_ip"], "10.0.19.135", "caller 4999");
    assert_eq!(callers[0]["bytes_out"], 5_000_000);
    assert_eq!(callers[99]["bytes_out"], 4_901_000);
    // The answer's size no longer grows with the callers.
    assert!(size < 100_000, "{size} bytes of JSON");

    // Without the setting, the default keeps 100 too; the table shows the rollup.
    let cfg = config(&bin, &root, "");
    let out = bin.run(&callers_args(&cfg, &[]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("4900 more callers, summed (--limit, --all; cloudtrail.max_callers_kept)"),
        "{text}"
    );

    // --limit N: N callers and the rest summed, in the JSON and the table alike (the table
    // used to stop at 50 whatever was kept); totals exact.
    let v = bin.run_json(
        &callers_args(&cfg, &["--format", "json", "--limit", "7"]),
        0,
    );
    let callers = v["callers"].as_array().unwrap();
    assert_eq!(callers.len(), 7);
    assert_eq!(v["others"]["groups"], 4993);
    let bytes: u64 = callers
        .iter()
        .map(|c| c["bytes_out"].as_u64().unwrap())
        .sum::<u64>()
        + v["others"]["bytes_out"].as_u64().unwrap();
    assert_eq!(bytes, total_bytes);
    let out = bin.run(&callers_args(&cfg, &["--limit", "70"]));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows = text.lines().filter(|l| l.contains(" / 10.")).count();
    assert_eq!(rows, 70, "{text}");
    assert!(text.contains("4930 more callers, summed"), "{text}");
    // --all: every caller, no rollup.
    let v = bin.run_json(&callers_args(&cfg, &["--format", "json", "--all"]), 0);
    assert_eq!(v["callers"].as_array().unwrap().len(), 5000);
    assert!(v["others"].is_null(), "{}", v["others"]);
    assert_eq!(v["schema"], "egresswatch.callers/v1");
    // Nonsense is a usage error.
    for bad in [&["--limit", "0"][..], &["--limit", "3", "--all"][..]] {
        let out = bin.run(&callers_args(&cfg, bad));
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn max_callers_sets_how_many_callers_a_message_shows() {
    use common::{ce_response, Receiver, Spike};
    let moto = Moto::start();
    let spike = Spike {
        account: "111111111111",
        usage_type: "EU-DataTransfer-Out-Bytes",
        day: common::day(DAY),
        factor: 20.0,
    };
    // The cold request of a run evaluating DAY: `detect.history_days` (120) before it, to the
    // run date.
    let (from, to) = (
        common::day(DAY) - chrono::Days::new(120),
        common::day(DAY) + chrono::Days::new(1),
    );
    moto.queue_cost_and_usage(&[ce_response(from, to, to, Some(spike), None)]);
    let receiver = Receiver::start(&[]);
    let mut bin = Bin::new(&moto.url);
    bin.webhook = Some(receiver.url.clone());

    // Five callers of the spike day, the first sending most.
    let account = "111111111111";
    let mut records = vec![];
    for n in 0..5u64 {
        for i in 0..3 {
            let mut r = get(
                &format!("arn:aws:iam::{account}:user/caller{n}"),
                &t(3 + n as u32, i),
                &format!("203.0.113.{}", 10 + n),
                &format!("k{n}-{i}"),
                json!((5 - n) * 1_000_000_000),
            );
            r["recipientAccountId"] = json!(account);
            records.push(r);
        }
    }
    let root = bin.path("trail");
    write(
        &root,
        &format!(
            "{}{}",
            day_dir(account, REGION, DAY),
            file_name(account, REGION, DAY, 1)
        ),
        &gz(&records_file(&records)),
    );
    let cfg = bin.write_config(&format!(
        "[notify.slack]\n\n[cloudtrail]\nsource = \"{}\"\nbaseline_days = 0\nmax_callers = 2\nmax_callers_kept = 3\n",
        root.display()
    ));
    let run_date = (common::day(DAY) + chrono::Days::new(1)).to_string();
    let v = bin.run_json(
        &[
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--date",
            &run_date,
            "--format",
            "json",
        ],
        0,
    );
    let analysis = &v["incidents"][0]["cloudtrail"]["analysis"];
    assert_eq!(
        analysis["callers"].as_array().unwrap().len(),
        3,
        "{analysis:#}"
    );
    assert_eq!(analysis["others"]["groups"], 2, "{analysis:#}");

    let msg = receiver.received()[0].to_string();
    for shown in ["user/caller0", "user/caller1"] {
        assert!(msg.contains(shown), "{shown} in {msg}");
    }
    for hidden in ["user/caller2", "user/caller3", "user/caller4"] {
        assert!(!msg.contains(hidden), "{hidden} in {msg}");
    }
    assert!(msg.contains("3 more callers"), "1 kept and 2 summed: {msg}");
}

#[test]
fn from_s3_a_bomb_and_an_oversized_object_are_bad_files_too() {
    let moto = Moto::start();
    let http = reqwest::blocking::Client::new();
    let put = |path: &str, body: Vec<u8>| {
        let r = http
            .put(format!("{}/{path}", moto.url))
            .body(body)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    };
    put("trail-bucket", Vec::new());
    let alice = user("alice");
    let honest: Vec<Value> = (0..3)
        .map(|i| {
            get(
                &alice,
                &t(1, i),
                "198.51.100.1",
                &format!("a{i}"),
                json!(1_000),
            )
        })
        .collect();
    let prefix = format!("trail-bucket/org/{}", dir(DAY));
    put(
        &format!("{prefix}{}", file_name(OWNER, REGION, DAY, 1)),
        gz(&records_file(&honest)),
    );
    // 16 MiB of zeros behind a trailer claiming 1,000 bytes.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for _ in 0..16 {
        e.write_all(&vec![0u8; 1 << 20]).unwrap();
    }
    let mut bomb = e.finish().unwrap();
    let n = bomb.len();
    bomb[n - 4..].copy_from_slice(&1000u32.to_le_bytes());
    put(
        &format!("{prefix}{}", file_name(OWNER, REGION, DAY, 2)),
        bomb,
    );
    // An object larger than the bound (it is not even fetched).
    put(
        &format!("{prefix}{}", file_name(OWNER, REGION, DAY, 3)),
        vec![b' '; (1 << 20) + 1],
    );

    let bin = Bin::new(&moto.url);
    let cfg = bin.write_config(
        "[cloudtrail]\nsource = \"s3://trail-bucket/org\"\nbaseline_days = 0\nmax_file_bytes = 1048576\n",
    );
    let v = callers_json(&bin, cfg.to_str().unwrap());
    let q = &v["data_quality"];
    assert_eq!(
        (q["files"].as_u64(), q["bad_files"].as_u64()),
        (Some(3), Some(2)),
        "{q}"
    );
    let names = q["bad_file_names"].to_string();
    assert!(
        names.contains("inflates past 1048576 bytes (cloudtrail.max_file_bytes)")
            && names.contains("is larger than 1048576 bytes (cloudtrail.max_file_bytes)"),
        "{names}"
    );
    assert_eq!(v["callers"][0]["principal"], alice.as_str());
    assert_eq!(v["bytes_out"], 3_000);
}
