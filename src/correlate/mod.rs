//! Correlation: who downloaded, what is new about them, and what changed around it.
//!
//! One pass over the trail feeds an [`Partial`] per worker (merged at the end):
//! - GetObject data events in the window, aggregated per (principal, source IP, user agent,
//!   bucket): requests, bytes out, distinct objects, errors, first and last seen;
//! - the same events in the baseline window (default the 14 days before), reduced to what is
//!   needed to say what is new: known principals, sources, agents and buckets, bytes per caller;
//! - S3 control-plane changes from the lookback (default 7 days before the window) to its end,
//!   judged by [`controlplane`]; reconnaissance reads and delete bursts, summarized.
//!
//! [`finalize`] ranks callers by the share of the excess they explain and flags what a security
//! reader should see first (anonymous, cross-account, presigned URLs, unknown networks, bulk
//! download tools, error storms), honouring the allow-lists.

pub mod activity;
pub mod agents;
pub mod controlplane;
pub mod coverage;
pub mod settings;
pub mod sql;

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use ipnet::IpNet;
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};
use serde::Serialize;
use std::hash::{Hash, Hasher};

use crate::sources::cloudtrail::record::Record;
use crate::sources::cloudtrail::{Consumer, Scope};
pub use activity::ActivityCounter;
use controlplane::{classify, Severity, DELETES, RECON};
pub use settings::CloudTrailSettings;

/// What to analyse: times are seconds since the epoch, windows are `[from, to)`.
#[derive(Debug, Clone)]
pub struct AnalysisSpec {
    pub window: (i64, i64),
    pub baseline: (i64, i64),
    /// Control-plane events are collected from `lookback.0` to the window's end.
    pub lookback: (i64, i64),
    /// Only this account (the bucket owner, `recipientAccountId`) and region, if set.
    pub account: Option<String>,
    pub region: Option<String>,
    /// Networks the organisation calls from; a source outside them is flagged (if any are set).
    pub known_cidrs: Vec<IpNet>,
    /// Callers that are not suspects (a nightly backup job): no flags, no "new".
    pub allow_principals: Vec<String>,
    pub allow_cidrs: Vec<IpNet>,
    /// Deletions by one principal in one bucket within an hour that make a burst.
    pub delete_burst: u64,
    /// Also count every S3 event in the window per (day, account, region, event, outcome), for
    /// the activity trends; these event names are not counted.
    pub activity: Option<Vec<String>>,
}

impl AnalysisSpec {
    /// The time of an S3 record this analysis reads (its account and region, if set), or
    /// `None` for a record it skips (or whose time cannot be read).
    pub fn admits(&self, r: &Record<'_>) -> Option<i64> {
        if !self.in_scope(r) {
            return None;
        }
        r.epoch_seconds()
    }

    /// Whether `r` is an S3 record of this analysis's account and region (if set).
    pub fn in_scope(&self, r: &Record<'_>) -> bool {
        if !r.is_s3() {
            return false;
        }
        if let Some(a) = &self.account {
            if r.recipient_account_id.as_deref() != Some(a.as_str()) {
                return false;
            }
        }
        if let Some(reg) = &self.region {
            if r.aws_region.as_deref() != Some(reg.as_str()) {
                return false;
            }
        }
        true
    }

    /// The span of event times the scan must read.
    pub fn span(&self) -> (i64, i64) {
        (
            self.baseline.0.min(self.lookback.0).min(self.window.0),
            self.window.1,
        )
    }
}

const SEP: char = '\u{1f}';

/// The strings one worker has seen, each stored once, by a small id: a caller is keyed by the
/// ids of its principal, source IP, user agent and bucket (16 bytes), not by a copy of them. An
/// organisation trail has hundreds of thousands of callers built from far fewer distinct
/// strings (sessions x a fleet's IPs x a few agents).
#[derive(Debug, Clone, Default)]
struct Interner {
    ids: FxHashMap<Box<str>, u32>,
    strings: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = u32::try_from(self.strings.len()).expect("fewer than 2^32 distinct strings");
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    fn get(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }
}

/// A caller: the interned (principal, source IP, user agent, bucket).
type CallerKey = [u32; 4];

/// The distinct objects a caller read, as key hashes: most callers of a busy trail read one
/// or two, which need no set of their own.
#[derive(Debug, Clone, Default)]
enum Objects {
    #[default]
    None,
    One(u64),
    Many(Box<FxHashSet<u64>>),
}

impl Objects {
    fn insert(&mut self, h: u64) {
        match self {
            Objects::None => *self = Objects::One(h),
            Objects::One(o) if *o == h => {}
            Objects::One(o) => {
                let first = *o;
                *self = Objects::Many(Box::new([first, h].into_iter().collect()));
            }
            Objects::Many(set) => {
                set.insert(h);
            }
        }
    }

