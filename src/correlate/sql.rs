//! The analysis as one SQL query, for engines that already hold the trail (Athena, CloudTrail
//! Lake), and the fold of its rows back into a [`Partial`].
//!
//! Why one query: Athena bills every byte of the JSON files a query reads, whatever columns it
//! selects, so the window, the baseline and the control-plane lookback are read in a single
//! scan (ranked with window functions, not joins: Trino expands a CTE at each reference), pruned
//! by partition (region, day), by event source and name, and by time. The engine
//! groups, counts and ranks (below); every judgement (what is new, flags, severities) stays in
//! Rust: the rows become the [`Partial`] the file scanner fills (with the summed callers as one
//! entry), and [`super::finalize`] runs on it unchanged. The query is derived from the [`AnalysisSpec`] and the same event lists
//! ([`DELETES`], [`RECON`], the classifier's name rules) as the scanner, so the sources cannot
//! drift apart; `tests/pushdown.rs` runs it on DuckDB against the scanner, exact to the byte.
//!
//! The engine also ranks and rolls up, as [`super::finalize_keeping`] does: an organisation
//! trail's day has hundreds of thousands of (principal, IP, agent, bucket) groups, and every row
//! of the answer is paged back to us. Each output row is one group of one `section`:
//! - `get`: the window GetObject calls of one of the top `keep` callers (ranked by excess, as
//!   the report ranks them) per (principal, source IP, user agent, bucket), and, in rows with
//!   `whole = 0`, the same group split by error code; the first carries every other window
//!   caller summed (`o_groups`, `o_n`, `o_bytes`, `o_objects`, `o_errors`, `o_excess`), and each
//!   kept principal's first carries its other callers' bytes (`rest`: a principal's excess and
//!   growth are judged on all of its bytes);
//! - `base`: of the baseline, only rows carrying a fact a kept caller is judged by, flagged:
//!   its IP seen (`f_ip`), its principal's agent or bucket seen (`f_ua`, `f_bk`), its
//!   principal's baseline bytes (`f_pb`, `pb`);
//! - `bad`: GetObject records of the window or baseline whose byte count cannot be true, per
//!   reason (`detail`), counted as the scanner counts them and otherwise ignored;
//! - `del`: object deletions per (principal, bucket, hour), only bursts;
//! - `recon`: configuration reads in the window per (principal, IP, agent, event name);
//! - `cp`: every other S3 management write in the lookback, one row per event, with its
//!   request parameters for the classifier.
//!
//! [`activity_query`] does the same for the S3 activity counts (issue 10's trends): one row per
//! top caller of each (day, account, region, event, outcome) series, with the series' total.
//!
//! Every value that reaches the SQL text (account, region, table names, times) is either
//! generated here or validated and quoted: the trail's own strings never do.

use std::fmt::Write as _;

use anyhow::{bail, Context};
use chrono::{DateTime, Days, NaiveDate, Utc};

use super::controlplane::{CHANGE_PREFIXES, DELETES, RECON};
use super::{AnalysisSpec, Partial};
use crate::sources::sql::athena::java_date_format;
pub use crate::sources::sql::athena::AthenaTable;
pub use crate::sources::sql::{QueryStats, Rows};

/// Which engine, and where the trail is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialect {
    /// An Athena (Trino) table with the column layout AWS documents for CloudTrail.
    Athena(AthenaTable),
    /// A CloudTrail Lake event data store (its ID).
    Lake { event_data_store: String },
}

/// A SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A quoted SQL identifier.
fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn rfc3339(epoch: i64) -> anyhow::Result<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(epoch, 0).context("a time out of range")
}

impl Dialect {
    fn table_ref(&self) -> anyhow::Result<String> {
        Ok(match self {
            Dialect::Athena(t) => format!(
                "{}.{}.{}",
                ident(&t.catalog),
                ident(&t.database),
                ident(&t.table)
            ),
            Dialect::Lake { event_data_store } => {
                let id = event_data_store
                    .rsplit('/')
                    .next()
                    .unwrap_or(event_data_store);
                if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    bail!("`{event_data_store}` is not an event data store ARN or ID");
                }
                id.to_string()
            }
        })
    }

    /// The event time as `YYYY-MM-DDTHH:MM:SSZ` text (what the scanner reads).
    fn time(&self) -> &'static str {
        match self {
            Dialect::Athena(_) => "eventtime",
            Dialect::Lake { .. } => "date_format(eventtime, '%Y-%m-%dT%H:%i:%sZ')",
        }
    }

    /// A predicate on the native event time column: `[from, to)`.
    fn time_range(&self, from: i64, to: i64) -> anyhow::Result<String> {
        let (f, t) = (rfc3339(from)?, rfc3339(to)?);
        Ok(match self {
            Dialect::Athena(_) => {
                let fmt = "%Y-%m-%dT%H:%M:%SZ";
                format!(
                    "eventtime >= {} AND eventtime < {}",
                    lit(&f.format(fmt).to_string()),
                    lit(&t.format(fmt).to_string())
                )
            }
            Dialect::Lake { .. } => {
                let fmt = "%Y-%m-%d %H:%M:%S";
                format!(
                    "eventtime >= {} AND eventtime < {}",
                    lit(&f.format(fmt).to_string()),
                    lit(&t.format(fmt).to_string())
                )
            }
        })
    }

    /// One scalar field of a JSON-valued column (`requestparameters`, `additionaleventdata`).
    fn field(&self, column: &str, name: &str) -> String {
        match self {
            Dialect::Athena(_) => format!(
                "json_extract_scalar({column}, {})",
                lit(&format!("$.{name}"))
            ),
            Dialect::Lake { .. } => format!("element_at({column}, {})", lit(name)),
        }
    }

    /// The whole request parameters as JSON text (for the classifier).
    fn params(&self) -> &'static str {
        match self {
            Dialect::Athena(_) => "requestparameters",
            Dialect::Lake { .. } => "json_format(CAST(requestparameters AS JSON))",
        }
    }

    /// Partition predicates (Athena): the days of `[from, to)` and the day after, as the file
    /// scanner reads them (files are filed by delivery time), and the region.
    fn partitions(&self, spec: &AnalysisSpec, from: i64, to: i64) -> anyhow::Result<Vec<String>> {
        let Dialect::Athena(t) = self else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let first: NaiveDate = rfc3339(from)?.date_naive();
        let last: NaiveDate = rfc3339(to - 1)?.date_naive() + Days::new(1);
        let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
        if let Some([y, m, d]) = &t.ymd_partitions {
            let one = |day: &NaiveDate| {
                format!(
                    "({} = {} AND {} = {} AND {} = {})",
                    ident(y),
                    lit(&day.format("%Y").to_string()),
                    ident(m),
                    lit(&day.format("%m").to_string()),
                    ident(d),
                    lit(&day.format("%d").to_string())
                )
            };
            let any: Vec<String> = days.iter().map(one).collect();
            out.push(format!("({})", any.join(" OR ")));
        } else if let Some(col) = &t.date_partition {
            let fmt = java_date_format(&t.date_partition_format).map_err(anyhow::Error::msg)?;
            let values: Vec<String> = days
                .iter()
                .map(|d| lit(&d.format(&fmt).to_string()))
                .collect();
            out.push(format!("{} IN ({})", ident(col), values.join(", ")));
        }
        if let (Some(col), Some(region)) = (&t.region_partition, &spec.region) {
            out.push(format!("{} = {}", ident(col), lit(region)));
        }
        Ok(out)
    }
}

