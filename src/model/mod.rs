//! The shared vocabulary: what every layer above speaks, with no I/O.
//!
//! A usage family, a daily cost point, a series key and the series the detector reads, an
//! incident, an early warning, an activity count and finding, units and days. They sit below
//! every stage so that sources, store, detector, correlation and report agree on one
//! vocabulary and none of them depends on another's internals. Nothing here reads a file, a
//! clock or the network.

pub mod activity;
pub mod coverage;
pub mod incident;
pub mod series;
pub mod units;
pub mod usage_type;
pub mod warning;

pub use activity::{ActivityCount, Finding};
pub use incident::Incident;
pub use series::{DayValue, Series, SeriesSet};
pub use warning::{BucketGrowth, EarlyWarning};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What kind of S3 usage a Cost Explorer usage type measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// `R-DataTransfer-Out-Bytes`: bytes from S3 to the internet, the classic exfiltration bill.
    InternetOut,
    /// `R1-R2-AWS-Out-Bytes`: bytes from S3 to another AWS region.
    InterRegionOut,
    /// `R-CloudFront-Out-Bytes`: bytes from S3 to CloudFront.
    CloudfrontOut,
    /// `R-DataTransfer-Regional-Bytes` and `R-C3DataTransfer-Out-Bytes`: within the region.
    Regional,
    /// `R-Requests-Tier2`: GET requests (the filter keeps only GetObject).
    GetRequests,
    /// A usage type this version does not know. Stored and reported, never dropped.
    Other,
}

impl Family {
    pub const ALL: [Family; 6] = [
        Family::InternetOut,
        Family::InterRegionOut,
        Family::CloudfrontOut,
        Family::Regional,
        Family::GetRequests,
        Family::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::InternetOut => "internet-out",
            Family::InterRegionOut => "inter-region-out",
            Family::CloudfrontOut => "cloudfront-out",
            Family::Regional => "regional",
            Family::GetRequests => "get-requests",
            Family::Other => "other",
        }
    }

    /// Whether the usage is counted in bytes (GB) rather than requests.
    pub fn is_bytes(self) -> bool {
        !matches!(self, Family::GetRequests)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Family {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Family::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Family::ALL.iter().map(|f| f.as_str()).collect();
                format!("unknown family `{s}` (one of: {})", names.join(", "))
            })
    }
}

/// One day of one usage type in one account, as Cost Explorer reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostPoint {
    pub day: NaiveDate,
    pub account: String,
    pub region: String,
    pub family: Family,
    pub usage_type: String,
    pub usage: f64,
    pub unit: String,
    pub cost_usd: f64,
    /// Cost Explorer marks recent days as estimated: they can still change.
    pub estimated: bool,
}

/// A Cost Explorer group that was not used, and why (unreadable, or impossible values).
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub day: NaiveDate,
    /// Empty when the group had no such key.
    pub account: String,
    pub usage_type: String,
    pub reason: String,
}

/// The unit of detection: one family of usage in one account and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SeriesKey {
    pub account: String,
    pub region: String,
    pub family: Family,
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.account, self.region, self.family)
    }
}

/// Parse `YYYY-MM-DD`, the only date format on the command line and in Cost Explorer.
pub fn parse_day(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_round_trip() {
        for f in Family::ALL {
            assert_eq!(f.as_str().parse::<Family>().unwrap(), f);
        }
        assert!("internet"
            .parse::<Family>()
            .unwrap_err()
            .contains("internet-out"));
    }

    #[test]
    fn parses_days_strictly() {
        assert_eq!(parse_day("2026-03-01").unwrap().to_string(), "2026-03-01");
        assert!(parse_day("2026-3-1x").is_err());
        assert!(parse_day("2026-02-30").is_err());
    }
}