    fn extend(&mut self, other: Objects) {
        match other {
            Objects::None => {}
            Objects::One(h) => self.insert(h),
            Objects::Many(set) => set.into_iter().for_each(|h| self.insert(h)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Objects::None => 0,
            Objects::One(_) => 1,
            Objects::Many(set) => set.len(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct CallerAcc {
    // (Hundreds of thousands of these on an organisation trail: keep it small.)
    /// Interned (see [`Partial::strings`]).
    role: Option<u32>,
    requests: u64,
    bytes_out: u64,
    objects: Objects,
    /// Distinct objects counted by a query engine (SQL sources), beside the hashed keys.
    objects_counted: u64,
    errors: u64,
    /// Failed requests by error code (boxed: most callers have none, and an empty map inline
    /// would cost every caller its size).
    error_codes: Option<Box<FxHashMap<String, u64>>>,
    presigned: u64,
    first: i64,
    last: i64,
    anonymous: bool,
    aws_service: bool,
    vpc_endpoint: bool,
    /// Interned.
    cross_account: Option<u32>,
}

#[derive(Debug, Clone, Default)]
struct ReconAcc {
    calls: FxHashMap<String, u64>,
    first: i64,
}

#[derive(Debug, Clone, Default)]
struct DeleteAcc {
    calls: u64,
    first: i64,
}

/// One group of events as a query engine returns it (see [`sql`]).
#[derive(Debug, Clone)]
pub(crate) struct Group<'a> {
    pub principal: &'a str,
    pub ip: Option<&'a str>,
    pub ua: Option<&'a str>,
    pub bucket: Option<&'a str>,
    /// Section-specific: the hour of a delete group, the event name of a recon group.
    pub detail: Option<&'a str>,
    /// Events in the group.
    pub n: u64,
    /// The earliest event time.
    pub first: i64,
}

/// A window caller group's sums.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallerTotals {
    pub bytes: u64,
    pub errors: u64,
    pub objects: u64,
    pub presigned: u64,
    pub last: i64,
}

/// A control-plane event as collected (before reporting).
#[derive(Debug, Clone, Serialize)]
pub struct EventReport {
    pub time: String,
    pub event_name: String,
    pub principal: String,
    pub source_ip: String,
    pub user_agent: String,
    pub bucket: String,
    pub severity: Severity,
    pub why: String,
    /// Whether it happened before the window (in the lookback) rather than inside it.
    pub before_window: bool,
    #[serde(skip)]
    epoch: i64,
}

impl EventReport {
    /// An event for renderer tests.
    #[cfg(test)]
    pub(crate) fn for_test(
        time: &str,
        name: &str,
        bucket: &str,
        severity: Severity,
        why: &str,
    ) -> Self {
        EventReport {
            time: time.into(),
            event_name: name.into(),
            principal: "arn:aws:iam::111111111111:user/app".into(),
            source_ip: "198.51.100.7".into(),
            user_agent: "aws-cli/2.15.0".into(),
            bucket: bucket.into(),
            severity,
            why: why.into(),
            before_window: true,
            epoch: 0,
        }
    }
}

/// Why a record in scope was skipped by the analysis (beside the reader's reasons and the
/// implausible byte counts of `record`).
pub const BAD_EVENT_TIME: &str = "eventTime missing or not a timestamp";

/// How many bad files [`DataQuality`] names.
const BAD_FILES_NAMED: usize = 20;

/// Counts of what was read.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DataQuality {
    /// Trail files read.
    pub files: u64,
    /// Records read (a record the analysis then refuses is also a bad record).
    pub records: u64,
    pub bad_files: u64,
    /// Records skipped: not readable as a record, or holding a value that cannot be true.
    pub bad_records: u64,
    /// A few bad files (the first 20 by name, so the same whichever worker read them), with why.
    pub bad_file_names: Vec<String>,
    /// Why records were skipped: reason → count.
    #[serde(default)]
    pub bad_record_reasons: BTreeMap<String, u64>,
}

impl DataQuality {
    /// Count one record skipped, and why.
    pub fn bad_record(&mut self, reason: &str) {
        self.bad_records += 1;
        self.add_reason(reason, 1);
    }

    /// Add `n` to the count of `reason` (the records themselves are counted by the caller).
    pub fn add_reason(&mut self, reason: &str, n: u64) {
        if n == 0 {
            return;
        }
        match self.bad_record_reasons.get_mut(reason) {
            Some(c) => *c += n,
            None => {
                self.bad_record_reasons.insert(reason.to_string(), n);
            }
        }
    }

    /// Count one file and its outcome (the first 20 bad files by name are named).
    pub fn file_done(&mut self, name: &str, records: u64, bad_records: u64, error: Option<String>) {
        self.files += 1;
        self.records += records;
        self.bad_records += bad_records;
        if let Some(e) = error {
            self.bad_files += 1;
            self.name_bad_files([format!("{name}: {e}")]);
        }
    }

    /// Keep the first [`BAD_FILES_NAMED`] of the bad files named so far and `more`, by name.
    fn name_bad_files(&mut self, more: impl IntoIterator<Item = String>) {
        self.bad_file_names.extend(more);
        self.bad_file_names.sort();
        self.bad_file_names.truncate(BAD_FILES_NAMED);
    }

    /// Add another worker's counts.
    pub fn merge(&mut self, other: DataQuality) {
        self.files += other.files;
        self.records += other.records;
        self.bad_files += other.bad_files;
        self.bad_records += other.bad_records;
        self.name_bad_files(other.bad_file_names);
        for (reason, n) in other.bad_record_reasons {
            self.add_reason(&reason, n);
        }
    }
}

/// One worker's share of the analysis; merged with [`Partial::merge`].
#[derive(Debug, Default)]
pub struct Partial {
    /// The strings of `callers`' keys, roles and accounts.
    strings: Interner,
    callers: FxHashMap<CallerKey, CallerAcc>,
    base_principals: FxHashSet<String>,
    base_ips: FxHashSet<String>,
    base_principal_ua: FxHashSet<String>,
    base_principal_bucket: FxHashSet<String>,
    base_principal_bytes: FxHashMap<String, u64>,
    events: Vec<EventReport>,
    recon: FxHashMap<String, ReconAcc>,
    deletes: FxHashMap<String, DeleteAcc>,
    /// Callers a query engine ranked below the kept ones and summed (SQL sources): the
    /// scanner keeps every caller and leaves this empty.
    rolled: Option<Rolled>,
    /// Window bytes of those summed callers, per principal of a kept caller (its excess and
    /// growth are judged on all of the principal's bytes).
    rolled_principal_bytes: FxHashMap<String, u64>,
    pub quality: DataQuality,
}

/// Callers summed before [`finalize`] (by a query engine), with the excess they carry.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rolled {
    pub groups: u64,
    pub requests: u64,
    pub bytes_out: u64,
    pub objects: u64,
    pub errors: u64,
    /// The sum of each summed caller's excess, as [`finalize`] computes one caller's.
    pub excess: f64,
}

fn fxhash(s: &str) -> u64 {
    let mut h = FxHasher::default();
    s.hash(&mut h);
    h.finish()
}

/// The UTC day of an epoch second.
fn utc_day(epoch: i64) -> Option<NaiveDate> {
    DateTime::<Utc>::from_timestamp(epoch, 0).map(|d| d.date_naive())
}

/// The trail folders a scan of `[start, end)` (epoch seconds) reads, for `query`'s account and
/// region.
fn scope_of(query: &Query, (start, end): (i64, i64)) -> anyhow::Result<Scope> {
    Ok(Scope {
        accounts: query.account.clone().map(|a| vec![a]),
        regions: query.region.clone().map(|r| vec![r]),
        first_day: utc_day(start).ok_or_else(|| anyhow::anyhow!("window start out of range"))?,
        last_day: utc_day(end - 1).ok_or_else(|| anyhow::anyhow!("window end out of range"))?,
    })
}

fn rfc3339(epoch: i64) -> String {
    DateTime::<Utc>::from_timestamp(epoch, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

impl Partial {
    /// Feed one record.
    /// A record of the scope whose time or byte count cannot be true is counted as a bad
    /// record, with why, and contributes nothing.
    pub fn add(&mut self, r: &Record<'_>, spec: &AnalysisSpec) {
        if !spec.in_scope(r) {
            return;
        }
        let Some(t) = r.epoch_seconds() else {
            self.quality.bad_record(BAD_EVENT_TIME);
            return;
        };
        let (from, to) = spec.window;
        let in_window = t >= from && t < to;
        let name = r.name();
        if name == "GetObject" {
            let in_baseline = t >= spec.baseline.0 && t < spec.baseline.1;
            if !in_window && !in_baseline {
                return;
            }
            let bytes = match r.checked_bytes_out() {
                Ok(b) => b,
                Err(why) => {
                    self.quality.bad_record(why);
                    return;
                }
            };
            if in_window {
                self.add_caller(r, t, bytes);
            } else {
                self.add_baseline(r, bytes);
            }
            return;
        }
        if t < spec.lookback.0 || t >= to {
            return;
        }
        if DELETES.contains(&name) {
            let obj = r.object();
            let key = format!(
                "{}{SEP}{}{SEP}{}",
                r.principal(),
                obj.bucket.as_deref().unwrap_or(""),
                t / 3600
            );
            let d = self
                .deletes
                .entry(key)
                .or_insert(DeleteAcc { calls: 0, first: t });
            d.calls += 1;
            d.first = d.first.min(t);
            return;
        }
        if RECON.contains(&name) {
            if in_window {
                let key = format!(
                    "{}{SEP}{}{SEP}{}",
                    r.principal(),
                    r.source_ip.as_deref().unwrap_or(""),
                    r.user_agent.as_deref().unwrap_or("")
                );
                let acc = self.recon.entry(key).or_insert(ReconAcc {
                    calls: FxHashMap::default(),
                    first: t,
                });
                *acc.calls.entry(name.to_string()).or_insert(0) += 1;
                acc.first = acc.first.min(t);
            }
            return;
        }
        let management = r.event_category.as_deref() != Some("Data");
        if !management {
            return;
        }
        let params: Option<serde_json::Value> = r
            .request_parameters
            .and_then(|raw| serde_json::from_str(raw.get()).ok());
        self.add_change(
            name,
            t,
            params.as_ref(),
            r.recipient_account_id.as_deref(),
            &r.principal(),
            r.source_ip.as_deref().unwrap_or(""),
            r.user_agent.as_deref().unwrap_or(""),
            r.error_code.as_deref(),
            spec,
        );
    }

    /// Judge one S3 management event and keep it if it matters.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_change(
        &mut self,
        name: &str,
        t: i64,
        params: Option<&serde_json::Value>,
        owner: Option<&str>,
        principal: &str,
        source_ip: &str,
        user_agent: &str,
        error_code: Option<&str>,
        spec: &AnalysisSpec,
    ) {
        let Some(verdict) = classify(name, params, owner) else {
            return;
        };
        if verdict.severity == Severity::Info {
            return;
        }
        let bucket = params
            .and_then(|p| p.get("bucketName"))
            .and_then(|b| b.as_str())
            .unwrap_or("")
            .to_string();
        self.events.push(EventReport {
            time: rfc3339(t),
            event_name: name.to_string(),
            principal: principal.to_string(),
            source_ip: source_ip.to_string(),
            user_agent: user_agent.to_string(),
            bucket,
            severity: verdict.severity,
            why: match error_code.filter(|c| !c.is_empty()) {
                Some(code) => format!("{} (attempt failed: {code})", verdict.why),
                None => verdict.why,
            },
            before_window: t < spec.window.0,
            epoch: t,
        });
    }

    /// A window caller aggregated by a query engine (one row per key, see [`sql`]).
    /// The interned key of a caller.
    fn caller_key(&mut self, principal: &str, ip: &str, ua: &str, bucket: &str) -> CallerKey {
        [
            self.strings.id(principal),
            self.strings.id(ip),
            self.strings.id(ua),
            self.strings.id(bucket),
        ]
    }

    fn group_key(&mut self, g: &Group<'_>) -> CallerKey {
        self.caller_key(
            g.principal,
            g.ip.unwrap_or(""),
            g.ua.unwrap_or(""),
            g.bucket.unwrap_or(""),
        )
    }

    pub(crate) fn add_caller_group(&mut self, g: &Group<'_>, r: &Record<'_>, c: CallerTotals) {
        // Error-code rows may come first and leave an empty entry: fill it in.
        let key = self.group_key(g);
        let role = r.role().map(|s| self.strings.id(s));
        let cross_account = r.cross_account().map(|s| self.strings.id(s));
        let acc = self.callers.entry(key).or_default();
        if acc.requests == 0 {
            acc.role = role;
            acc.first = g.first;
            acc.last = c.last;
            acc.anonymous = r.is_anonymous();
            acc.aws_service = r.is_aws_service();
            acc.vpc_endpoint = r.vpc_endpoint_id.is_some();
            acc.cross_account = cross_account;
        }
        acc.requests += g.n;
        acc.bytes_out = acc.bytes_out.saturating_add(c.bytes);
        acc.errors += c.errors;
        acc.presigned += c.presigned;
        acc.objects_counted += c.objects;
        acc.first = acc.first.min(g.first);
        acc.last = acc.last.max(c.last);
    }

    /// A window caller's failed requests with one error code.
    pub(crate) fn add_error_group(&mut self, g: &Group<'_>, code: &str) {
        let key = self.group_key(g);
        let acc = self.callers.entry(key).or_default();
        *acc.error_codes
            .get_or_insert_with(Box::default)
            .entry(code.to_string())
            .or_insert(0) += g.n;
    }

    /// Callers summed by a query engine (below the kept ones in rank order).
    pub(crate) fn add_rolled(&mut self, r: Rolled) {
        let a = self.rolled.get_or_insert_with(Rolled::default);
        a.groups += r.groups;
        a.requests += r.requests;
        a.bytes_out = a.bytes_out.saturating_add(r.bytes_out);
        a.objects += r.objects;
        a.errors += r.errors;
        a.excess += r.excess;
    }

    /// Window bytes of `principal`'s summed callers.
    pub(crate) fn add_rolled_principal_bytes(&mut self, principal: &str, bytes: u64) {
        let b = self
            .rolled_principal_bytes
            .entry(principal.to_string())
            .or_insert(0);
        *b = b.saturating_add(bytes);
    }

    /// One fact of the baseline a kept caller is judged by (a query engine returns these
    /// instead of every baseline group): a source IP seen, a principal's user agent or bucket
    /// seen, or a principal's baseline bytes.
    pub(crate) fn add_baseline_fact(&mut self, fact: BaselineFact<'_>) {
        match fact {
            BaselineFact::Ip(ip) => {
                self.base_ips.insert(ip.to_string());
            }
            BaselineFact::Agent(principal, ua) => {
                self.base_principal_ua
                    .insert(format!("{principal}{SEP}{ua}"));
            }
            BaselineFact::Bucket(principal, bucket) => {
                self.base_principal_bucket
                    .insert(format!("{principal}{SEP}{bucket}"));
            }
            BaselineFact::Bytes(principal, bytes) => {
                self.base_principals.insert(principal.to_string());
                let b = self
                    .base_principal_bytes
                    .entry(principal.to_string())
                    .or_insert(0);
                *b = b.saturating_add(bytes);
            }
        }
    }

    /// Deletions by one principal in one bucket within one hour (`detail`: `YYYY-MM-DDTHH`).
    pub(crate) fn add_delete_group(&mut self, g: &Group<'_>) -> anyhow::Result<()> {
        let hour = g.detail.unwrap_or("");
        let t = crate::sources::cloudtrail::record::parse_event_time(&format!("{hour}:00:00Z"))
            .ok_or_else(|| anyhow::anyhow!("not an hour: {hour:?}"))?;
        let key = format!(
            "{}{SEP}{}{SEP}{}",
            g.principal,
            g.bucket.unwrap_or(""),
            t / 3600
        );
        let d = self.deletes.entry(key).or_insert(DeleteAcc {
            calls: 0,
            first: g.first,
        });
        d.calls += g.n;
        d.first = d.first.min(g.first);
        Ok(())
    }

    /// Configuration reads of one event name (`detail`) by one (principal, IP, agent).
    pub(crate) fn add_recon_group(&mut self, g: &Group<'_>) {
        let key = format!(
            "{}{SEP}{}{SEP}{}",
            g.principal,
            g.ip.unwrap_or(""),
            g.ua.unwrap_or("")
        );
        let acc = self.recon.entry(key).or_insert(ReconAcc {
            calls: FxHashMap::default(),
            first: g.first,
        });
        *acc.calls
            .entry(g.detail.unwrap_or("").to_string())
            .or_insert(0) += g.n;
        acc.first = acc.first.min(g.first);
    }

    fn add_caller(&mut self, r: &Record<'_>, t: i64, bytes: u64) {
        let principal = r.principal();
        let obj = r.object();
        let key = self.caller_key(
            &principal,
            r.source_ip.as_deref().unwrap_or(""),
            r.user_agent.as_deref().unwrap_or(""),
            obj.bucket.as_deref().unwrap_or(""),
        );
        let acc = match self.callers.get_mut(&key) {
            Some(a) => a,
            None => {
                let acc = CallerAcc {
                    role: r.role().map(|s| self.strings.id(s)),
                    first: t,
                    last: t,
                    anonymous: r.is_anonymous(),
                    aws_service: r.is_aws_service(),
                    vpc_endpoint: r.vpc_endpoint_id.is_some(),
                    cross_account: r.cross_account().map(|s| self.strings.id(s)),
                    ..Default::default()
                };
                self.callers.entry(key).or_insert(acc)
            }
        };
        acc.requests += 1;
        acc.first = acc.first.min(t);
        acc.last = acc.last.max(t);
        acc.vpc_endpoint |= r.vpc_endpoint_id.is_some();
        if let Some(code) = r.error_code.as_deref().filter(|c| !c.is_empty()) {
            acc.errors += 1;
            *acc.error_codes
                .get_or_insert_with(Box::default)
                .entry(code.to_string())
                .or_insert(0) += 1;
        } else {
            // Saturating: byte counts come from the log, and a forged one must not panic.
            acc.bytes_out = acc.bytes_out.saturating_add(bytes);
        }
        if r.presigned() {
            acc.presigned += 1;
        }
        if let Some(k) = obj.key.as_deref() {
            acc.objects.insert(fxhash(k));
        }
    }

    fn add_baseline(&mut self, r: &Record<'_>, bytes: u64) {
        let principal = r.principal();
        if !self.base_principals.contains(principal.as_ref()) {
            self.base_principals.insert(principal.to_string());
        }
        if let Some(ip) = r.source_ip.as_deref() {
            if !self.base_ips.contains(ip) {
                self.base_ips.insert(ip.to_string());
            }
        }
        let ua = format!("{principal}{SEP}{}", r.user_agent.as_deref().unwrap_or(""));
        self.base_principal_ua.insert(ua);
        let obj = r.object();
        self.base_principal_bucket.insert(format!(
            "{principal}{SEP}{}",
            obj.bucket.as_deref().unwrap_or("")
        ));
        if r.error_code.as_deref().is_none_or(str::is_empty) {
            let b = self
                .base_principal_bytes
                .entry(principal.into_owned())
                .or_insert(0);
            *b = b.saturating_add(bytes);
        }
    }

    /// Count one file and its outcome.
    pub fn file_done(&mut self, name: &str, records: u64, bad_records: u64, error: Option<String>) {
        self.quality.file_done(name, records, bad_records, error);
    }

    pub fn merge(mut self, mut other: Partial) -> Partial {
        // The smaller one goes into the larger: rebuilding a table of hundreds of thousands of
        // callers entry by entry (an empty partial absorbing a full one, as a parallel reduce
        // does) held three tables at once. (No reserve: the two workers mostly saw the same
        // callers, and room for both would double the table for nothing.)
        // Sums, minima, maxima and sets do not mind the order; the lists (events, the first
        // bad files named) keep it: theirs stay first.
        if self.callers.len() < other.callers.len() {
            std::mem::swap(&mut self, &mut other);
            std::mem::swap(&mut self.events, &mut other.events);
            std::mem::swap(&mut self.quality, &mut other.quality);
        }
        // The other worker's ids mean its own strings: take them into ours.
        let theirs = other.strings;
        let mut ids: Vec<Option<u32>> = vec![None; theirs.strings.len()];
        let mut remap = |strings: &mut Interner, id: u32| -> u32 {
            *ids[id as usize].get_or_insert_with(|| strings.id(theirs.get(id)))
        };
        for (k, mut o) in other.callers {
            let k = k.map(|id| remap(&mut self.strings, id));
            o.role = o.role.map(|id| remap(&mut self.strings, id));
            o.cross_account = o.cross_account.map(|id| remap(&mut self.strings, id));
            match self.callers.get_mut(&k) {
                None => {
                    self.callers.insert(k, o);
                }
                Some(a) => {
                    a.requests += o.requests;
                    a.bytes_out = a.bytes_out.saturating_add(o.bytes_out);
                    a.objects.extend(o.objects);
                    a.objects_counted += o.objects_counted;
                    a.errors += o.errors;
                    for (c, n) in o.error_codes.into_iter().flat_map(|m| *m) {
                        *a.error_codes
                            .get_or_insert_with(Box::default)
                            .entry(c)
                            .or_insert(0) += n;
                    }
                    a.presigned += o.presigned;
                    a.first = a.first.min(o.first);
                    a.last = a.last.max(o.last);
                    a.role = a.role.take().or(o.role);
                    a.cross_account = a.cross_account.take().or(o.cross_account);
                    a.vpc_endpoint |= o.vpc_endpoint;
                }
            }
        }
        self.base_principals.extend(other.base_principals);
        self.base_ips.extend(other.base_ips);
        self.base_principal_ua.extend(other.base_principal_ua);
        self.base_principal_bucket
            .extend(other.base_principal_bucket);
        for (k, n) in other.base_principal_bytes {
            let b = self.base_principal_bytes.entry(k).or_insert(0);
            *b = b.saturating_add(n);
        }
        self.events.extend(other.events);
        for (k, o) in other.recon {
            let a = self.recon.entry(k).or_insert(ReconAcc {
                calls: FxHashMap::default(),
                first: o.first,
            });
            a.first = a.first.min(o.first);
            for (c, n) in o.calls {
                *a.calls.entry(c).or_insert(0) += n;
            }
        }
        for (k, o) in other.deletes {
            let a = self.deletes.entry(k).or_insert(DeleteAcc {
                calls: 0,
                first: o.first,
            });
            a.calls += o.calls;
            a.first = a.first.min(o.first);
        }
        if let Some(r) = other.rolled {
            self.add_rolled(r);
        }
        for (k, n) in other.rolled_principal_bytes {
            self.add_rolled_principal_bytes(&k, n);
        }
        self.quality.merge(other.quality);
        self
    }
}

/// See [`Partial::add_baseline_fact`].
pub(crate) enum BaselineFact<'a> {
    Ip(&'a str),
    Agent(&'a str, &'a str),
    Bucket(&'a str, &'a str),
    Bytes(&'a str, u64),
}

impl Consumer for Partial {
    type Spec = AnalysisSpec;

    fn add(&mut self, r: &Record<'_>, spec: &AnalysisSpec) {
        Partial::add(self, r, spec);
    }

    fn file_done(&mut self, name: &str, records: u64, bad_records: u64, error: Option<String>) {
        Partial::file_done(self, name, records, bad_records, error);
    }

    fn bad_record_reasons(&mut self, reasons: &crate::sources::cloudtrail::reader::Reasons) {
        for (reason, n) in reasons {
            self.quality.add_reason(reason, *n);
        }
    }

    fn merge(self, other: Self) -> Self {
        Partial::merge(self, other)
    }
}

/// One caller in the report.
#[derive(Debug, Clone, Serialize)]
pub struct CallerReport {
    pub principal: String,
    pub role: Option<String>,
    pub source_ip: String,
    pub user_agent: String,
    pub bucket: String,
    pub requests: u64,
    pub bytes_out: u64,
    pub objects: u64,
    pub errors: u64,
    pub first_seen: String,
    pub last_seen: String,
    /// What is new about this caller against the baseline window.
    pub new: Vec<String>,
    pub flags: Vec<String>,
    /// Share of all GetObject bytes in the window.
    pub share_of_bytes: f64,
    /// Share of the bytes above the principal's baseline rate (what ranks callers).
    pub share_of_excess: f64,
    pub allowlisted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub from: String,
    pub to: String,
}

/// The callers an analysis does not list one by one (beyond `cloudtrail.max_callers_kept`),
/// summed: with them, the callers' totals are the window's.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OtherCallers {
    /// Callers (principal, source IP, user agent, bucket) summed here.
    pub groups: u64,
    pub requests: u64,
    pub bytes_out: u64,
    /// The sum of each caller's distinct objects.
    pub objects: u64,
    pub errors: u64,
    pub share_of_bytes: f64,
    pub share_of_excess: f64,
}

/// The analysis of one window.
pub type Analysis = AnalysisOf<Vec<CallerReport>>;

/// [`Analysis`] with its callers in any container: a list, or, written as a stream
/// ([`finalize_with`]), an iterator that builds each caller's report only as it is written.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisOf<C> {
    pub window: Window,
    pub baseline: Window,
    /// The top callers, at most `cloudtrail.max_callers_kept` of them, most excess first.
    pub callers: C,
    /// The callers beyond those, summed (absent when every caller is listed).
    pub others: Option<OtherCallers>,
    pub events: Vec<EventReport>,
    pub data_quality: DataQuality,
    /// GetObject bytes in the window, and the part above each principal's baseline rate.
    pub bytes_out: u64,
    pub excess_bytes: u64,
    /// The pushed-down query, for SQL sources: what it scanned and cost.
    pub query: Option<sql::QueryStats>,
}

fn in_any(nets: &[IpNet], ip: &str) -> Option<bool> {
    let addr: IpAddr = ip.parse().ok()?;
    Some(nets.iter().any(|n| n.contains(&addr)))
}

/// Callers an analysis keeps unless configured (`cloudtrail.max_callers_kept`).
pub use settings::DEFAULT_MAX_CALLERS_KEPT;

/// [`finalize_keeping`] with the default number of callers kept.
pub fn finalize(p: Partial, spec: &AnalysisSpec) -> Analysis {
    finalize_keeping(p, spec, DEFAULT_MAX_CALLERS_KEPT as usize)
}

/// Turn the merged partial into the report: rank, mark what is new, flag. The first
/// `max_callers_kept` callers in rank order are reported one by one, the rest summed in
/// [`Analysis::others`] (so that the report's size does not grow with the number of callers,
/// and its totals stay exact).
pub fn finalize_keeping(p: Partial, spec: &AnalysisSpec, max_callers_kept: usize) -> Analysis {
    finalize_with(p, spec, max_callers_kept, |a| AnalysisOf {
        callers: a.callers.into_inner().collect(),
        window: a.window,
        baseline: a.baseline,
        others: a.others,
        events: a.events,
        data_quality: a.data_quality,
        bytes_out: a.bytes_out,
        excess_bytes: a.excess_bytes,
        query: a.query,
    })
}

/// Callers written as they are made: serialised once, each report built, written and dropped
/// in turn (an organisation trail's `--all` holds one report at a time, not 300,000).
pub struct CallerStream<'a>(
    std::cell::RefCell<Option<Box<dyn Iterator<Item = CallerReport> + 'a>>>,
);

