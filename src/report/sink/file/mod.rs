//! The file sink: one JSON document a line (the webhook's `egresswatch.report/v1`), appended to
//! a file or written to stdout (`-`), for a SIEM to pick up.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::settings::{keys, Check};

/// `[notify.file]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawFileSink {
    pub path: Option<String>,
}

/// `[notify.file]`: where the lines go.
pub fn check(f: RawFileSink, c: &mut Check<'_>) -> Option<PathBuf> {
    match f.path {
        Some(p) if !p.trim().is_empty() => Some(PathBuf::from(p)),
        _ => {
            c.fail(
                &keys(&["notify", "file", "path"]),
                "a file path, or `-` for stdout, is required",
            );
            None
        }
    }
}

/// Append `payload` as one line to `path` (`-`: stdout).
pub fn append(path: &Path, payload: &str) -> std::io::Result<()> {
    let line = format!("{payload}\n");
    if path.as_os_str() == "-" {
        std::io::stdout().lock().write_all(line.as_bytes())
    } else {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
    }
}
