//! What the inventory means per bucket: can its GetObject calls be named, and what else leaves
//! egresswatch (or its reader) blind.
//!
//! An incident names callers only from GetObject data events, and CloudTrail records those
//! only where a logging trail (or an enabled Lake event data store) covers the bucket's region
//! and one of its selectors matches every key of the bucket. A selector that records "all S3
//! buckets except one" is common and silent: [`evaluate`] finds exactly the bucket left out,
//! says which trail and which operator left it out, and writes the command that records it
//! (the trail's whole selector list, since CloudTrail replaces it). The guard rails that make
//! an exfiltration easy or hard (Block Public Access, versioning, MFA delete, service control
//! policies, GuardDuty, the request metrics the early warning reads) are judged alongside.
//!
//! Pure: the inventory in, the coverage out; strings from AWS are carried, never trusted to
//! be well formed.

mod fix;
mod scp;
mod selectors;

use std::collections::BTreeMap;

use crate::model::coverage::{
    Attribution, BlindSpot, BucketCoverage, BucketFacts, Coverage, EventDataStore, Inventory,
    PublicAccessBlock, ScpDenial, Selectors, Trail,
};
use fix::sh;
use selectors::{Bucket, Miss, Reach};

/// At most this many reasons are given in one sentence.
const REASONS: usize = 4;

/// Evaluate an inventory: per bucket, whether its GetObject calls are recorded, its guard
/// rails, and the blind spots with their fixes.
pub fn evaluate(inv: &Inventory) -> Coverage {
    let sources: Vec<Source> = inv
        .trails
        .iter()
        .map(Source::Trail)
        .chain(inv.event_data_stores.iter().map(Source::Store))
        .collect();
    let buckets: Vec<Bucket> = inv
        .buckets
        .iter()
        .map(|b| Bucket::new(&b.name, &b.region))
        .collect();
    let mut errors = inv.errors.clone();
    let policies = inv
        .scps
        .as_ref()
        .map(|scps| applying_policies(inv, scps, &mut errors));

    let judged: Vec<Judged> = inv
        .buckets
        .iter()
        .zip(&buckets)
        .map(|(facts, b)| {
            let j = judge(&sources, facts, b);
            if region_read(inv, &facts.region) || j.attribution == Attribution::Full {
                j
            } else {
                // ListBuckets is global, trails are listed per region: what records only this
                // region is not known, so nothing short of "recorded" can be said.
                Judged {
                    attribution: Attribution::Unknown,
                    recorded_by: j.recorded_by,
                    why: format!(
                        "its region ({}) was not read: trails and event data stores there are \
                         not known (add it to coverage.regions or --region)",
                        if facts.region.is_empty() {
                            "unknown"
                        } else {
                            facts.region.as_str()
                        }
                    ),
                    restart: None,
                    excluded_by: Vec::new(),
                    region_unread: true,
                }
            }
        })
        .collect();

    let mut out: Vec<BucketCoverage> = inv
        .buckets
        .iter()
        .zip(&buckets)
        .zip(&judged)
        .map(|((facts, b), j)| BucketCoverage {
            bucket: facts.name.clone(),
            region: facts.region.clone(),
            attribution: j.attribution,
            recorded_by: j.recorded_by.clone(),
            why: j.why.clone(),
            request_metrics: facts
                .request_metrics
                .iter()
                .map(|m| m.filter.clone().unwrap_or_else(|| "whole bucket".into()))
                .collect(),
            public_access_block: in_effect(
                inv.account_public_access_block,
                facts.public_access_block,
            ),
            policy_public: facts.policy_public,
            versioning: facts.versioning.clone(),
            mfa_delete: facts.mfa_delete,
            guardduty_s3_protection: inv
                .guardduty
                .iter()
                .find(|g| g.region == facts.region)
                .and_then(|g| g.s3_protection.or(g.detector_id.is_none().then_some(false))),
            scp_denies: policies
                .as_ref()
                .map(|p| denials(p, &b.arn))
                .unwrap_or_default(),
        })
        .collect();

    let mut spots = attribution_spots(inv, &sources, &buckets, &judged);
    spots.extend(guard_rail_spots(inv, &out, policies.is_some()));
    spots.sort_by(|a, b| {
        (severity_rank(&a.severity), &a.region, &a.bucket).cmp(&(
            severity_rank(&b.severity),
            &b.region,
            &b.bucket,
        ))
    });
    out.sort_by(|a, b| {
        (attribution_rank(a.attribution), &a.region, &a.bucket).cmp(&(
            attribution_rank(b.attribution),
            &b.region,
            &b.bucket,
        ))
    });
    Coverage {
        account: inv.account.clone(),
        collected_at: inv.collected_at.clone(),
        regions: inv.regions.clone(),
        regions_unread: inv.regions_unread.clone(),
        buckets: out,
        blind_spots: spots,
        guardduty: inv.guardduty.clone(),
        scps_read: inv.scps.is_some(),
        errors,
    }
}

