//! Where the numbers come from.
//!
//! - [`cost_explorer`]: S3 GetObject usage and cost per account and usage type, the bill itself.
//! - [`cloudtrail`]: the trail, read from files here, generic over what consumes its records;
//!   [`sql`]: the engines (Athena, CloudTrail Lake) that run the same analysis as SQL where the
//!   trail already is.
//! - [`cloudwatch`]: hourly S3 request metrics per bucket.
//! - [`posture`]: the account's posture as AWS states it (buckets' guard rails, trails and their
//!   selectors, GuardDuty, service control policies), and GuardDuty's S3 findings.
//!
//! Sources speak the model's vocabulary and know nothing of the store, the detector or the
//! report. `[aws]` (the profile every client uses) is read here.

pub mod cloudtrail;
pub mod cloudwatch;
pub mod cost_explorer;
pub mod posture;
pub mod posture_settings;
pub mod sql;

use serde::Deserialize;

use crate::settings::{keys, Check};

/// `[aws]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawAws {
    pub profile: Option<String>,
}

/// Validate `[aws]`: the profile, if one is named.
pub fn check_profile(raw: RawAws, c: &mut Check<'_>) -> Option<String> {
    let p = raw.profile?;
    if p.trim().is_empty() {
        c.fail(
            &keys(&["aws", "profile"]),
            "must not be empty (leave it out to use the default chain)",
        );
        None
    } else {
        Some(p)
    }
}

/// The AWS SDK configuration for a profile and region (the SDK's defaults when `None`; the
/// environment, `AWS_ENDPOINT_URL` included, applies as usual).
pub async fn sdk_config(profile: Option<&str>, region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    loader.load().await
}
