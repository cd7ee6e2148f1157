//! AWS Cost Explorer (GetCostAndUsage): the S3 egress bill, per account and usage type, daily.
//!
//! Every request (every page) costs $0.01, so this module makes exactly one ranged request per
//! page and reports how many it made. Responses are turned into [`CeResponse`], a serde model of
//! the JSON the API and `aws ce get-cost-and-usage --output json` return; the bundled demo data
//! and saved responses go through the same [`normalize`] as live ones, so what the demo shows is
//! what the live path does.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail, Context};
use aws_sdk_costexplorer::types::{
    DateInterval, Dimension, DimensionValues, Expression, Granularity, GroupDefinition,
    GroupDefinitionType,
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::model::usage_type::classify;
use crate::model::{CostPoint, Family, Refused};

/// How far back a cold store is filled when `[sync]` does not say.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 120;
/// Requests one run may make when `[sync]` does not say: $3.00.
pub const DEFAULT_MAX_REQUESTS: u32 = 300;

/// `[sync]`: how far back a cold store is filled, and what one run may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSettings {
    /// Days before the evaluated day a cold store is filled with (at least the detector's
    /// history).
    pub lookback_days: u32,
    /// Cost Explorer requests (pages, $0.01 each) one run may make.
    pub max_requests_per_run: u32,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            lookback_days: DEFAULT_LOOKBACK_DAYS,
            max_requests_per_run: DEFAULT_MAX_REQUESTS,
        }
    }
}

/// `[sync]` as written.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RawSync {
    pub lookback_days: Option<i64>,
    pub max_requests_per_run: Option<i64>,
}

impl SyncSettings {
    /// Validate `[sync]` (Cost Explorer keeps 13 months of daily data: 430 days at most).
    pub fn check(raw: RawSync, c: &mut crate::settings::Check<'_>) -> Self {
        let d = SyncSettings::default();
        SyncSettings {
            lookback_days: c.int(
                &crate::settings::keys(&["sync", "lookback_days"]),
                raw.lookback_days,
                d.lookback_days,
                1,
                430,
            ),
            max_requests_per_run: c.int(
                &crate::settings::keys(&["sync", "max_requests_per_run"]),
                raw.max_requests_per_run,
                d.max_requests_per_run,
                1,
                100_000,
            ),
        }
    }

    /// A fresh budget for one run.
    pub fn budget(&self) -> Budget {
        Budget::new(self.max_requests_per_run as usize)
    }
}

/// The Cost Explorer requests one run may still make. Every request is counted before it is
/// sent, so a run that fails still knows (and logs) what it spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    limit: usize,
    used: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget { limit, used: 0 }
    }

    /// No limit (imports and tests of sources that do not bill).
    pub fn unlimited() -> Self {
        Budget::new(usize::MAX)
    }

    /// Requests made so far.
    pub fn used(&self) -> usize {
        self.used
    }

    /// What they cost.
    pub fn usd(&self) -> f64 {
        self.used as f64 * USD_PER_REQUEST
    }

    /// Count one request about to be sent, or refuse it when the budget is spent.
    pub fn spend(&mut self) -> anyhow::Result<()> {
        if self.used >= self.limit {
            bail!(
                "the Cost Explorer request budget of this run is spent: {} request(s) made (${:.2}); \
                 raise sync.max_requests_per_run to allow more",
                self.used,
                self.usd()
            );
        }
        self.used += 1;
        Ok(())
    }
}

/// The SERVICE dimension value of S3 in Cost Explorer.
pub const S3_SERVICE: &str = "Amazon Simple Storage Service";
/// Only downloads: every S3 egress byte is billed to the GetObject operation.
pub const OPERATION: &str = "GetObject";
/// What one Cost Explorer API request costs, in USD.
pub const USD_PER_REQUEST: f64 = 0.01;
/// A safety stop: no sane S3 query needs more pages than this in one range.
const MAX_PAGES: usize = 10_000;

