//! What AWS says about the buckets egresswatch watches: which trails record their GetObject
//! data events, which request metrics they have, their guard rails (Block Public Access,
//! policy status, versioning and MFA delete, service control policies) and GuardDuty.
//!
//! Two halves. [`Inventory`] is what was read, as AWS states it (selectors as written, policy
//! documents as text): `sources::posture` fills it from the APIs, the demo and tests from JSON.
//! [`Coverage`] is what it means per bucket (`correlate::coverage::evaluate`): attributable or
//! not and why, blind spots first, each with its fix. Both are serialised: the inventory as the
//! demo's bundled fixture, the coverage as `egresswatch coverage --format json` (a documented,
//! versioned document) and inside incidents.
//!
//! Every string here came from AWS and may have been chosen by whoever can name a bucket, a
//! trail or a policy: renderers bound and escape them like any other.

use serde::{Deserialize, Serialize};

/// Everything read for one account (and the organisation it belongs to, where readable).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// The account whose buckets these are.
    pub account: String,
    /// When it was read (RFC 3339).
    pub collected_at: String,
    /// The regions looked at (buckets elsewhere are still listed: ListBuckets is global).
    pub regions: Vec<String>,
    /// Regions looked at whose trails could not be listed: judged as not read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions_unread: Vec<String>,
    /// Trails visible from the account (its own and organisation trails), every region.
    pub trails: Vec<Trail>,
    /// CloudTrail Lake event data stores.
    pub event_data_stores: Vec<EventDataStore>,
    pub buckets: Vec<BucketFacts>,
    /// The account-level Block Public Access (s3control); `None` = none set, or not readable
    /// (then `errors` says so).
    pub account_public_access_block: Option<PublicAccessBlock>,
    /// GuardDuty per region looked at.
    pub guardduty: Vec<GuardDutyRegion>,
    /// Service control policies and where they are attached; `None` when the organisation's
    /// policies could not be read (not the management or a delegated account: `errors` says).
    pub scps: Option<Vec<ServiceControlPolicy>>,
    /// The account's place in the organisation, root first (`r-…`, `ou-…`, then the account):
    /// an SCP attached to any of these applies. Empty when unknown; [`MANAGEMENT_ACCOUNT`]
    /// alone for the organisation's management account, which no SCP restricts.
    pub org_path: Vec<String>,
    /// What could not be read, one line each ("s3:GetBucketPolicyStatus on b: AccessDenied").
    pub errors: Vec<String>,
}

/// One trail, as DescribeTrails, GetTrailStatus and GetEventSelectors state it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trail {
    pub name: String,
    pub arn: String,
    pub home_region: String,
    pub multi_region: bool,
    /// An organisation trail: it records every member account.
    pub organization: bool,
    /// Whether it is logging now (GetTrailStatus `IsLogging`); `None` = not readable.
    pub logging: Option<bool>,
    pub selectors: Selectors,
}

/// A trail's event selectors: basic or advanced (a trail has one kind), or none read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "selectors", rename_all = "snake_case")]
pub enum Selectors {
    /// GetEventSelectors failed or was not called.
    #[default]
    Unknown,
    Basic(Vec<BasicSelector>),
    Advanced(Vec<AdvancedSelector>),
}

/// A basic event selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BasicSelector {
    /// `All`, `ReadOnly` or `WriteOnly`.
    pub read_write_type: String,
    pub include_management_events: bool,
    pub data_resources: Vec<DataResource>,
}

/// `DataResources`: a type (`AWS::S3::Object`) and ARN prefixes (`arn:aws:s3` = every bucket,
/// `arn:aws:s3:::bucket/` = one bucket, `arn:aws:s3:::bucket/prefix` = some keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataResource {
    #[serde(rename = "type")]
    pub kind: String,
    pub values: Vec<String>,
}

/// An advanced event selector: every field selector must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdvancedSelector {
    pub name: Option<String>,
    pub field_selectors: Vec<FieldSelector>,
}

/// One field of an advanced selector (`eventCategory`, `resources.type`, `resources.ARN`,
/// `readOnly`, `eventName`, `eventSource`, …) and its operators. Within one operator any value
/// may match; every operator present must hold (the `Not…` ones for every value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldSelector {
    pub field: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub starts_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ends_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_starts_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ends_with: Vec<String>,
}

