//! The jobs: what happens on a run, one module each, from settings and ports to an outcome.
//!
//! - [`daily`]: the scheduled run (sync → detect → attribute, correlate → record → notify);
//! - [`watch`]: the hourly early warning, and its settlement by the daily run;
//! - [`backfill`]: replaying past months exactly as the daily run would have;
//! - [`activity`]: S3 activity counts and their findings;
//! - [`coverage`]: trail coverage, guard rails and GuardDuty, joined to a run's report;
//! - [`import`]: saved Cost Explorer responses into the store;
//! - [`sync`]: bringing the store up to date with Cost Explorer, shared by the above;
//! - [`notify`]: the one queue-and-deliver step every announcing job ends with;
//! - [`demo`]: the daily run offline, on bundled data.
//!
//! Jobs may use every layer below them; nothing below imports a job. A job takes its ports
//! (a `CostSource`, a `MetricSource`, the store) as arguments, so tests and the demo hand it
//! bundled or emulated ones; the command line only parses, calls one job and prints.

pub mod activity;
pub mod backfill;
pub mod coverage;
pub mod daily;
pub mod demo;
pub mod import;
pub mod notify;
pub mod sync;
pub mod watch;