/// A GetCostAndUsage response, in the API's own JSON shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CeResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub group_definitions: Vec<CeGroupDefinition>,
    #[serde(default)]
    pub results_by_time: Vec<CeResultByTime>,
    #[serde(default)]
    pub dimension_value_attributes: Vec<CeDimensionValueAttributes>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CeGroupDefinition {
    #[serde(default)]
    pub r#type: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CeResultByTime {
    pub time_period: CeInterval,
    #[serde(default)]
    pub total: HashMap<String, CeMetric>,
    #[serde(default)]
    pub groups: Vec<CeGroup>,
    #[serde(default)]
    pub estimated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CeInterval {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CeGroup {
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub metrics: HashMap<String, CeMetric>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CeMetric {
    #[serde(default)]
    pub amount: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CeDimensionValueAttributes {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub attributes: HashMap<String, String>,
}

/// What a set of response pages says, ready for the store.
///
/// What an answer means for a day (README, "Every number true"): a day in the answer with
/// readable groups is complete (a series absent from it had no usage); a day Cost Explorer calls
/// final with no group at all is genuinely silent (zero); an estimated day with no group is "no
/// data yet", not zero; a day absent from the answer says nothing. A group that cannot be read,
/// or whose values are impossible, is refused with its reason and never used.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Normalized {
    pub points: Vec<CostPoint>,
    /// Every day the responses covered, and whether Cost Explorer still calls it estimated.
    pub days: BTreeMap<NaiveDate, bool>,
    /// Readable groups per day (a day with none is silent, or not there yet).
    pub groups: BTreeMap<NaiveDate, usize>,
    /// Account id → account name, from `DimensionValueAttributes`.
    pub account_names: BTreeMap<String, String>,
    /// Groups that could not be read or are impossible, and why (their days are not final).
    pub refused: Vec<Refused>,
    /// Everything skipped, in words: refused groups and unreadable results.
    pub problems: Vec<String>,
}

/// The most a day of one account's usage type can hold. S3 has no account-wide bandwidth cap,
/// so the bound is physical, not contractual: 10 PB (10^7 GB) a day is about 1 Tbit/s for 24
/// hours, beyond what any account's egress has reached; 10^13 requests a day is about 10^8 a
/// second, four orders above S3's per-prefix rate across a thousand prefixes. $10^9 a day is
/// beyond any S3 bill. A larger figure is a corrupt answer, not usage.
pub const MAX_GB_PER_DAY: f64 = 1e7;
pub const MAX_REQUESTS_PER_DAY: f64 = 1e13;
pub const MAX_USD_PER_DAY: f64 = 1e9;

/// Turn response pages into cost points. Never fails: a group that cannot be read is refused
/// with its reason; an unknown usage type is kept as family `other`.
pub fn normalize(pages: &[CeResponse]) -> Normalized {
    let mut out = Normalized::default();
    // (day, account, usage type) → point: a group repeated across pages is counted once.
    let mut points: BTreeMap<(NaiveDate, String, String), CostPoint> = BTreeMap::new();
    for page in pages {
        let (account_idx, usage_idx) = key_positions(&page.group_definitions);
        for attr in &page.dimension_value_attributes {
            if let (Some(id), Some(name)) = (&attr.value, attr.attributes.get("description")) {
                out.account_names.insert(id.clone(), name.clone());
            }
        }
        for result in &page.results_by_time {
            let Ok(day) = NaiveDate::parse_from_str(&result.time_period.start, "%Y-%m-%d") else {
                out.problems.push(format!(
                    "result with unreadable TimePeriod.Start `{}` skipped",
                    result.time_period.start
                ));
                continue;
            };
            let estimated = out.days.entry(day).or_insert(false);
            *estimated |= result.estimated;
            out.groups.entry(day).or_insert(0);
            for group in &result.groups {
                match group_to_point(group, day, result.estimated, account_idx, usage_idx) {
                    Ok(p) => {
                        *out.groups.entry(day).or_insert(0) += 1;
                        points.insert((day, p.account.clone(), p.usage_type.clone()), p);
                    }
                    Err(e) => {
                        let reason = format!("{e:#}");
                        out.problems
                            .push(format!("{day}: group {:?} skipped: {reason}", group.keys));
                        out.refused.push(Refused {
                            day,
                            account: group.keys.get(account_idx).cloned().unwrap_or_default(),
                            usage_type: group.keys.get(usage_idx).cloned().unwrap_or_default(),
                            reason,
                        });
                    }
                }
            }
        }
    }
    // A group refused on one page and read on another is still refused: its day is not whole.
    for r in &out.refused {
        points.remove(&(r.day, r.account.clone(), r.usage_type.clone()));
    }
    out.points = points.into_values().collect();
    out
}

/// What is wrong with a response's shape for egresswatch, if anything: the grouping (exactly
/// LINKED_ACCOUNT and USAGE_TYPE) and the metrics (UsageQuantity and UnblendedCost).
pub fn shape_problem(page: &CeResponse) -> Option<String> {
    let keys: Vec<&str> = page
        .group_definitions
        .iter()
        .filter_map(|d| d.key.as_deref())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    if !page.group_definitions.is_empty() && sorted != ["LINKED_ACCOUNT", "USAGE_TYPE"] {
        return Some(format!(
            "grouped by {}; egresswatch needs the two groupings LINKED_ACCOUNT and USAGE_TYPE",
            if keys.is_empty() {
                "nothing".to_string()
            } else {
                keys.join(" and ")
            }
        ));
    }
    for result in &page.results_by_time {
        for group in &result.groups {
            if group.keys.len() != 2 {
                return Some(format!(
                    "a group has {} key(s) ({:?}); egresswatch needs LINKED_ACCOUNT and USAGE_TYPE",
                    group.keys.len(),
                    group.keys
                ));
            }
            for metric in ["UsageQuantity", "UnblendedCost"] {
                if !group.metrics.contains_key(metric) {
                    return Some(format!(
                        "its groups lack the metric {metric}; egresswatch needs UsageQuantity and UnblendedCost"
                    ));
                }
            }
        }
    }
    None
}

/// The command that saves a response egresswatch can import, page by page.
pub fn save_command() -> String {
    let filter = format!(
        r#"{{"And": [{{"Dimensions": {{"Key": "SERVICE", "Values": ["{S3_SERVICE}"]}}}}, {{"Dimensions": {{"Key": "OPERATION", "Values": ["{OPERATION}"]}}}}]}}"#
    );
    format!(
        "aws ce get-cost-and-usage --time-period Start=YYYY-MM-DD,End=YYYY-MM-DD --granularity DAILY \\\n    \
         --filter '{filter}' \\\n    \
         --group-by Type=DIMENSION,Key=LINKED_ACCOUNT Type=DIMENSION,Key=USAGE_TYPE \\\n    \
         --metrics UsageQuantity UnblendedCost --output json > page-1.json\n\
         While a page has a NextPageToken, save the next one with the same command plus \
         --next-page-token TOKEN (page-2.json, ...), then: egresswatch import page-*.json"
    )
}

fn key_positions(defs: &[CeGroupDefinition]) -> (usize, usize) {
    let find = |k: &str| defs.iter().position(|d| d.key.as_deref() == Some(k));
    match (find("LINKED_ACCOUNT"), find("USAGE_TYPE")) {
        (Some(a), Some(u)) => (a, u),
        // Older saved responses may omit GroupDefinitions: the request order is account, type.
        _ => (0, 1),
    }
}

fn group_to_point(
    group: &CeGroup,
    day: NaiveDate,
    estimated: bool,
    account_idx: usize,
    usage_idx: usize,
) -> anyhow::Result<CostPoint> {
    let account = group
        .keys
        .get(account_idx)
        .ok_or_else(|| anyhow!("no account key"))?;
    let usage_type = group
        .keys
        .get(usage_idx)
        .ok_or_else(|| anyhow!("no usage type key"))?;
    let usage = group
        .metrics
        .get("UsageQuantity")
        .ok_or_else(|| anyhow!("no UsageQuantity"))?;
    let cost = group
        .metrics
        .get("UnblendedCost")
        .ok_or_else(|| anyhow!("no UnblendedCost"))?;
    let info = classify(usage_type);
    let p = CostPoint {
        day,
        account: account.clone(),
        region: info.region,
        family: info.family,
        usage_type: usage_type.clone(),
        usage: amount(usage)?,
        unit: usage.unit.clone().unwrap_or_default(),
        cost_usd: amount(cost)?,
        estimated,
    };
    plausible(&p)?;
    Ok(p)
}

/// Refuse what no bill can say: negative figures, a unit that does not fit the usage type,
/// more than [`MAX_GB_PER_DAY`], [`MAX_REQUESTS_PER_DAY`] or [`MAX_USD_PER_DAY`].
fn plausible(p: &CostPoint) -> anyhow::Result<()> {
    if p.usage < 0.0 {
        bail!("negative usage {} {}", p.usage, p.unit);
    }
    if p.cost_usd < 0.0 {
        bail!("negative cost ${}", p.cost_usd);
    }
    let (unit, max) = match p.family {
        Family::GetRequests => ("Requests", MAX_REQUESTS_PER_DAY),
        Family::Other => ("", f64::INFINITY),
        _ => ("GB", MAX_GB_PER_DAY),
    };
    if !unit.is_empty() && !p.unit.eq_ignore_ascii_case(unit) {
        bail!(
            "unit `{}` for {}: Cost Explorer counts this usage type in {unit}",
            p.unit,
            p.usage_type
        );
    }
    if p.usage > max {
        bail!(
            "usage {} {} in a day is beyond any physical bound ({max:e})",
            p.usage,
            p.unit
        );
    }
    if p.cost_usd > MAX_USD_PER_DAY {
        bail!("cost ${} in a day is beyond any S3 bill", p.cost_usd);
    }
    Ok(())
}

fn amount(m: &CeMetric) -> anyhow::Result<f64> {
    let s = m
        .amount
        .as_deref()
        .ok_or_else(|| anyhow!("metric without Amount"))?;
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| anyhow!("Amount `{s}` is not a number"))?;
    if !v.is_finite() {
        bail!("Amount `{s}` is not finite");
    }
    Ok(v)
}

/// Something that answers GetCostAndUsage for a day range, page by page.
pub trait CostSource {
    /// All pages for `[start, end)` (end exclusive, as in the API), each request counted in
    /// `budget` before it is sent (a source that does not bill counts its pages).
    fn fetch(
        &self,
        start: NaiveDate,
        end: NaiveDate,
        budget: &mut Budget,
    ) -> impl std::future::Future<Output = anyhow::Result<Vec<CeResponse>>>;
}

/// The live source: the official AWS SDK, with the default credential chain.
#[derive(Debug, Clone)]
pub struct CostExplorer {
    client: aws_sdk_costexplorer::Client,
}

impl CostExplorer {
    /// Build a client from `aws-config`'s default chain (environment, profiles and SSO,
    /// container and instance roles). `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_COST_EXPLORER`
    /// override the endpoint, which is how the tests reach the emulator.
    pub async fn from_env(profile: Option<&str>) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            // Cost Explorer has one endpoint, in us-east-1, whatever region the user works in.
            .region(aws_config::Region::new("us-east-1"))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(std::time::Duration::from_secs(60))
                    .build(),
            );
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        let conf = loader.load().await;
        CostExplorer {
            client: aws_sdk_costexplorer::Client::new(&conf),
        }
    }
}

