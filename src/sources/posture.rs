//! The account's posture, read from AWS: the facts `correlate::coverage` turns into "can the
//! bytes behind a bill spike be named, and what stands in the way of an exfiltration".
//!
//! Which API answers which question:
//!
//! - whose buckets: STS `GetCallerIdentity` (the account; it needs no permission, so its failure
//!   means no credentials or no network, and nothing else is tried);
//! - which buckets, where: S3 `ListBuckets` (global) and `GetBucketLocation` (an empty
//!   constraint is us-east-1, `EU` is eu-west-1); each bucket's other calls go to its region;
//! - its guard rails: `GetPublicAccessBlock` (none set is `None`, not an error),
//!   `GetBucketPolicyStatus` (no policy at all is "not public"), `GetBucketVersioning` (no
//!   status is `Off`; MFA delete), and the account's Block Public Access (s3control);
//! - the early warning: `ListBucketMetricsConfigurations`, the request metrics CloudWatch has;
//! - who is named: CloudTrail `DescribeTrails` with shadow trails in every region looked at (an
//!   organisation or multi-region trail is seen from each; kept once, by ARN), `GetTrailStatus`
//!   and `GetEventSelectors` (asked in the trail's home region), and CloudTrail Lake
//!   (`ListEventDataStores`, `GetEventDataStore`);
//! - GuardDuty: `ListDetectors`, `GetDetector` (the `S3_DATA_EVENTS` feature, else the legacy
//!   `dataSources.s3Logs`), and its S3 findings ([`guardduty_findings`]);
//! - what the organisation forbids: Organizations (us-east-1) `ListPolicies` of service control
//!   policies, `DescribePolicy`, `ListTargetsForPolicy`, and `ListParents` from the account up to
//!   the root.
//!
//! Everything is kept as AWS states it (selectors as written, policies as text): another module
//! evaluates. A member account cannot read its organisation's policies, a region may have no
//! GuardDuty, one bucket's policy may be unreadable: every failed call is one line in
//! [`Inventory::errors`] and its field stays unknown, and the collection goes on, because a
//! partial inventory that says what it lacks is worth more than none. Error lines carry the
//! service's code and message (never credentials or request ids) and at most
//! [`MAX_ERROR_CHARS`] characters; at most [`MAX_ERRORS`] are kept.
//!
//! What is kept is bounded, since every name here may be chosen by whoever can create a bucket
//! or a trail: [`MAX_BUCKETS`] buckets (ListBuckets' order, by name), [`MAX_TRAILS`] trails,
//! [`MAX_EVENT_DATA_STORES`] event data stores, [`MAX_POLICIES`] policies of at most
//! [`MAX_DOCUMENT_BYTES`] each, [`MAX_METRICS_CONFIGS`] metrics configurations a bucket,
//! [`MAX_FINDINGS`] findings. Per-bucket and per-trail calls run [`CONCURRENCY`] at a time, and
//! the output is in a fixed order (buckets by name, trails and stores by ARN, policies by id),
//! whatever order the answers came in.

use std::collections::{BTreeMap, HashMap};

use aws_config::{Region, SdkConfig};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::stream::{self, StreamExt};

use crate::model::coverage::{
    is_s3_finding, AdvancedSelector, BasicSelector, BucketFacts, DataResource, EventDataStore,
    FieldSelector, GuardDutyFinding, GuardDutyRegion, Inventory, MetricsConfig, PublicAccessBlock,
    Selectors, ServiceControlPolicy, Trail,
};
use crate::settings::errors::{human_error, one_line, MAX_ERROR_CHARS};

/// Buckets kept (ListBuckets returns them by name; the rest is an error line).
pub const MAX_BUCKETS: usize = 5_000;
/// Trails kept, after deduplication by ARN.
pub const MAX_TRAILS: usize = 1_000;
/// CloudTrail Lake event data stores kept.
pub const MAX_EVENT_DATA_STORES: usize = 1_000;
/// Service control policies kept (AWS allows 1,000 in an organisation).
pub const MAX_POLICIES: usize = 1_000;
/// Targets kept per policy.
pub const MAX_TARGETS: usize = 5_000;
/// The longest policy document kept; a longer one is an error line and the policy is skipped
/// (AWS caps an SCP at 5,120 characters).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Request metrics configurations kept per bucket (AWS allows 1,000).
pub const MAX_METRICS_CONFIGS: usize = 1_000;
/// GuardDuty findings kept.
pub const MAX_FINDINGS: usize = 1_000;
/// Finding ids listed before GetFindings (newest first), S3 or not.
pub const MAX_FINDING_IDS: usize = 10_000;
/// Error lines kept (one more says how many were left out).
pub const MAX_ERRORS: usize = 500;
/// Calls in flight at once, per stage.
pub const CONCURRENCY: usize = 8;
/// Levels of organisational units walked up from the account (AWS nests at most 5).
const MAX_ORG_DEPTH: usize = 10;
/// Pages read from one listing before giving up (a guard against a token that never ends).
const MAX_PAGES: usize = 1_000;
/// GetFindings takes at most 50 ids.
const FINDINGS_PER_CALL: usize = 50;
/// Where global services (S3's ListBuckets, Organizations, STS, s3control) are asked.
pub const GLOBAL_REGION: &str = "us-east-1";

