//! The CloudTrail delivery layout, and listing exactly the folders a scope needs.
//!
//! `PREFIX/AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE`. The same discovery runs
//! over a local directory and over S3 (one `ListObjectsV2` with a delimiter per level, then one
//! listing per day folder); the local lister never waits, so it is driven without a runtime.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use anyhow::Context;
use chrono::{Datelike, NaiveDate};

use super::{Scope, TrailFile};

/// Whether a file name is a trail file (not a digest, not something else).
pub fn is_trail_file(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !n.contains("cloudtrail-digest")
        && (n.ends_with(".json.gz")
            || n.ends_with(".json")
            || n.ends_with(".jsonl")
            || n.ends_with(".jsonl.gz")
            || n.ends_with(".gz"))
}

/// `YYYY/MM/DD/` for each day.
pub fn day_prefixes(days: &[NaiveDate]) -> Vec<String> {
    days.iter()
        .map(|d| format!("{:04}/{:02}/{:02}/", d.year(), d.month(), d.day()))
        .collect()
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_org(s: &str) -> bool {
    s.starts_with("o-") && s.len() > 2
}

/// Lists "folders" and files under a prefix ending in `/` (or empty).
pub trait Lister {
    fn dirs(&self, prefix: &str) -> impl Future<Output = anyhow::Result<Vec<String>>>;
    fn files(&self, prefix: &str) -> impl Future<Output = anyhow::Result<Vec<TrailFile>>>;
}

/// The root of the layout in a local source: the folder holding `AWSLogs/`.
pub struct Layout;

impl Layout {
    /// `Some(prefix)` (relative, `""` or `"AWSLogs/.."`) when `root` holds the delivery layout.
    pub fn find_local(root: &Path) -> Option<String> {
        if root.join("AWSLogs").is_dir() {
            return Some(String::new());
        }
        (root.file_name()? == "AWSLogs" && root.is_dir()).then(|| "..".to_string())
    }
}

/// Discover and list the files for `scope` under `base` (a prefix holding `AWSLogs/`).
pub async fn discover<L: Lister>(
    l: &L,
    base: &str,
    scope: &Scope,
) -> anyhow::Result<Vec<TrailFile>> {
    // `..`: the source is the AWSLogs folder itself.
    let root = if base == ".." {
        String::new()
    } else {
        format!("{base}AWSLogs/")
    };
    let mut accounts: Vec<(String, String)> = Vec::new(); // (prefix, account)
    for c in l.dirs(&root).await? {
        if is_org(&c) {
            let org = format!("{root}{c}/");
            for a in l.dirs(&org).await? {
                if is_account(&a) {
                    accounts.push((format!("{org}{a}/"), a));
                }
            }
        } else if is_account(&c) {
            accounts.push((format!("{root}{c}/"), c));
        }
    }
    if let Some(wanted) = &scope.accounts {
        accounts.retain(|(_, a)| wanted.contains(a));
    }
    let days = day_prefixes(&scope.days());
    let mut files = Vec::new();
    for (prefix, _) in accounts {
        let ct = format!("{prefix}CloudTrail/");
        let regions = match &scope.regions {
            Some(r) => r.clone(),
            None => l.dirs(&ct).await?,
        };
        for region in regions {
            for day in &days {
                let folder = format!("{ct}{region}/{day}");
                files.extend(
                    l.files(&folder)
                        .await?
                        .into_iter()
                        .filter(|f| is_trail_file(&f.name)),
                );
            }
        }
    }
    Ok(files)
}

/// Drive a future that never waits (the local lister) to completion.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = TaskContext::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the local lister never waits"),
    }
}

/// Lists a local directory tree.
pub struct LocalLister {
    pub root: PathBuf,
}

impl LocalLister {
    fn path(&self, prefix: &str) -> PathBuf {
        self.root.join(prefix)
    }

    /// The entries of a folder; a missing folder is empty (most days of most regions are).
    fn entries(&self, prefix: &str) -> anyhow::Result<Vec<std::fs::DirEntry>> {
        let dir = self.path(prefix);
        match std::fs::read_dir(&dir) {
            Ok(rd) => Ok(rd.filter_map(Result::ok).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
            Err(e) => Err(e).with_context(|| format!("listing {}", dir.display())),
        }
    }
}

impl Lister for LocalLister {
    async fn dirs(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let mut out: Vec<String> = self
            .entries(prefix)?
            .into_iter()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.sort();
        Ok(out)
    }

