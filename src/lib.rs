//! egresswatch: catch S3 data exfiltration through the bill.
//!
//! The crate follows the data: [`sources`] pull S3 egress usage from AWS Cost Explorer into the
//! SQLite [`state`] store, [`detect`] compares each series' newest day with its baseline,
//! [`report`] renders what was found and delivers it (Slack), and [`pipeline`] wires one daily
//! run together. [`config`] turns the TOML file into validated, typed settings; [`cli`] maps the
//! command line onto all of it. `src/main.rs` only calls [`cli::main`].

pub mod activity;
pub mod backfill;
pub mod cli;
pub mod config;
pub mod correlate;
pub mod demo;
pub mod detect;
pub mod error;
pub mod model;
pub mod pipeline;
pub mod remote_state;
pub mod report;
pub mod secret;
pub mod sources;
pub mod state;
pub mod watch;