/// The clients the collection uses: global ones, and CloudTrail and GuardDuty per region.
#[derive(Clone, Debug)]
pub struct PostureClients {
    pub sts: aws_sdk_sts::Client,
    /// ListBuckets and GetBucketLocation; each bucket's other calls go to a copy of it set to
    /// the bucket's region.
    pub s3: aws_sdk_s3::Client,
    pub s3control: aws_sdk_s3control::Client,
    pub organizations: aws_sdk_organizations::Client,
    /// The regions looked at, in this order.
    pub regions: Vec<RegionClients>,
}

/// CloudTrail and GuardDuty in one region.
#[derive(Clone, Debug)]
pub struct RegionClients {
    pub region: String,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    pub guardduty: aws_sdk_guardduty::Client,
}

impl PostureClients {
    /// Clients from one loaded configuration (its credentials shared): the global ones in its
    /// region, CloudTrail and GuardDuty in each of `regions`. S3 is path-style when an endpoint
    /// is overridden.
    pub fn from_config(conf: &SdkConfig, regions: &[String]) -> PostureClients {
        let regional = regions
            .iter()
            .map(|r| {
                let c = conf.to_builder().region(Region::new(r.clone())).build();
                RegionClients {
                    region: r.clone(),
                    cloudtrail: aws_sdk_cloudtrail::Client::new(&c),
                    guardduty: aws_sdk_guardduty::Client::new(&c),
                }
            })
            .collect();
        PostureClients {
            sts: aws_sdk_sts::Client::new(conf),
            s3: super::cloudtrail::s3_client_from(conf),
            s3control: aws_sdk_s3control::Client::new(conf),
            organizations: aws_sdk_organizations::Client::new(conf),
            regions: regional,
        }
    }
}

/// Read the inventory of the account the credentials belong to, for `regions`, or, given
/// `role_arn`, of that role's account (another account's read-only role, assumed through STS
/// with the profile's credentials). Fails only when the account itself cannot be read (no
/// credentials, no network); every other failure is a line in [`Inventory::errors`].
pub async fn collect(
    profile: Option<&str>,
    regions: &[String],
    role_arn: Option<&str>,
) -> anyhow::Result<Inventory> {
    let conf = config_as(profile, GLOBAL_REGION, role_arn).await;
    let clients = PostureClients::from_config(&conf, regions);
    let inventory = collect_with(&clients).await;
    if inventory.account.is_empty() {
        anyhow::bail!(
            "{}",
            inventory
                .errors
                .first()
                .map_or("sts:GetCallerIdentity failed", |e| e.as_str())
        );
    }
    Ok(inventory)
}

/// [`collect`] with the given clients. When the account cannot be read (STS), the inventory
/// holds only that error: every other call would fail the same way.
pub async fn collect_with(clients: &PostureClients) -> Inventory {
    let mut inventory = Inventory {
        collected_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        regions: clients.regions.iter().map(|r| r.region.clone()).collect(),
        ..Inventory::default()
    };
    let account = match caller_account(&clients.sts).await {
        Ok(a) => a,
        Err(line) => {
            inventory.errors.push(line);
            return inventory;
        }
    };
    let (buckets, account_pab, trails, stores, guardduty, organization) = tokio::join!(
        buckets(&clients.s3),
        account_public_access_block(&clients.s3control, &account),
        trails(&clients.regions),
        event_data_stores(&clients.regions),
        guardduty(&clients.regions),
        organization(&clients.organizations, &account),
    );
    let mut errors = Vec::new();
    inventory.buckets = take(buckets, &mut errors);
    inventory.account_public_access_block = take(account_pab, &mut errors);
    (inventory.trails, inventory.regions_unread) = take(trails, &mut errors);
    inventory.event_data_stores = take(stores, &mut errors);
    inventory.guardduty = take(guardduty, &mut errors);
    (inventory.scps, inventory.org_path) = take(organization, &mut errors);
    inventory.account = account;
    inventory.errors = bound_errors(errors);
    inventory
}

/// A value and the error lines of reading it.
type Read<T> = (T, Vec<String>);

/// The value; its error lines appended to `errors`.
fn take<T>((value, mut lines): Read<T>, errors: &mut Vec<String>) -> T {
    errors.append(&mut lines);
    value
}

fn bound_errors(mut errors: Vec<String>) -> Vec<String> {
    if errors.len() > MAX_ERRORS {
        let more = errors.len() - MAX_ERRORS;
        errors.truncate(MAX_ERRORS);
        errors.push(format!("… and {more} more errors not kept"));
    }
    errors
}

/// One error line: what was called (and on what), the service's code and message, or the
/// kind of failure (timeout, cannot resolve host, …); never request ids or credentials.
fn failed<E>(what: &str, e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let why = match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) if !m.is_empty() => format!("{c}: {m}"),
                (Some(c), _) => c.to_string(),
                (None, m) => {
                    // No code: an answer that is not AWS's error shape, or one that could not
                    // be read (the SDK says why).
                    let status = s.raw().status().as_u16();
                    let why = match m {
                        Some(m) if !m.is_empty() => m.to_string(),
                        _ => innermost(e),
                    };
                    if why.is_empty() {
                        format!("HTTP status {status}")
                    } else {
                        format!("HTTP status {status}: {why}")
                    }
                }
            }
        }
        other => human_error(other),
    };
    one_line(&format!("{what}: {why}"), MAX_ERROR_CHARS)
}

