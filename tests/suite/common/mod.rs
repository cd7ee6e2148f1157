//! Shared test harness: a real moto server per test, a real HTTP receiver for webhooks, Cost
//! Explorer responses generated with a known answer, and the real binary.
#![allow(dead_code)]

pub mod trail;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{Datelike, Days, NaiveDate};
use serde_json::{json, Value};

/// The account moto assigns to the `testing` access key.
pub const MOTO_ACCOUNT: &str = "123456789012";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where moto_server is: `EGRESSWATCH_MOTO_SERVER`, else the venv `scripts/test.sh` makes.
fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("EGRESSWATCH_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    assert!(
        p.exists(),
        "moto_server not found: run the tests through `bash scripts/test.sh`, which installs it \
         (or set EGRESSWATCH_MOTO_SERVER)"
    );
    p
}

/// A moto server on a free loopback port, with request recording on; killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
    http: reqwest::blocking::Client,
}

impl Moto {
    pub fn start() -> Moto {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(moto_binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "True")
            .env("MOTO_RECORDER_FILEPATH", dir.path().join("recording"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut moto = Moto {
            child,
            url,
            _dir: dir,
            http,
        };
        loop {
            if moto
                .http
                .get(format!("{}/moto-api/", moto.url))
                .send()
                .is_ok()
            {
                break;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not start in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto.post("/moto-api/recorder/start-recording", json!({}));
        moto
    }

    /// POST to moto's control API (queue canned results, set state transitions).
    pub fn post_json(&self, path: &str, body: Value) {
        self.post(path, body)
    }

    fn post(&self, path: &str, body: Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    /// Queue GetCostAndUsage responses: each new request body takes the next one.
    pub fn queue_cost_and_usage(&self, results: &[Value]) {
        self.post(
            "/moto-api/static/ce/cost-and-usage-results",
            json!({"account_id": MOTO_ACCOUNT, "results": results}),
        );
    }

    /// The GetCostAndUsage request bodies moto received, in order.
    pub fn cost_and_usage_requests(&self) -> Vec<Value> {
        self.requests("GetCostAndUsage")
    }

    /// The JSON request bodies of one operation (X-Amz-Target ending in `operation`), in order.
    pub fn requests(&self, operation: &str) -> Vec<Value> {
        let text = self
            .http
            .get(format!("{}/moto-api/recorder/download-recording", self.url))
            .send()
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| {
                r["headers"]["X-Amz-Target"]
                    .as_str()
                    .or(r["headers"]["x-amz-target"].as_str())
                    .is_some_and(|t| t.ends_with(operation))
            })
            .map(|r| {
                let body = r["body"].as_str().unwrap_or_default();
                let body = if r["body_encoded"].as_bool() == Some(true) {
                    String::from_utf8(
                        base64::engine::general_purpose::STANDARD
                            .decode(body)
                            .unwrap(),
                    )
                    .unwrap()
                } else {
                    body.to_string()
                };
                serde_json::from_str(&body).unwrap_or(Value::Null)
            })
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request's headers: (lower-cased name, value).
pub type Headers = Vec<(String, String)>;

/// A real HTTP server on loopback that records every request body and answers with the given
/// statuses in turn (200 once they run out).
pub struct Receiver {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<String>>>,
    pub content_types: Arc<Mutex<Vec<String>>>,
    /// Every request's headers, lower-cased names.
    pub headers: Arc<Mutex<Vec<Headers>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    pub fn start(statuses: &[u16]) -> Receiver {
        Self::start_with(&statuses.iter().map(|s| (*s, None)).collect::<Vec<_>>())
    }

    /// Answer with (status, Retry-After seconds) in turn, 200 once they run out.
    pub fn start_with(answers: &[(u16, Option<u64>)]) -> Receiver {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let content_types = Arc::new(Mutex::new(Vec::new()));
        let headers = Arc::new(Mutex::new(Vec::new()));
        let (s, b, ct, hd) = (
            server.clone(),
            bodies.clone(),
            content_types.clone(),
            headers.clone(),
        );
        let mut statuses: Vec<(u16, Option<u64>)> = answers.to_vec();
        statuses.reverse();
        let thread = std::thread::spawn(move || {
            for mut req in s.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let ctype = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Content-Type"))
                    .map(|h| h.value.to_string())
                    .unwrap_or_default();
                let all: Vec<(String, String)> = req
                    .headers()
                    .iter()
                    .map(|h| {
                        (
                            h.field.as_str().as_str().to_ascii_lowercase(),
                            h.value.to_string(),
                        )
                    })
                    .collect();
                b.lock().unwrap().push(body);
                ct.lock().unwrap().push(ctype);
                hd.lock().unwrap().push(all);
                let (status, retry_after) = statuses.pop().unwrap_or((200, None));
                let mut resp = tiny_http::Response::from_string("ok").with_status_code(status);
                if let Some(s) = retry_after {
                    let h = tiny_http::Header::from_bytes(
                        &b"Retry-After"[..],
                        s.to_string().as_bytes(),
                    )
                    .unwrap();
                    resp = resp.with_header(h);
                }
                let _ = req.respond(resp);
            }
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/services/T000/B000/secret-token"),
            bodies,
            content_types,
            headers,
            server,
            thread: Some(thread),
        }
    }

    /// A header of the `n`th request.
    pub fn header(&self, n: usize, name: &str) -> Option<String> {
        self.headers
            .lock()
            .unwrap()
            .get(n)?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    pub fn received(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| serde_json::from_str(b).expect("webhook body is JSON"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A planted spike: on `day`, multiply the series' usage by `factor`.
#[derive(Clone, Copy)]
pub struct Spike<'a> {
    pub account: &'a str,
    pub usage_type: &'a str,
    pub day: NaiveDate,
    pub factor: f64,
}

/// Series the generated data holds: (account, usage type, base GB or requests, $ per unit).
pub const SERIES: &[(&str, &str, f64, f64)] = &[
    ("111111111111", "EU-DataTransfer-Out-Bytes", 50.0, 0.09),
    ("111111111111", "DataTransfer-Out-Bytes", 200.0, 0.09),
    ("111111111111", "EU-Requests-Tier2", 400_000.0, 0.0000004),
    ("222222222222", "APS2-DataTransfer-Out-Bytes", 20.0, 0.114),
];

/// The daily usage of a series: a weekly pattern and a small deterministic wobble.
pub fn usage_on(base: f64, d: NaiveDate) -> f64 {
    let weekly =
        [1.0, 1.04, 1.0, 0.97, 0.95, 0.5, 0.45][d.weekday().num_days_from_monday() as usize];
    let wobble = 1.0 + ((d.ordinal() * 37) % 11) as f64 / 100.0 - 0.05;
    base * weekly * wobble
}

/// A whole GetCostAndUsage response for `[from, to)`, days on or after `estimated_from` marked
/// estimated; `next_token` set when this is not the last page.
pub fn ce_response(
    from: NaiveDate,
    to: NaiveDate,
    estimated_from: NaiveDate,
    spike: Option<Spike>,
    next_token: Option<&str>,
) -> Value {
    let spikes: Vec<Spike> = spike.into_iter().collect();
    ce_response_with(from, to, estimated_from, &spikes, next_token)
}

/// The cold bill of a run on `run_date` (the detector's 120 days of history and the evaluated
/// day, the day before), with internet egress in eu-west-1 ×20 on the evaluated day, as
/// `account`'s bill (the generated series are 111111111111's; another account takes its place).
pub fn eu_spike_bill(run_date: &str, account: &str) -> Value {
    let spike = day(run_date) - Days::new(1);
    let bill = ce_response(
        spike - Days::new(120),
        day(run_date),
        day(run_date),
        Some(Spike {
            account: "111111111111",
            usage_type: "EU-DataTransfer-Out-Bytes",
            day: spike,
            factor: 20.0,
        }),
        None,
    );
    serde_json::from_str(&bill.to_string().replace("111111111111", account)).unwrap()
}

/// [`ce_response`] with several planted spikes, on one page.
pub fn ce_response_multi(
    from: NaiveDate,
    to: NaiveDate,
    estimated_from: NaiveDate,
    spikes: &[Spike],
) -> Value {
    ce_response_with(from, to, estimated_from, spikes, None)
}

fn ce_response_with(
    from: NaiveDate,
    to: NaiveDate,
    estimated_from: NaiveDate,
    spikes: &[Spike],
    next_token: Option<&str>,
) -> Value {
    let mut results = vec![];
    let mut d = from;
    while d < to {
        let groups: Vec<Value> = SERIES
            .iter()
            .map(|(acc, ut, base, price)| {
                let mut u = usage_on(*base, d);
                for s in spikes {
                    if s.account == *acc && s.usage_type == *ut && s.day == d {
                        u *= s.factor;
                    }
                }
                let unit = if ut.contains("Requests") {
                    "Requests"
                } else {
                    "GB"
                };
                json!({"Keys": [acc, ut], "Metrics": {
                    "UsageQuantity": {"Amount": format!("{u:.6}"), "Unit": unit},
                    "UnblendedCost": {"Amount": format!("{:.8}", u * price), "Unit": "USD"}}})
            })
            .collect();
        results.push(json!({
            "TimePeriod": {"Start": d.to_string(), "End": (d + Days::new(1)).to_string()},
            "Total": {}, "Groups": groups, "Estimated": d >= estimated_from}));
        d = d + Days::new(1);
    }
    let mut v = json!({
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
        "ResultsByTime": results,
        "DimensionValueAttributes": [
            {"Value": "111111111111", "Attributes": {"description": "prod-data"}},
            {"Value": "222222222222", "Attributes": {"description": "<!channel> sandbox"}}
        ]
    });
    if let Some(t) = next_token {
        v["NextPageToken"] = json!(t);
    }
    v
}

/// The real binary, with an environment that reaches only the emulator and the receiver.
pub struct Bin {
    pub dir: tempfile::TempDir,
    pub endpoint: String,
    pub webhook: Option<String>,
    pub extra_env: Vec<(String, String)>,
}

impl Bin {
    pub fn new(endpoint: &str) -> Bin {
        Bin {
            dir: tempfile::tempdir().unwrap(),
            endpoint: endpoint.to_string(),
            webhook: None,
            extra_env: Vec::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write the config file the runs use (the store inside the temp dir).
    pub fn write_config(&self, extra: &str) -> PathBuf {
        let p = self.path("egresswatch.toml");
        let body = format!(
            "[state]\npath = \"{}\"\n\n[sync]\nlookback_days = 120\n\n{extra}",
            self.path("state.db").display()
        );
        std::fs::write(&p, body).unwrap();
        p
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_egresswatch"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("RUST_LOG", "egresswatch=debug");
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        if let Some(w) = &self.webhook {
            cmd.env("EGRESSWATCH_SLACK_WEBHOOK_URL", w);
        }
        cmd.output().expect("running egresswatch")
    }

    /// Run and parse stdout as JSON; panics with stderr when the exit code is not `code`.
    pub fn run_json(&self, args: &[&str], code: i32) -> Value {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "args {args:?}\nstderr:\n{stderr}"
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

/// Seconds since the epoch of an RFC 3339 time.
pub fn trail_epoch(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp()
}
