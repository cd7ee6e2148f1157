//! `[coverage]`: what the posture read covers (the table is optional; with it, the daily run
//! reads the account's coverage and GuardDuty's S3 findings for every incident).
//!
//! Kept apart from the collector so that the config can name it without the SDK clients.

use serde::Deserialize;

use crate::settings::{keys, with, Check};

/// `[coverage]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawCoverage {
    pub regions: Option<Vec<String>>,
    pub guardduty: Option<bool>,
    pub service_control_policies: Option<bool>,
    pub role_name: Option<String>,
}

/// `[coverage]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageSettings {
    /// Regions whose trails, GuardDuty and buckets are looked at; empty: the regions the run is
    /// about (the incidents', or for `egresswatch coverage` `AWS_REGION` / `AWS_DEFAULT_REGION`).
    pub regions: Vec<String>,
    /// Read GuardDuty (S3 protection, and S3 findings for incidents and the daily report).
    pub guardduty: bool,
    /// Read the organisation's service control policies (needs the management account or a
    /// delegated administrator; elsewhere it is one "could not read" line).
    pub service_control_policies: bool,
    /// A read-only role of this name in every other linked account (`OrganizationAccount…` or
    /// your own), assumed to read that account's coverage for its incidents; `None`: only the
    /// account the credentials belong to is read.
    pub role_name: Option<String>,
}

impl Default for CoverageSettings {
    fn default() -> Self {
        CoverageSettings {
            regions: Vec::new(),
            guardduty: true,
            service_control_policies: true,
            role_name: None,
        }
    }
}

/// The role to assume in `account` to read its coverage.
pub fn role_arn(account: &str, role_name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{role_name}")
}

/// An AWS account ID: twelve digits.
pub fn is_account_id(a: &str) -> bool {
    a.len() == 12 && a.chars().all(|c| c.is_ascii_digit())
}

/// A region name as AWS writes them (`eu-west-1`, `us-gov-west-1`, `cn-north-1`).
pub fn is_region_name(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && r.len() <= 30
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

impl CoverageSettings {
    pub fn check(raw: RawCoverage, c: &mut Check<'_>) -> CoverageSettings {
        let base = keys(&["coverage"]);
        let d = CoverageSettings::default();
        let mut regions = Vec::new();
        for (i, r) in raw.regions.unwrap_or_default().into_iter().enumerate() {
            if is_region_name(&r) {
                if !regions.contains(&r) {
                    regions.push(r);
                }
            } else {
                c.fail(
                    &crate::settings::at_index(&with(&base, "regions"), i),
                    format!("`{r}` is not a region name (like eu-west-1)"),
                );
            }
        }
        let role_name = raw.role_name.filter(|r| {
            let ok = !r.is_empty()
                && r.len() <= 64
                && r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
            if !ok {
                c.fail(
                    &with(&base, "role_name"),
                    "must be an IAM role name (1 to 64 of letters, digits and + = , . @ _ -)",
                );
            }
            ok
        });
        CoverageSettings {
            regions,
            role_name,
            guardduty: raw.guardduty.unwrap_or(d.guardduty),
            service_control_policies: raw
                .service_control_policies
                .unwrap_or(d.service_control_policies),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for ok in ["eu-west-1", "us-gov-west-1", "cn-north-1", "ap-southeast-2"] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "eu",
            "eu-west",
            "EU-WEST-1",
            "eu-west-x",
            "eu--1",
            "a-b-c-d-1",
            "eu-west-1 ",
        ] {
            assert!(!is_region_name(bad), "{bad:?}");
        }
    }
}