/// The principal as [`crate::sources::cloudtrail::record::Record::principal`] names it.
const PRINCIPAL: &str = "CASE \
    WHEN useridentity.accountid = 'ANONYMOUS_PRINCIPAL' OR useridentity.type = 'AnonymousPrincipal' \
      OR useridentity.principalid = 'ANONYMOUS_PRINCIPAL' THEN 'anonymous' \
    WHEN useridentity IS NULL THEN 'unknown' \
    WHEN useridentity.arn IS NOT NULL THEN useridentity.arn \
    WHEN useridentity.invokedby IS NOT NULL THEN 'AWS service: ' || useridentity.invokedby \
    WHEN useridentity.type IS NOT NULL AND coalesce(useridentity.principalid, '') <> '' \
      THEN useridentity.type || ': ' || useridentity.principalid \
    WHEN useridentity.type IS NOT NULL THEN useridentity.type \
    ELSE 'unknown' END";

fn list(names: &[&str]) -> String {
    names.iter().map(|n| lit(n)).collect::<Vec<_>>().join(", ")
}

/// What every query reads: the partitions and times of `[from, to)`, S3 events, and the
/// spec's account and region.
fn scope_filters(
    spec: &AnalysisSpec,
    dialect: &Dialect,
    from: i64,
    to: i64,
) -> anyhow::Result<Vec<String>> {
    let mut filters = dialect.partitions(spec, from, to)?;
    filters.push("eventsource = 's3.amazonaws.com'".into());
    filters.push(dialect.time_range(from, to)?);
    if let Some(a) = &spec.account {
        filters.push(format!("recipientaccountid = {}", lit(a)));
    }
    if let Some(r) = &spec.region {
        filters.push(format!("awsregion = {}", lit(r)));
    }
    Ok(filters)
}

