//! Coverage on a run: read the account's posture once, judge it, and join it to the report —
//! each incident learns which buckets of its region can be attributed and GuardDuty's S3
//! findings for its window; findings no incident holds go to the report's security part.
//!
//! The posture comes through [`PostureSource`]: AWS ([`AwsPosture`]) on a real run, a saved
//! inventory ([`SavedPosture`]) for the demo and `coverage --inventory`. Nothing read here
//! fails a run: a posture that cannot be read is logged and the report goes out without it.

use anyhow::Context;
use chrono::{DateTime, Days, Utc};
use serde::{Deserialize, Serialize};

use crate::correlate::IncidentContext;
use crate::model::coverage::{Coverage, GuardDutyFinding, Inventory};
use crate::model::units::midnight;
use crate::report::Report;
use crate::sources::posture_settings::CoverageSettings;

/// Where the posture comes from.
#[allow(async_fn_in_trait)]
pub trait PostureSource {
    /// The inventory of `account` (`None`: the one the credentials belong to), for `regions`.
    async fn inventory(
        &self,
        account: Option<&str>,
        regions: &[String],
        settings: &CoverageSettings,
    ) -> anyhow::Result<Inventory>;
    /// GuardDuty's S3 findings in `region` for `account`, updated within `[from, to)`; `role`:
    /// read them in that account through `coverage.role_name` (not the credentials' own).
    async fn findings(
        &self,
        region: &str,
        account: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        role: Option<&str>,
    ) -> anyhow::Result<Vec<GuardDutyFinding>>;
}

/// AWS, through the SDK, with the config's profile.
pub struct AwsPosture {
    pub profile: Option<String>,
}

impl PostureSource for AwsPosture {
    async fn inventory(
        &self,
        account: Option<&str>,
        regions: &[String],
        settings: &CoverageSettings,
    ) -> anyhow::Result<Inventory> {
        use crate::sources::posture_settings::role_arn;
        let role = match (account, &settings.role_name) {
            (None, _) => None,
            (Some(a), Some(name)) => Some(role_arn(a, name)),
            (Some(a), None) => anyhow::bail!(
                "account {a} is not the credentials' own: name a role to assume in it (coverage.role_name)"
            ),
        };
        let mut inv =
            crate::sources::posture::collect(self.profile.as_deref(), regions, role.as_deref())
                .await?;
        if let Some(a) = account.filter(|a| *a != inv.account) {
            anyhow::bail!(
                "the role assumed for account {a} belongs to {}",
                inv.account
            );
        }
        if !settings.guardduty {
            inv.guardduty.clear();
        }
        if !settings.service_control_policies {
            inv.scps = None;
        }
        Ok(inv)
    }

    async fn findings(
        &self,
        region: &str,
        account: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        role: Option<&str>,
    ) -> anyhow::Result<Vec<GuardDutyFinding>> {
        let role = role.map(|name| crate::sources::posture_settings::role_arn(account, name));
        crate::sources::posture::guardduty_findings(
            self.profile.as_deref(),
            region,
            account,
            from,
            to,
            role.as_deref(),
        )
        .await
    }
}

/// A saved posture: an inventory and GuardDuty findings as JSON (`{"inventory": …,
/// "findings": […]}`, or an inventory alone).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SavedPosture {
    pub inventory: Inventory,
    #[serde(default)]
    pub findings: Vec<GuardDutyFinding>,
}

impl SavedPosture {
    /// Read a saved posture: the whole document, or an inventory alone.
    pub fn parse(text: &str) -> anyhow::Result<SavedPosture> {
        let v: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
        if v.get("inventory").is_some() {
            serde_json::from_value(v).context("not a saved posture ({inventory, findings})")
        } else {
            Ok(SavedPosture {
                inventory: serde_json::from_value(v).context("not an inventory")?,
                findings: Vec::new(),
            })
        }
    }
}

