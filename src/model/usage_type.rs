//! Cost Explorer usage types → (region, family).
//!
//! Cost Explorer cannot group S3 usage by region; the region is only in the usage-type prefix
//! (`EU-DataTransfer-Out-Bytes` is eu-west-1). us-east-1 shows up both as `USE1-…` and with no
//! prefix at all, and inter-region transfer names both ends (`EU-USE1-AWS-Out-Bytes`). A code
//! this table does not know is kept verbatim as the region: data is never dropped for want of a
//! name.

use crate::model::Family;

/// Region codes used in usage-type prefixes (see the field notes).
const REGION_CODES: &[(&str, &str)] = &[
    ("USE1", "us-east-1"),
    ("USE2", "us-east-2"),
    ("USW1", "us-west-1"),
    ("USW2", "us-west-2"),
    ("CAN1", "ca-central-1"),
    ("EU", "eu-west-1"),
    ("EUW2", "eu-west-2"),
    ("EUW3", "eu-west-3"),
    ("EUC1", "eu-central-1"),
    ("EUC2", "eu-central-2"),
    ("EUN1", "eu-north-1"),
    ("EUS1", "eu-south-1"),
    ("EUS2", "eu-south-2"),
    ("APE1", "ap-east-1"),
    ("APN1", "ap-northeast-1"),
    ("APN2", "ap-northeast-2"),
    ("APN3", "ap-northeast-3"),
    ("APS1", "ap-southeast-1"),
    ("APS2", "ap-southeast-2"),
    ("APS3", "ap-south-1"),
    ("APS4", "ap-southeast-3"),
    ("APS5", "ap-south-2"),
    ("APS6", "ap-southeast-4"),
    ("SAE1", "sa-east-1"),
    ("MEC1", "me-central-1"),
    ("MES1", "me-south-1"),
    ("AFS1", "af-south-1"),
    ("CPT", "af-south-1"),
    ("CNN1", "cn-north-1"),
    ("CNW1", "cn-northwest-1"),
    ("UGW1", "us-gov-west-1"),
    ("UGE1", "us-gov-east-1"),
];

/// The usage types (without region prefix) and the family each belongs to.
const SUFFIXES: &[(&str, Family)] = &[
    ("DataTransfer-Out-Bytes", Family::InternetOut),
    ("AWS-Out-Bytes", Family::InterRegionOut),
    ("CloudFront-Out-Bytes", Family::CloudfrontOut),
    ("DataTransfer-Regional-Bytes", Family::Regional),
    ("C3DataTransfer-Out-Bytes", Family::Regional),
    ("Requests-Tier2", Family::GetRequests),
];

/// What a usage type says about where the usage happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageTypeInfo {
    /// The region the bytes left from (for inter-region transfer, the source).
    pub region: String,
    /// For inter-region transfer, the destination region.
    pub peer_region: Option<String>,
    pub family: Family,
}

/// Map a region code (`EU`, `USE1`) to a region name; unknown codes come back as they are.
pub fn region_name(code: &str) -> String {
    REGION_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, r)| (*r).to_string())
        .unwrap_or_else(|| code.to_string())
}

fn is_region_code(code: &str) -> bool {
    REGION_CODES.iter().any(|(c, _)| *c == code)
}

/// Classify one usage type. Never fails: what is not understood becomes [`Family::Other`].
pub fn classify(usage_type: &str) -> UsageTypeInfo {
    // Exact suffix match with no prefix: us-east-1's unprefixed form.
    if let Some((_, family)) = SUFFIXES.iter().find(|(s, _)| *s == usage_type) {
        return UsageTypeInfo {
            region: "us-east-1".into(),
            peer_region: None,
            family: *family,
        };
    }
    for (suffix, family) in SUFFIXES {
        let Some(prefix) = usage_type
            .strip_suffix(suffix)
            .and_then(|p| p.strip_suffix('-'))
        else {
            continue;
        };
        if *family == Family::InterRegionOut {
            // `R1-R2-AWS-Out-Bytes`: both ends are named. Keep both.
            if let Some((src, dst)) = prefix.split_once('-') {
                return UsageTypeInfo {
                    region: region_name(src),
                    peer_region: Some(region_name(dst)),
                    family: *family,
                };
            }
        }
        // A one-word prefix is a region code, known or not (an unknown code is kept verbatim).
        if !prefix.contains('-') {
            return UsageTypeInfo {
                region: region_name(prefix),
                peer_region: None,
                family: *family,
            };
        }
    }
    // Unknown usage type: keep it, with whatever region its prefix names.
    let region = match usage_type.split_once('-') {
        Some((code, _)) if is_region_code(code) => region_name(code),
        _ => "unknown".to_string(),
    };
    UsageTypeInfo {
        region,
        peer_region: None,
        family: Family::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(u: &str) -> (String, Option<String>, Family) {
        let i = classify(u);
        (i.region, i.peer_region, i.family)
    }

    #[test]
    fn us_east_1_with_and_without_prefix() {
        assert_eq!(
            c("DataTransfer-Out-Bytes"),
            ("us-east-1".into(), None, Family::InternetOut)
        );
        assert_eq!(
            c("USE1-DataTransfer-Out-Bytes"),
            ("us-east-1".into(), None, Family::InternetOut)
        );
        assert_eq!(
            c("Requests-Tier2"),
            ("us-east-1".into(), None, Family::GetRequests)
        );
    }

    #[test]
    fn regional_families() {
        assert_eq!(c("EU-DataTransfer-Out-Bytes").0, "eu-west-1");
        assert_eq!(
            c("APS2-Requests-Tier2"),
            ("ap-southeast-2".into(), None, Family::GetRequests)
        );
        assert_eq!(c("EUC1-CloudFront-Out-Bytes").2, Family::CloudfrontOut);
        assert_eq!(c("USW2-DataTransfer-Regional-Bytes").2, Family::Regional);
        assert_eq!(
            c("USW2-C3DataTransfer-Out-Bytes"),
            ("us-west-2".into(), None, Family::Regional)
        );
        assert_eq!(c("CPT-DataTransfer-Out-Bytes").0, "af-south-1");
    }

    #[test]
    fn inter_region_keeps_both_regions() {
        assert_eq!(
            c("EU-USE1-AWS-Out-Bytes"),
            (
                "eu-west-1".into(),
                Some("us-east-1".into()),
                Family::InterRegionOut
            )
        );
        assert_eq!(
            c("USE1-APN1-AWS-Out-Bytes"),
            (
                "us-east-1".into(),
                Some("ap-northeast-1".into()),
                Family::InterRegionOut
            )
        );
    }

    #[test]
    fn unknown_codes_and_types_are_kept() {
        assert_eq!(
            c("ZZZ9-DataTransfer-Out-Bytes"),
            ("ZZZ9".into(), None, Family::InternetOut)
        );
        assert_eq!(
            c("EU-TimedStorage-ByteHrs"),
            ("eu-west-1".into(), None, Family::Other)
        );
        assert_eq!(c("Mystery"), ("unknown".into(), None, Family::Other));
        assert_eq!(c("USE1-Requests-Tier1").2, Family::Other);
    }
}