/// The query for `spec` in `dialect`, returning the `keep` window callers
/// [`super::finalize_keeping`] would list (`cloudtrail.max_callers_kept`, or `--limit`) one by
/// one and the rest summed in one `others` row.
pub fn query(spec: &AnalysisSpec, dialect: &Dialect, keep: u32) -> anyhow::Result<String> {
    let (from, to) = spec.span();
    if from >= to {
        bail!("an empty time span");
    }
    let ts = |t: i64| -> anyhow::Result<String> {
        Ok(lit(&rfc3339(t)?.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
    };
    let mut filters = scope_filters(spec, dialect, from, to)?;
    let prefixes: Vec<String> = CHANGE_PREFIXES
        .iter()
        .map(|p| format!("eventname LIKE {}", lit(&format!("{p}%"))))
        .collect();
    filters.push(format!(
        "(eventname = 'GetObject' OR eventname IN ({}) OR eventname IN ({}) \
         OR (coalesce(eventcategory, 'Management') <> 'Data' AND ({})))",
        list(DELETES),
        list(RECON),
        prefixes.join(" OR ")
    ));
    let (w0, w1) = (ts(spec.window.0)?, ts(spec.window.1)?);
    let (b0, b1) = (ts(spec.baseline.0)?, ts(spec.baseline.1)?);
    let l0 = ts(spec.lookback.0)?;
    let req = "requestparameters";
    let add = "additionaleventdata";
    let mut q = String::new();
    let _ = write!(
        q,
        "WITH e AS (\n  SELECT {time} AS t, eventname AS name, {PRINCIPAL} AS principal,\n    \
         sourceipaddress AS ip, useragent AS ua, {bucket} AS bucket, {key} AS obj,\n    \
         NULLIF(errorcode, '') AS err,\n    \
         {bytes} AS bytes_raw, try_cast(trim({bytes}) AS DOUBLE) AS bytes_d,\n    \
         CASE WHEN {auth} = 'QueryString' THEN 1 ELSE 0 END AS presigned,\n    \
         CASE WHEN vpcendpointid IS NULL THEN 0 ELSE 1 END AS vpc,\n    \
         useridentity.type AS id_type, useridentity.principalid AS id_principal,\n    \
         useridentity.arn AS id_arn, useridentity.accountid AS id_account,\n    \
         useridentity.invokedby AS id_invoked_by,\n    \
         useridentity.sessioncontext.sessionissuer.arn AS role,\n    \
         recipientaccountid AS owner, eventcategory AS category, {params} AS params,\n    \
         eventid AS event_id\n  FROM {from}\n  WHERE {filters}\n),\n",
        time = dialect.time(),
        bucket = dialect.field(req, "bucketName"),
        key = dialect.field(req, "key"),
        bytes = dialect.field(add, "bytesTransferredOut"),
        auth = dialect.field(add, "AuthenticationMethod"),
        params = dialect.params(),
        from = dialect.table_ref()?,
        filters = filters.join("\n    AND "),
    );
    // A GetObject whose byte count cannot be true is a bad record with its reason, counting
    // for nothing, as the scanner counts it (`record::checked_bytes_out`).
    let implausible = format!(
        "CASE WHEN bytes_raw IS NULL THEN NULL \
         WHEN bytes_d IS NULL OR bytes_d <> bytes_d THEN {nan} \
         WHEN bytes_d < 0 THEN {neg} \
         WHEN round(bytes_d) > {max} THEN {big} END",
        nan = lit(crate::sources::cloudtrail::record::BYTES_NOT_A_NUMBER),
        neg = lit(crate::sources::cloudtrail::record::BYTES_NEGATIVE),
        big = lit(crate::sources::cloudtrail::record::BYTES_ABOVE_MAX),
        max = double(crate::sources::cloudtrail::record::MAX_OBJECT_BYTES as f64),
    );
    let _ = write!(
        q,
        "s AS (\n  SELECT e.*, {implausible} AS bad_bytes, CASE\n    \
         WHEN name = 'GetObject' AND NOT (t >= {w0} AND t < {w1}) AND NOT (t >= {b0} AND t < {b1}) THEN NULL\n    \
         WHEN name = 'GetObject' AND {implausible} IS NOT NULL THEN 'bad'\n    \
         WHEN name = 'GetObject' AND t >= {w0} AND t < {w1} THEN 'get'\n    \
         WHEN name = 'GetObject' AND t >= {b0} AND t < {b1} THEN 'base'\n    \
         WHEN name = 'GetObject' THEN NULL\n    \
         WHEN t < {l0} OR t >= {w1} THEN NULL\n    \
         WHEN name IN ({deletes}) THEN 'del'\n    \
         WHEN name IN ({recon}) THEN CASE WHEN t >= {w0} THEN 'recon' END\n    \
         WHEN coalesce(category, 'Management') <> 'Data' THEN 'cp'\n    \
         END AS section\n  FROM e\n),\n",
        deletes = list(DELETES),
        recon = list(RECON),
    );
    q.push_str(
        "k AS (\n  SELECT section, CASE WHEN section = 'bad' THEN '' ELSE principal END AS principal,\n    \
         CASE WHEN section IN ('del', 'bad') THEN NULL WHEN section IN ('get', 'base') THEN coalesce(ip, '') ELSE ip END AS k_ip,\n    \
         CASE WHEN section IN ('del', 'bad') THEN NULL WHEN section IN ('get', 'base') THEN coalesce(ua, '') ELSE ua END AS k_ua,\n    \
         CASE WHEN section IN ('recon', 'bad') THEN NULL WHEN section IN ('get', 'base') THEN coalesce(bucket, '') ELSE bucket END AS k_bucket,\n    \
         CASE WHEN section = 'del' THEN substr(t, 1, 13) WHEN section = 'recon' THEN name\n      \
         WHEN section = 'cp' THEN coalesce(event_id, t || name) WHEN section = 'bad' THEN bad_bytes END AS detail,\n    \
         CASE WHEN section = 'get' THEN err END AS err_key,\n    \
         CASE WHEN bytes_d >= 0 AND bytes_d < 9.0e18 THEN CAST(round(bytes_d) AS BIGINT) ELSE 0 END AS bytes,\n    \
         CASE WHEN section = 'cp' THEN params END AS params,\n    \
         t, name, obj, err, presigned, vpc, id_type, id_principal, id_arn, id_account,\n    \
         id_invoked_by, role, owner\n  FROM s WHERE section IS NOT NULL\n),\n",
    );
    let _ = write!(
        q,
        "a AS (\n  SELECT section, principal, k_ip AS ip, k_ua AS ua, k_bucket AS bucket, detail,\n  \
         err_key AS err, grouping(err_key) AS whole, count(*) AS n,\n  \
         sum(CASE WHEN err IS NULL THEN bytes ELSE 0 END) AS bytes,\n  \
         sum(CASE WHEN err IS NULL THEN 0 ELSE 1 END) AS errors,\n  \
         count(DISTINCT obj) AS objects, min(t) AS first_t, max(t) AS last_t,\n  \
         sum(presigned) AS presigned, max(vpc) AS vpc, max(id_type) AS id_type,\n  \
         max(id_principal) AS id_principal, max(id_arn) AS id_arn, max(id_account) AS id_account,\n  \
         max(id_invoked_by) AS id_invoked_by, max(role) AS role, max(owner) AS owner,\n  \
         max(params) AS params, max(name) AS name, max(err) AS any_err\n\
         FROM k\n\
         GROUP BY GROUPING SETS ((section, principal, k_ip, k_ua, k_bucket, detail),\n  \
         (section, principal, k_ip, k_ua, k_bucket, detail, err_key))\n\
         HAVING (grouping(err_key) = 1 OR err_key IS NOT NULL)\n  \
         AND (section <> 'del' OR count(*) >= {burst})\n),\n",
        burst = spec.delete_burst.max(1),
    );
    q.push_str(&ranked(spec, keep));
    Ok(q)
}

/// A double literal both Trino and DuckDB read as DOUBLE, exactly (Rust prints the shortest
/// form that reads back to the same value).
fn double(x: f64) -> String {
    format!("{x:e}")
}

/// The rest of the query, after the groups (`a`): the window callers ranked as
/// [`super::finalize_keeping`] ranks them (excess: window bytes above the principal's baseline
/// rate, split over its callers by bytes; then bytes; then principal, IP, agent, bucket), the
/// top `keep` returned whole, and what judging them needs, carried on the rows returned:
///
/// - on the first kept caller (`rank0 = 1`), the rest summed: `o_groups`, `o_n`, `o_bytes`,
///   `o_objects`, `o_errors`, `o_excess`;
/// - on each kept principal's first kept caller, `rest`: the window bytes of its callers that
///   were not kept (its excess and growth are judged on all its bytes);
/// - of the baseline, one row per fact a kept caller (or a reconnaissance row, judged on its
///   principal and IP too) is judged by, flagged: `f_ip` (its IP was seen), `f_ua` / `f_bk`
///   (its principal's agent / bucket was seen), `f_pb` (its principal's baseline bytes, `pb`).
///
/// A missing IP, agent or bucket of a GetObject is grouped as '' (the scanner's key).
///
/// Why windows and not joins: Trino (Athena, CloudTrail Lake) expands a CTE at every
/// reference, and every expansion would scan the trail again, billed per byte. Here `a` is
/// read once and each step reads only the one before, so the trail is scanned once.
fn ranked(spec: &AnalysisSpec, keep: u32) -> String {
    let window_days = ((spec.window.1 - spec.window.0) as f64 / 86_400.0).max(1.0 / 24.0);
    let base_days = ((spec.baseline.1 - spec.baseline.0) as f64 / 86_400.0).max(0.0);
    // The same operations, in the same order, as `finalize_keeping`: the same doubles.
    let expected = if base_days <= 0.0 {
        "0e0".to_string()
    } else {
        format!(
            "CAST(pb AS DOUBLE) / {} * {}",
            double(base_days),
            double(window_days)
        )
    };
    let gw = "section = 'get' AND whole = 1";
    let dropped = "gw = 1 AND kept = 0";
    let base = "section = 'base' AND whole = 1";
    format!(
        "z1 AS (\n  SELECT a.*, CASE WHEN {gw} THEN 1 ELSE 0 END AS gw,\n    \
         sum(CASE WHEN {gw} THEN bytes ELSE 0 END) OVER (PARTITION BY principal) AS pw,\n    \
         sum(CASE WHEN {base} THEN bytes ELSE 0 END) OVER (PARTITION BY principal) AS pb\n  \
         FROM a\n),\n\
         z2 AS (\n  SELECT z1.*, CASE WHEN gw = 1 AND pw > 0\n    \
         THEN greatest(CAST(pw AS DOUBLE) - {expected}, 0e0) * (CAST(bytes AS DOUBLE) / CAST(pw AS DOUBLE))\n    \
         ELSE 0e0 END AS excess\n  FROM z1\n),\n\
         z3 AS (\n  SELECT z2.*, CASE WHEN gw = 1 THEN row_number() OVER (PARTITION BY gw\n    \
         ORDER BY excess DESC, bytes DESC, principal, coalesce(ip, ''), coalesce(ua, ''), coalesce(bucket, '')) END AS rank0\n  \
         FROM z2\n),\n\
         z4 AS (\n  SELECT z3.*, CASE WHEN gw = 1 AND rank0 <= {keep} THEN 1 ELSE 0 END AS kept,\n    \
         CASE WHEN section = 'get' THEN max(rank0) OVER (PARTITION BY section, principal, ip, ua, bucket) END AS grank\n  \
         FROM z3\n),\n\
         z5 AS (\n  SELECT z4.*,\n    \
         max(CASE WHEN kept = 1 OR section = 'recon' THEN 1 ELSE 0 END) OVER (PARTITION BY principal) AS k_p,\n    \
         max(CASE WHEN kept = 1 OR section = 'recon' THEN 1 ELSE 0 END) OVER (PARTITION BY ip) AS k_ip,\n    \
         max(kept) OVER (PARTITION BY principal, coalesce(ua, '')) AS k_ua,\n    \
         max(kept) OVER (PARTITION BY principal, coalesce(bucket, '')) AS k_bk,\n    \
         sum(CASE WHEN {dropped} THEN bytes ELSE 0 END) OVER (PARTITION BY principal) AS rest_p,\n    \
         row_number() OVER (PARTITION BY section, whole, kept, principal ORDER BY rank0, ip, ua, bucket) AS rn_p,\n    \
         row_number() OVER (PARTITION BY section, whole, ip ORDER BY principal, ua, bucket) AS rn_ip,\n    \
         row_number() OVER (PARTITION BY section, whole, principal, coalesce(ua, '') ORDER BY ip, bucket) AS rn_ua,\n    \
         row_number() OVER (PARTITION BY section, whole, principal, coalesce(bucket, '') ORDER BY ip, ua) AS rn_bk,\n    \
         sum(CASE WHEN {dropped} THEN 1 ELSE 0 END) OVER () AS all_o_groups,\n    \
         sum(CASE WHEN {dropped} THEN n ELSE 0 END) OVER () AS all_o_n,\n    \
         sum(CASE WHEN {dropped} THEN bytes ELSE 0 END) OVER () AS all_o_bytes,\n    \
         sum(CASE WHEN {dropped} THEN objects ELSE 0 END) OVER () AS all_o_objects,\n    \
         sum(CASE WHEN {dropped} THEN errors ELSE 0 END) OVER () AS all_o_errors,\n    \
         sum(CASE WHEN {dropped} THEN excess ELSE 0e0 END) OVER () AS all_o_excess\n  \
         FROM z4\n)\n\
         SELECT section, principal, ip, ua, bucket, detail, err, whole, n, bytes, errors, objects,\n  \
         first_t, last_t, presigned, vpc, id_type, id_principal, id_arn, id_account, id_invoked_by,\n  \
         role, owner, params, name, any_err,\n  \
         CASE WHEN kept = 1 AND rn_p = 1 THEN rest_p END AS rest,\n  \
         CASE WHEN rank0 = 1 THEN all_o_groups END AS o_groups,\n  \
         CASE WHEN rank0 = 1 THEN all_o_n END AS o_n,\n  \
         CASE WHEN rank0 = 1 THEN all_o_bytes END AS o_bytes,\n  \
         CASE WHEN rank0 = 1 THEN all_o_objects END AS o_objects,\n  \
         CASE WHEN rank0 = 1 THEN all_o_errors END AS o_errors,\n  \
         CASE WHEN rank0 = 1 THEN all_o_excess END AS o_excess,\n  \
         CASE WHEN {base} AND k_ip = 1 AND rn_ip = 1 AND ip IS NOT NULL THEN 1 ELSE 0 END AS f_ip,\n  \
         CASE WHEN {base} AND k_ua = 1 AND rn_ua = 1 THEN 1 ELSE 0 END AS f_ua,\n  \
         CASE WHEN {base} AND k_bk = 1 AND rn_bk = 1 THEN 1 ELSE 0 END AS f_bk,\n  \
         CASE WHEN {base} AND k_p = 1 AND rn_p = 1 THEN 1 ELSE 0 END AS f_pb, pb\n\
         FROM z5\n\
         WHERE section NOT IN ('get', 'base')\n  \
         OR (section = 'get' AND grank <= {keep})\n  \
         OR ({base} AND ((k_ip = 1 AND rn_ip = 1 AND ip IS NOT NULL) OR (k_ua = 1 AND rn_ua = 1)\n    \
         OR (k_bk = 1 AND rn_bk = 1) OR (k_p = 1 AND rn_p = 1)))"
    )
}

/// How many (principal, source IP, user agent) drivers are kept per activity series and day,
/// as the scanner keeps (see [`crate::model::ActivityCount::drivers`]).
pub const ACTIVITY_DRIVERS: u32 = 20;

/// The S3 activity counts for `spec.window` (every S3 event per day, account, region, event
/// and outcome, with its top callers), skipping `spec.activity`'s ignored event names and the
/// allow-listed principals, as [`Partial::add`] counts them.
pub fn activity_query(spec: &AnalysisSpec, dialect: &Dialect) -> anyhow::Result<String> {
    let (from, to) = spec.window;
    if from >= to {
        bail!("an empty time span");
    }
    let mut filters = scope_filters(spec, dialect, from, to)?;
    let ignored: Vec<&str> = spec.activity.iter().flatten().map(String::as_str).collect();
    if !ignored.is_empty() {
        filters.push(format!("eventname NOT IN ({})", list(&ignored)));
    }
    let allowed: Vec<&str> = spec.allow_principals.iter().map(String::as_str).collect();
    let allow = if allowed.is_empty() {
        "TRUE".to_string()
    } else {
        format!(
            "principal NOT IN ({0}) AND coalesce(role, '') NOT IN ({0})",
            list(&allowed)
        )
    };
    Ok(format!(
        "WITH e AS (\n  SELECT substr({time}, 1, 10) AS day, coalesce(recipientaccountid, '') AS account,\n    \
         coalesce(awsregion, '') AS region, coalesce(eventname, '') AS event,\n    \
         coalesce(NULLIF(errorcode, ''), 'success') || CASE WHEN ({PRINCIPAL}) LIKE 'AWS service: %' \
         THEN ' (AWS service)' ELSE '' END AS outcome, {PRINCIPAL} AS principal,\n    \
         useridentity.sessioncontext.sessionissuer.arn AS role,\n    \
         coalesce(sourceipaddress, '') AS ip, coalesce(useragent, '') AS ua\n  \
         FROM {table}\n  WHERE {filters}\n),\n\
         d AS (\n  SELECT day, account, region, event, outcome,\n    \
         principal || chr(31) || ip || chr(31) || ua AS driver, count(*) AS n\n  \
         FROM e WHERE {allow}\n  GROUP BY day, account, region, event, outcome, principal, ip, ua\n),\n\
         r AS (\n  SELECT d.*, sum(n) OVER (PARTITION BY day, account, region, event, outcome) AS total,\n    \
         row_number() OVER (PARTITION BY day, account, region, event, outcome ORDER BY n DESC, driver) AS rank\n  \
         FROM d\n)\n\
         SELECT day, account, region, event, outcome, total, driver, n FROM r WHERE rank <= {top}",
        time = dialect.time(),
        table = dialect.table_ref()?,
        filters = filters.join("\n    AND "),
        top = ACTIVITY_DRIVERS,
    ))
}

/// Fold the activity query's rows into counts, sorted as the scanner sorts them. A row that
/// cannot be read is counted in the returned number and skipped.
pub fn fold_activity(rows: &Rows) -> anyhow::Result<(Vec<crate::model::ActivityCount>, u64)> {
    use std::collections::BTreeMap;
    if rows.rows.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let idx = Idx::with(
        rows,
        &[
            "day", "account", "region", "event", "outcome", "total", "driver", "n",
        ],
        "the activity query's answer",
    )?;
    type Series = (NaiveDate, String, String, String, String);
    let mut series: BTreeMap<Series, crate::model::ActivityCount> = BTreeMap::new();
    let mut bad = 0u64;
    for cells in &rows.rows {
        let row = Row { idx: &idx, cells };
        let read = || -> anyhow::Result<(Series, u64, String, u64)> {
            let day = NaiveDate::parse_from_str(row.text("day").unwrap_or(""), "%Y-%m-%d")?;
            let t = |c: &str| row.text(c).unwrap_or("").to_string();
            Ok((
                (day, t("account"), t("region"), t("event"), t("outcome")),
                row.num("total")?,
                t("driver"),
                row.num("n")?,
            ))
        };
        let Ok((key, total, driver, n)) = read() else {
            bad += 1;
            continue;
        };
        let entry = series
            .entry(key.clone())
            .or_insert_with(|| crate::model::ActivityCount {
                day: key.0,
                account: key.1.clone(),
                region: key.2.clone(),
                event: key.3.clone(),
                outcome: key.4.clone(),
                count: total,
                drivers: Vec::new(),
            });
        entry.drivers.push((driver, n));
    }
    let out = series
        .into_values()
        .map(|mut c| {
            c.drivers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            c.drivers.truncate(ACTIVITY_DRIVERS as usize);
            c
        })
        .collect();
    Ok((out, bad))
}

/// One row, by column name.
struct Row<'a> {
    idx: &'a Idx,
    cells: &'a [Option<String>],
}

#[derive(Default)]
struct Idx(Vec<(String, usize)>);

impl Idx {
    /// The columns of `rows` by lower-case name; an error naming `what` if one of `required`
    /// is missing.
    fn with(rows: &Rows, required: &[&str], what: &str) -> anyhow::Result<Idx> {
        let idx = Idx(rows
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.to_ascii_lowercase(), i))
            .collect());
        if let Some(c) = required.iter().find(|c| idx.of(c).is_none()) {
            bail!(
                "{what} has no `{c}` column (columns: {})",
                rows.columns.join(", ")
            );
        }
        Ok(idx)
    }

    fn of(&self, name: &str) -> Option<usize> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, i)| *i)
    }
}