/// A trail or an event data store: both record data events by selectors, in their regions.
#[derive(Clone, Copy)]
enum Source<'a> {
    Trail(&'a Trail),
    Store(&'a EventDataStore),
}

/// Whether a source records now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    On,
    Off,
    Unknown,
}

impl Source<'_> {
    fn label(&self) -> String {
        match self {
            Source::Trail(t) => format!("trail {}", t.name),
            Source::Store(s) => format!("event data store {}", s.name),
        }
    }

    fn home_region(&self) -> &str {
        match self {
            Source::Trail(t) => &t.home_region,
            Source::Store(s) => &s.home_region,
        }
    }

    fn multi_region(&self) -> bool {
        match self {
            Source::Trail(t) => t.multi_region,
            Source::Store(s) => s.multi_region,
        }
    }

    /// Every trail the inventory lists records the account (its own, or the organisation's,
    /// which records every member): only the region decides.
    fn covers(&self, region: &str) -> bool {
        self.multi_region() || self.home_region() == region
    }

    fn state(&self) -> State {
        match self {
            Source::Trail(t) => match t.logging {
                Some(true) => State::On,
                Some(false) => State::Off,
                None => State::Unknown,
            },
            Source::Store(s) if s.status.eq_ignore_ascii_case("ENABLED") => State::On,
            Source::Store(_) => State::Off,
        }
    }

    /// What its selectors record of the bucket; `None` when they could not be read.
    fn reach(&self, b: &Bucket) -> Option<Reach> {
        match self {
            Source::Trail(t) => match &t.selectors {
                Selectors::Unknown => None,
                Selectors::Basic(s) => Some(selectors::basic(s, b)),
                Selectors::Advanced(s) => Some(selectors::advanced(s, b)),
            },
            Source::Store(s) => Some(selectors::advanced(&s.advanced_selectors, b)),
        }
    }

    /// Why it records nothing now, for one that would record the bucket.
    fn stopped(&self) -> String {
        match self {
            Source::Trail(_) => "is not logging".into(),
            Source::Store(s) => format!("is {}", s.status),
        }
    }

    /// The command that makes it record again, when one does.
    fn restart(&self) -> Option<String> {
        match self {
            Source::Trail(t) => Some(format!(
                "aws cloudtrail start-logging --name {} --region {}",
                sh(&t.name),
                sh(&t.home_region)
            )),
            Source::Store(s) if s.status == "STOPPED_INGESTION" => Some(format!(
                "aws cloudtrail start-event-data-store-ingestion --event-data-store {} --region {}",
                sh(if s.arn.is_empty() { &s.name } else { &s.arn }),
                sh(&s.home_region)
            )),
            Source::Store(_) => None,
        }
    }
}

/// One bucket's attribution, and what a fix needs to know.
struct Judged {
    attribution: Attribution,
    recorded_by: Vec<String>,
    why: String,
    /// A source that would record every GetObject of the bucket but is stopped (and can be
    /// restarted).
    restart: Option<usize>,
    /// Logging sources covering the region whose exclusion left the bucket out.
    excluded_by: Vec<usize>,
    /// The bucket's region was not read (its trails are not known).
    region_unread: bool,
}

/// Whether the inventory read `region`'s trails (an inventory that names no regions is taken
/// as having read them all).
fn region_read(inv: &Inventory, region: &str) -> bool {
    !inv.regions_unread.iter().any(|r| r == region)
        && (inv.regions.is_empty()
            || (!region.is_empty() && inv.regions.iter().any(|r| r == region)))
}

