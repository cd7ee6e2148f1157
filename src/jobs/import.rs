//! The import job (`egresswatch import FILE...`): saved GetCostAndUsage responses into the store,
//! for history older than Cost Explorer serves, or a machine with no AWS access.
//!
//! A saved response is one page: with many (account, usage type) groups, one day's groups are
//! spread over several pages, so over several files. Import therefore merges: every point is
//! added or updated by its identity (day, account, usage type), never deleted, and a day is
//! marked answered (final unless estimated). Each file goes through the same `normalize` as a
//! live answer (refused groups named, never stored) and is written in one transaction (no
//! request, no cost). A file that is not a usable response is refused with one line saying why,
//! and the others are imported.

use std::path::{Path, PathBuf};

use chrono::Days;

use crate::sources::cost_explorer::{normalize, shape_problem, CeResponse};
use crate::state::{Store, SyncBatch};

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportOutcome {
    pub days: usize,
    pub points: usize,
    /// Files imported.
    pub files: usize,
    /// Files refused, each with one line: `FILE: why`.
    pub refused: Vec<String>,
}

/// How many refused groups of one file are named (the rest are counted).
const NAMED: usize = 3;

/// Read one saved response, or say in one line why it is not one egresswatch can use.
fn read(f: &Path) -> Result<CeResponse, String> {
    let text =
        std::fs::read_to_string(f).map_err(|e| format!("{}: cannot read: {e}", f.display()))?;
    let page: CeResponse = serde_json::from_str(&text).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not JSON",
            _ => "not the JSON of a GetCostAndUsage response",
        };
        format!(
            "{}: not a GetCostAndUsage response: {what} (line {}, column {})",
            f.display(),
            e.line(),
            e.column()
        )
    })?;
    if page.results_by_time.is_empty() {
        return Err(format!(
            "{}: not a GetCostAndUsage response: it has no ResultsByTime",
            f.display()
        ));
    }
    if let Some(p) = shape_problem(&page) {
        return Err(format!("{}: {p}", f.display()));
    }
    Ok(page)
}

/// Import `files`, in order, each in one transaction; `warn` hears of refused groups (a few
/// named per file, the rest counted) and of files that held no days, as they are met.
pub fn run(
    store: &mut Store,
    files: &[PathBuf],
    mut warn: impl FnMut(String),
) -> anyhow::Result<ImportOutcome> {
    let mut out = ImportOutcome::default();
    for f in files {
        let page = match read(f) {
            Ok(p) => p,
            Err(why) => {
                out.refused.push(why);
                continue;
            }
        };
        let n = normalize(std::slice::from_ref(&page));
        for p in n.problems.iter().take(NAMED) {
            warn(format!("{}: skipped: {p}", f.display()));
        }
        if n.problems.len() > NAMED {
            warn(format!(
                "{}: and {} more group(s) skipped",
                f.display(),
                n.problems.len() - NAMED
            ));
        }
        let (Some(first), Some(last)) = (
            n.days.keys().next().copied(),
            n.days.keys().next_back().copied(),
        ) else {
            warn(format!("{}: no days in this response", f.display()));
            continue;
        };
        let refused_days: std::collections::BTreeSet<_> = n.refused.iter().map(|r| r.day).collect();
        let batch = SyncBatch {
            start: first,
            end: last + Days::new(1),
            pages: 0, // imported: no API request, no cost
            days: n
                .days
                .iter()
                .map(|(d, est)| (*d, !est && !refused_days.contains(d)))
                .collect(),
            points: n.points,
            account_names: n.account_names,
            refused: n.refused,
            merge: true,
        };
        out.days += batch.days.len();
        out.points += batch.points.len();
        out.files += 1;
        store.apply_sync(&batch)?;
    }
    Ok(out)
}