/// The innermost cause's message, cut before any `Debug` dump it embeds ("… but got StartEl {
/// …").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    for _ in 0..32 {
        match cur.source() {
            Some(next) => cur = next,
            None => break,
        }
    }
    let text = cur.to_string();
    let end = match text.find(" {") {
        Some(i) => text[..i].rfind(' ').unwrap_or(0),
        None => text.len(),
    };
    text[..end]
        .trim_end_matches([' ', ':', ',', '('])
        .to_string()
}

/// The service's error code, for the answers that are not failures ("no such configuration").
fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

/// A page token worth following: present, non-empty, and not the one just sent.
fn next_token(token: Option<&str>, sent: Option<&str>) -> Option<String> {
    token
        .filter(|t| !t.is_empty() && Some(*t) != sent)
        .map(str::to_string)
}

async fn caller_account(client: &aws_sdk_sts::Client) -> Result<String, String> {
    match client.get_caller_identity().send().await {
        Ok(o) => match o.account() {
            Some(a) if !a.is_empty() => Ok(a.to_string()),
            _ => Err("sts:GetCallerIdentity: no account in the answer".to_string()),
        },
        Err(e) => Err(failed("sts:GetCallerIdentity", &e)),
    }
}

// --- S3 -------------------------------------------------------------------------------------

async fn buckets(client: &aws_sdk_s3::Client) -> Read<Vec<BucketFacts>> {
    let mut errors = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    let mut truncated = false;
    for _ in 0..MAX_PAGES {
        let page = client
            .list_buckets()
            .max_buckets(1_000)
            .set_continuation_token(token.clone())
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                errors.push(failed("s3:ListBuckets", &e));
                break;
            }
        };
        names.extend(
            page.buckets()
                .iter()
                .filter_map(|b| b.name())
                .map(str::to_string),
        );
        if names.len() > MAX_BUCKETS {
            truncated = true;
            break;
        }
        token = next_token(page.continuation_token(), token.as_deref());
        if token.is_none() {
            break;
        }
    }
    names.sort();
    names.dedup();
    if truncated || names.len() > MAX_BUCKETS {
        names.truncate(MAX_BUCKETS);
        errors.push(format!(
            "s3:ListBuckets: more than {MAX_BUCKETS} buckets; the first {MAX_BUCKETS} by name kept"
        ));
    }

    // Where each bucket is, then one client per region for the rest.
    let located: Vec<(String, Result<String, String>)> = stream::iter(names)
        .map(|name| async move {
            let region = bucket_region(client, &name).await;
            (name, region)
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let home = client
        .config()
        .region()
        .map(|r| r.as_ref().to_string())
        .unwrap_or_default();
    let mut regional: HashMap<String, aws_sdk_s3::Client> = HashMap::new();
    for (_, region) in &located {
        if let Ok(r) = region {
            if *r != home && !regional.contains_key(r) {
                let conf = client
                    .config()
                    .to_builder()
                    .region(Region::new(r.clone()))
                    .build();
                regional.insert(r.clone(), aws_sdk_s3::Client::from_conf(conf));
            }
        }
    }
    let regional = &regional;
    let facts: Vec<Read<BucketFacts>> = stream::iter(located)
        .map(|(name, region)| async move {
            let (region, mut errors) = match region {
                Ok(r) => (r, Vec::new()),
                Err(line) => (String::new(), vec![line]),
            };
            let c = regional.get(&region).unwrap_or(client);
            let (facts, mut more) = bucket_facts(c, name, region).await;
            errors.append(&mut more);
            (facts, errors)
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut out = Vec::with_capacity(facts.len());
    for (f, mut e) in facts {
        out.push(f);
        errors.append(&mut e);
    }
    (out, errors)
}

/// The bucket's region as GetBucketLocation states it (no constraint: us-east-1; `EU`:
/// eu-west-1).
async fn bucket_region(client: &aws_sdk_s3::Client, bucket: &str) -> Result<String, String> {
    match client.get_bucket_location().bucket(bucket).send().await {
        Ok(o) => Ok(match o.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_string(),
            Some("EU") => "eu-west-1".to_string(),
            Some(r) => r.to_string(),
        }),
        Err(e) => Err(failed(&format!("s3:GetBucketLocation on {bucket}"), &e)),
    }
}

async fn bucket_facts(
    client: &aws_sdk_s3::Client,
    name: String,
    region: String,
) -> Read<BucketFacts> {
    let mut errors = Vec::new();
    let mut facts = BucketFacts {
        name,
        region,
        ..BucketFacts::default()
    };
    let bucket = facts.name.as_str();

    match client.get_public_access_block().bucket(bucket).send().await {
        Ok(o) => {
            facts.public_access_block =
                o.public_access_block_configuration()
                    .map(|c| PublicAccessBlock {
                        block_public_acls: c.block_public_acls().unwrap_or(false),
                        ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                        block_public_policy: c.block_public_policy().unwrap_or(false),
                        restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
                    })
        }
        Err(e) if code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => {}
        Err(e) => errors.push(failed(
            &format!("s3:GetBucketPublicAccessBlock on {bucket}"),
            &e,
        )),
    }

    match client
        .get_bucket_policy_status()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(o) => {
            facts.policy_public = Some(
                o.policy_status()
                    .and_then(|s| s.is_public())
                    .unwrap_or(false),
            )
        }
        Err(e) if code(&e) == Some("NoSuchBucketPolicy") => facts.policy_public = Some(false),
        Err(e) => errors.push(failed(&format!("s3:GetBucketPolicyStatus on {bucket}"), &e)),
    }

    match client.get_bucket_versioning().bucket(bucket).send().await {
        Ok(o) => {
            facts.versioning = Some(o.status().map_or("Off", |s| s.as_str()).to_string());
            facts.mfa_delete = Some(o.mfa_delete().is_some_and(|m| m.as_str() == "Enabled"));
        }
        Err(e) => errors.push(failed(&format!("s3:GetBucketVersioning on {bucket}"), &e)),
    }

    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .list_bucket_metrics_configurations()
            .bucket(bucket)
            .set_continuation_token(token.clone())
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                errors.push(failed(
                    &format!("s3:ListBucketMetricsConfigurations on {bucket}"),
                    &e,
                ));
                break;
            }
        };
        facts
            .request_metrics
            .extend(
                page.metrics_configuration_list()
                    .iter()
                    .map(|m| MetricsConfig {
                        id: m.id().to_string(),
                        filter: m.filter().map(metrics_filter),
                    }),
            );
        if facts.request_metrics.len() >= MAX_METRICS_CONFIGS {
            facts.request_metrics.truncate(MAX_METRICS_CONFIGS);
            break;
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        token = next_token(page.next_continuation_token(), token.as_deref());
        if token.is_none() {
            break;
        }
    }
    (facts, errors)
}

