//! The query engines that already hold the trail: Athena and CloudTrail Lake.
//!
//! Both run one SQL text and hand back rows of text; what differs is only the API. The shared
//! part lives here: the answer ([`Rows`]) and its bill ([`QueryStats`]), how long to wait
//! ([`Poll`]) and the wait itself ([`wait`]: growing pauses, our own timeout cancels the query so
//! an abandoned query stops billing), and the page-token guard ([`next_token`]). The SQL text is
//! generated above, in `correlate::sql`; nothing here knows what the query means.

pub mod athena;
pub mod lake;

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::settings::{with, Check, Seg};

/// A query's answer: column names and rows of text (`None` for SQL NULL).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// What a pushed-down query cost.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QueryStats {
    /// `athena` or `cloudtrail-lake`.
    pub engine: String,
    pub query_id: String,
    pub bytes_scanned: u64,
    /// What the engine bills for those bytes, at the configured price.
    pub cost_usd: f64,
    pub rows: u64,
}

/// How to wait for a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Poll {
    /// Give up (and cancel the query) after this long.
    pub timeout: Duration,
    /// The first pause between status checks; it grows by half each time, up to `max`.
    pub first: Duration,
    pub max: Duration,
}

impl Default for Poll {
    fn default() -> Self {
        Poll {
            timeout: Duration::from_secs(600),
            first: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

impl Poll {
    /// The pause after `pause`.
    pub fn next(&self, pause: Duration) -> Duration {
        (pause + pause / 2).min(self.max)
    }
}

/// Who is waiting, for the messages: `("Athena", "athena", "stopped", "stopping")`.
pub struct Engine {
    /// The engine's name in messages.
    pub name: &'static str,
    /// Its table under `[cloudtrail]`, for the timeout key to raise.
    pub table: &'static str,
    /// What ending a query is called, done and doing.
    pub ended: &'static str,
    pub ending: &'static str,
}

/// Wait for query `id`: `check` answers `Some` when it is done (an error when it failed), `None`
/// while it runs; past `poll.timeout` the query is ended with `end` (true: it worked) and the
/// wait fails. Pauses start at `poll.first` and grow by half up to `poll.max`.
pub async fn wait<T>(
    engine: &Engine,
    id: &str,
    poll: &Poll,
    began: Instant,
    mut check: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
    end: impl AsyncFnOnce() -> bool,
) -> anyhow::Result<T> {
    let mut pause = poll.first;
    loop {
        if let Some(done) = check().await? {
            return Ok(done);
        }
        if began.elapsed() + pause > poll.timeout {
            let ended = end().await;
            bail!(
                "{} query {id} did not finish within {} s ({}); raise cloudtrail.{}.timeout_seconds or narrow the window",
                engine.name,
                poll.timeout.as_secs_f64(),
                if ended {
                    engine.ended.to_string()
                } else {
                    format!("{} it failed too", engine.ending)
                },
                engine.table
            );
        }
        tokio::time::sleep(pause).await;
        pause = poll.next(pause);
    }
}

/// Move `token` to the page after it: `Ok(true)` while there is one. An engine that hands the
/// same token back would page forever: that is an error.
pub fn next_token(
    engine: &Engine,
    id: &str,
    token: &mut Option<String>,
    next: Option<&str>,
) -> anyhow::Result<bool> {
    match next {
        Some(t) if Some(t) != token.as_deref() => {
            *token = Some(t.to_string());
            Ok(true)
        }
        Some(_) => bail!("{} repeated a page token for query {id}", engine.name),
        None => Ok(false),
    }
}

/// `timeout_seconds` of an engine's table: how long to wait, and the first pause.
pub fn check_poll(c: &mut Check<'_>, base: &[Seg], v: Option<f64>) -> Poll {
    let mut poll = Poll::default();
    poll.timeout = Duration::from_secs_f64(c.num(
        &with(base, "timeout_seconds"),
        v,
        poll.timeout.as_secs_f64(),
        (0.0, 3600.0),
        true,
    ));
    // A short timeout (tests, small windows) checks more often than the default pause.
    poll.first = poll.first.min(poll.timeout / 4);
    poll
}
