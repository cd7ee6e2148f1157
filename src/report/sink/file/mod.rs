//! The file sink: one JSON document a line (the webhook's `egresswatch.report/v1`), appended to
//! a file, for a SIEM to pick up.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::settings::{keys, Check};

/// `[notify.file]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawFileSink {
    pub path: Option<String>,
}

/// `[notify.file]`: where the lines go. Not stdout (`-`): every command prints its own output
/// there, and two streams on one stdout cannot be taken apart.
pub fn check(f: RawFileSink, c: &mut Check<'_>) -> Option<PathBuf> {
    let at = keys(&["notify", "file", "path"]);
    match f.path {
        Some(p) if p.trim() == "-" => {
            c.fail(
                &at,
                "`-` (stdout) is where every command prints its own report: give the file sink a \
                 file path (a log collector can tail it)",
            );
            None
        }
        Some(p) if !p.trim().is_empty() => Some(PathBuf::from(p)),
        _ => {
            c.fail(&at, "a file path is required");
            None
        }
    }
}

/// Append `payload` as one line to `path` (`-`: stdout), whole or not at all: a line torn by a
/// crash of an earlier run (no final newline) is cut off first, since its message is still
/// queued and is written again whole; the new line goes out in one write.
pub fn append(path: &Path, payload: &str) -> std::io::Result<()> {
    let line = format!("{payload}\n");
    if path.as_os_str() == "-" {
        return std::io::stdout().lock().write_all(line.as_bytes());
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    repair_torn_tail(&mut f)?;
    f.write_all(line.as_bytes())?;
    f.sync_data()
}

/// Cut a final line that has no newline (a write torn by a crash) back to the last whole line.
fn repair_torn_tail(f: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    f.seek(SeekFrom::Start(len - 1))?;
    f.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Walk back in blocks to the last newline.
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    let cut = loop {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            break start + i as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    tracing::warn!(
        torn_bytes = len - cut,
        "the file sink ended in a torn line (an earlier run was interrupted): cut back to the last whole line"
    );
    f.set_len(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_tail_is_cut_and_lines_stay_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.jsonl");
        std::fs::write(&p, "{\"a\":1}\n{\"b\":").unwrap();
        append(&p, "{\"c\":3}").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"a\":1}\n{\"c\":3}\n"
        );
        // A file that is one torn line only.
        std::fs::write(&p, "{\"torn").unwrap();
        append(&p, "{}").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{}\n");
        // A torn line longer than one block.
        let long = format!("{{\"a\":1}}\n{}", "x".repeat(200_000));
        std::fs::write(&p, long).unwrap();
        append(&p, "{}").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"a\":1}\n{}\n");
    }
}