/// A metrics filter in words: `prefix X`, `tag K=V`, `access point ARN`, joined with ` and `.
fn metrics_filter(f: &aws_sdk_s3::types::MetricsFilter) -> String {
    use aws_sdk_s3::types::MetricsFilter as F;
    let tag = |t: &aws_sdk_s3::types::Tag| format!("tag {}={}", t.key(), t.value());
    match f {
        F::Prefix(p) => format!("prefix {p}"),
        F::Tag(t) => tag(t),
        F::AccessPointArn(a) => format!("access point {a}"),
        F::And(and) => {
            let mut parts = Vec::new();
            if let Some(p) = and.prefix() {
                parts.push(format!("prefix {p}"));
            }
            parts.extend(and.tags().iter().map(tag));
            if let Some(a) = and.access_point_arn() {
                parts.push(format!("access point {a}"));
            }
            parts.join(" and ")
        }
        _ => "an unknown filter".to_string(),
    }
}

async fn account_public_access_block(
    client: &aws_sdk_s3control::Client,
    account: &str,
) -> Read<Option<PublicAccessBlock>> {
    match client
        .get_public_access_block()
        .account_id(account)
        .send()
        .await
    {
        Ok(o) => (
            o.public_access_block_configuration()
                .map(|c| PublicAccessBlock {
                    block_public_acls: c.block_public_acls().unwrap_or(false),
                    ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                    block_public_policy: c.block_public_policy().unwrap_or(false),
                    restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
                }),
            Vec::new(),
        ),
        Err(e) if code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => (None, Vec::new()),
        Err(e) => (None, vec![failed("s3:GetAccountPublicAccessBlock", &e)]),
    }
}

// --- CloudTrail ---------------------------------------------------------------------------

/// The region in an ARN (`arn:aws:cloudtrail:REGION:…`).
fn arn_region(arn: &str) -> &str {
    arn.split(':').nth(3).unwrap_or_default()
}

