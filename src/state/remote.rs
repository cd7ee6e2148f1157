//! Where the store lives: a local file (with a lock, so two runs never overlap), or an S3 object
//! for runners without a disk (Kubernetes, ECS, CI).
//!
//! With `state.path = "s3://bucket/key"`, the SQLite file is fetched at start and written back at
//! the end with a conditional write: `If-Match` the ETag it was fetched with, or `If-None-Match: *`
//! when there was none. If another run wrote the object in between, S3 answers 412 and this run
//! fails with a clear message, leaving the other run's store intact: two overlapping runs cannot
//! silently overwrite each other.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};

use super::Store;

/// Where `state.path` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatePath {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

impl StatePath {
    pub fn parse(path: &Path) -> anyhow::Result<StatePath> {
        let s = path.to_string_lossy();
        match s.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() || key.is_empty() || key.ends_with('/') {
                    bail!("state.path `{s}` must name an object: s3://BUCKET/KEY");
                }
                Ok(StatePath::S3 {
                    bucket: bucket.into(),
                    key: key.into(),
                })
            }
            None => Ok(StatePath::Local(path.to_path_buf())),
        }
    }
}

/// An open store, and what it takes to put it back.
pub struct State {
    pub store: Store,
    remote: Option<Remote>,
    /// Held for the life of the run (a local store); released when dropped or on exit.
    _lock: Option<std::fs::File>,
}

struct Remote {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    /// The ETag fetched (None: the object did not exist).
    etag: Option<String>,
    dir: tempfile::TempDir,
}

impl Remote {
    fn file(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }
}

/// The file `path` names, links resolved: the file itself when it exists, else its folder
/// resolved and its name.
fn canonical(path: &Path) -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::fs::canonicalize(path) {
        return Ok(p);
    }
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let dir =
        std::fs::canonicalize(&dir).with_context(|| format!("resolving {}", dir.display()))?;
    Ok(match path.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    })
}

/// Lock a local store against a second run (an OS file lock, gone with the process).
fn lock(path: &Path) -> anyhow::Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // One lock per store, however its path is spelt (`./x.db`, an absolute path, a symlink to
    // it): the lock sits beside the file the path resolves to.
    let canonical = canonical(path)?;
    let lock_path = PathBuf::from(format!("{}.lock", canonical.display()));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening the lock file {}", lock_path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another egresswatch run is using {} (lock {}); this run stops so that the two do not overlap",
            path.display(),
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", lock_path.display())),
    }
}

/// Open the store at `path` (local: locked; S3: fetched with its ETag).
pub async fn open(path: &Path, s3: Option<aws_sdk_s3::Client>) -> anyhow::Result<State> {
    match StatePath::parse(path)? {
        StatePath::Local(p) => {
            let l = lock(&p)?;
            Ok(State {
                store: Store::open(&p)?,
                remote: None,
                _lock: Some(l),
            })
        }
        StatePath::S3 { bucket, key } => {
            let client = s3.ok_or_else(|| {
                anyhow!("an S3 client is needed for state.path s3://{bucket}/{key}")
            })?;
            let dir = tempfile::tempdir().context("a temporary folder for the state")?;
            let mut remote = Remote {
                client,
                bucket,
                key,
                etag: None,
                dir,
            };
            match remote
                .client
                .get_object()
                .bucket(&remote.bucket)
                .key(&remote.key)
                .send()
                .await
            {
                Ok(resp) => {
                    remote.etag = resp.e_tag().map(str::to_string);
                    let bytes = resp
                        .body
                        .collect()
                        .await
                        .map_err(|e| {
                            anyhow!(
                                "downloading the state: {}",
                                crate::settings::errors::human_error(&e)
                            )
                        })?
                        .into_bytes();
                    std::fs::write(remote.file(), &bytes).context("writing the state locally")?;
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {}
                Err(e) => {
                    return Err(anyhow!(
                        "fetching the state s3://{}/{}: {}",
                        remote.bucket,
                        remote.key,
                        crate::settings::errors::human_error(&e)
                    ))
                }
            }
            let store = Store::open(&remote.file())?;
            Ok(State {
                store,
                remote: Some(remote),
                _lock: None,
            })
        }
    }
}

impl State {
    /// Put the store back (S3: a conditional write). A local store is already on disk.
    pub async fn save(self) -> anyhow::Result<()> {
        let State {
            store,
            remote,
            _lock,
        } = self;
        let Some(r) = remote else { return Ok(()) };
        store.checkpoint()?;
        drop(store);
        let bytes = std::fs::read(r.file()).context("reading the state back")?;
        let mut put = r
            .client
            .put_object()
            .bucket(&r.bucket)
            .key(&r.key)
            .body(aws_sdk_s3::primitives::ByteStream::from(bytes));
        put = match &r.etag {
            Some(e) => put.if_match(e),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.raw_response().is_some_and(|resp| resp.status().as_u16() == 412) => bail!(
                "another egresswatch run wrote the state s3://{}/{} after this run fetched it: this run's \
                 changes were not saved, and the other run's store is intact; run again (and schedule \
                 runs so they cannot overlap)",
                r.bucket,
                r.key
            ),
            Err(e) => Err(anyhow!(
                "saving the state s3://{}/{}: {}",
                r.bucket,
                r.key,
                crate::settings::errors::human_error(&e)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lock_per_store_however_its_path_is_spelt() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("state.db");
        let first = lock(&real).unwrap();
        // The same store through a symlink, and through a path with `..` in it.
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        std::fs::write(&real, b"").unwrap();
        let e = lock(&link).unwrap_err();
        assert!(
            format!("{e:#}").contains("another egresswatch run"),
            "{e:#}"
        );
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(lock(&sub.join("../state.db")).is_err());
        drop(first);
        assert!(lock(&link).is_ok());
    }

    #[test]
    fn parses_state_paths() {
        assert_eq!(
            StatePath::parse(Path::new("s3://b/egresswatch/state.db")).unwrap(),
            StatePath::S3 {
                bucket: "b".into(),
                key: "egresswatch/state.db".into()
            }
        );
        assert!(StatePath::parse(Path::new("s3://b")).is_err());
        assert!(StatePath::parse(Path::new("s3://b/dir/")).is_err());
        assert_eq!(
            StatePath::parse(Path::new("x.db")).unwrap(),
            StatePath::Local("x.db".into())
        );
    }

    #[test]
    fn a_second_local_run_is_refused_while_the_first_holds_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        let first = lock(&p).unwrap();
        let e = lock(&p).unwrap_err().to_string();
        assert!(e.contains("another egresswatch run"), "{e}");
        drop(first);
        assert!(lock(&p).is_ok(), "released with the first run");
    }
}