fn judge(sources: &[Source], facts: &BucketFacts, b: &Bucket) -> Judged {
    let mut full = Vec::new();
    let mut recorded_by = Vec::new();
    let mut unknown = Vec::new();
    let mut reasons = Vec::new();
    let mut stopped = Vec::new();
    let mut restart = None;
    let mut excluded_by = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let label = src.label();
        let in_region = src.covers(&facts.region);
        let state = src.state();
        let Some(reach) = src.reach(b) else {
            if in_region && state != State::Off {
                unknown.push(format!("{label}'s event selectors could not be read"));
            }
            continue;
        };
        if !in_region {
            if reach != Reach::None(Miss::NoS3Data) {
                reasons.push(format!(
                    "{label} is single-region and records only {}",
                    src.home_region()
                ));
            }
            continue;
        }
        let part = match reach {
            Reach::None(Miss::NoS3Data) => continue,
            Reach::None(Miss::OtherBuckets) => {
                reasons.push(format!("{label} records other buckets' data events only"));
                continue;
            }
            Reach::None(Miss::Filtered(op)) => {
                reasons.push(format!(
                    "{label} records S3 data events but not GetObject ({op})"
                ));
                continue;
            }
            Reach::None(Miss::Excluded(op)) => {
                reasons.push(format!("{label}'s advanced selector excludes it ({op})"));
                if state == State::On {
                    excluded_by.push(i);
                }
                continue;
            }
            Reach::All => None,
            Reach::Some(parts) => Some(parts.join(" or ")),
        };
        match state {
            State::On => {
                let what = part.clone().unwrap_or_else(|| "all objects".into());
                recorded_by.push(format!("{label} ({what})"));
                if part.is_none() {
                    full.push(label);
                }
            }
            State::Unknown => unknown.push(format!(
                "{label} would record it but its logging status could not be read"
            )),
            State::Off => {
                let why = match &part {
                    None => format!("{label} records it but {}", src.stopped()),
                    Some(p) => format!("{label} records part of it ({p}) but {}", src.stopped()),
                };
                if part.is_none() && restart.is_none() && src.restart().is_some() {
                    restart = Some(i);
                }
                stopped.push(why.clone());
                reasons.push(why);
            }
        }
    }
    let (attribution, why) = if !full.is_empty() {
        (
            Attribution::Full,
            format!("every GetObject is recorded ({})", full.join(", ")),
        )
    } else if !recorded_by.is_empty() {
        let mut why = format!(
            "only part of its GetObject calls is recorded: {}",
            recorded_by.join("; ")
        );
        for s in &stopped {
            why.push_str("; ");
            why.push_str(s);
        }
        (Attribution::Partial, why)
    } else if !unknown.is_empty() {
        (
            Attribution::Unknown,
            format!(
                "no trail is known to record its GetObject data events: {}",
                sentence(&unknown)
            ),
        )
    } else if reasons.is_empty() {
        let why = if sources.is_empty() {
            "no trail records S3 data events (no trail or event data store found)"
        } else {
            "no trail records S3 data events (only management events)"
        };
        (Attribution::None, why.to_string())
    } else {
        (
            Attribution::None,
            format!(
                "no trail records its GetObject data events: {}",
                sentence(&reasons)
            ),
        )
    };
    Judged {
        attribution,
        recorded_by,
        why,
        restart,
        excluded_by,
        region_unread: false,
    }
}

/// Reasons joined, the first few only.
fn sentence(reasons: &[String]) -> String {
    let mut s = reasons
        .iter()
        .take(REASONS)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("; ");
    if reasons.len() > REASONS {
        s.push_str(&format!(" (and {} more)", reasons.len() - REASONS));
    }
    s
}

/// Where a bucket's missing records are written: a source's selectors, or a new trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Source(usize),
    NewTrail,
}

/// The source a fix writes to: the one whose exclusion left the bucket out, else a logging
/// trail covering its region (multi-region and advanced first), else an enabled event data
/// store, else a new trail.
fn target(sources: &[Source], facts: &BucketFacts, j: &Judged) -> Target {
    let writable = |s: &Source| match s {
        Source::Trail(t) => !matches!(t.selectors, Selectors::Unknown),
        Source::Store(_) => true,
    };
    if let Some(&i) = j.excluded_by.iter().find(|&&i| writable(&sources[i])) {
        return Target::Source(i);
    }
    let rank = |s: &Source| match s {
        Source::Trail(t) => match (&t.selectors, t.multi_region) {
            (Selectors::Advanced(_), true) => 0,
            (Selectors::Advanced(_), false) => 1,
            (_, true) => 2,
            _ => 3,
        },
        Source::Store(_) => 4,
    };
    sources
        .iter()
        .enumerate()
        .filter(|(_, s)| s.state() == State::On && s.covers(&facts.region) && writable(s))
        .min_by_key(|(i, s)| (rank(s), *i))
        .map_or(Target::NewTrail, |(i, _)| Target::Source(i))
}

