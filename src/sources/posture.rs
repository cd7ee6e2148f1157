//! The account's posture from AWS (stub: filled in by the collector).

use chrono::{DateTime, Utc};

use crate::model::coverage::{GuardDutyFinding, Inventory};

/// Read the inventory of the account the credentials belong to, for `regions`.
pub async fn collect(_profile: Option<&str>, regions: &[String]) -> anyhow::Result<Inventory> {
    Ok(Inventory {
        regions: regions.to_vec(),
        ..Inventory::default()
    })
}

/// GuardDuty's S3 findings in `region` for `account`, updated within `[from, to)`.
pub async fn guardduty_findings(
    _profile: Option<&str>,
    _region: &str,
    _account: &str,
    _from: DateTime<Utc>,
    _to: DateTime<Utc>,
) -> anyhow::Result<Vec<GuardDutyFinding>> {
    Ok(Vec::new())
}