impl PostureSource for SavedPosture {
    async fn inventory(
        &self,
        account: Option<&str>,
        _regions: &[String],
        _settings: &CoverageSettings,
    ) -> anyhow::Result<Inventory> {
        match account {
            Some(a) if a != self.inventory.account => {
                anyhow::bail!(
                    "the saved inventory is of account {}, not {a}",
                    self.inventory.account
                )
            }
            _ => Ok(self.inventory.clone()),
        }
    }

    async fn findings(
        &self,
        region: &str,
        account: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        _role: Option<&str>,
    ) -> anyhow::Result<Vec<GuardDutyFinding>> {
        // As GuardDuty is asked: updated since `from`, first seen before `to`.
        let at = |t: &str| DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc));
        let overlaps = |f: &GuardDutyFinding| {
            at(&f.last_seen).is_ok_and(|t| t >= from)
                && crate::sources::posture::began_before(&f.first_seen, to)
        };
        Ok(self
            .findings
            .iter()
            .filter(|f| f.region == region && f.account == account && overlaps(f))
            .cloned()
            .collect())
    }
}

/// The regions a run looks at: the configured ones, else those of `fallback`.
pub fn regions_for(
    settings: &CoverageSettings,
    fallback: impl IntoIterator<Item = String>,
) -> Vec<String> {
    let mut out: Vec<String> = if settings.regions.is_empty() {
        fallback.into_iter().collect()
    } else {
        settings.regions.clone()
    };
    out.sort();
    out.dedup();
    out
}

/// Read and judge the posture of `account` (`None`: the credentials' own).
pub async fn coverage<P: PostureSource>(
    posture: &P,
    account: Option<&str>,
    regions: &[String],
    settings: &CoverageSettings,
) -> anyhow::Result<Coverage> {
    let inv = posture.inventory(account, regions, settings).await?;
    Ok(crate::correlate::coverage::evaluate(&inv))
}

/// The coverage of the credentials' account and, with `coverage.role_name`, of every other
/// account in `accounts` (each read through its role). An account that cannot be read is
/// logged and left out: its incidents keep the generic reason. `None` when the credentials'
/// own account could not be read (then nothing is).
pub async fn coverages<P: PostureSource>(
    posture: &P,
    accounts: &[String],
    regions: &[String],
    settings: &CoverageSettings,
) -> Option<Vec<Coverage>> {
    let mut out = Vec::new();
    match coverage(posture, None, regions, settings).await {
        Ok(c) => out.push(c),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "coverage: the posture could not be read");
            return None;
        }
    }
    if settings.role_name.is_some() {
        for a in accounts {
            if out.iter().any(|c| c.account == *a) {
                continue;
            }
            match coverage(posture, Some(a), regions, settings).await {
                Ok(c) => out.push(c),
                Err(e) => tracing::warn!(
                    error = %format!("{e:#}"),
                    account = %a,
                    "coverage: the account's posture could not be read"
                ),
            }
        }
    }
    Some(out)
}