/// A fix for some buckets: the command and what the reader should know about it.
struct Plan {
    command: String,
    note: String,
}

fn plan(
    inv: &Inventory,
    sources: &[Source],
    buckets: &[Bucket],
    target: Target,
    fixing: &[usize],
) -> Plan {
    let pairs: Vec<(&str, Bucket)> = fixing
        .iter()
        .map(|&i| (inv.buckets[i].name.as_str(), buckets[i].clone()))
        .collect();
    let mut notes = Vec::new();
    if fixing.len() > 1 {
        let names: Vec<&str> = pairs.iter().map(|(n, _)| *n).collect();
        notes.push(format!(
            "the same command records {}",
            selectors::named(names.into_iter())
        ));
    }
    let command = match target {
        Target::NewTrail => {
            let region = fixing
                .first()
                .map_or("us-east-1", |&i| inv.buckets[i].region.as_str());
            let buckets: Vec<Bucket> = pairs.iter().map(|(_, b)| b.clone()).collect();
            let names: Vec<&str> = pairs.iter().map(|(n, _)| *n).collect();
            let json = fix::advanced_json(&[fix::new_advanced(&names, &buckets, &[])]);
            notes.push(
                "no logging trail covers its region: the new trail needs a log bucket whose \
                 policy lets CloudTrail write"
                    .into(),
            );
            let r = sh(region);
            format!(
                "aws cloudtrail create-trail --name egresswatch-data-events --s3-bucket-name \
                 YOUR-LOG-BUCKET --is-multi-region-trail --region {r} && aws cloudtrail \
                 put-event-selectors --trail-name egresswatch-data-events --region {r} \
                 --advanced-event-selectors {} && aws cloudtrail start-logging --name \
                 egresswatch-data-events --region {r}",
                sh(&json)
            )
        }
        Target::Source(i) => {
            let src = sources[i];
            let existing: &[_] = match src {
                Source::Trail(t) => match &t.selectors {
                    Selectors::Advanced(s) => s,
                    _ => &[],
                },
                Source::Store(s) => &s.advanced_selectors,
            };
            let basic = match src {
                Source::Trail(t) => match &t.selectors {
                    Selectors::Basic(s) => Some(s),
                    _ => None,
                },
                Source::Store(_) => None,
            };
            let selectors_arg = match basic {
                Some(existing) => {
                    format!(
                        "--event-selectors {}",
                        sh(&fix::basic_json(&fix::basic_fix(existing, &pairs)))
                    )
                }
                None => {
                    let organization = match src {
                        Source::Trail(t) => t.organization,
                        Source::Store(s) => s.organization,
                    };
                    let (new, removed) = fix::advanced_fix(existing, &pairs, buckets, organization);
                    if !removed.is_empty() {
                        notes.push(format!(
                            "the fix removes the exclusion from {}'s selectors ({})",
                            src.label(),
                            removed.join(", ")
                        ));
                    }
                    format!(
                        "--advanced-event-selectors {}",
                        sh(&fix::advanced_json(&new))
                    )
                }
            };
            notes.push(format!(
                "it keeps {}'s other selectors, since the call replaces them all",
                src.label()
            ));
            match src {
                Source::Trail(t) => {
                    if t.organization {
                        notes.push("run it in the organization's management account".into());
                    }
                    format!(
                        "aws cloudtrail put-event-selectors --trail-name {} --region {} {selectors_arg}",
                        sh(&t.name),
                        sh(&t.home_region)
                    )
                }
                Source::Store(s) => format!(
                    "aws cloudtrail update-event-data-store --event-data-store {} --region {} {selectors_arg}",
                    sh(if s.arn.is_empty() { &s.name } else { &s.arn }),
                    sh(&s.home_region)
                ),
            }
        }
    };
    // Said from what the command does (beyond `MAX_BUCKETS_NAMED` buckets left to record, or a
    // basic selector on every bucket), not from how many were asked for.
    if command.contains(fix::EVERY_BUCKET) || command.contains("\"Values\":[\"arn:aws:s3\"]") {
        notes.push(format!(
            "too many buckets to name in one command (CloudTrail takes 500 ARN values a trail): it \
             records every bucket's object events{}",
            if command.contains("NotStartsWith") {
                " but those the trail leaves out"
            } else {
                ""
            }
        ));
    }
    Plan {
        command,
        note: notes.join("; "),
    }
}