impl<'a> Row<'a> {
    fn text(&self, name: &str) -> Option<&'a str> {
        let i = self.idx.of(name)?;
        self.cells.get(i)?.as_deref()
    }
    fn num(&self, name: &str) -> anyhow::Result<u64> {
        match self.text(name) {
            None => Ok(0),
            Some(s) => {
                let s = s.trim();
                s.parse::<u64>()
                    .or_else(|_| {
                        // Some engines print sums of integers as decimals ("12.0").
                        s.parse::<f64>()
                            .ok()
                            .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0)
                            .map(|f| f as u64)
                            .ok_or(())
                    })
                    .map_err(|_| anyhow::anyhow!("`{name}` is not a count: {s:?}"))
            }
        }
    }
    fn time(&self, name: &str) -> anyhow::Result<i64> {
        let s = self
            .text(name)
            .with_context(|| format!("`{name}` is missing"))?;
        crate::sources::cloudtrail::record::parse_event_time(s)
            .with_context(|| format!("`{name}` is not an event time: {s:?}"))
    }
}

/// Why a row of the answer was skipped (in the data quality's reasons).
pub const UNREADABLE_ROW: &str = "a row of the query's answer that cannot be read";

/// The columns a row must have.
const REQUIRED: &[&str] = &["section", "principal", "whole", "n", "first_t"];

