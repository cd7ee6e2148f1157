//! `[cloudtrail]`: where the trail is, and how callers are judged (baseline, known networks,
//! allow-lists, delete bursts, callers shown), as written and as validated. The SQL engines'
//! tables (`[cloudtrail.athena]`, `[cloudtrail.lake]`) belong to their sources.

use serde::Deserialize;

use crate::settings::{keys, with, Check};
use crate::sources::cloudtrail::{TrailSource, ATHENA, LAKE};
use crate::sources::sql::athena::{AthenaSettings, RawAthena};
use crate::sources::sql::lake::{LakeSettings, RawLake};

/// Callers an analysis keeps unless configured (`cloudtrail.max_callers_kept`).
pub const DEFAULT_MAX_CALLERS_KEPT: u32 = 100;
/// Callers shown per incident in messages when `max_callers` does not say.
pub const DEFAULT_MAX_CALLERS: u32 = 5;

/// The range of `cloudtrail.max_file_bytes`: 1 MiB to 16 GiB.
const MIN_FILE_BYTES: u64 = 1 << 20;
const MAX_FILE_BYTES: u64 = 16 << 30;

/// `[cloudtrail]`: naming the callers behind an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudTrailSettings {
    pub source: Option<TrailSource>,
    /// Days before the incident window that define "known" callers.
    pub baseline_days: u32,
    /// Days before the window in which control-plane changes are reported.
    pub lookback_days: u32,
    pub known_cidrs: Vec<ipnet::IpNet>,
    pub allow_principals: Vec<String>,
    pub allow_cidrs: Vec<ipnet::IpNet>,
    pub delete_burst: u32,
    /// Callers shown per incident in messages.
    pub max_callers: u32,
    /// Callers kept per analysis (the top ones; the rest are summed as `others`).
    pub max_callers_kept: u32,
    /// A trail file's largest decompressed size; a larger one is a bad file.
    pub max_file_bytes: u64,
    /// `[cloudtrail.athena]`, `[cloudtrail.lake]`: the SQL sources, when configured (the
    /// `source` names which one is used).
    pub athena: Option<AthenaSettings>,
    pub lake: Option<LakeSettings>,
}

/// Why a source name picks no source.
enum Unpicked {
    NoAthenaTable,
    NoLakeTable,
    Invalid(String),
}

/// The source a name picks: `athena` and `cloudtrail-lake` with their tables, anything else a
/// directory or `s3://BUCKET/PREFIX`. The config's `source` and `--source` both go through here.
fn pick(
    name: &str,
    athena: Option<&AthenaSettings>,
    lake: Option<&LakeSettings>,
) -> Result<TrailSource, Unpicked> {
    match name {
        ATHENA => athena
            .map(|a| TrailSource::Athena(Box::new(a.clone())))
            .ok_or(Unpicked::NoAthenaTable),
        LAKE => lake
            .map(|l| TrailSource::Lake(Box::new(l.clone())))
            .ok_or(Unpicked::NoLakeTable),
        _ => name.parse().map_err(Unpicked::Invalid),
    }
}

impl CloudTrailSettings {
    /// The source a `--source` flag names (a path, `s3://...`, `athena`, `cloudtrail-lake`),
    /// or the configured one.
    pub fn source_or(&self, flag: Option<&str>) -> Result<TrailSource, String> {
        let Some(name) = flag else {
            return self.source.clone().ok_or_else(|| {
                "no CloudTrail source: give --source PATH|s3://BUCKET/PREFIX|athena|cloudtrail-lake or set cloudtrail.source".into()
            });
        };
        pick(name, self.athena.as_ref(), self.lake.as_ref()).map_err(|e| match e {
            Unpicked::NoAthenaTable => {
                "--source athena needs a [cloudtrail.athena] table in the config".into()
            }
            Unpicked::NoLakeTable => {
                "--source cloudtrail-lake needs a [cloudtrail.lake] table in the config".into()
            }
            Unpicked::Invalid(e) => e,
        })
    }
}