/// Blind spots about recording: not attributable (high), partly (medium), unknown (medium).
fn attribution_spots(
    inv: &Inventory,
    sources: &[Source],
    buckets: &[Bucket],
    judged: &[Judged],
) -> Vec<BlindSpot> {
    // One plan per target, so that the fixes of several buckets on one trail do not overwrite
    // each other: each carries the whole list.
    let mut groups: BTreeMap<Target, Vec<usize>> = BTreeMap::new();
    for (i, j) in judged.iter().enumerate() {
        if matches!(j.attribution, Attribution::None | Attribution::Partial) && j.restart.is_none()
        {
            groups
                .entry(target(sources, &inv.buckets[i], j))
                .or_default()
                .push(i);
        }
    }
    let mut plans: Vec<Plan> = Vec::new();
    let mut plan_of: BTreeMap<usize, usize> = BTreeMap::new();
    for (t, fixing) in &groups {
        plans.push(plan(inv, sources, buckets, *t, fixing));
        for &i in fixing {
            plan_of.insert(i, plans.len() - 1);
        }
    }
    let mut out = Vec::new();
    // One low spot per region not read that holds buckets not known to be recorded.
    let mut unread: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, j) in judged.iter().enumerate() {
        if j.region_unread {
            *unread.entry(inv.buckets[i].region.as_str()).or_insert(0) += 1;
        }
    }
    for (region, n) in unread {
        out.push(BlindSpot {
            severity: "low".into(),
            region: region.to_string(),
            bucket: None,
            what: format!(
                "{n} bucket(s) in {} not judged: the region was not read",
                if region.is_empty() { "an unknown region" } else { region }
            ),
            fix: if region.is_empty() {
                "allow s3:GetBucketLocation to egresswatch's role, then run egresswatch coverage again".into()
            } else {
                format!("egresswatch coverage --region {} (or add it to coverage.regions)", sh(region))
            },
        });
    }
    for (i, j) in judged.iter().enumerate() {
        let facts = &inv.buckets[i];
        let spot = |severity: &str, what: String, fix: String| BlindSpot {
            severity: severity.into(),
            region: facts.region.clone(),
            bucket: Some(facts.name.clone()),
            what,
            fix,
        };
        if j.region_unread {
            continue;
        }
        let (severity, what) = match j.attribution {
            Attribution::Full => continue,
            Attribution::Unknown => {
                out.push(spot(
                    "medium",
                    format!("GetObject on {} may not be recorded: {}", facts.name, j.why),
                    "allow cloudtrail:GetEventSelectors and cloudtrail:GetTrailStatus to \
                     egresswatch's role, then run egresswatch coverage again"
                        .into(),
                ));
                continue;
            }
            Attribution::None => (
                "high",
                format!(
                    "GetObject on {} cannot be attributed: {}",
                    facts.name, j.why
                ),
            ),
            Attribution::Partial => (
                "medium",
                format!(
                    "GetObject on {} is recorded only in part: {}",
                    facts.name,
                    j.recorded_by.join("; ")
                ),
            ),
        };
        if let Some(s) = j.restart {
            let what = match j.attribution {
                // The reason already says which trail is stopped.
                Attribution::None => what,
                _ => format!(
                    "{what}; {} records all of it once restarted",
                    sources[s].label()
                ),
            };
            out.push(spot(
                severity,
                what,
                sources[s].restart().unwrap_or_default(),
            ));
        } else if let Some(p) = plan_of.get(&i).map(|&k| &plans[k]) {
            let what = if p.note.is_empty() {
                what
            } else {
                format!("{what}; {}", p.note)
            };
            out.push(spot(severity, what, p.command.clone()));
        }
    }
    out
}

