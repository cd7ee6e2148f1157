//! CloudTrail: read the trail for an account, region and span of days, in parallel.
//!
//! Sources: a local directory (for example one kept by `aws s3 sync`) or an S3 bucket and
//! prefix, read here; or an Athena table or CloudTrail Lake event data store, where the analysis
//! runs as SQL ([`crate::correlate::sql`], [`crate::sources::athena`], [`crate::sources::lake`]).
//! The files Both are read in the delivery layout
//! `PREFIX/AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz`, listing only the
//! accounts, regions and days needed (plus the day after, for delivery delay), never the whole
//! bucket; `CloudTrail-Digest/` is never read. A path without `AWSLogs/` is read as a plain
//! folder of trail files (exports, CloudTrail Lake JSON Lines).
//!
//! Files are decoded and parsed on all cores ([`reader`]), each worker feeding its own
//! [`Partial`] analysis, merged at the end: memory is the aggregation state plus one decoded
//! file per core, whatever the size of the trail.

pub mod layout;
pub mod reader;
pub mod record;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::{Days, NaiveDate};
use rayon::prelude::*;

use crate::correlate::{AnalysisSpec, Partial};
use layout::Layout;

/// Where the trail is.
#[derive(Debug, Clone, PartialEq)]
pub enum TrailSource {
    Local(PathBuf),
    S3 {
        bucket: String,
        prefix: String,
    },
    /// An Athena table over the trail bucket: the analysis runs there as SQL.
    Athena(Box<crate::sources::athena::AthenaSettings>),
    /// A CloudTrail Lake event data store: the analysis runs there as SQL.
    Lake(Box<crate::sources::lake::LakeSettings>),
}

/// The AWS clients reading a source needs (only the one for its kind is made).
#[derive(Debug, Clone, Default)]
pub struct Clients {
    pub s3: Option<aws_sdk_s3::Client>,
    pub athena: Option<crate::sources::athena::Athena>,
    pub lake: Option<crate::sources::lake::Lake>,
}

impl TrailSource {
    /// The client a read of this source needs: none for a local directory.
    pub async fn clients(&self, profile: Option<&str>) -> Clients {
        use crate::sources::{athena::Athena, lake::Lake};
        match self {
            TrailSource::S3 { .. } => Clients {
                s3: Some(s3_client(profile).await),
                ..Clients::default()
            },
            TrailSource::Local(_) => Clients::default(),
            TrailSource::Athena(a) => Clients {
                athena: Some(Athena::from_env(profile, (**a).clone()).await),
                ..Clients::default()
            },
            TrailSource::Lake(l) => Clients {
                lake: Some(Lake::from_env(profile, (**l).clone()).await),
                ..Clients::default()
            },
        }
    }
}

/// The names that pick the SQL sources in `cloudtrail.source`.
pub const ATHENA: &str = "athena";
pub const LAKE: &str = "cloudtrail-lake";

impl std::str::FromStr for TrailSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("`{s}` names no bucket (s3://BUCKET/PREFIX)"));
            }
            let prefix = prefix.trim_end_matches('/');
            return Ok(TrailSource::S3 {
                bucket: bucket.to_string(),
                prefix: if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}/")
                },
            });
        }
        if s.is_empty() {
            return Err("the CloudTrail source is empty".into());
        }
        if s == ATHENA || s == LAKE {
            return Err(format!(
                "`{s}` needs its settings: set [cloudtrail.{}] in the config",
                if s == ATHENA { "athena" } else { "lake" }
            ));
        }
        Ok(TrailSource::Local(PathBuf::from(s)))
    }
}

impl std::fmt::Display for TrailSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrailSource::Local(p) => write!(f, "{}", p.display()),
            TrailSource::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            TrailSource::Athena(a) => write!(
                f,
                "athena:{}.{} (workgroup {})",
                a.table.database, a.table.table, a.workgroup
            ),
            TrailSource::Lake(l) => write!(f, "cloudtrail-lake:{}", l.event_data_store),
        }
    }
}

/// Which accounts, regions and days to read.
#[derive(Debug, Clone)]
pub struct Scope {
    pub accounts: Option<Vec<String>>,
    pub regions: Option<Vec<String>>,
    /// Inclusive.
    pub first_day: NaiveDate,
    /// Inclusive; the scan adds one day for delivery delay.
    pub last_day: NaiveDate,
}

impl Scope {
    /// The days whose folders are read: the span, and the day after (files are filed by
    /// delivery time, which trails the event by minutes, sometimes more).
    pub fn days(&self) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut d = self.first_day;
        let last = self.last_day + Days::new(1);
        while d <= last {
            out.push(d);
            d = d + Days::new(1);
        }
        out
    }
}

/// A file to read: its name (for messages) and where it is.
#[derive(Debug, Clone)]
pub struct TrailFile {
    pub name: String,
    pub size: u64,
}