    async fn files(&self, prefix: &str) -> anyhow::Result<Vec<TrailFile>> {
        let mut out: Vec<TrailFile> = self
            .entries(prefix)?
            .into_iter()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| TrailFile {
                name: e.path().display().to_string(),
                size: e.metadata().map(|m| m.len()).unwrap_or(0),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// List a local source with the layout at `base` (see [`Layout::find_local`]).
pub fn list(l: &LocalLister, base: &str, scope: &Scope) -> anyhow::Result<Vec<TrailFile>> {
    now(discover(l, base, scope))
}

/// Every trail file under `dir`, recursively (a plain folder of exports).
pub fn walk_plain(dir: &Path, out: &mut Vec<TrailFile>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let t = e.file_type()?;
        let name = e.file_name().to_string_lossy().to_string();
        if t.is_dir() {
            if !name.eq_ignore_ascii_case("CloudTrail-Digest") {
                walk_plain(&e.path(), out)?;
            }
        } else if t.is_file() && is_trail_file(&name) {
            out.push(TrailFile {
                name: e.path().display().to_string(),
                size: e.metadata().map(|m| m.len()).unwrap_or(0),
            });
        }
    }
    Ok(())
}

/// An S3 client from the default chain (`AWS_ENDPOINT_URL` honoured; path-style addressing
/// when an endpoint is overridden, as emulators and S3-compatible stores need).
pub async fn s3_client(profile: Option<&str>) -> aws_sdk_s3::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    s3_client_from(&loader.load().await)
}

/// An S3 client from a loaded configuration, path-style when an endpoint is overridden (in the
/// configuration or the environment).
pub fn s3_client_from(conf: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint = conf.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3conf = aws_sdk_s3::config::Builder::from(conf)
        .force_path_style(custom_endpoint)
        .build();
    aws_sdk_s3::Client::from_conf(s3conf)
}

/// Lists S3 prefixes with the delimiter (folders) and without (a day's files).
pub struct S3Lister<'c> {
    pub client: &'c aws_sdk_s3::Client,
    pub bucket: &'c str,
}

impl S3Lister<'_> {
    /// Every page of a ListObjectsV2 under `prefix` (with `/` as delimiter: the folders).
    async fn pages(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> anyhow::Result<Vec<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output>> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(self.bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_string))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            out.push(page.map_err(|e| {
                anyhow::anyhow!(
                    "listing s3://{}/{prefix}: {}",
                    self.bucket,
                    crate::settings::errors::human_error(&e)
                )
            })?);
        }
        Ok(out)
    }
}

impl Lister for S3Lister<'_> {
    async fn dirs(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for page in self.pages(prefix, Some("/")).await? {
            for cp in page.common_prefixes() {
                if let Some(p) = cp.prefix() {
                    let name = p[prefix.len()..].trim_end_matches('/');
                    if !name.is_empty() {
                        out.push(name.to_string());
                    }
                }
            }
        }
        Ok(out)
    }

    async fn files(&self, prefix: &str) -> anyhow::Result<Vec<TrailFile>> {
        let mut out = Vec::new();
        for page in self.pages(prefix, None).await? {
            for o in page.contents() {
                if let Some(k) = o.key() {
                    out.push(TrailFile {
                        name: k.to_string(),
                        size: o.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// List an S3 source: the layout under `prefix`, or, without `AWSLogs/`, the prefix itself.
pub async fn list_s3(
    l: &S3Lister<'_>,
    prefix: &str,
    scope: &Scope,
) -> anyhow::Result<Vec<TrailFile>> {
    let top = l.dirs(prefix).await?;
    if top.iter().any(|d| d == "AWSLogs") {
        discover(l, prefix, scope).await
    } else {
        Ok(l.files(prefix)
            .await?
            .into_iter()
            .filter(|f| is_trail_file(&f.name))
            .collect())
    }
}

/// Fetch one object's bytes (an error is returned as an I/O error: the file is counted as bad,
/// the scan goes on).
pub async fn get_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> std::io::Result<Vec<u8>> {
    let resp = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| std::io::Error::other(crate::settings::errors::human_error(&e)))?;
    let body = resp
        .body
        .collect()
        .await
        .map_err(|e| std::io::Error::other(crate::settings::errors::human_error(&e)))?;
    Ok(body.into_bytes().to_vec())
}