impl Default for CloudTrailSettings {
    fn default() -> Self {
        CloudTrailSettings {
            source: None,
            baseline_days: 14,
            lookback_days: 7,
            known_cidrs: Vec::new(),
            allow_principals: Vec::new(),
            allow_cidrs: Vec::new(),
            delete_burst: 100,
            max_callers: DEFAULT_MAX_CALLERS,
            max_callers_kept: DEFAULT_MAX_CALLERS_KEPT,
            max_file_bytes: crate::sources::cloudtrail::reader::DEFAULT_MAX_FILE_BYTES,
            athena: None,
            lake: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RawCloudTrail {
    pub source: Option<String>,
    pub baseline_days: Option<i64>,
    pub lookback_days: Option<i64>,
    pub known_cidrs: Option<Vec<String>>,
    pub allow_principals: Option<Vec<String>>,
    pub allow_cidrs: Option<Vec<String>>,
    pub delete_burst: Option<i64>,
    pub max_callers: Option<i64>,
    pub max_callers_kept: Option<i64>,
    pub max_file_bytes: Option<i64>,
    pub athena: Option<RawAthena>,
    pub lake: Option<RawLake>,
}

impl CloudTrailSettings {
    /// Validate `[cloudtrail]` (and the SQL sources' tables under it).
    pub fn check(r: RawCloudTrail, c: &mut Check<'_>) -> CloudTrailSettings {
        let base = keys(&["cloudtrail"]);
        let mut s = CloudTrailSettings::default();
        let athena = r.athena.map(|a| AthenaSettings::check(a, c));
        let lake = r.lake.and_then(|l| LakeSettings::check(l, c));
        if let Some(src) = r.source {
            let at = with(&base, "source");
            match pick(&src, athena.as_ref(), lake.as_ref()) {
                Ok(t) => s.source = Some(t),
                Err(Unpicked::NoAthenaTable) => c.fail(&at, "`athena` needs a [cloudtrail.athena] table (database, table, workgroup, output_location)"),
                Err(Unpicked::NoLakeTable) => c.fail(&at, "`cloudtrail-lake` needs a [cloudtrail.lake] table with event_data_store"),
                Err(Unpicked::Invalid(e)) => c.fail(&at, e),
            }
        } else {
            c.fail(
                &base,
                "`source` is required: a local directory or s3://BUCKET/PREFIX holding the trail",
            );
        }
        s.baseline_days = c.int(
            &with(&base, "baseline_days"),
            r.baseline_days,
            s.baseline_days,
            0,
            90,
        );
        s.lookback_days = c.int(
            &with(&base, "lookback_days"),
            r.lookback_days,
            s.lookback_days,
            0,
            90,
        );
        s.delete_burst = c.int(
            &with(&base, "delete_burst"),
            r.delete_burst,
            s.delete_burst,
            1,
            1_000_000,
        );
        s.max_callers = c.int(
            &with(&base, "max_callers"),
            r.max_callers,
            s.max_callers,
            1,
            50,
        );
        s.max_callers_kept = c.int(
            &with(&base, "max_callers_kept"),
            r.max_callers_kept,
            s.max_callers_kept,
            1,
            10_000,
        );
        if let Some(v) = r.max_file_bytes {
            match u64::try_from(v) {
                Ok(v) if (MIN_FILE_BYTES..=MAX_FILE_BYTES).contains(&v) => s.max_file_bytes = v,
                _ => c.fail(
                    &with(&base, "max_file_bytes"),
                    format!(
                        "{v} is out of range ({MIN_FILE_BYTES} (1 MiB) to {MAX_FILE_BYTES} (16 GiB))"
                    ),
                ),
            }
        }
        s.known_cidrs = c.cidrs(&base, "known_cidrs", r.known_cidrs);
        s.allow_cidrs = c.cidrs(&base, "allow_cidrs", r.allow_cidrs);
        s.allow_principals = r.allow_principals.unwrap_or_default();
        s.athena = athena;
        s.lake = lake;
        s
    }
}

#[cfg(test)]
mod tests {
    fn parse(table: &str) -> Result<super::CloudTrailSettings, Vec<String>> {
        crate::config::parse(&format!("[cloudtrail]\nsource = \"/t\"\n{table}"), "t.toml")
            .map(|c| c.cloudtrail.unwrap())
            .map_err(|e| e.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn bounds_have_defaults_and_ranges() {
        let d = parse("").unwrap();
        assert_eq!((d.max_callers, d.max_callers_kept), (5, 100));
        assert_eq!(d.max_file_bytes, 1 << 30);
        let s = parse("max_callers = 2\nmax_callers_kept = 10000\nmax_file_bytes = 17179869184\n")
            .unwrap();
        assert_eq!((s.max_callers, s.max_callers_kept), (2, 10_000));
        assert_eq!(s.max_file_bytes, 16 << 30);
        assert_eq!(
            parse("max_file_bytes = 1048576\n").unwrap().max_file_bytes,
            1 << 20
        );
        for (bad, key) in [
            ("max_callers_kept = 0", "max_callers_kept"),
            ("max_callers_kept = 10001", "max_callers_kept"),
            ("max_file_bytes = 1048575", "max_file_bytes"),
            ("max_file_bytes = 17179869185", "max_file_bytes"),
            ("max_file_bytes = -1", "max_file_bytes"),
        ] {
            let e = parse(&format!("{bad}\n")).unwrap_err();
            assert!(
                e.len() == 1 && e[0].contains("t.toml:3") && e[0].contains(key),
                "{bad}: {e:?}"
            );
        }
    }
}