/// Read one file's bytes into the partial analysis.
fn analyse_bytes(
    p: &mut Partial,
    name: &str,
    bytes: std::io::Result<Vec<u8>>,
    spec: &AnalysisSpec,
) {
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            p.file_done(name, 0, 0, Some(format!("cannot read: {e}")));
            return;
        }
    };
    let data = match reader::decode(bytes) {
        Ok(d) => d,
        Err(e) => {
            p.file_done(name, 0, 0, Some(e));
            return;
        }
    };
    let outcome = reader::for_each_record(&data, |r| p.add(&r, spec));
    p.file_done(name, outcome.records, outcome.bad_records, outcome.error);
}

/// List the files of a local source for `scope`.
pub fn list_local(root: &Path, scope: &Scope) -> anyhow::Result<Vec<TrailFile>> {
    let lister = layout::LocalLister {
        root: root.to_path_buf(),
    };
    if !root.exists() {
        bail!("the CloudTrail source {} does not exist", root.display());
    }
    match Layout::find_local(root) {
        Some(base) => layout::list(&lister, &base, scope),
        None => {
            // A plain folder of trail files.
            let mut files = Vec::new();
            layout::walk_plain(root, &mut files)
                .with_context(|| format!("reading {}", root.display()))?;
            Ok(files)
        }
    }
}

/// Scan a local source on all cores.
pub fn scan_local(root: &Path, scope: &Scope, spec: &AnalysisSpec) -> anyhow::Result<Partial> {
    let files = list_local(root, scope)?;
    tracing::info!(files = files.len(), source = %root.display(), "reading CloudTrail files");
    Ok(files
        .par_iter()
        .fold(Partial::default, |mut p, f| {
            analyse_bytes(&mut p, &f.name, std::fs::read(&f.name), spec);
            p
        })
        .reduce(Partial::default, Partial::merge))
}

/// How many S3 objects are fetched at once (and held in memory before parsing).
const S3_BATCH: usize = 16;

/// Scan an S3 source: list the day prefixes, fetch in batches, parse each batch on all cores.
pub async fn scan_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    scope: &Scope,
    spec: Arc<AnalysisSpec>,
) -> anyhow::Result<Partial> {
    let lister = layout::S3Lister { client, bucket };
    let files = layout::list_s3(&lister, prefix, scope).await?;
    tracing::info!(
        files = files.len(),
        bucket,
        prefix,
        "reading CloudTrail objects"
    );
    let mut total = Partial::default();
    for batch in files.chunks(S3_BATCH) {
        let mut set = tokio::task::JoinSet::new();
        for (i, f) in batch.iter().enumerate() {
            let client = client.clone();
            let bucket = bucket.to_string();
            let key = f.name.clone();
            set.spawn(async move { (i, layout::get_s3(&client, &bucket, &key).await) });
        }
        let mut got: Vec<(usize, std::io::Result<Vec<u8>>)> = Vec::with_capacity(batch.len());
        while let Some(r) = set.join_next().await {
            got.push(r.context("a download task failed")?);
        }
        got.sort_by_key(|(i, _)| *i);
        let names: Vec<String> = batch
            .iter()
            .map(|f| format!("s3://{bucket}/{}", f.name))
            .collect();
        let spec = spec.clone();
        let part = tokio::task::spawn_blocking(move || {
            got.into_par_iter()
                .fold(Partial::default, |mut p, (i, bytes)| {
                    analyse_bytes(&mut p, &names[i], bytes, &spec);
                    p
                })
                .reduce(Partial::default, Partial::merge)
        })
        .await
        .context("the parse task failed")?;
        total = total.merge(part);
    }
    Ok(total)
}

/// Scan any source.
pub async fn scan(
    source: &TrailSource,
    scope: &Scope,
    spec: Arc<AnalysisSpec>,
    s3: Option<&aws_sdk_s3::Client>,
) -> anyhow::Result<Partial> {
    match source {
        TrailSource::Local(root) => {
            let (root, scope) = (root.clone(), scope.clone());
            tokio::task::spawn_blocking(move || scan_local(&root, &scope, &spec))
                .await
                .context("the scan task failed")?
        }
        TrailSource::S3 { bucket, prefix } => {
            let client = s3.context("an S3 client is needed for an s3:// source")?;
            scan_s3(client, bucket, prefix, scope, spec).await
        }
        TrailSource::Athena(_) | TrailSource::Lake(_) => {
            bail!("{source} runs the analysis as SQL: it has no files to scan")
        }
    }
}

pub use layout::s3_client;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources() {
        assert_eq!(
            "s3://trail-bucket/org/".parse::<TrailSource>().unwrap(),
            TrailSource::S3 {
                bucket: "trail-bucket".into(),
                prefix: "org/".into()
            }
        );
        assert_eq!(
            "s3://trail-bucket".parse::<TrailSource>().unwrap(),
            TrailSource::S3 {
                bucket: "trail-bucket".into(),
                prefix: String::new()
            }
        );
        assert!("s3:///x".parse::<TrailSource>().is_err());
        assert_eq!(
            "/var/trail".parse::<TrailSource>().unwrap(),
            TrailSource::Local("/var/trail".into())
        );
    }
}
