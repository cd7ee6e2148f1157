//! Where the numbers come from.
//!
//! - [`cost_explorer`]: S3 GetObject usage and cost per account and usage type, the bill itself.
//! - [`usage_type`]: what a usage type means (region, family).
//! - [`sync`]: which days the store still lacks, and fetching exactly those.

pub mod cloudtrail;
pub mod cloudwatch;
pub mod cost_explorer;
pub mod sync;
pub mod usage_type;