impl<'a> CallerStream<'a> {
    fn new(it: impl Iterator<Item = CallerReport> + 'a) -> Self {
        CallerStream(std::cell::RefCell::new(Some(Box::new(it))))
    }

    /// The callers, in rank order (once).
    pub fn into_inner(self) -> Box<dyn Iterator<Item = CallerReport> + 'a> {
        self.0
            .into_inner()
            .unwrap_or_else(|| Box::new(std::iter::empty()))
    }
}

impl Serialize for CallerStream<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.borrow_mut().take() {
            Some(it) => s.collect_seq(it),
            None => Err(serde::ser::Error::custom(
                "the callers were written already",
            )),
        }
    }
}

impl std::fmt::Debug for CallerStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerStream")
    }
}

/// [`finalize_keeping`], handing `f` the analysis with its callers as a [`CallerStream`]: the
/// ranking is done, each caller's report is built only when the stream is read.
pub fn finalize_with<R>(
    p: Partial,
    spec: &AnalysisSpec,
    max_callers_kept: usize,
    f: impl FnOnce(AnalysisOf<CallerStream<'_>>) -> R,
) -> R {
    let window_days = ((spec.window.1 - spec.window.0) as f64 / 86_400.0).max(1.0 / 24.0);
    let base_days = ((spec.baseline.1 - spec.baseline.0) as f64 / 86_400.0).max(0.0);
    let rolled = p.rolled.clone().unwrap_or_default();
    let total_bytes: u64 = p
        .callers
        .values()
        .fold(rolled.bytes_out, |a, c| a.saturating_add(c.bytes_out));
    // Excess per principal: window bytes above its baseline daily rate, split over its callers.
    let mut principal_window: FxHashMap<&str, u64> = FxHashMap::default();
    for (k, c) in &p.callers {
        let principal = p.strings.get(k[0]);
        let w = principal_window.entry(principal).or_insert(0);
        *w = w.saturating_add(c.bytes_out);
    }
    for (principal, n) in &p.rolled_principal_bytes {
        let w = principal_window.entry(principal.as_str()).or_insert(0);
        *w = w.saturating_add(*n);
    }
    let principal_expected = |principal: &str| -> f64 {
        if base_days <= 0.0 {
            return 0.0;
        }
        p.base_principal_bytes.get(principal).copied().unwrap_or(0) as f64 / base_days * window_days
    };
    // Every caller's excess first (cheap): the ranking needs them all, the report only the top.
    struct Ranked<'p> {
        parts: [&'p str; 4],
        acc: &'p CallerAcc,
        excess: f64,
        share_of_excess: f64,
    }
    let mut ranked: Vec<Ranked<'_>> = Vec::with_capacity(p.callers.len());
    for (k, c) in &p.callers {
        let parts = k.map(|id| p.strings.get(id));
        let pw = principal_window.get(parts[0]).copied().unwrap_or(0) as f64;
        let pe = principal_expected(parts[0]);
        let excess = if pw > 0.0 {
            (pw - pe).max(0.0) * (c.bytes_out as f64 / pw)
        } else {
            0.0
        };
        ranked.push(Ranked {
            parts,
            acc: c,
            excess,
            share_of_excess: 0.0,
        });
    }
    // Summed in a fixed order: the map's order depends on how the trail was read (workers,
    // files, a query engine's rows), and float sums depend on order.
    let excess_total: f64 = {
        let mut sorted: Vec<f64> = ranked.iter().map(|r| r.excess).collect();
        if p.rolled.is_some() {
            sorted.push(rolled.excess);
        }
        sorted.sort_by(f64::total_cmp);
        sorted.iter().sum()
    };
    for r in &mut ranked {
        r.share_of_excess = if excess_total > 0.0 {
            r.excess / excess_total
        } else {
            0.0
        };
    }
    // Rank order (a total order: the key breaks every tie). Only the kept ones need sorting:
    // the rest are summed (in an order of their own, below), so a selection finds them.
    // (By excess, not its share: the SQL sources rank the same way, see `sql::query`.)
    let rank = |a: &Ranked<'_>, b: &Ranked<'_>| {
        b.excess
            .total_cmp(&a.excess)
            .then(b.acc.bytes_out.cmp(&a.acc.bytes_out))
            .then(a.parts.cmp(&b.parts))
    };
    let keep = max_callers_kept.min(ranked.len());
    if keep > 0 && keep < ranked.len() {
        ranked.select_nth_unstable_by(keep, rank);
    }
    ranked[..keep].sort_by(rank);
    let share_of_bytes = |bytes: u64| {
        if total_bytes > 0 {
            bytes as f64 / total_bytes as f64
        } else {
            0.0
        }
    };
    let dropped = ranked.split_off(keep);
    let others = (!dropped.is_empty() || p.rolled.is_some()).then(|| {
        let mut o = OtherCallers {
            groups: rolled.groups,
            requests: rolled.requests,
            bytes_out: rolled.bytes_out,
            objects: rolled.objects,
            errors: rolled.errors,
            ..OtherCallers::default()
        };
        for r in &dropped {
            let c = r.acc;
            o.groups += 1;
            o.requests += c.requests;
            o.bytes_out = o.bytes_out.saturating_add(c.bytes_out);
            o.objects += c.objects.len() as u64 + c.objects_counted;
            o.errors += c.errors;
        }
        let mut shares: Vec<f64> = dropped.iter().map(|r| r.share_of_excess).collect();
        if p.rolled.is_some() && excess_total > 0.0 {
            shares.push(rolled.excess / excess_total);
        }
        shares.sort_by(f64::total_cmp);
        o.share_of_excess = shares.iter().sum();
        o.share_of_bytes = share_of_bytes(o.bytes_out);
        o
    });
    let report = |r: &Ranked<'_>| -> CallerReport {
        let c = r.acc;
        let [principal, source_ip, user_agent, bucket] = r.parts.map(str::to_string);
        let pw = principal_window
            .get(principal.as_str())
            .copied()
            .unwrap_or(0) as f64;
        let allowlisted = spec
            .allow_principals
            .iter()
            .any(|a| *a == principal || Some(a.as_str()) == c.role.map(|r| p.strings.get(r)))
            || in_any(&spec.allow_cidrs, &source_ip) == Some(true);
        let mut new = Vec::new();
        let mut flags = Vec::new();
        if !allowlisted && base_days > 0.0 {
            if !p.base_principals.contains(&principal) {
                new.push("new principal".to_string());
            } else {
                if !p
                    .base_principal_ua
                    .contains(&format!("{principal}{SEP}{user_agent}"))
                {
                    new.push("new user agent".to_string());
                }
                if !p
                    .base_principal_bucket
                    .contains(&format!("{principal}{SEP}{bucket}"))
                {
                    new.push("new bucket".to_string());
                }
                let rate_now = pw / window_days;
                let rate_before =
                    p.base_principal_bytes.get(&principal).copied().unwrap_or(0) as f64 / base_days;
                if rate_before > 0.0 && rate_now >= 3.0 * rate_before {
                    new.push(format!("growth ×{:.0}", rate_now / rate_before));
                }
            }
            if !source_ip.is_empty() && !p.base_ips.contains(&source_ip) {
                new.push("new source IP".to_string());
            }
        }
        if !allowlisted {
            if c.anonymous {
                flags.push("anonymous".to_string());
            }
            if let Some(a) = c.cross_account.map(|a| p.strings.get(a)) {
                flags.push(format!("cross-account ({a})"));
            }
            if c.presigned > 0 {
                flags.push(format!("presigned URL ({} requests)", c.presigned));
            }
            if !spec.known_cidrs.is_empty() && !c.aws_service && !c.vpc_endpoint {
                if let Some(false) = in_any(&spec.known_cidrs, &source_ip) {
                    flags.push("source outside known networks".to_string());
                }
            }
            if let Some(tool) = agents::bulk_tool(&user_agent) {
                flags.push(format!("bulk download tool ({tool})"));
            }
            if c.requests >= 20 && c.errors * 5 >= c.requests {
                let mut codes: Vec<_> = c.error_codes.iter().flat_map(|m| m.iter()).collect();
                codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let top = codes.first().map(|(c, _)| c.as_str()).unwrap_or("errors");
                flags.push(format!(
                    "high error ratio ({} of {} requests, mostly {top})",
                    c.errors, c.requests
                ));
            }
        }
        CallerReport {
            principal,
            role: c.role.map(|r| p.strings.get(r).to_string()),
            source_ip,
            user_agent,
            bucket,
            requests: c.requests,
            bytes_out: c.bytes_out,
            objects: c.objects.len() as u64 + c.objects_counted,
            errors: c.errors,
            first_seen: rfc3339(c.first),
            last_seen: rfc3339(c.last),
            new,
            flags,
            share_of_bytes: share_of_bytes(c.bytes_out),
            share_of_excess: r.share_of_excess,
            allowlisted,
        }
    };

    let mut events = p.events;
    // Reconnaissance: summarized per (principal, source, agent), reported when something about
    // it is new or the agent is a known tool.
    for (k, acc) in &p.recon {
        let mut parts = k.split(SEP);
        let principal = parts.next().unwrap_or("").to_string();
        let ip = parts.next().unwrap_or("").to_string();
        let ua = parts.next().unwrap_or("").to_string();
        // AWS services read configuration on their own behalf (CloudTrail checks its bucket's
        // ACL thousands of times a day): never reconnaissance. Their principal names the
        // service (`AWS service: cloudtrail.amazonaws.com`), from the scanner and SQL alike.
        if is_aws_service_name(&principal) {
            continue;
        }
        let allowlisted = spec.allow_principals.contains(&principal)
            || in_any(&spec.allow_cidrs, &ip) == Some(true);
        let mut why_new = Vec::new();
        if base_days > 0.0 && !p.base_principals.contains(&principal) {
            why_new.push("a principal that downloaded nothing in the baseline");
        }
        if base_days > 0.0
            && !ip.is_empty()
            && !p.base_ips.contains(&ip)
            && ip.parse::<IpAddr>().is_ok()
        {
            why_new.push("a new source IP");
        }
        let tool = agents::bulk_tool(&ua);
        if allowlisted || (why_new.is_empty() && tool.is_none()) {
            continue;
        }
        let total: u64 = acc.calls.values().sum();
        let mut calls: Vec<_> = acc.calls.iter().collect();
        calls.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = calls
            .iter()
            .take(4)
            .map(|(n, c)| format!("{n}×{c}"))
            .collect();
        let mut why = format!(
            "reconnaissance: {total} configuration reads ({})",
            list.join(", ")
        );
        if !why_new.is_empty() {
            why.push_str(&format!(" from {}", why_new.join(" and ")));
        }
        if let Some(t) = tool {
            why.push_str(&format!(" with {t}"));
        }
        events.push(EventReport {
            time: rfc3339(acc.first),
            event_name: "Reconnaissance".into(),
            principal,
            source_ip: ip,
            user_agent: ua,
            bucket: String::new(),
            severity: if total >= 20 {
                Severity::Medium
            } else {
                Severity::Low
            },
            why,
            before_window: false,
            epoch: acc.first,
        });
    }
    for (k, d) in &p.deletes {
        if d.calls < spec.delete_burst {
            continue;
        }
        let mut parts = k.split(SEP);
        let principal = parts.next().unwrap_or("").to_string();
        let bucket = parts.next().unwrap_or("").to_string();
        events.push(EventReport {
            time: rfc3339(d.first),
            event_name: "DeleteObject burst".into(),
            principal,
            source_ip: String::new(),
            user_agent: String::new(),
            bucket,
            severity: Severity::High,
            why: format!(
                "{} delete calls within an hour (DeleteObjects removes up to 1,000 objects each)",
                d.calls
            ),
            before_window: d.first < spec.window.0,
            epoch: d.first,
        });
    }
    // A total order (events equal in every field are interchangeable): the workers' lists
    // arrive in the order files were handed out, which differs from run to run.
    events.sort_by(|a, b| {
        a.epoch
            .cmp(&b.epoch)
            .then(b.severity.cmp(&a.severity))
            .then(a.event_name.cmp(&b.event_name))
            .then_with(|| {
                (&a.principal, &a.source_ip, &a.user_agent, &a.bucket, &a.why).cmp(&(
                    &b.principal,
                    &b.source_ip,
                    &b.user_agent,
                    &b.bucket,
                    &b.why,
                ))
            })
            .then(a.before_window.cmp(&b.before_window))
            .then_with(|| a.time.cmp(&b.time))
    });
    f(AnalysisOf {
        window: Window {
            from: rfc3339(spec.window.0),
            to: rfc3339(spec.window.1),
        },
        baseline: Window {
            from: rfc3339(spec.baseline.0),
            to: rfc3339(spec.baseline.1),
        },
        callers: CallerStream::new(ranked.iter().map(report)),
        others,
        events,
        data_quality: p.quality,
        bytes_out: total_bytes,
        excess_bytes: excess_total.round() as u64,
        query: None,
    })
}

