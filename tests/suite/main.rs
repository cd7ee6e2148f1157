//! The integration tests, as one binary: the real `egresswatch` binary and library against moto
//! (the AWS emulator, one `moto_server` per test on a free loopback port), a loopback HTTP
//! receiver for webhooks, headless Chromium for the HTML report, and DuckDB for the generated
//! Athena SQL. One binary links the AWS SDK once instead of once per file.
//!
//! Run one area with a filter: `cargo test --test suite daily_run::`.

mod common;

mod activity;
mod alerts;
mod backfill;
mod cli;
mod cloudtrail;
mod cloudwatch;
mod coverage;
mod daily_run;
mod delivery;
mod detect_cli;
mod fuzz_reader;
mod hostile_delivery;
mod hostile_trail;
mod iam_policy;
mod layers;
mod ops;
mod posture;
mod pushdown;
mod pushdown_mocks;
mod reference;
mod truth;