/// The request every page uses; only the page token changes between pages.
fn filter() -> Expression {
    let dim = |key: Dimension, value: &str| {
        Expression::builder()
            .dimensions(DimensionValues::builder().key(key).values(value).build())
            .build()
    };
    Expression::builder()
        .and(dim(Dimension::Service, S3_SERVICE))
        .and(dim(Dimension::Operation, OPERATION))
        .build()
}

impl CostSource for CostExplorer {
    async fn fetch(
        &self,
        start: NaiveDate,
        end: NaiveDate,
        budget: &mut Budget,
    ) -> anyhow::Result<Vec<CeResponse>> {
        let period = DateInterval::builder()
            .start(start.format("%Y-%m-%d").to_string())
            .end(end.format("%Y-%m-%d").to_string())
            .build()
            .context("building the time period")?;
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        // Every token of this walk: one seen before is a cycle (A→B→A), not only A→A.
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        loop {
            budget.spend()?;
            let resp = self
                .client
                .get_cost_and_usage()
                .time_period(period.clone())
                .granularity(Granularity::Daily)
                .filter(filter())
                .group_by(
                    GroupDefinition::builder()
                        .r#type(GroupDefinitionType::Dimension)
                        .key("LINKED_ACCOUNT")
                        .build(),
                )
                .group_by(
                    GroupDefinition::builder()
                        .r#type(GroupDefinitionType::Dimension)
                        .key("USAGE_TYPE")
                        .build(),
                )
                .metrics("UsageQuantity")
                .metrics("UnblendedCost")
                .set_next_page_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "Cost Explorer GetCostAndUsage {start}..{end} (page {}): {}",
                        pages.len() + 1,
                        crate::settings::errors::human_error(&e)
                    )
                })?;
            let page = from_sdk(&resp);
            let next = page.next_page_token.clone().filter(|t| !t.is_empty());
            pages.push(page);
            match next {
                None => break,
                Some(t) if !seen.insert(t.clone()) => bail!(
                    "Cost Explorer returned a NextPageToken already seen in this walk of \
                     {start}..{end} (page {}): a cycle, stopping after {} request(s) (${:.2}) this run",
                    pages.len(),
                    budget.used(),
                    budget.usd()
                ),
                Some(_) if pages.len() >= MAX_PAGES => {
                    bail!("Cost Explorer returned more than {MAX_PAGES} pages for {start}..{end}")
                }
                Some(t) => token = Some(t),
            }
        }
        Ok(pages)
    }
}