/// What to look at: a window, and optionally one account and region.
#[derive(Debug, Clone)]
pub struct Query {
    /// `[from, to)`, seconds since the epoch.
    pub window: (i64, i64),
    pub account: Option<String>,
    pub region: Option<String>,
}

impl Query {
    /// The whole UTC days `first..=last`.
    pub fn days(
        first: NaiveDate,
        last: NaiveDate,
        account: Option<String>,
        region: Option<String>,
    ) -> Query {
        use crate::model::units::midnight_epoch as midnight;
        Query {
            window: (midnight(first), midnight(last + chrono::Days::new(1))),
            account,
            region,
        }
    }

    pub fn spec(&self, s: &CloudTrailSettings) -> AnalysisSpec {
        let (from, to) = self.window;
        AnalysisSpec {
            window: (from, to),
            baseline: (from - i64::from(s.baseline_days) * 86_400, from),
            lookback: (from - i64::from(s.lookback_days) * 86_400, to),
            account: self.account.clone(),
            region: self.region.clone(),
            known_cidrs: s.known_cidrs.clone(),
            allow_principals: s.allow_principals.clone(),
            allow_cidrs: s.allow_cidrs.clone(),
            delete_burst: u64::from(s.delete_burst),
            activity: None,
        }
    }
}

/// Read the trail for `query` and analyse it: scan the files here, or run the analysis as SQL
/// where the trail is (Athena, CloudTrail Lake) and fold the answer in the same way.
pub async fn analyse(
    source: &crate::sources::cloudtrail::TrailSource,
    query: &Query,
    settings: &CloudTrailSettings,
    clients: &crate::sources::cloudtrail::Clients,
) -> anyhow::Result<Analysis> {
    let (partial, stats, spec) = read(source, query, settings, clients).await?;
    let mut a = finalize_keeping(partial, &spec, settings.max_callers_kept as usize);
    a.query = stats;
    Ok(a)
}