/// Fold the query's rows into a partial analysis. A row that cannot be read is counted in the
/// data quality (`bad_records`) and skipped; a missing column fails the whole answer.
///
/// `nested_as_text`: request parameters hold nested documents as JSON text (CloudTrail Lake).
pub fn fold(rows: &Rows, spec: &AnalysisSpec, nested_as_text: bool) -> anyhow::Result<Partial> {
    if rows.rows.is_empty() {
        // Nothing matched (an engine may then omit the column list).
        return Ok(Partial::default());
    }
    let idx = Idx::with(rows, REQUIRED, "the query's answer")?;
    let mut p = Partial::default();
    let mut bad = 0u64;
    for cells in &rows.rows {
        let row = Row { idx: &idx, cells };
        if fold_row(&mut p, &row, spec, nested_as_text).is_err() {
            bad += 1;
        }
    }
    p.quality.records = rows.rows.len() as u64;
    p.quality.bad_records += bad;
    p.quality.add_reason(UNREADABLE_ROW, bad);
    Ok(p)
}

fn fold_row(
    p: &mut Partial,
    row: &Row<'_>,
    spec: &AnalysisSpec,
    nested_as_text: bool,
) -> anyhow::Result<()> {
    use super::{BaselineFact, Group};
    let section = row.text("section").unwrap_or("");
    let whole = row.num("whole")? == 1;
    let principal = row.text("principal").unwrap_or("unknown");
    match section {
        "base" if whole => {
            // Of the baseline, only the facts the kept callers are judged by, flagged.
            let flag = |c: &str| row.num(c).map(|v| v == 1);
            if flag("f_ip")? {
                if let Some(ip) = row.text("ip") {
                    p.add_baseline_fact(BaselineFact::Ip(ip));
                }
            }
            if flag("f_ua")? {
                let ua = row.text("ua").unwrap_or("");
                p.add_baseline_fact(BaselineFact::Agent(principal, ua));
            }
            if flag("f_bk")? {
                let bucket = row.text("bucket").unwrap_or("");
                p.add_baseline_fact(BaselineFact::Bucket(principal, bucket));
            }
            if flag("f_pb")? {
                p.add_baseline_fact(BaselineFact::Bytes(principal, row.num("pb")?));
            }
            return Ok(());
        }
        "bad" => {
            // GetObject records whose byte count cannot be true, by reason.
            let n = row.num("n")?;
            p.quality.bad_records += n;
            p.quality
                .add_reason(row.text("detail").unwrap_or(UNREADABLE_ROW), n);
            return Ok(());
        }
        _ => {}
    }
    let g = Group {
        principal,
        ip: row.text("ip"),
        ua: row.text("ua"),
        bucket: row.text("bucket"),
        detail: row.text("detail"),
        n: row.num("n")?,
        first: row.time("first_t")?,
    };
    match (section, whole) {
        ("get", false) => {
            if let Some(code) = row.text("err") {
                p.add_error_group(&g, code);
            }
        }
        ("get", true) => {
            let identity = crate::sources::cloudtrail::record::UserIdentity {
                kind: row.text("id_type").map(Into::into),
                principal_id: row.text("id_principal").map(Into::into),
                arn: row.text("id_arn").map(Into::into),
                account_id: row.text("id_account").map(Into::into),
                invoked_by: row.text("id_invoked_by").map(Into::into),
                session_context: row.text("role").map(|arn| {
                    crate::sources::cloudtrail::record::SessionContext {
                        session_issuer: Some(crate::sources::cloudtrail::record::SessionIssuer {
                            arn: Some(arn.into()),
                        }),
                    }
                }),
            };
            let caller = crate::sources::cloudtrail::record::Record::identity_only(
                identity,
                row.text("owner"),
                row.num("vpc")? > 0,
            );
            p.add_caller_group(
                &g,
                &caller,
                super::CallerTotals {
                    bytes: row.num("bytes")?,
                    errors: row.num("errors")?,
                    objects: row.num("objects")?,
                    presigned: row.num("presigned")?,
                    last: row.time("last_t")?,
                },
            );
            // The principal's callers that were not kept: their bytes.
            let rest = row.num("rest")?;
            if rest > 0 {
                p.add_rolled_principal_bytes(g.principal, rest);
            }
            // The first kept caller carries the rest, summed.
            let groups = row.num("o_groups")?;
            if groups > 0 {
                let excess = row.text("o_excess").map_or(Ok(0.0), |s| {
                    s.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite() && *x >= 0.0)
                        .ok_or_else(|| anyhow::anyhow!("`o_excess` is not a number: {s:?}"))
                })?;
                p.add_rolled(super::Rolled {
                    groups,
                    requests: row.num("o_n")?,
                    bytes_out: row.num("o_bytes")?,
                    objects: row.num("o_objects")?,
                    errors: row.num("o_errors")?,
                    excess,
                });
            }
        }
        ("del", true) => p.add_delete_group(&g)?,
        ("recon", true) => p.add_recon_group(&g),
        ("cp", true) => {
            let name = row.text("name").unwrap_or("");
            let params: Option<serde_json::Value> = row
                .text("params")
                .and_then(|s| serde_json::from_str(s).ok())
                .map(|v| {
                    if nested_as_text {
                        unnest_json_strings(v)
                    } else {
                        v
                    }
                });
            for _ in 0..g.n.min(1000) {
                p.add_change(
                    name,
                    g.first,
                    params.as_ref(),
                    row.text("owner"),
                    g.principal,
                    g.ip.unwrap_or(""),
                    g.ua.unwrap_or(""),
                    row.text("any_err"),
                    spec,
                );
            }
        }
        (_, false) => {}
        (other, true) => bail!("unknown section {other:?}"),
    }
    Ok(())
}