/// A CloudTrail Lake event data store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventDataStore {
    pub name: String,
    pub arn: String,
    /// Where it lives (its ARN's region).
    pub home_region: String,
    pub multi_region: bool,
    pub organization: bool,
    /// `ENABLED`, `STOPPED_INGESTION`, … (only `ENABLED` records).
    pub status: String,
    pub advanced_selectors: Vec<AdvancedSelector>,
}

/// One bucket and its guard rails. `None` fields could not be read (`Inventory::errors`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BucketFacts {
    pub name: String,
    pub region: String,
    /// The bucket's Block Public Access; `None` = none set (or not readable).
    pub public_access_block: Option<PublicAccessBlock>,
    /// GetBucketPolicyStatus `IsPublic` (`Some(false)` with no policy at all).
    pub policy_public: Option<bool>,
    /// `Enabled`, `Suspended` or `Off` (never enabled).
    pub versioning: Option<String>,
    pub mfa_delete: Option<bool>,
    /// S3 request metrics configurations (CloudWatch), which the early warning reads.
    pub request_metrics: Vec<MetricsConfig>,
}

/// Block Public Access's four settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    pub fn all(&self) -> bool {
        self.block_public_acls
            && self.ignore_public_acls
            && self.block_public_policy
            && self.restrict_public_buckets
    }
}

/// One request metrics configuration of a bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsConfig {
    pub id: String,
    /// What it measures: `None` = the whole bucket; else `prefix …`, `tag …`, `access point …`.
    pub filter: Option<String>,
}

/// GuardDuty in one region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuardDutyRegion {
    pub region: String,
    /// The detector, if GuardDuty is enabled here.
    pub detector_id: Option<String>,
    /// S3 protection (the `S3_DATA_EVENTS` feature) enabled; `None` = no detector or not
    /// readable.
    pub s3_protection: Option<bool>,
}

/// A service control policy and its targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceControlPolicy {
    pub id: String,
    pub name: String,
    /// Roots, OUs and accounts it is attached to.
    pub targets: Vec<String>,
    /// The policy document, as text (JSON).
    pub document: String,
}

/// One GuardDuty finding about S3.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuardDutyFinding {
    pub id: String,
    /// `Exfiltration:S3/AnomalousBehavior`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// GuardDuty's 1.0-8.9 (low < 4, medium < 7, high).
    pub severity: f64,
    pub title: String,
    pub account: String,
    pub region: String,
    /// The buckets it names.
    pub buckets: Vec<String>,
    /// The principal it names, if any (access key's user or role).
    pub principal: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    /// How many times GuardDuty saw it (`service.count`).
    pub count: u64,
}

impl GuardDutyFinding {
    /// GuardDuty's label for the severity.
    pub fn severity_label(&self) -> &'static str {
        if self.severity >= 7.0 {
            "high"
        } else if self.severity >= 4.0 {
            "medium"
        } else {
            "low"
        }
    }
}

/// `Inventory::org_path` of the organisation's management account: service control policies
/// do not apply to it.
pub const MANAGEMENT_ACCOUNT: &str = "management-account";

/// The finding types that are about S3 (GuardDuty's S3 protection and S3 policy findings).
pub const S3_FINDING_PREFIXES: &[&str] = &[
    "Exfiltration:S3/",
    "Discovery:S3/",
    "Impact:S3/",
    "UnauthorizedAccess:S3/",
    "Policy:S3/",
    "Stealth:S3/",
    "PenTest:S3/",
];

/// Whether a finding type is about S3.
pub fn is_s3_finding(kind: &str) -> bool {
    S3_FINDING_PREFIXES.iter().any(|p| kind.starts_with(p))
}

/// The version of the coverage JSON document (`egresswatch coverage --format json`).
pub const COVERAGE_VERSION: u32 = 1;

/// What the inventory means, per bucket, blind spots first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub account: String,
    pub collected_at: String,
    /// The regions whose trails were read (a bucket elsewhere is `unknown` unless a
    /// multi-region trail records it).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Of those, the ones whose trails could not be listed (judged as not read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions_unread: Vec<String>,
    /// Every bucket: blind spots first (not attributable, then partly), then by region, name.
    pub buckets: Vec<BucketCoverage>,
    /// What to fix, most serious first, each with the exact fix.
    pub blind_spots: Vec<BlindSpot>,
    /// GuardDuty S3 protection per region looked at.
    pub guardduty: Vec<GuardDutyRegion>,
    /// Whether service control policies could be read (else every `scp_denies` is empty
    /// for want of knowledge, not of policies).
    pub scps_read: bool,
    /// What could not be read.
    pub errors: Vec<String>,
}