/// [`analyse`], handing `f` the analysis with its callers as a stream ([`finalize_with`]):
/// for writing every caller of an organisation trail without holding all their reports.
pub async fn analyse_with<R>(
    source: &crate::sources::cloudtrail::TrailSource,
    query: &Query,
    settings: &CloudTrailSettings,
    clients: &crate::sources::cloudtrail::Clients,
    f: impl FnOnce(AnalysisOf<CallerStream<'_>>) -> R,
) -> anyhow::Result<R> {
    let (partial, stats, spec) = read(source, query, settings, clients).await?;
    Ok(finalize_with(
        partial,
        &spec,
        settings.max_callers_kept as usize,
        |mut a| {
            a.query = stats;
            f(a)
        },
    ))
}

/// Read the trail for `query`: the merged partial, the query's statistics (SQL sources), and
/// the spec it was read with.
async fn read(
    source: &crate::sources::cloudtrail::TrailSource,
    query: &Query,
    settings: &CloudTrailSettings,
    clients: &crate::sources::cloudtrail::Clients,
) -> anyhow::Result<(
    Partial,
    Option<sql::QueryStats>,
    std::sync::Arc<AnalysisSpec>,
)> {
    use crate::sources::cloudtrail::scan;
    let spec = std::sync::Arc::new(query.spec(settings));
    let (partial, stats) = match dialect_of(source) {
        Some(dialect) => {
            let (rows, stats) = run_sql(
                &dialect,
                clients,
                &sql::query(&spec, &dialect, settings.max_callers_kept)?,
            )
            .await?;
            let nested_as_text = matches!(dialect, sql::Dialect::Lake { .. });
            (sql::fold(&rows, &spec, nested_as_text)?, Some(stats))
        }
        None => {
            let scope = scope_of(query, spec.span())?;
            let limits = crate::sources::cloudtrail::ReadLimits {
                max_file_bytes: settings.max_file_bytes,
            };
            (
                scan(source, &scope, spec.clone(), clients.s3.as_ref(), limits).await?,
                None,
            )
        }
    };
    Ok((partial, stats, spec))
}

/// The dialect of a SQL source; `None` for sources read here.
fn dialect_of(source: &crate::sources::cloudtrail::TrailSource) -> Option<sql::Dialect> {
    use crate::sources::cloudtrail::TrailSource;
    match source {
        TrailSource::Athena(a) => Some(sql::Dialect::Athena(a.table.clone())),
        TrailSource::Lake(l) => Some(sql::Dialect::Lake {
            event_data_store: l.event_data_store.clone(),
        }),
        _ => None,
    }
}

/// Run `q` on the engine `dialect` names, with its client.
async fn run_sql(
    dialect: &sql::Dialect,
    clients: &crate::sources::cloudtrail::Clients,
    q: &str,
) -> anyhow::Result<(crate::sources::sql::Rows, crate::sources::sql::QueryStats)> {
    use anyhow::Context as _;
    match dialect {
        sql::Dialect::Athena(_) => {
            let athena = clients.athena.as_ref().context("no Athena client")?;
            athena.run(q).await
        }
        sql::Dialect::Lake { .. } => {
            let lake = clients.lake.as_ref().context("no CloudTrail Lake client")?;
            lake.run(q).await
        }
    }
}

/// The SQL `analyse` would run for `query` on a SQL source (for review and cost estimates).
pub fn sql_for(
    source: &crate::sources::cloudtrail::TrailSource,
    query: &Query,
    settings: &CloudTrailSettings,
) -> anyhow::Result<String> {
    let dialect = dialect_of(source).ok_or_else(|| {
        anyhow::anyhow!("{source} is read here, not queried: there is no SQL to show")
    })?;
    sql::query(&query.spec(settings), &dialect, settings.max_callers_kept)
}

/// The SQL the activity count would run for `query`'s days on a SQL source.
pub fn activity_sql_for(
    source: &crate::sources::cloudtrail::TrailSource,
    query: &Query,
    settings: &CloudTrailSettings,
    ignore: Vec<String>,
) -> anyhow::Result<String> {
    let dialect = dialect_of(source).ok_or_else(|| {
        anyhow::anyhow!("{source} is read here, not queried: there is no SQL to show")
    })?;
    sql::activity_query(&activity_spec(query, settings, ignore), &dialect)
}

/// The bill against the trail: how much of an incident's excess CloudTrail explains.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    /// The unit of the three amounts: `bytes` or `requests`.
    pub unit: String,
    /// The excess Cost Explorer billed over the incident's days.
    pub billed_excess: f64,
    /// What CloudTrail attributes to callers above their baseline rate.
    pub attributed: f64,
    /// Billed but not attributed (never negative).
    pub unattributed: f64,
    /// Likely reasons for the remainder, most likely first.
    pub reasons: Vec<String>,
}

