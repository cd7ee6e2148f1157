//! Error kinds that decide the exit code.
//!
//! A scheduler (cron, systemd, Kubernetes) only sees the exit status, so the distinction matters:
//! 2 means a human must fix the invocation or the config (retrying will not help), 1 means the
//! run failed at runtime (network, AWS, disk) and the next scheduled run may well succeed.

use std::fmt;

/// An error that `cli::main` turns into a one-line message and an exit code.
#[derive(Debug)]
pub enum Error {
    /// Bad command line or bad configuration: exit 2. Holds one or more readable messages.
    Config(Vec<String>),
    /// Anything that went wrong while running: exit 1.
    Runtime(anyhow::Error),
}

impl Error {
    pub fn config(msg: impl Into<String>) -> Self {
        Error::Config(vec![msg.into()])
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => 2,
            Error::Runtime(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    /// What a person reads on a terminal: control and bidi characters from the input (a CSV
    /// cell, an AWS message) replaced, one line per message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::report::format::terminal;
        match self {
            Error::Config(msgs) => {
                let lines: Vec<String> =
                    msgs.iter().flat_map(|m| m.lines()).map(terminal).collect();
                write!(f, "{}", lines.join("\n"))
            }
            // `{:#}` prints the whole context chain on one line: "syncing: Cost Explorer: ..."
            Error::Runtime(e) => write!(f, "{}", terminal(&format!("{e:#}"))),
        }
    }
}

impl std::error::Error for Error {}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Runtime(e)
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Runtime(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
