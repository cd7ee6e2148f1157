//! Where the numbers come from.
//!
//! - [`cost_explorer`]: S3 GetObject usage and cost per account and usage type, the bill itself.
//! - [`usage_type`]: what a usage type means (region, family).
//! - [`sync`]: which days the store still lacks, and fetching exactly those.
//! - [`cloudtrail`]: the trail, read from files here; [`athena`] and [`lake`]: the engines that
//!   run the same analysis as SQL where the trail already is.
//! - [`cloudwatch`]: hourly S3 request metrics per bucket.

pub mod athena;
pub mod cloudtrail;
pub mod cloudwatch;
pub mod cost_explorer;
pub mod lake;
pub mod sync;
pub mod usage_type;

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