/// CloudTrail Lake stores request parameters as a map of strings: nested documents (a bucket
/// policy, a public access block) arrive as JSON text. Parse those back so the classifier sees
/// what it sees in a trail file.
fn unnest_json_strings(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if s.starts_with('{') || s.starts_with('[') => {
                            serde_json::from_str(&s).unwrap_or(Value::String(s))
                        }
                        other => other,
                    };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trino (Athena, CloudTrail Lake) expands a CTE wherever it is referenced, and every
    /// expansion scans the trail again (billed per byte): the table is named once, and every
    /// CTE is read exactly once.
    #[test]
    fn the_trail_is_scanned_once() {
        for q in [
            query(&spec(), &Dialect::Athena(AthenaTable::default()), 100).unwrap(),
            query(
                &spec(),
                &Dialect::Lake {
                    event_data_store: "eds-1".into(),
                },
                10,
            )
            .unwrap(),
            activity_query(&spec(), &Dialect::Athena(AthenaTable::default())).unwrap(),
        ] {
            let words: Vec<&str> = q
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .collect();
            let ctes: Vec<&str> = words
                .windows(2)
                .filter(|w| w[1] == "AS")
                .map(|w| w[0])
                .filter(|name| q.contains(&format!("{name} AS (\n")))
                .collect();
            assert!(ctes.len() >= 3, "{ctes:?}");
            for name in ctes {
                let reads = words
                    .windows(2)
                    .filter(|w| (w[0] == "FROM" || w[0] == "JOIN") && w[1] == name)
                    .count();
                assert_eq!(reads, 1, "{name} is read {reads} times in:\n{q}");
            }
            let tables = words.windows(2).filter(|w| w[0] == "FROM").count();
            let ctes_read = q.matches(" AS (\n").count();
            assert_eq!(
                tables,
                ctes_read + 1,
                "one FROM per CTE and the final one:\n{q}"
            );
        }
    }

    fn spec() -> AnalysisSpec {
        let day = 1_772_323_200; // 2026-03-01
        AnalysisSpec {
            window: (day, day + 86_400),
            baseline: (day - 14 * 86_400, day),
            lookback: (day - 7 * 86_400, day + 86_400),
            account: Some("111111111111".into()),
            region: Some("eu-west-1".into()),
            known_cidrs: vec![],
            allow_principals: vec![],
            allow_cidrs: vec![],
            delete_burst: 100,
            activity: None,
        }
    }

    #[test]
    fn prunes_by_partition_time_and_event() {
        let q = query(&spec(), &Dialect::Athena(AthenaTable::default()), 100).unwrap();
        // 14 baseline days, the window, and the day after it for delivery delay.
        assert!(q.contains("\"timestamp\" IN ('2026/02/15', "), "{q}");
        assert!(q.contains("'2026/03/02')"), "{q}");
        assert!(!q.contains("'2026/02/14'") && !q.contains("'2026/03/03'"));
        assert!(q.contains("\"region\" = 'eu-west-1'"));
        assert!(q.contains(
            "eventtime >= '2026-02-15T00:00:00Z' AND eventtime < '2026-03-02T00:00:00Z'"
        ));
        assert!(q.contains("recipientaccountid = '111111111111'"));
        assert!(q.contains("'DeleteObjects'") && q.contains("'GetBucketAcl'"));
        assert!(q.contains("FROM \"AwsDataCatalog\".\"default\".\"cloudtrail_logs\""));
        assert!(!q.contains("SELECT *"), "only named columns are read");
    }

    #[test]
    fn quotes_what_it_does_not_generate() {
        let mut s = spec();
        s.account = Some("1' OR '1'='1".into());
        let t = AthenaTable {
            table: "logs\" x".into(),
            region_partition: None,
            date_partition: None,
            ..AthenaTable::default()
        };
        let q = query(&s, &Dialect::Athena(t), 100).unwrap();
        assert!(q.contains("recipientaccountid = '1'' OR ''1''=''1'"), "{q}");
        assert!(q.contains("\"logs\"\" x\""));
        assert!(!q.contains("\"timestamp\" IN") && !q.contains("\"region\" ="));
        let lake = Dialect::Lake {
            event_data_store: "x; DROP".into(),
        };
        assert!(query(&s, &lake, 100).is_err());
    }

    #[test]
    fn lake_dialect() {
        let d = Dialect::Lake {
            event_data_store: "arn:aws:cloudtrail:us-east-1:1:eventdatastore/abc-123".into(),
        };
        let q = query(&spec(), &d, 100).unwrap();
        assert!(q.contains("FROM abc-123\n"), "{q}");
        assert!(q.contains("eventtime >= '2026-02-15 00:00:00'"));
        assert!(q.contains("element_at(requestparameters, 'bucketName')"));
        assert!(
            !q.contains("\"timestamp\""),
            "Lake has no partitions to name"
        );
    }

    #[test]
    fn year_month_day_partitions() {
        let t = AthenaTable {
            ymd_partitions: Some(["year".into(), "month".into(), "day".into()]),
            ..AthenaTable::default()
        };
        let q = query(&spec(), &Dialect::Athena(t), 100).unwrap();
        assert!(
            q.contains("((\"year\" = '2026' AND \"month\" = '02' AND \"day\" = '15') OR "),
            "{q}"
        );
        assert!(q.contains("(\"year\" = '2026' AND \"month\" = '03' AND \"day\" = '02'))"));
        assert!(!q.contains("\"timestamp\""), "one date layout at a time");
    }

    proptest::proptest! {
        /// Whatever an engine sends back (it carries the trail's attacker-controlled strings),
        /// folding counts or skips it, and never panics.
        #[test]
        fn folding_any_rows_never_panics(
            cells in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::option::of(proptest::prop_oneof![
                        proptest::strategy::Just("get".to_string()),
                        proptest::strategy::Just("cp".to_string()),
                        proptest::strategy::Just("del".to_string()),
                        proptest::strategy::Just("1".to_string()),
                        proptest::strategy::Just("2026-03-01T05:00:00Z".to_string()),
                        proptest::strategy::Just("2026-03-01T05".to_string()),
                        "\\PC{0,12}",
                        "[0-9]{1,22}",
                    ]),
                    10,
                ),
                0..20,
            )
        ) {
            let cols = ["section", "principal", "whole", "n", "first_t", "last_t", "bytes", "detail", "params", "name"];
            let rows = Rows {
                columns: cols.iter().map(|s| s.to_string()).collect(),
                rows: cells,
            };
            if let Ok(p) = fold(&rows, &spec(), true) {
                let a = super::super::finalize(p, &spec());
                proptest::prop_assert!(a.callers.len() <= rows.rows.len());
            }
            let act = Rows {
                columns: ["day", "account", "region", "event", "outcome", "total", "driver", "n", "x", "y"]
                    .iter().map(|s| s.to_string()).collect(),
                rows: rows.rows.clone(),
            };
            let (counts, bad) = fold_activity(&act).unwrap();
            proptest::prop_assert!(counts.len() as u64 + bad <= act.rows.len() as u64);
        }
    }

    #[test]
    fn date_formats() {
        assert_eq!(java_date_format("yyyy/MM/dd").unwrap(), "%Y/%m/%d");
        assert_eq!(java_date_format("yyyy-MM-dd").unwrap(), "%Y-%m-%d");
        assert!(java_date_format("yyyy/MM").is_err());
        assert!(java_date_format("yyyy/MM/dd HH").is_err());
    }

    #[test]
    fn bad_rows_are_counted_not_fatal() {
        let cols = [
            "section",
            "principal",
            "whole",
            "n",
            "first_t",
            "last_t",
            "bytes",
        ];
        let rows = Rows {
            columns: cols.iter().map(|s| s.to_string()).collect(),
            rows: vec![
                vec![
                    Some("get".into()),
                    Some("arn:aws:iam::1:user/a".into()),
                    Some("1".into()),
                    Some("3".into()),
                    Some("2026-03-01T01:00:00Z".into()),
                    Some("2026-03-01T02:00:00Z".into()),
                    Some("300".into()),
                ],
                vec![
                    Some("get".into()),
                    Some("x".into()),
                    Some("1".into()),
                    Some("many".into()),
                    None,
                    None,
                    None,
                ],
            ],
        };
        let p = fold(&rows, &spec(), false).unwrap();
        assert_eq!((p.quality.records, p.quality.bad_records), (2, 1));
        assert_eq!(p.quality.bad_record_reasons[UNREADABLE_ROW], 1);
        let a = super::super::finalize(p, &spec());
        assert_eq!(a.callers.len(), 1);
        assert_eq!((a.callers[0].requests, a.callers[0].bytes_out), (3, 300));
        let missing = Rows {
            columns: vec!["section".into()],
            rows: vec![vec![Some("get".into())]],
        };
        assert!(fold(&missing, &spec(), false).is_err());
    }
}
