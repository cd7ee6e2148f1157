//! The import job (`egresswatch import FILE...`): saved GetCostAndUsage responses into the store,
//! for history older than Cost Explorer serves, or a machine with no AWS access.
//!
//! Each file goes through the same `normalize` as a live answer and is written as one sync batch
//! (no request, no cost). A file that cannot be read or is not a response stops the import with
//! a config error naming it; groups that cannot be read are skipped and reported.

use std::path::{Path, PathBuf};

use chrono::Days;

use crate::sources::cost_explorer::{normalize, CeResponse};
use crate::state::{Store, SyncBatch};

/// A file that is not what import takes: the person must fix the invocation (exit 2).
#[derive(Debug)]
pub struct BadFile(pub String);

impl std::fmt::Display for BadFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadFile {}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportOutcome {
    pub days: usize,
    pub points: usize,
}

/// Read one saved response.
fn read(f: &Path) -> Result<CeResponse, BadFile> {
    let text = std::fs::read_to_string(f)
        .map_err(|e| BadFile(format!("{}: cannot read: {e}", f.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        BadFile(format!(
            "{}: not a GetCostAndUsage response: {e}",
            f.display()
        ))
    })
}

/// Import `files`, in order, each in one transaction; `warn` hears of skipped groups and of
/// files that held no days as they are met.
pub fn run(
    store: &mut Store,
    files: &[PathBuf],
    mut warn: impl FnMut(String),
) -> anyhow::Result<ImportOutcome> {
    let mut out = ImportOutcome::default();
    for f in files {
        let page = read(f)?;
        let n = normalize(std::slice::from_ref(&page));
        for p in &n.problems {
            warn(format!("{}: skipped: {p}", f.display()));
        }
        let (Some(first), Some(last)) = (
            n.days.keys().next().copied(),
            n.days.keys().next_back().copied(),
        ) else {
            warn(format!("{}: no days in this response", f.display()));
            continue;
        };
        let batch = SyncBatch {
            start: first,
            end: last + Days::new(1),
            pages: 0, // imported: no API request, no cost
            days: n.days.iter().map(|(d, est)| (*d, !est)).collect(),
            points: n.points,
            account_names: n.account_names,
        };
        out.days += batch.days.len();
        out.points += batch.points.len();
        store.apply_sync(&batch)?;
    }
    Ok(out)
}