/// CloudTrail's view of one incident.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentContext {
    pub analysis: Option<Analysis>,
    pub reconciliation: Option<Reconciliation>,
    /// Why there is no analysis (the trail could not be read).
    pub error: Option<String>,
    /// The region's trail coverage (with `[coverage]`): which buckets' bytes can be named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<crate::model::coverage::RegionCoverage>,
    /// GuardDuty's S3 findings for the incident's account, region and window.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guardduty: Vec<crate::model::coverage::GuardDutyFinding>,
}

impl IncidentContext {
    /// No trail read (yet): only what `[coverage]` may add.
    pub fn unread() -> Self {
        IncidentContext {
            analysis: None,
            reconciliation: None,
            error: None,
            coverage: None,
            guardduty: Vec::new(),
        }
    }
}

/// How many buckets a reason names (the rest counted).
const BUCKETS_NAMED: usize = 5;

/// "b1 (why); b2 (why) and 3 more".
fn name_buckets(list: &[(String, String)]) -> String {
    let mut out: Vec<String> = list
        .iter()
        .take(BUCKETS_NAMED)
        .map(|(b, why)| format!("{b} ({why})"))
        .collect();
    if list.len() > BUCKETS_NAMED {
        out.push(format!("and {} more", list.len() - BUCKETS_NAMED));
    }
    out.join("; ")
}