/// The trails seen from `regions`, and the regions whose DescribeTrails failed (their own
/// trails are not known).
async fn trails(regions: &[RegionClients]) -> Read<(Vec<Trail>, Vec<String>)> {
    let mut unread = Vec::new();
    let mut errors = Vec::new();
    // ARN → (the trail as described, the region it was seen from first).
    let mut seen: BTreeMap<String, (Trail, usize)> = BTreeMap::new();
    let mut truncated = false;
    for (i, r) in regions.iter().enumerate() {
        let client = &r.cloudtrail;
        let described = client
            .describe_trails()
            .include_shadow_trails(true)
            .send()
            .await;
        let described = match described {
            Ok(d) => d,
            Err(e) => {
                errors.push(failed(
                    &format!("cloudtrail:DescribeTrails in {}", r.region),
                    &e,
                ));
                unread.push(r.region.clone());
                continue;
            }
        };
        for t in described.trail_list() {
            let Some(arn) = t.trail_arn().filter(|a| !a.is_empty()) else {
                continue;
            };
            if seen.contains_key(arn) {
                continue;
            }
            if seen.len() >= MAX_TRAILS {
                truncated = true;
                continue;
            }
            let trail = Trail {
                name: t.name().unwrap_or_default().to_string(),
                arn: arn.to_string(),
                home_region: t
                    .home_region()
                    .unwrap_or_else(|| arn_region(arn))
                    .to_string(),
                multi_region: t.is_multi_region_trail().unwrap_or(false),
                organization: t.is_organization_trail().unwrap_or(false),
                logging: None,
                selectors: Selectors::Unknown,
            };
            seen.insert(arn.to_string(), (trail, i));
        }
    }
    if truncated {
        errors.push(format!(
            "cloudtrail:DescribeTrails: more than {MAX_TRAILS} trails; the first {MAX_TRAILS} kept"
        ));
    }
    let read: Vec<Read<Trail>> = stream::iter(seen.into_values())
        .map(|(trail, seen_from)| {
            // Ask the trail's home region (GetEventSelectors answers only there): its client
            // when that region is looked at, else one made for it (an organisation trail homed
            // in us-east-1 is seen from eu-west-1 as a shadow trail).
            let client = match regions.iter().find(|r| r.region == trail.home_region) {
                Some(r) => r.cloudtrail.clone(),
                None if super::posture_settings::is_region_name(&trail.home_region) => {
                    aws_sdk_cloudtrail::Client::from_conf(
                        regions[seen_from]
                            .cloudtrail
                            .config()
                            .to_builder()
                            .region(Region::new(trail.home_region.clone()))
                            .build(),
                    )
                }
                None => regions[seen_from].cloudtrail.clone(),
            };
            async move { trail_state(&client, trail).await }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut out = Vec::with_capacity(read.len());
    for (t, mut e) in read {
        out.push(t);
        errors.append(&mut e);
    }
    ((out, unread), errors)
}

async fn trail_state(client: &aws_sdk_cloudtrail::Client, mut trail: Trail) -> Read<Trail> {
    let mut errors = Vec::new();
    match client.get_trail_status().name(&trail.arn).send().await {
        Ok(s) => trail.logging = s.is_logging(),
        Err(e) => errors.push(failed(
            &format!("cloudtrail:GetTrailStatus on {}", trail.arn),
            &e,
        )),
    }
    match client
        .get_event_selectors()
        .trail_name(&trail.arn)
        .send()
        .await
    {
        Ok(s) => {
            trail.selectors = if !s.advanced_event_selectors().is_empty() {
                Selectors::Advanced(advanced(s.advanced_event_selectors()))
            } else {
                Selectors::Basic(
                    s.event_selectors()
                        .iter()
                        .map(|b| BasicSelector {
                            read_write_type: b
                                .read_write_type()
                                .map_or("All", |t| t.as_str())
                                .to_string(),
                            include_management_events: b
                                .include_management_events()
                                .unwrap_or(true),
                            data_resources: b
                                .data_resources()
                                .iter()
                                .map(|d| DataResource {
                                    kind: d.r#type().unwrap_or_default().to_string(),
                                    values: d.values().to_vec(),
                                })
                                .collect(),
                        })
                        .collect(),
                )
            }
        }
        Err(e) => errors.push(failed(
            &format!("cloudtrail:GetEventSelectors on {}", trail.arn),
            &e,
        )),
    }
    (trail, errors)
}

fn advanced(
    selectors: &[aws_sdk_cloudtrail::types::AdvancedEventSelector],
) -> Vec<AdvancedSelector> {
    selectors
        .iter()
        .map(|s| AdvancedSelector {
            name: s.name().map(str::to_string),
            field_selectors: s
                .field_selectors()
                .iter()
                .map(|f| FieldSelector {
                    field: f.field().to_string(),
                    equals: f.equals().to_vec(),
                    starts_with: f.starts_with().to_vec(),
                    ends_with: f.ends_with().to_vec(),
                    not_equals: f.not_equals().to_vec(),
                    not_starts_with: f.not_starts_with().to_vec(),
                    not_ends_with: f.not_ends_with().to_vec(),
                })
                .collect(),
        })
        .collect()
}

async fn event_data_stores(regions: &[RegionClients]) -> Read<Vec<EventDataStore>> {
    let mut errors = Vec::new();
    // ARN → the region it was listed in.
    let mut arns: BTreeMap<String, usize> = BTreeMap::new();
    let mut truncated = false;
    for (i, r) in regions.iter().enumerate() {
        let client = &r.cloudtrail;
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = client
                .list_event_data_stores()
                .set_next_token(token.clone())
                .send()
                .await;
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    errors.push(failed(
                        &format!("cloudtrail:ListEventDataStores in {}", r.region),
                        &e,
                    ));
                    break;
                }
            };
            for s in page.event_data_stores() {
                if let Some(arn) = s.event_data_store_arn().filter(|a| !a.is_empty()) {
                    if arns.len() >= MAX_EVENT_DATA_STORES && !arns.contains_key(arn) {
                        truncated = true;
                    } else {
                        arns.entry(arn.to_string()).or_insert(i);
                    }
                }
            }
            token = next_token(page.next_token(), token.as_deref());
            if token.is_none() {
                break;
            }
        }
    }
    if truncated {
        errors.push(format!(
            "cloudtrail:ListEventDataStores: more than {MAX_EVENT_DATA_STORES} event data \
             stores; the first {MAX_EVENT_DATA_STORES} kept"
        ));
    }
    let read: Vec<Result<EventDataStore, String>> = stream::iter(arns)
        .map(|(arn, i)| async move {
            let client = &regions[i].cloudtrail;
            match client
                .get_event_data_store()
                .event_data_store(&arn)
                .send()
                .await
            {
                Ok(s) => Ok(EventDataStore {
                    name: s.name().unwrap_or_default().to_string(),
                    home_region: arn_region(&arn).to_string(),
                    multi_region: s.multi_region_enabled().unwrap_or(false),
                    organization: s.organization_enabled().unwrap_or(false),
                    status: s.status().map_or("", |x| x.as_str()).to_string(),
                    advanced_selectors: advanced(s.advanced_event_selectors()),
                    arn,
                }),
                Err(e) => Err(failed(
                    &format!("cloudtrail:GetEventDataStore on {arn}"),
                    &e,
                )),
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut out = Vec::new();
    for r in read {
        match r {
            Ok(s) => out.push(s),
            Err(line) => errors.push(line),
        }
    }
    (out, errors)
}

// --- GuardDuty ----------------------------------------------------------------------------

/// The region's detectors (normally one), in the order GuardDuty lists them.
async fn detectors(
    client: &aws_sdk_guardduty::Client,
) -> Result<
    Vec<String>,
    SdkError<aws_sdk_guardduty::operation::list_detectors::ListDetectorsError, HttpResponse>,
> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .list_detectors()
            .set_next_token(token.clone())
            .send()
            .await?;
        ids.extend(page.detector_ids().iter().cloned());
        token = next_token(page.next_token(), token.as_deref());
        if token.is_none() {
            break;
        }
    }
    Ok(ids)
}