/// The SDK's output, in the API's JSON shape.
fn from_sdk(
    out: &aws_sdk_costexplorer::operation::get_cost_and_usage::GetCostAndUsageOutput,
) -> CeResponse {
    let metrics = |m: Option<&HashMap<String, aws_sdk_costexplorer::types::MetricValue>>| {
        m.map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        CeMetric {
                            amount: v.amount().map(str::to_string),
                            unit: v.unit().map(str::to_string),
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default()
    };
    CeResponse {
        next_page_token: out.next_page_token().map(str::to_string),
        group_definitions: out
            .group_definitions()
            .iter()
            .map(|g| CeGroupDefinition {
                r#type: g.r#type().map(|t| t.as_str().to_string()),
                key: g.key().map(str::to_string),
            })
            .collect(),
        results_by_time: out
            .results_by_time()
            .iter()
            .filter_map(|r| {
                let tp = r.time_period()?;
                Some(CeResultByTime {
                    time_period: CeInterval {
                        start: tp.start().to_string(),
                        end: tp.end().to_string(),
                    },
                    total: metrics(r.total()),
                    groups: r
                        .groups()
                        .iter()
                        .map(|g| CeGroup {
                            keys: g.keys().to_vec(),
                            metrics: metrics(g.metrics()),
                        })
                        .collect(),
                    estimated: r.estimated(),
                })
            })
            .collect(),
        dimension_value_attributes: out
            .dimension_value_attributes()
            .iter()
            .map(|d| CeDimensionValueAttributes {
                value: d.value().map(str::to_string),
                attributes: d.attributes().cloned().unwrap_or_default(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(json: &str) -> CeResponse {
        serde_json::from_str(json).unwrap()
    }

    const SAMPLE: &str = r#"{
      "GroupDefinitions": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
      "ResultsByTime": [
        {"TimePeriod": {"Start": "2026-05-01", "End": "2026-05-02"}, "Total": {}, "Estimated": false,
         "Groups": [
           {"Keys": ["111111111111", "DataTransfer-Out-Bytes"], "Metrics": {"UsageQuantity": {"Amount": "12.5", "Unit": "GB"}, "UnblendedCost": {"Amount": "1.125", "Unit": "USD"}}},
           {"Keys": ["111111111111", "EU-USE1-AWS-Out-Bytes"], "Metrics": {"UsageQuantity": {"Amount": "3", "Unit": "GB"}, "UnblendedCost": {"Amount": "0.06", "Unit": "USD"}}},
           {"Keys": ["111111111111", "EU-Weird-Thing"], "Metrics": {"UsageQuantity": {"Amount": "1", "Unit": "N/A"}, "UnblendedCost": {"Amount": "0", "Unit": "USD"}}},
           {"Keys": ["111111111111", "USE1-Requests-Tier2"], "Metrics": {"UsageQuantity": {"Amount": "not-a-number", "Unit": "Requests"}, "UnblendedCost": {"Amount": "0", "Unit": "USD"}}}
         ]},
        {"TimePeriod": {"Start": "2026-05-02", "End": "2026-05-03"}, "Total": {}, "Estimated": true, "Groups": []}
      ],
      "DimensionValueAttributes": [{"Value": "111111111111", "Attributes": {"description": "prod-data"}}]
    }"#;

    #[test]
    fn normalizes_groups_days_and_names() {
        let n = normalize(&[page(SAMPLE)]);
        assert_eq!(n.points.len(), 3, "{:?}", n.points);
        let out = n
            .points
            .iter()
            .find(|p| p.usage_type == "DataTransfer-Out-Bytes")
            .unwrap();
        assert_eq!(out.region, "us-east-1");
        assert_eq!(out.usage, 12.5);
        assert_eq!(out.cost_usd, 1.125);
        assert_eq!(out.unit, "GB");
        let other = n
            .points
            .iter()
            .find(|p| p.usage_type == "EU-Weird-Thing")
            .unwrap();
        assert_eq!(other.family, crate::model::Family::Other);
        assert_eq!(n.days.len(), 2);
        assert!(n.days[&parse("2026-05-02")]);
        assert!(!n.days[&parse("2026-05-01")]);
        assert_eq!(n.account_names["111111111111"], "prod-data");
        assert_eq!(n.problems.len(), 1);
        assert!(n.problems[0].contains("not-a-number"), "{:?}", n.problems);
    }

    #[test]
    fn respects_group_definition_order() {
        let swapped = SAMPLE
            .replace(
                r#"[{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}]"#,
                r#"[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}]"#,
            )
            .replace(r#"["111111111111", "DataTransfer-Out-Bytes"]"#, r#"["DataTransfer-Out-Bytes", "111111111111"]"#);
        let n = normalize(&[page(&swapped)]);
        let p = n
            .points
            .iter()
            .find(|p| p.usage_type == "DataTransfer-Out-Bytes")
            .unwrap();
        assert_eq!(p.account, "111111111111");
    }

    fn parse(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
}
