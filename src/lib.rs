//! egresswatch: catch S3 data exfiltration through the bill.
//!
//! The crate is layered; each layer imports only the layers below it (ARCHITECTURE.md states
//! the rule, and `tests/suite/layers.rs` keeps it):
//!
//! 1. [`model`]: the shared vocabulary (families, cost points, series, incidents, warnings,
//!    activity, units and days), with no I/O;
//! 2. [`settings`]: how a component reads and checks its part of the config file;
//! 3. [`sources`] (Cost Explorer, CloudWatch, CloudTrail files, Athena, CloudTrail Lake) and
//!    [`state`] (the SQLite store), side by side, neither importing the other;
//! 4. [`detect`] (is a day a significant and material break of its baseline?) and [`correlate`]
//!    (who downloaded, what changed around it), side by side;
//! 5. [`report`]: one model per run, rendered for a terminal, a page, and every sink (Slack,
//!    Teams, a signed webhook, a file), and delivered through the outbox;
//! 6. [`config`]: the file, composed of the components' own tables;
//! 7. [`jobs`]: what happens on a run (daily, hourly watch, backfill, activity, import, demo);
//! 8. [`cli`]: arguments, dispatch, exit codes and what is printed. `src/main.rs` only calls
//!    [`cli::main`].

pub mod cli;
pub mod config;
pub mod correlate;
pub mod detect;
pub mod jobs;
pub mod model;
pub mod report;
pub mod settings;
pub mod sources;
pub mod state;