async fn guardduty(regions: &[RegionClients]) -> Read<Vec<GuardDutyRegion>> {
    let read: Vec<Read<GuardDutyRegion>> = stream::iter(regions)
        .map(|r| guardduty_region(&r.guardduty, &r.region))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (g, mut e) in read {
        out.push(g);
        errors.append(&mut e);
    }
    (out, errors)
}

async fn guardduty_region(
    client: &aws_sdk_guardduty::Client,
    region: &str,
) -> Read<GuardDutyRegion> {
    let mut out = GuardDutyRegion {
        region: region.to_string(),
        ..GuardDutyRegion::default()
    };
    let ids = match detectors(client).await {
        Ok(ids) => ids,
        Err(e) => {
            return (
                out,
                vec![failed(&format!("guardduty:ListDetectors in {region}"), &e)],
            )
        }
    };
    let Some(id) = ids.into_iter().next() else {
        return (out, Vec::new());
    };
    let mut errors = Vec::new();
    match client.get_detector().detector_id(&id).send().await {
        Ok(d) => {
            let feature = d
                .features()
                .iter()
                .find(|f| f.name().is_some_and(|n| n.as_str() == "S3_DATA_EVENTS"));
            out.s3_protection = match feature {
                Some(f) => Some(f.status().is_some_and(|s| s.as_str() == "ENABLED")),
                None => legacy_s3_logs(&d),
            };
        }
        Err(e) => errors.push(failed(
            &format!("guardduty:GetDetector {id} in {region}"),
            &e,
        )),
    }
    out.detector_id = Some(id);
    (out, errors)
}

/// S3 protection as detectors from before `features` state it (`dataSources.s3Logs`).
#[allow(deprecated)] // Deprecated for `features`, which is read first.
fn legacy_s3_logs(
    d: &aws_sdk_guardduty::operation::get_detector::GetDetectorOutput,
) -> Option<bool> {
    d.data_sources()
        .and_then(|s| s.s3_logs())
        .and_then(|s| s.status())
        .map(|s| s.as_str() == "ENABLED")
}

/// The SDK configuration for `region`, with the profile's credentials or, given `role_arn`,
/// with that role's (assumed through STS with the profile's).
async fn config_as(profile: Option<&str>, region: &str, role_arn: Option<&str>) -> SdkConfig {
    let conf = super::sdk_config(profile, Some(region)).await;
    let Some(role) = role_arn else { return conf };
    let provider = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("egresswatch-coverage")
        .configure(&conf)
        .build()
        .await;
    conf.into_builder()
        .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
            provider,
        ))
        .build()
}

/// GuardDuty's S3 findings in `region` for `account` that overlap `[from, to)`, read with the
/// profile's credentials or, given `role_arn`, in that account through the role (its own
/// detector, when this account is not GuardDuty's administrator for it).
pub async fn guardduty_findings(
    profile: Option<&str>,
    region: &str,
    account: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    role_arn: Option<&str>,
) -> anyhow::Result<Vec<GuardDutyFinding>> {
    let conf = config_as(profile, region, role_arn).await;
    let client = aws_sdk_guardduty::Client::new(&conf);
    findings_with(&client, region, account, from, to).await
}