/// What the region's coverage says about bytes CloudTrail cannot name, if it says anything.
pub fn coverage_reason(c: &crate::model::coverage::RegionCoverage) -> Option<String> {
    let mut parts = Vec::new();
    if !c.not_attributable.is_empty() {
        parts.push(format!(
            "no trail records GetObject on {} bucket(s) of {}, whose bytes cannot be named: {}",
            c.not_attributable.len(),
            c.region,
            name_buckets(&c.not_attributable)
        ));
    }
    if !c.partly_attributable.is_empty() {
        parts.push(format!(
            "trails record only part of {} bucket(s): {}",
            c.partly_attributable.len(),
            name_buckets(&c.partly_attributable)
        ));
    }
    if !c.unknown.is_empty() {
        parts.push(format!(
            "whether trails record GetObject on {} bucket(s) could not be read: {}",
            c.unknown.len(),
            name_buckets(&c.unknown)
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Whether a principal is an AWS service acting for itself (`s3.amazonaws.com`, not an ARN).
fn is_aws_service_name(principal: &str) -> bool {
    let name = principal
        .strip_prefix(crate::sources::cloudtrail::record::AWS_SERVICE_PREFIX)
        .unwrap_or(principal);
    !name.contains(':') && (name.ends_with(".amazonaws.com") || name.ends_with(".amazonaws.com.cn"))
}

/// Compare an incident's billed excess with the analysis of its window. With the region's
/// `coverage`, the reasons name the buckets no trail records instead of guessing.
pub fn reconcile(
    i: &crate::model::Incident,
    a: &Analysis,
    coverage: Option<&crate::model::coverage::RegionCoverage>,
) -> Reconciliation {
    use crate::model::Family;
    let bytes_family = i.family.is_bytes();
    let (unit, billed, attributed) = if bytes_family {
        (
            "bytes",
            i.total_excess_usage * crate::model::units::BYTES_PER_GB,
            a.excess_bytes as f64,
        )
    } else {
        let requests: u64 = a.callers.iter().map(|c| c.requests).sum::<u64>()
            + a.others.as_ref().map_or(0, |o| o.requests);
        ("requests", i.total_excess_usage, requests as f64)
    };
    let unattributed = (billed - attributed).max(0.0);
    let mut reasons = Vec::new();
    let blind = coverage.and_then(coverage_reason);
    if a.callers.is_empty() && blind.is_none() {
        reasons.push("no GetObject data events in the trail for this account, region and window: S3 data events may not be enabled for the bucket".to_string());
    }
    if i.family == Family::CloudfrontOut {
        reasons.push("bytes served through CloudFront reach viewers from CloudFront's logs, not as S3 GetObject bytes".into());
    }
    if a.data_quality.bad_files > 0 {
        reasons.push(format!(
            "{} trail file(s) could not be read",
            a.data_quality.bad_files
        ));
    }
    if unattributed > 0.05 * billed {
        match (&blind, coverage) {
            (Some(b), _) => reasons.push(b.clone()),
            (None, Some(c)) if !a.callers.is_empty() && c.attributable > 0 => reasons.push(format!(
                "every bucket of {} is recorded by a trail (coverage read {}): delivery can lag the window's end",
                c.region, c.collected_at
            )),
            (None, _) if !a.callers.is_empty() => reasons.push("data events may cover only some buckets (event selectors), and delivery can lag the window's end".into()),
            _ => {}
        }
    }
    if attributed > 1.5 * billed && bytes_family {
        reasons.push("CloudTrail counts every GetObject byte, including transfer that is not billed in this family (same-region and CloudFront origin fetches are free)".into());
    }
    Reconciliation {
        unit: unit.into(),
        billed_excess: billed,
        attributed,
        unattributed,
        reasons,
    }
}

/// What the activity count reads: `query`'s window only (no baseline, no lookback), every S3
/// event but the `ignore`d names.
pub fn activity_spec(
    query: &Query,
    settings: &CloudTrailSettings,
    ignore: Vec<String>,
) -> AnalysisSpec {
    let mut spec = query.spec(settings);
    spec.baseline = (query.window.0, query.window.0);
    spec.lookback = query.window;
    spec.activity = Some(ignore);
    spec
}

/// Count S3 activity per (day, account, region, event, outcome) over `query`'s window, in one
/// pass over the trail (nothing else is gathered). `ignore`: event names not counted.
pub async fn scan_activity(
    source: &crate::sources::cloudtrail::TrailSource,
    query: &Query,
    settings: &CloudTrailSettings,
    clients: &crate::sources::cloudtrail::Clients,
    ignore: Vec<String>,
) -> anyhow::Result<(Vec<crate::model::ActivityCount>, DataQuality)> {
    use crate::sources::cloudtrail::scan;
    let spec = activity_spec(query, settings, ignore);
    if let Some(dialect) = dialect_of(source) {
        let q = sql::activity_query(&spec, &dialect)?;
        let (rows, _stats) = run_sql(&dialect, clients, &q).await?;
        let (counts, bad) = sql::fold_activity(&rows)?;
        let quality = DataQuality {
            records: rows.rows.len() as u64,
            bad_records: bad,
            ..DataQuality::default()
        };
        return Ok((counts, quality));
    }
    let spec = std::sync::Arc::new(spec);
    let scope = scope_of(query, query.window)?;
    let limits = crate::sources::cloudtrail::ReadLimits {
        max_file_bytes: settings.max_file_bytes,
    };
    let counter: ActivityCounter = scan(source, &scope, spec, clients.s3.as_ref(), limits).await?;
    Ok(counter.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_named_are_the_first_by_name_whatever_the_worker() {
        let fail = |q: &mut DataQuality, names: &[u32]| {
            for n in names {
                q.file_done(&format!("f{n:03}"), 1, 0, Some("corrupt".into()));
            }
        };
        let (mut a, mut b, mut one) = (
            DataQuality::default(),
            DataQuality::default(),
            DataQuality::default(),
        );
        let names: Vec<u32> = (0..50).rev().collect();
        fail(&mut a, &names[..25]); // 49..25
        fail(&mut b, &names[25..]); // 24..0
        fail(&mut one, &names);
        let mut ab = a.clone();
        ab.merge(b.clone());
        b.merge(a);
        let first: Vec<String> = (0..20).map(|n| format!("f{n:03}: corrupt")).collect();
        for q in [&ab, &b, &one] {
            assert_eq!(q.bad_file_names, first);
            assert_eq!(q.bad_files, 50);
        }
    }

    #[test]
    fn aws_services_reading_configuration_are_never_reconnaissance() {
        assert!(is_aws_service_name("cloudtrail.amazonaws.com"));
        assert!(!is_aws_service_name(
            "arn:aws:iam::1:user/cloudtrail.amazonaws.com"
        ));
        assert!(!is_aws_service_name("arn:aws:sts::1:assumed-role/r/s"));
        // CloudTrail checking its bucket's ACL, and a person doing the same with a bulk tool.
        let read = |who: &str, kind: &str, ua: &str| {
            format!(
                r#"{{"eventTime":"2026-06-15T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetBucketAcl","sourceIPAddress":"{ip}","userAgent":"{ua}","recipientAccountId":"1","userIdentity":{{"type":"{kind}"{who}}},"requestParameters":{{"bucketName":"b"}}}}"#,
                ip = if kind == "AWSService" {
                    "cloudtrail.amazonaws.com"
                } else {
                    "198.51.100.9"
                },
            )
        };
        let mut lines: Vec<String> = (0..500)
            .map(|_| {
                read(
                    r#","invokedBy":"cloudtrail.amazonaws.com""#,
                    "AWSService",
                    "cloudtrail.amazonaws.com",
                )
            })
            .collect();
        lines.push(read(
            r#","arn":"arn:aws:iam::1:user/mallory","accountId":"1""#,
            "IAMUser",
            "rclone/v1.66",
        ));
        let a = analyse(&lines, &spec());
        let recon: Vec<&EventReport> = a
            .events
            .iter()
            .filter(|e| e.why.starts_with("reconnaissance"))
            .collect();
        assert_eq!(recon.len(), 1, "{recon:#?}");
        assert!(recon[0].principal.contains("mallory"), "{recon:#?}");
    }
    use crate::sources::cloudtrail::reader::for_each_record;

    fn spec() -> AnalysisSpec {
        let day = 1_781_481_600; // 2026-06-15T00:00:00Z
        AnalysisSpec {
            window: (day, day + 86_400),
            baseline: (day - 14 * 86_400, day),
            lookback: (day - 7 * 86_400, day + 86_400),
            account: None,
            region: None,
            known_cidrs: vec!["10.0.0.0/8".parse().unwrap()],
            allow_principals: vec!["arn:aws:iam::1:role/backup".into()],
            allow_cidrs: vec![],
            delete_burst: 3,
            activity: None,
        }
    }

    fn analyse(lines: &[String], spec: &AnalysisSpec) -> Analysis {
        let text = lines.join("\n");
        let mut p = Partial::default();
        for_each_record(text.as_bytes(), |r| p.add(&r, spec));
        finalize(p, spec)
    }

    fn get(principal: &str, role: Option<&str>, ip: &str, vpce: bool) -> String {
        let ctx = role.map_or(String::new(), |r| {
            format!(r#","sessionContext":{{"sessionIssuer":{{"arn":"{r}"}}}}"#)
        });
        let vpce = if vpce {
            r#","vpcEndpointId":"vpce-1""#
        } else {
            ""
        };
        format!(
            r#"{{"eventTime":"2026-06-15T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","sourceIPAddress":"{ip}","userAgent":"aws-sdk-go","recipientAccountId":"1","userIdentity":{{"type":"AssumedRole","arn":"{principal}","accountId":"1"{ctx}}},"requestParameters":{{"bucketName":"b","key":"k"}},"additionalEventData":{{"bytesTransferredOut":100}}{vpce}}}"#
        )
    }

    #[test]
    fn allow_lists_known_networks_and_vpc_endpoints() {
        let lines = vec![
            get(
                "arn:aws:sts::1:assumed-role/backup/nightly",
                Some("arn:aws:iam::1:role/backup"),
                "203.0.113.1",
                false,
            ),
            get(
                "arn:aws:sts::1:assumed-role/app/x",
                Some("arn:aws:iam::1:role/app"),
                "10.1.2.3",
                false,
            ),
            get(
                "arn:aws:sts::1:assumed-role/web/y",
                Some("arn:aws:iam::1:role/web"),
                "203.0.113.2",
                false,
            ),
            get(
                "arn:aws:sts::1:assumed-role/etl/z",
                Some("arn:aws:iam::1:role/etl"),
                "203.0.113.3",
                true,
            ),
        ];
        let a = analyse(&lines, &spec());
        let by = |p: &str| a.callers.iter().find(|c| c.principal.contains(p)).unwrap();
        let backup = by("backup");
        assert!(
            backup.allowlisted && backup.flags.is_empty() && backup.new.is_empty(),
            "{backup:?}"
        );
        assert!(
            !by("app").flags.iter().any(|f| f.contains("outside")),
            "10.1.2.3 is a known network"
        );
        assert!(by("web")
            .flags
            .iter()
            .any(|f| f.contains("outside known networks")));
        assert!(
            !by("etl").flags.iter().any(|f| f.contains("outside")),
            "a VPC endpoint is not the internet"
        );
        assert!(by("web").new.contains(&"new principal".to_string()));
    }

    /// A GetObject in the window by `who` from `ip`, claiming `bytes` (JSON text).
    fn get_claiming(who: &str, ip: &str, time: &str, bytes: &str) -> String {
        format!(
            r#"{{"eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"GetObject","sourceIPAddress":"{ip}","recipientAccountId":"1","userIdentity":{{"type":"IAMUser","arn":"{who}","accountId":"1"}},"requestParameters":{{"bucketName":"b","key":"k"}},"additionalEventData":{{"bytesTransferredOut":{bytes}}}}}"#
        )
    }

    #[test]
    fn implausible_records_are_bad_records_with_reasons_and_count_for_nothing() {
        use crate::sources::cloudtrail::record::{
            BYTES_ABOVE_MAX, BYTES_NEGATIVE, BYTES_NOT_A_NUMBER,
        };
        let t = "2026-06-15T10:00:00Z";
        let base = "2026-06-10T10:00:00Z";
        let real = "arn:aws:iam::1:user/real";
        let forger = "arn:aws:iam::1:user/forger";
        let mut lines = vec![
            get_claiming(real, "10.0.0.1", t, "1000"),
            get_claiming(real, "10.0.0.1", t, "2000.0"),
            get_claiming(forger, "203.0.113.1", t, "1e308"),
            get_claiming(forger, "203.0.113.1", t, &u64::MAX.to_string()),
            get_claiming(forger, "203.0.113.1", t, "-5"),
            get_claiming(forger, "203.0.113.1", t, r#""abc""#),
            get_claiming(forger, "203.0.113.1", "yesterday", "10"),
            // A forged baseline would make every real caller "expected".
            get_claiming(real, "10.0.0.1", base, "5497558138881"),
            // Out of scope (another service): not the analysis's to judge.
            r#"{"eventTime":"nope","eventSource":"ec2.amazonaws.com","eventName":"RunInstances"}"#
                .into(),
        ];
        let a = analyse(&lines, &spec());
        let q = &a.data_quality;
        assert_eq!(q.bad_records, 6, "{q:?}");
        let reasons: Vec<(&str, u64)> = q
            .bad_record_reasons
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            reasons,
            [
                (BYTES_ABOVE_MAX, 3),
                (BYTES_NEGATIVE, 1),
                (BYTES_NOT_A_NUMBER, 1),
                (BAD_EVENT_TIME, 1)
            ]
        );
        assert_eq!(a.callers.len(), 1, "{:?}", a.callers);
        assert_eq!(
            (a.callers[0].principal.as_str(), a.callers[0].bytes_out),
            (real, 3000)
        );
        assert_eq!(
            (a.callers[0].share_of_bytes, a.callers[0].share_of_excess),
            (1.0, 1.0)
        );
        assert_eq!((a.bytes_out, a.excess_bytes), (3000, 3000));
        // Exactly 5 TiB is a real object.
        lines.push(get_claiming(real, "10.0.0.1", t, &(5u64 << 40).to_string()));
        let a = analyse(&lines, &spec());
        assert_eq!(a.bytes_out, 3000 + (5 << 40));
        assert_eq!(a.data_quality.bad_records, 6);
        // The reasons survive the merge of workers, and serialize only when there are some.
        let mut p = Partial::default();
        p.quality.bad_record("x");
        let mut other = Partial::default();
        other.quality.bad_record("x");
        other.quality.add_reason("y", 2);
        let merged = p.merge(other).quality;
        assert_eq!(
            merged.bad_record_reasons,
            BTreeMap::from([("x".into(), 2), ("y".into(), 2)])
        );
        // Present even when empty (README, "JSON outputs").
        let empty = serde_json::to_value(DataQuality::default()).unwrap();
        assert_eq!(
            empty["bad_record_reasons"],
            serde_json::json!({}),
            "{empty}"
        );
    }

    #[test]
    fn workers_merged_say_what_one_reader_says() {
        // Records fed to two workers in different orders (so each numbers the strings its own
        // way), merged, and to one reader: the same analysis. Callers read 1, 2 and 3 distinct
        // objects (the set grows from none to one to many), cross-account and with a role.
        let mut lines = Vec::new();
        for i in 0..60u32 {
            let mut v: serde_json::Value = serde_json::from_str(&get(
                &format!("arn:aws:sts::2:assumed-role/r{}/s{}", i % 2, i % 2),
                Some(&format!("arn:aws:iam::2:role/r{}", i % 2)),
                &format!("203.0.113.{}", i % 3),
                false,
            ))
            .unwrap();
            // Caller i % 6 reads 1, 2 or 3 distinct objects (i % 6 % 3 + 1).
            v["requestParameters"]["key"] = format!("k{}", (i / 6) % (i % 6 % 3 + 1)).into();
            v["userIdentity"]["accountId"] = "2".into();
            lines.push(v.to_string());
        }
        let one = analyse(&lines, &spec());
        let (mut a, mut b) = (Partial::default(), Partial::default());
        let (odd, even): (Vec<_>, Vec<_>) = lines.iter().enumerate().partition(|(i, _)| i % 2 == 1);
        let text = |v: Vec<(usize, &String)>| {
            v.into_iter()
                .rev()
                .map(|(_, l)| l.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        };
        for_each_record(text(odd).as_bytes(), |r| a.add(&r, &spec()));
        for_each_record(text(even).as_bytes(), |r| b.add(&r, &spec()));
        let merged = finalize(a.merge(b), &spec());
        let key = |x: &Analysis| {
            let mut v: Vec<String> = x.callers.iter().map(|c| format!("{c:?}")).collect();
            v.sort();
            v
        };
        assert_eq!(key(&merged), key(&one));
        assert_eq!(merged.bytes_out, one.bytes_out);
        let mut objects: Vec<u64> = one.callers.iter().map(|c| c.objects).collect();
        objects.sort_unstable();
        assert_eq!(objects, [1, 1, 2, 2, 3, 3], "{:#?}", one.callers);
        assert!(one
            .callers
            .iter()
            .all(|c| c.role.as_deref().is_some_and(|r| r.contains(":role/r"))));
        assert!(
            one.callers
                .iter()
                .all(|c| c.flags.iter().any(|f| f == "cross-account (2)")),
            "{:#?}",
            one.callers
        );
    }

    #[test]
    fn callers_beyond_the_kept_ones_are_summed_exactly() {
        let t = "2026-06-15T10:00:00Z";
        // 250 callers: caller i sends (i + 1) KB in (i % 3 + 1) requests.
        let mut lines = Vec::new();
        let (mut bytes, mut requests) = (0u64, 0u64);
        for i in 0..250u64 {
            for r in 0..(i % 3 + 1) {
                let b = if r == 0 { (i + 1) * 1000 } else { 0 };
                let who = format!("arn:aws:iam::1:user/u{i}");
                lines.push(get_claiming(&who, "10.0.0.1", t, &b.to_string()));
                bytes += b;
                requests += 1;
            }
        }
        let mut denied: serde_json::Value =
            serde_json::from_str(&get_claiming("arn:aws:iam::1:user/u0", "10.0.0.1", t, "0"))
                .unwrap();
        denied["errorCode"] = "AccessDenied".into();
        lines.push(denied.to_string());
        requests += 1;
        let text = lines.join("\n");
        let mut p = Partial::default();
        for_each_record(text.as_bytes(), |r| p.add(&r, &spec()));
        // Written as a stream, the same document as the list (for every limit).
        for keep in [1, 40, 250, usize::MAX] {
            let mut q = Partial::default();
            for_each_record(text.as_bytes(), |r| q.add(&r, &spec()));
            let streamed = finalize_with(q, &spec(), keep, |a| serde_json::to_string(&a).unwrap());
            let mut q = Partial::default();
            for_each_record(text.as_bytes(), |r| q.add(&r, &spec()));
            let listed = serde_json::to_string(&finalize_keeping(q, &spec(), keep)).unwrap();
            assert_eq!(streamed, listed, "keep {keep}");
        }
        let a = finalize_keeping(p, &spec(), 40);
        assert_eq!(a.callers.len(), 40);
        let o = a.others.as_ref().expect("an others rollup");
        assert_eq!(o.groups, 210);
        let kept_bytes: u64 = a.callers.iter().map(|c| c.bytes_out).sum();
        let kept_requests: u64 = a.callers.iter().map(|c| c.requests).sum();
        let kept_objects: u64 = a.callers.iter().map(|c| c.objects).sum();
        let kept_errors: u64 = a.callers.iter().map(|c| c.errors).sum();
        assert_eq!(kept_bytes + o.bytes_out, bytes);
        assert_eq!(a.bytes_out, bytes);
        assert_eq!(kept_requests + o.requests, requests);
        assert_eq!(kept_objects + o.objects, 250, "one object per caller");
        assert_eq!(kept_errors + o.errors, 1);
        assert_eq!(o.errors, 1, "the denied caller (u0) sends least");
        // The kept callers are the top 40 (no baseline: excess is bytes), most first.
        let names: Vec<&str> = a.callers.iter().map(|c| c.principal.as_str()).collect();
        assert_eq!(names[0], "arn:aws:iam::1:user/u249");
        assert_eq!(names[39], "arn:aws:iam::1:user/u210");
        let shares: f64 =
            a.callers.iter().map(|c| c.share_of_bytes).sum::<f64>() + o.share_of_bytes;
        assert!((shares - 1.0).abs() < 1e-9, "{shares}");
        let excess: f64 =
            a.callers.iter().map(|c| c.share_of_excess).sum::<f64>() + o.share_of_excess;
        assert!((excess - 1.0).abs() < 1e-9, "{excess}");
        // The requests a reconciliation counts include the others'.
        let day = NaiveDate::from_ymd_opt(2026, 6, 15).unwrap();
        let i = crate::model::Incident {
            account: "1".into(),
            account_name: None,
            region: "eu-west-1".into(),
            family: crate::model::Family::GetRequests,
            day,
            start: day,
            peak_day: day,
            days: 1,
            observed: 1000.0,
            expected: 10.0,
            lower: 5.0,
            upper: 20.0,
            unit: "Requests".into(),
            excess_usage: 990.0,
            excess_pct: None,
            excess_cost_usd: 1.0,
            observed_cost_usd: 1.0,
            total_excess_usage: 990.0,
            total_excess_cost_usd: 1.0,
            score: 1.0,
            robust_z: 10.0,
            p_value: 0.0,
            evidence: "spike".into(),
            young: false,
            estimated: false,
            reason: String::new(),
            related: Vec::new(),
        };
        assert_eq!(reconcile(&i, &a, None).attributed, requests as f64);
        // Few callers: no rollup, `null` in the JSON (present, as every field).
        let a = analyse(&lines[..3], &spec());
        assert!(a.others.is_none());
        assert!(serde_json::to_value(&a).unwrap()["others"].is_null());
    }

    #[test]
    fn delete_bursts_are_reported_once_per_principal_bucket_hour() {
        let del = |m: u32| {
            format!(
                r#"{{"eventTime":"2026-06-15T11:{m:02}:00Z","eventSource":"s3.amazonaws.com","eventName":"DeleteObjects","eventCategory":"Data","recipientAccountId":"1","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::1:user/x","accountId":"1"}},"requestParameters":{{"bucketName":"b"}}}}"#
            )
        };
        let a = analyse(&(0..5).map(del).collect::<Vec<_>>(), &spec());
        let bursts: Vec<_> = a
            .events
            .iter()
            .filter(|e| e.event_name == "DeleteObject burst")
            .collect();
        assert_eq!(bursts.len(), 1);
        assert!(
            bursts[0].why.starts_with("5 delete calls"),
            "{}",
            bursts[0].why
        );
        let a = analyse(&(0..2).map(del).collect::<Vec<_>>(), &spec());
        assert!(a.events.is_empty(), "two deletes are not a burst");
    }
}