/// Whether a bucket's GetObject calls reach a trail (and so can be attributed to callers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// Every GetObject is recorded by at least one logging trail or event data store.
    Full,
    /// Only some keys (prefix or ARN selectors), or only some calls (a selector on another
    /// field, such as `userIdentity.arn`).
    Partial,
    /// No logging trail records its GetObject data events (a trail that would, but is not
    /// logging, counts for nothing: its fix is to start it).
    None,
    /// The selectors could not be read.
    Unknown,
}

/// One bucket's coverage and guard rails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketCoverage {
    pub bucket: String,
    pub region: String,
    pub attribution: Attribution,
    /// Trails and event data stores that record its GetObject (name, and what part: "all
    /// objects" or "keys under prefix …").
    pub recorded_by: Vec<String>,
    /// Why it is (not) attributable, in a sentence.
    pub why: String,
    /// Request metrics filters (`whole bucket`, `prefix …`); empty = no early warning.
    pub request_metrics: Vec<String>,
    /// Block Public Access in effect (the account's or the bucket's, each setting either).
    pub public_access_block: PublicAccessBlock,
    pub policy_public: Option<bool>,
    pub versioning: Option<String>,
    pub mfa_delete: Option<bool>,
    /// GuardDuty S3 protection in its region.
    pub guardduty_s3_protection: Option<bool>,
    /// Service control policies that deny (or may deny) dangerous calls on it.
    pub scp_denies: Vec<ScpDenial>,
}

/// An SCP's Deny that applies to a bucket and one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScpDenial {
    /// `s3:DeleteBucket`, `s3:PutBucketPolicy`, `s3:PutBucketAcl`,
    /// `s3:PutBucketPublicAccessBlock`, `s3:PutEncryptionConfiguration`.
    pub action: String,
    pub policy: String,
    /// `denies`, or `possibly denies` (a condition, `NotAction` or `NotResource` decides).
    pub certainty: String,
}

/// Something that leaves egresswatch (or you) blind, and its fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlindSpot {
    /// `high` (exfiltration cannot be attributed, or a bucket is public), `medium`, `low`.
    pub severity: String,
    pub region: String,
    /// The bucket, when it is about one.
    pub bucket: Option<String>,
    /// What is missing.
    pub what: String,
    /// The exact fix: the selector to add, the command to run.
    pub fix: String,
}

/// What an incident says about its region: which buckets' bytes can be named and which
/// cannot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionCoverage {
    pub account: String,
    pub region: String,
    /// Buckets whose GetObject every logging trail misses, each with why.
    pub not_attributable: Vec<(String, String)>,
    /// Buckets recorded only in part, with what part.
    pub partly_attributable: Vec<(String, String)>,
    /// Buckets whose recording could not be judged (selectors or trail status unreadable).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<(String, String)>,
    /// How many buckets of the region are fully attributable.
    pub attributable: usize,
    /// When the inventory was read.
    pub collected_at: String,
}

impl Coverage {
    /// The coverage of one account and region, for an incident there; `None` when this
    /// coverage is of another account, or did not read that region.
    pub fn region(&self, account: &str, region: &str) -> Option<RegionCoverage> {
        if self.account != account
            || self.regions_unread.iter().any(|r| r == region)
            || !(self.regions.is_empty() || self.regions.iter().any(|r| r == region))
        {
            return None;
        }
        let mut out = RegionCoverage {
            account: account.to_string(),
            region: region.to_string(),
            collected_at: self.collected_at.clone(),
            ..RegionCoverage::default()
        };
        for b in self.buckets.iter().filter(|b| b.region == region) {
            match b.attribution {
                Attribution::Full => out.attributable += 1,
                Attribution::Partial => out
                    .partly_attributable
                    .push((b.bucket.clone(), b.why.clone())),
                Attribution::None => out.not_attributable.push((b.bucket.clone(), b.why.clone())),
                Attribution::Unknown => out.unknown.push((b.bucket.clone(), b.why.clone())),
            }
        }
        Some(out)
    }
}