/// The criteria ListFindings is sent: updated since `from` (epoch milliseconds; `to` is applied
/// to when the activity was first seen, after GetFindings), of `account`, not archived. The type cannot be matched by prefix there, so S3 findings are
/// picked after GetFindings ([`is_s3_finding`]).
pub fn finding_criteria(
    account: &str,
    from: DateTime<Utc>,
) -> aws_sdk_guardduty::types::FindingCriteria {
    use aws_sdk_guardduty::types::{Condition, FindingCriteria};
    FindingCriteria::builder()
        .criterion(
            "updatedAt",
            // Updated since `from`, even after `to`: GuardDuty updates a finding each time
            // the activity recurs, so one still going on was updated after the window ended.
            // Those first seen after `to` are dropped below.
            Condition::builder()
                .greater_than_or_equal(from.timestamp_millis())
                .build(),
        )
        .criterion("accountId", Condition::builder().equals(account).build())
        .criterion(
            "service.archived",
            Condition::builder().equals("false").build(),
        )
        .build()
}

/// [`guardduty_findings`] with a given client: every detector of the region, findings listed
/// newest first (at most [`MAX_FINDING_IDS`]), read 50 at a time, the S3 ones kept (at most
/// [`MAX_FINDINGS`]) in that order.
pub async fn findings_with(
    client: &aws_sdk_guardduty::Client,
    region: &str,
    account: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<GuardDutyFinding>> {
    use aws_sdk_guardduty::types::{OrderBy, SortCriteria};
    let ids = detectors(client).await.map_err(|e| {
        anyhow::anyhow!(failed(&format!("guardduty:ListDetectors in {region}"), &e))
    })?;
    let criteria = finding_criteria(account, from);
    let sort = SortCriteria::builder()
        .attribute_name("updatedAt")
        .order_by(OrderBy::Desc)
        .build();
    let mut out = Vec::new();
    for detector in ids {
        let mut listed: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = client
                .list_findings()
                .detector_id(&detector)
                .finding_criteria(criteria.clone())
                .sort_criteria(sort.clone())
                .max_results(50)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(failed(&format!("guardduty:ListFindings in {region}"), &e))
                })?;
            listed.extend(page.finding_ids().iter().cloned());
            if listed.len() >= MAX_FINDING_IDS {
                listed.truncate(MAX_FINDING_IDS);
                // Said, not silent: older findings of the window may be among those not read.
                tracing::warn!(
                    region,
                    account,
                    max = MAX_FINDING_IDS,
                    "GuardDuty: more findings updated since the window's start than are read; \
                     the newest are kept"
                );
                break;
            }
            token = next_token(page.next_token(), token.as_deref());
            if token.is_none() {
                break;
            }
        }
        for chunk in listed.chunks(FINDINGS_PER_CALL) {
            let got = client
                .get_findings()
                .detector_id(&detector)
                .set_finding_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(failed(&format!("guardduty:GetFindings in {region}"), &e))
                })?;
            // In the order listed (newest first), whatever order GetFindings answered in.
            let mut by_id: HashMap<&str, &aws_sdk_guardduty::types::Finding> = got
                .findings()
                .iter()
                .filter_map(|f| Some((f.id()?, f)))
                .collect();
            for id in chunk {
                let Some(f) = by_id.remove(id.as_str()) else {
                    continue;
                };
                let archived = f.service().and_then(|s| s.archived()) == Some(true);
                if archived || !is_s3_finding(f.r#type().unwrap_or_default()) {
                    continue;
                }
                let f = finding(f, region);
                if !began_before(&f.first_seen, to) {
                    continue;
                }
                out.push(f);
                if out.len() >= MAX_FINDINGS {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

/// Whether activity first seen at `first_seen` (RFC 3339) began before `to`: with the
/// `updatedAt >= from` criterion, the finding overlaps `[from, to)`. A time that cannot be read
/// keeps the finding (better shown than lost).
pub fn began_before(first_seen: &str, to: DateTime<Utc>) -> bool {
    DateTime::parse_from_rfc3339(first_seen).map_or(true, |t| t.with_timezone(&Utc) < to)
}

fn finding(f: &aws_sdk_guardduty::types::Finding, region: &str) -> GuardDutyFinding {
    let resource = f.resource();
    let service = f.service();
    let principal = resource.and_then(|r| r.access_key_details()).and_then(|k| {
        k.user_name()
            .filter(|u| !u.is_empty())
            .or(k.principal_id().filter(|p| !p.is_empty()))
            .map(str::to_string)
    });
    GuardDutyFinding {
        id: f.id().unwrap_or_default().to_string(),
        kind: f.r#type().unwrap_or_default().to_string(),
        severity: f.severity().unwrap_or(0.0),
        title: f.title().unwrap_or_default().to_string(),
        account: f.account_id().unwrap_or_default().to_string(),
        region: f
            .region()
            .filter(|r| !r.is_empty())
            .unwrap_or(region)
            .to_string(),
        buckets: resource
            .map(|r| {
                r.s3_bucket_details()
                    .iter()
                    .filter_map(|b| b.name())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        principal,
        first_seen: service
            .and_then(|s| s.event_first_seen())
            .unwrap_or_default()
            .to_string(),
        last_seen: service
            .and_then(|s| s.event_last_seen())
            .unwrap_or_default()
            .to_string(),
        count: service
            .and_then(|s| s.count())
            .map_or(0, |c| u64::try_from(c).unwrap_or(0)),
    }
}

// --- Organizations ------------------------------------------------------------------------

/// The service control policies and the account's path to the root.
async fn organization(
    client: &aws_sdk_organizations::Client,
    account: &str,
) -> Read<(Option<Vec<ServiceControlPolicy>>, Vec<String>)> {
    let mut errors = Vec::new();
    let scps = match list_scps(client).await {
        Ok(s) => Some(s),
        Err(e) => {
            let not_in_use = code(&e) == Some("AWSOrganizationsNotInUseException");
            errors.push(failed("organizations:ListPolicies", &e));
            if not_in_use {
                // Not in an organisation: it has no path either.
                return ((None, Vec::new()), errors);
            }
            None
        }
    };
    let scps = match scps {
        Some(list) => {
            let read: Vec<Result<ServiceControlPolicy, String>> = stream::iter(list)
                .map(|(id, name)| scp(client, id, name))
                .buffered(CONCURRENCY)
                .collect()
                .await;
            let mut out = Vec::new();
            for r in read {
                match r {
                    Ok(p) => out.push(p),
                    Err(line) => errors.push(line),
                }
            }
            out.sort_by(|a, b| a.id.cmp(&b.id));
            Some(out)
        }
        None => None,
    };
    let mut path = match org_path(client, account).await {
        Ok(p) => p,
        Err(line) => {
            errors.push(line);
            Vec::new()
        }
    };
    // SCPs never restrict the management account: its path is left empty, so that no policy
    // applies to it (and the evaluation says why).
    match client.describe_organization().send().await {
        Ok(o) => {
            let master = o.organization().and_then(|o| o.master_account_id());
            if master == Some(account) {
                path = vec![crate::model::coverage::MANAGEMENT_ACCOUNT.to_string()];
            }
        }
        Err(e) => errors.push(failed("organizations:DescribeOrganization", &e)),
    }
    ((scps, path), errors)
}

type OrgError<E> = SdkError<E, HttpResponse>;

/// (id, name) of every service control policy, at most [`MAX_POLICIES`].
async fn list_scps(
    client: &aws_sdk_organizations::Client,
) -> Result<
    Vec<(String, String)>,
    OrgError<aws_sdk_organizations::operation::list_policies::ListPoliciesError>,
> {
    use aws_sdk_organizations::types::PolicyType;
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .list_policies()
            .filter(PolicyType::ServiceControlPolicy)
            .set_next_token(token.clone())
            .send()
            .await?;
        out.extend(page.policies().iter().filter_map(|p| {
            Some((
                p.id()?.to_string(),
                p.name().unwrap_or_default().to_string(),
            ))
        }));
        if out.len() >= MAX_POLICIES {
            out.truncate(MAX_POLICIES);
            break;
        }
        token = next_token(page.next_token(), token.as_deref());
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// One policy: its document and its targets; an error line when either cannot be read (a
/// policy without its document or its targets says nothing).
async fn scp(
    client: &aws_sdk_organizations::Client,
    id: String,
    name: String,
) -> Result<ServiceControlPolicy, String> {
    let described = client
        .describe_policy()
        .policy_id(&id)
        .send()
        .await
        .map_err(|e| failed(&format!("organizations:DescribePolicy on {id}"), &e))?;
    let document = described
        .policy()
        .and_then(|p| p.content())
        .unwrap_or_default();
    if document.len() > MAX_DOCUMENT_BYTES {
        return Err(one_line(
            &format!(
                "organizations:DescribePolicy on {id}: the document is {} bytes, more than \
                 {MAX_DOCUMENT_BYTES}; skipped",
                document.len()
            ),
            MAX_ERROR_CHARS,
        ));
    }
    let document = document.to_string();
    let mut targets = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .list_targets_for_policy()
            .policy_id(&id)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| failed(&format!("organizations:ListTargetsForPolicy on {id}"), &e))?;
        targets.extend(
            page.targets()
                .iter()
                .filter_map(|t| t.target_id())
                .map(str::to_string),
        );
        if targets.len() >= MAX_TARGETS {
            targets.truncate(MAX_TARGETS);
            break;
        }
        token = next_token(page.next_token(), token.as_deref());
        if token.is_none() {
            break;
        }
    }
    Ok(ServiceControlPolicy {
        id,
        name,
        targets,
        document,
    })
}

/// Root first, then the organisational units, the account last.
async fn org_path(
    client: &aws_sdk_organizations::Client,
    account: &str,
) -> Result<Vec<String>, String> {
    let mut path = vec![account.to_string()];
    let mut child = account.to_string();
    for _ in 0..MAX_ORG_DEPTH {
        let parents = client
            .list_parents()
            .child_id(&child)
            .send()
            .await
            .map_err(|e| failed(&format!("organizations:ListParents of {child}"), &e))?;
        let Some(parent) = parents.parents().first() else {
            return Err(format!("organizations:ListParents of {child}: no parent"));
        };
        let id = parent.id().unwrap_or_default().to_string();
        if id.is_empty() || path.contains(&id) {
            return Err(format!(
                "organizations:ListParents of {child}: no usable parent"
            ));
        }
        path.push(id.clone());
        if parent.r#type().is_some_and(|t| t.as_str() == "ROOT") {
            path.reverse();
            return Ok(path);
        }
        child = id;
    }
    Err(format!(
        "organizations:ListParents: no root within {MAX_ORG_DEPTH} levels of {account}"
    ))
}