/// Blind spots about guard rails: public buckets, Block Public Access, request metrics,
/// GuardDuty, versioning, MFA delete, service control policies.
fn guard_rail_spots(
    inv: &Inventory,
    buckets: &[BucketCoverage],
    scps_read: bool,
) -> Vec<BlindSpot> {
    const ALL_BPA: &str = "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,\
                           RestrictPublicBuckets=true";
    let mut out = Vec::new();
    let mut bpa_off = false;
    for b in buckets {
        let name = sh(&b.bucket);
        let spot = |severity: &str, what: String, fix: String| BlindSpot {
            severity: severity.into(),
            region: b.region.clone(),
            bucket: Some(b.bucket.clone()),
            what,
            fix,
        };
        let bpa_fix = format!(
            "aws s3api put-public-access-block --bucket {name} \
             --public-access-block-configuration {ALL_BPA}"
        );
        if b.policy_public == Some(true) {
            out.push(spot(
                "high",
                format!(
                    "{} is public: its bucket policy grants public access",
                    b.bucket
                ),
                bpa_fix,
            ));
        } else if !b.public_access_block.all() {
            bpa_off = true;
            out.push(spot(
                "low",
                format!(
                    "Block Public Access is not fully on for {} ({} off)",
                    b.bucket,
                    off_settings(&b.public_access_block)
                ),
                bpa_fix,
            ));
        }
        if b.request_metrics.is_empty() {
            out.push(spot(
                "low",
                format!(
                    "{} has no request metrics: the early warning cannot see its requests",
                    b.bucket
                ),
                format!(
                    "aws s3api put-bucket-metrics-configuration --bucket {name} --id EntireBucket \
                     --metrics-configuration Id=EntireBucket"
                ),
            ));
        }
        if let Some(v) = b.versioning.as_deref().filter(|v| *v != "Enabled") {
            out.push(spot(
                "low",
                format!(
                    "versioning is {v} on {}: a deleted or overwritten object is gone",
                    b.bucket
                ),
                format!(
                    "aws s3api put-bucket-versioning --bucket {name} \
                     --versioning-configuration Status=Enabled"
                ),
            ));
        }
        if b.mfa_delete == Some(false) {
            out.push(spot(
                "low",
                format!(
                    "MFA delete is off on {} (enabling it needs the root user and its MFA device)",
                    b.bucket
                ),
                format!(
                    "aws s3api put-bucket-versioning --bucket {name} \
                     --versioning-configuration Status=Enabled,MFADelete=Enabled \
                     --mfa \"SERIAL CODE\""
                ),
            ));
        }
        if scps_read && !is_management(inv) {
            let missing: Vec<&str> = scp::GUARDED
                .iter()
                .copied()
                .filter(|a| !b.scp_denies.iter().any(|d| d.action == *a))
                .collect();
            if !missing.is_empty() {
                let statement =
                    fix::scp_statement(&missing, &Bucket::new(&b.bucket, &b.region).arn);
                out.push(spot(
                    "low",
                    format!(
                        "no service control policy denies {} on {}",
                        missing.join(", "),
                        b.bucket
                    ),
                    statement,
                ));
            }
        }
    }
    let global = |severity: &str, what: String, fix: String| BlindSpot {
        severity: severity.into(),
        region: "global".into(),
        bucket: None,
        what,
        fix,
    };
    if scps_read && is_management(inv) && !buckets.is_empty() {
        out.push(global(
            "low",
            format!(
                "{} is the organization's management account: service control policies do not \
                 restrict it, so its {} bucket(s) have no SCP guard rail",
                inv.account,
                buckets.len()
            ),
            "keep data in member accounts, where SCPs apply (move these buckets, or limit who \
             may act in the management account)"
                .into(),
        ));
    }
    if bpa_off && !inv.account_public_access_block.is_some_and(|p| p.all()) {
        out.push(global(
            "low",
            "account-level Block Public Access is not fully on: each bucket decides for itself"
                .into(),
            format!(
                "aws s3control put-public-access-block --account-id {} \
                 --public-access-block-configuration {ALL_BPA}",
                sh(&inv.account)
            ),
        ));
    }
    for g in &inv.guardduty {
        if !buckets.iter().any(|b| b.region == g.region) {
            continue;
        }
        let r = sh(&g.region);
        let spot = |what: String, fix: String| BlindSpot {
            severity: "medium".into(),
            region: g.region.clone(),
            bucket: None,
            what,
            fix,
        };
        match (&g.detector_id, g.s3_protection) {
            (None, _) => out.push(spot(
                format!("GuardDuty is not enabled in {}", g.region),
                format!(
                    "aws guardduty create-detector --enable --region {r} \
                     --features Name=S3_DATA_EVENTS,Status=ENABLED"
                ),
            )),
            (Some(d), Some(false)) => out.push(spot(
                format!("GuardDuty S3 protection is off in {}", g.region),
                format!(
                    "aws guardduty update-detector --detector-id {} --region {r} \
                     --features Name=S3_DATA_EVENTS,Status=ENABLED",
                    sh(d)
                ),
            )),
            _ => {}
        }
    }
    if inv.scps.is_none() {
        let why: Vec<&str> = inv
            .errors
            .iter()
            .filter(|e| {
                let e = e.to_lowercase();
                e.contains("organizations") || e.contains("scp") || e.contains("service control")
            })
            .map(String::as_str)
            .collect();
        let why = if why.is_empty() {
            "not readable from this account".to_string()
        } else {
            selectors::named(why.into_iter())
        };
        out.push(global(
            "low",
            format!("service control policies not read ({why}): which calls they deny is unknown"),
            "run egresswatch coverage with credentials of the organization's management account \
             or a delegated administrator (organizations:ListPolicies, \
             organizations:DescribePolicy, organizations:ListTargetsForPolicy, \
             organizations:ListParents)"
                .into(),
        ));
    }
    out
}