/// Join the posture to a run's report: the coverage, each incident's region coverage and
/// GuardDuty findings (its account, region and days), and the findings of the evaluated day
/// no incident holds. Runs before the trail is read, so that the reconciliation can name
/// the buckets no trail records.
pub async fn attach_posture<P: PostureSource>(
    settings: &CoverageSettings,
    posture: &P,
    report: &mut Report,
) {
    let regions = regions_for(
        settings,
        report.incidents.iter().map(|r| r.incident.region.clone()),
    );
    // No region to look at (no incident, none configured): trails are listed per region, so
    // an inventory of none would call every bucket unrecorded.
    if regions.is_empty() {
        return;
    }
    let mut accounts: Vec<String> = report
        .incidents
        .iter()
        .map(|r| r.incident.account.clone())
        .collect();
    accounts.sort();
    accounts.dedup();
    let Some(covs) = coverages(posture, &accounts, &regions, settings).await else {
        return;
    };
    // The credentials' own account comes first.
    let own = covs[0].account.clone();
    let day = report.evaluated_day;
    let mut held: Vec<String> = Vec::new();
    for ri in &mut report.incidents {
        let i = &ri.incident;
        let mut ctx = ri.cloudtrail.take().unwrap_or_else(IncidentContext::unread);
        ctx.coverage = covs.iter().find_map(|c| c.region(&i.account, &i.region));
        if settings.guardduty {
            let (from, to) = (midnight(i.start), midnight(i.day + Days::new(1)));
            // Another account's findings: in that account through the role when there is one
            // (else as GuardDuty's administrator would see them, with the own credentials).
            let role = settings.role_name.as_deref().filter(|_| i.account != own);
            match posture
                .findings(&i.region, &i.account, from, to, role)
                .await
            {
                Ok(f) => {
                    held.extend(f.iter().map(|f| f.id.clone()));
                    ctx.guardduty = f;
                }
                Err(e) => tracing::warn!(
                    error = %format!("{e:#}"),
                    region = %i.region,
                    "GuardDuty findings could not be read"
                ),
            }
        }
        ri.cloudtrail = Some(ctx);
    }
    if settings.guardduty {
        let (from, to) = (midnight(day), midnight(day + Days::new(1)));
        for region in &regions {
            match posture.findings(region, &own, from, to, None).await {
                Ok(f) => report
                    .guardduty
                    .extend(f.into_iter().filter(|f| !held.contains(&f.id))),
                Err(e) => tracing::warn!(
                    error = %format!("{e:#}"),
                    region = %region,
                    "GuardDuty findings could not be read"
                ),
            }
        }
        report
            .guardduty
            .sort_by(|a, b| b.severity.total_cmp(&a.severity).then(a.id.cmp(&b.id)));
        report.guardduty.dedup_by(|a, b| a.id == b.id);
    }
    report.coverage = covs;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::coverage::{Attribution, BucketFacts};
    use crate::report::fixture::report;

    fn finding(id: &str, account: &str, region: &str, last_seen: &str) -> GuardDutyFinding {
        GuardDutyFinding {
            id: id.into(),
            kind: "Exfiltration:S3/AnomalousBehavior".into(),
            severity: 8.0,
            title: id.into(),
            account: account.into(),
            region: region.into(),
            buckets: vec!["exports".into()],
            principal: None,
            first_seen: last_seen.into(),
            last_seen: last_seen.into(),
            count: 1,
        }
    }

    /// Each incident gets its region's coverage and the findings of its account, region and
    /// days; a finding of the evaluated day no incident holds goes to the security part; one
    /// outside every window goes nowhere.
    #[test]
    fn findings_join_the_incident_whose_window_holds_them() {
        // Incident 0: 111111111111, eu-west-1, 2026-06-14. Incident 1: 111111111112,
        // us-east-1, 2026-06-13 .. 14.
        let mut r = report(2);
        let posture = SavedPosture {
            inventory: Inventory {
                account: "111111111111".into(),
                collected_at: "2026-06-15T06:00:00Z".into(),
                buckets: vec![BucketFacts {
                    name: "exports".into(),
                    region: "eu-west-1".into(),
                    ..BucketFacts::default()
                }],
                ..Inventory::default()
            },
            findings: vec![
                finding(
                    "inside",
                    "111111111111",
                    "eu-west-1",
                    "2026-06-14T10:00:00Z",
                ),
                finding(
                    "week-before",
                    "111111111111",
                    "eu-west-1",
                    "2026-06-07T10:00:00Z",
                ),
                finding(
                    "other-region",
                    "111111111111",
                    "us-east-1",
                    "2026-06-14T03:00:00Z",
                ),
                finding(
                    "other-account",
                    "999999999999",
                    "eu-west-1",
                    "2026-06-14T03:00:00Z",
                ),
                // Still going on after the window: first seen inside, updated after.
                GuardDutyFinding {
                    first_seen: "2026-06-14T20:00:00Z".into(),
                    ..finding(
                        "ongoing",
                        "111111111111",
                        "eu-west-1",
                        "2026-06-15T05:00:00Z",
                    )
                },
                // Begun after the window.
                GuardDutyFinding {
                    first_seen: "2026-06-15T01:00:00Z".into(),
                    ..finding("later", "111111111111", "eu-west-1", "2026-06-15T05:00:00Z")
                },
            ],
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(attach_posture(
            &CoverageSettings::default(),
            &posture,
            &mut r,
        ));
        let ctx0 = r.incidents[0].cloudtrail.as_ref().unwrap();
        let ids: Vec<&str> = ctx0.guardduty.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["inside", "ongoing"]);
        let cov0 = ctx0
            .coverage
            .as_ref()
            .expect("the incident's account was read");
        assert_eq!(cov0.not_attributable[0].0, "exports");
        // Another account's incident: no coverage (it is of the credentials' account).
        let ctx1 = r.incidents[1].cloudtrail.as_ref().unwrap();
        assert!(ctx1.coverage.is_none() && ctx1.guardduty.is_empty());
        let rest: Vec<&str> = r.guardduty.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(rest, ["other-region"]);
        assert_eq!(r.coverage.len(), 1, "no role: only the own account");
        assert_eq!(r.coverage[0].buckets[0].attribution, Attribution::None);
    }

    /// A saved posture that records how findings were asked for.
    struct Recording {
        saved: SavedPosture,
        asked: std::sync::Mutex<Vec<(String, Option<String>)>>,
    }

    impl PostureSource for Recording {
        async fn inventory(
            &self,
            account: Option<&str>,
            regions: &[String],
            settings: &CoverageSettings,
        ) -> anyhow::Result<Inventory> {
            self.saved.inventory(account, regions, settings).await
        }
        async fn findings(
            &self,
            region: &str,
            account: &str,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
            role: Option<&str>,
        ) -> anyhow::Result<Vec<GuardDutyFinding>> {
            self.asked
                .lock()
                .unwrap()
                .push((account.to_string(), role.map(str::to_string)));
            self.saved.findings(region, account, from, to, role).await
        }
    }

    /// With a role, another account's findings are read in that account through it; the own
    /// account's with the credentials.
    #[test]
    fn another_accounts_findings_are_read_through_the_role() {
        let mut r = report(2);
        let posture = Recording {
            saved: SavedPosture {
                inventory: Inventory {
                    account: "111111111111".into(),
                    ..Inventory::default()
                },
                findings: Vec::new(),
            },
            asked: Default::default(),
        };
        let settings = CoverageSettings {
            role_name: Some("egresswatch-read".into()),
            ..CoverageSettings::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(attach_posture(&settings, &posture, &mut r));
        let asked = posture.asked.lock().unwrap().clone();
        assert!(asked.contains(&("111111111112".into(), Some("egresswatch-read".into()))));
        assert!(asked.contains(&("111111111111".into(), None)));
        assert!(!asked.contains(&("111111111111".into(), Some("egresswatch-read".into()))));
    }

    #[test]
    fn a_saved_posture_is_the_whole_document_or_an_inventory_alone() {
        let inv = r#"{"account":"1","collected_at":"t","regions":[],"trails":[],"event_data_stores":[],"buckets":[],"account_public_access_block":null,"guardduty":[],"scps":null,"org_path":[],"errors":[]}"#;
        assert_eq!(SavedPosture::parse(inv).unwrap().inventory.account, "1");
        let whole = format!(r#"{{"inventory":{inv},"findings":[]}}"#);
        assert_eq!(SavedPosture::parse(&whole).unwrap().inventory.account, "1");
        assert!(SavedPosture::parse("{\"account\": 1}").is_err());
        assert!(SavedPosture::parse("[").is_err());
    }
}