fn off_settings(p: &PublicAccessBlock) -> String {
    [
        ("BlockPublicAcls", p.block_public_acls),
        ("IgnorePublicAcls", p.ignore_public_acls),
        ("BlockPublicPolicy", p.block_public_policy),
        ("RestrictPublicBuckets", p.restrict_public_buckets),
    ]
    .iter()
    .filter(|(_, on)| !on)
    .map(|(n, _)| *n)
    .collect::<Vec<_>>()
    .join(", ")
}

/// Each setting on if it is on at either level.
fn in_effect(
    account: Option<PublicAccessBlock>,
    bucket: Option<PublicAccessBlock>,
) -> PublicAccessBlock {
    let a = account.unwrap_or_default();
    let b = bucket.unwrap_or_default();
    PublicAccessBlock {
        block_public_acls: a.block_public_acls || b.block_public_acls,
        ignore_public_acls: a.ignore_public_acls || b.ignore_public_acls,
        block_public_policy: a.block_public_policy || b.block_public_policy,
        restrict_public_buckets: a.restrict_public_buckets || b.restrict_public_buckets,
    }
}

/// The policies attached to the account, its OUs or its root, read; a document that cannot be
/// read is an error and skipped.
/// Whether the inventory is of the organisation's management account.
fn is_management(inv: &Inventory) -> bool {
    inv.org_path.len() == 1 && inv.org_path[0] == crate::model::coverage::MANAGEMENT_ACCOUNT
}

fn applying_policies(
    inv: &Inventory,
    scps: &[crate::model::coverage::ServiceControlPolicy],
    errors: &mut Vec<String>,
) -> Vec<(String, Vec<scp::Deny>)> {
    if is_management(inv) {
        // No SCP restricts the management account.
        return Vec::new();
    }
    if inv.org_path.is_empty() && !scps.is_empty() {
        errors.push(
            "the account's place in the organization is unknown: no service control policy \
             was applied"
                .into(),
        );
    }
    let mut out = Vec::new();
    for p in scps {
        if !p.targets.iter().any(|t| inv.org_path.contains(t)) {
            continue;
        }
        let label = if p.name.is_empty() {
            p.id.clone()
        } else {
            p.name.clone()
        };
        match scp::parse(&p.document) {
            Ok(statements) => out.push((label, statements)),
            Err(e) => errors.push(format!(
                "service control policy {label} ({}): cannot read its document: {e}",
                p.id
            )),
        }
    }
    out
}

fn denials(policies: &[(String, Vec<scp::Deny>)], arn: &str) -> Vec<ScpDenial> {
    let mut out = Vec::new();
    for action in scp::GUARDED {
        for (name, statements) in policies {
            if let Some(certainty) = scp::certainty(statements, action, arn) {
                out.push(ScpDenial {
                    action: action.to_string(),
                    policy: name.clone(),
                    certainty: certainty.into(),
                });
            }
        }
    }
    out
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "high" => 0,
        "medium" => 1,
        _ => 2,
    }
}

fn attribution_rank(a: Attribution) -> u8 {
    match a {
        Attribution::None => 0,
        Attribution::Unknown => 1,
        Attribution::Partial => 2,
        Attribution::Full => 3,
    }
}

#[cfg(test)]
mod tests;
