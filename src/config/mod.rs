//! Configuration: the TOML file, composed of the components' own tables.
//!
//! Each component owns its table beside its code (its raw form, validated form and validation,
//! see [`crate::settings`]); this module only composes them into [`Config`], reports unknown
//! keys, and checks what spans tables (`[activity]` needs `[cloudtrail]`; its threshold defaults
//! to the detector's). A typo must never silently disable a threshold, so unknown keys are
//! errors, and every error names the file, the line and the key path (`egresswatch.toml:12:1:
//! detect.min_robust_zz: unknown key; did you mean `min_robust_z`?`). All errors are collected
//! and reported together. Secrets (webhook URLs) are never in the file: it names an environment
//! variable or a file holding them, and they are read only when needed.

pub mod raw;

use std::path::{Path, PathBuf};

use toml_edit::Document;

use crate::correlate::CloudTrailSettings;
use crate::detect::activity::ActivitySettings;
use crate::detect::early_warning::CloudWatchSettings;
use crate::detect::DetectSettings;
use crate::report::sink::NotifySettings;
use crate::report::ReportSettings;
use crate::settings::locate::{display_path, span_of};
use crate::settings::{error_at, keys, Check, Seg};
use crate::sources::cost_explorer::SyncSettings;
use crate::sources::posture_settings::CoverageSettings;
use raw::{known_keys, RawConfig};

pub use crate::settings::ConfigError;

/// Where the config is looked for when neither `--config` nor `EGRESSWATCH_CONFIG` names one.
pub const DEFAULT_PATH: &str = "egresswatch.toml";

/// The validated configuration: each component's settings, as its own type.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (`None`: built-in defaults).
    pub source: Option<PathBuf>,
    /// `[aws]`: the profile every AWS client uses (`None`: the default chain).
    pub aws_profile: Option<String>,
    /// `[state]`: where the store lives.
    pub state_path: PathBuf,
    /// `[sync]`: how far back a cold store is filled, and what one run may spend.
    pub sync: SyncSettings,
    pub detect: DetectSettings,
    /// `[notify]`: the sinks and how deliveries are retried.
    pub notify: NotifySettings,
    pub report: ReportSettings,
    /// Where the trail is, and how to read it; `None`: incidents carry no caller analysis.
    pub cloudtrail: Option<CloudTrailSettings>,
    /// S3 request metrics in CloudWatch: early warnings and per-bucket attribution.
    pub cloudwatch: Option<CloudWatchSettings>,
    /// S3 activity trends from CloudTrail (needs `[cloudtrail]`).
    pub activity: Option<ActivitySettings>,
    /// Trail coverage, guard rails and GuardDuty, joined to incidents (`None`: not read).
    pub coverage: Option<CoverageSettings>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            aws_profile: None,
            state_path: PathBuf::from(crate::state::DEFAULT_STATE_PATH),
            sync: SyncSettings::default(),
            detect: DetectSettings::default(),
            notify: NotifySettings::default(),
            report: ReportSettings::default(),
            cloudtrail: None,
            cloudwatch: None,
            activity: None,
            coverage: None,
        }
    }
}

/// Read and validate the config at `path`. A missing file is an error when `explicit`; the
/// default path may be absent, and built-in defaults are used then.
pub fn load(path: Option<&Path>, explicit: bool) -> Result<Config, Vec<ConfigError>> {
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    let label = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Config::default())
        }
        Err(e) => {
            return Err(vec![ConfigError {
                file: label,
                line: None,
                column: None,
                key: String::new(),
                message: format!("cannot read the config file: {e}"),
            }])
        }
    };
    let mut cfg = parse(&text, &label)?;
    cfg.source = Some(path);
    Ok(cfg)
}

/// Validate config text. `label` names the file in errors.
pub fn parse(text: &str, label: &str) -> Result<Config, Vec<ConfigError>> {
    let err_at = |span: Option<std::ops::Range<usize>>, key: String, message: String| {
        error_at(text, label, span, key, message)
    };
    let doc = match Document::parse(text.to_string()) {
        Ok(d) => d,
        Err(e) => {
            let msg = e.message().trim().to_string();
            return Err(vec![err_at(
                e.span(),
                String::new(),
                format!("not valid TOML: {msg}"),
            )]);
        }
    };
    let mut table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            return Err(vec![err_at(
                e.span(),
                String::new(),
                e.message().to_string(),
            )])
        }
    };
    let mut check = Check::new(text, label, &doc);
    // Deserialize; on a value of the wrong type, note it where it is written, take the key out
    // and go on, so that one check-config names every type error at once.
    let mut unknown: Vec<Vec<Seg>> = Vec::new();
    let mut raw = None;
    for _ in 0..256 {
        unknown.clear();
        let attempt: Result<RawConfig, _> =
            serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
                toml::Value::Table(table.clone()),
                &mut |p: serde_ignored::Path| unknown.push(segs(&p)),
            ));
        match attempt {
            Ok(r) => {
                raw = Some(r);
                break;
            }
            Err(e) => {
                let path: Vec<Seg> = e
                    .path()
                    .iter()
                    .filter_map(|s| match s {
                        serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                        serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                        _ => None,
                    })
                    .collect();
                let inner = e.into_inner();
                check.push(err_at(
                    span_of(&doc, &path),
                    display_path(&path),
                    inner.to_string().trim().to_string(),
                ));
                if !remove(&mut table, &path) {
                    break;
                }
            }
        }
    }
    for path in &unknown {
        check.push(err_at(
            span_of(&doc, path),
            display_path(path),
            unknown_key_message(path),
        ));
    }
    let Some(raw) = raw else {
        return Err(check.into_errors());
    };
    let cfg = compose(raw, &mut check);
    let errors = check.into_errors();
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(errors)
    }
}

/// Each component validates its own table; what spans tables is checked here.
fn compose(raw: RawConfig, c: &mut Check<'_>) -> Config {
    // In the file's usual order, so that errors read top to bottom.
    let aws_profile = crate::sources::check_profile(raw.aws, c);
    let state_path = crate::state::check_path(raw.state, c);
    let sync = SyncSettings::check(raw.sync, c);
    let detect = DetectSettings::check(raw.detect, c);
    let notify = NotifySettings::check(raw.notify, c);
    let report = ReportSettings::check(raw.report, c);
    let cloudtrail = raw.cloudtrail.map(|t| CloudTrailSettings::check(t, c));
    let threshold_z = detect.gates.min_robust_z;
    let activity = raw
        .activity
        .map(|a| ActivitySettings::check(a, threshold_z, c));
    if activity.is_some() && cloudtrail.is_none() {
        c.fail(
            &keys(&["activity"]),
            "[activity] counts CloudTrail events: it needs a [cloudtrail] table",
        );
    }
    let cloudwatch = raw.cloudwatch.map(|w| CloudWatchSettings::check(w, c));
    let coverage = raw.coverage.map(|v| CoverageSettings::check(v, c));
    Config {
        source: None,
        aws_profile,
        state_path,
        sync,
        detect,
        notify,
        report,
        cloudtrail,
        cloudwatch,
        activity,
        coverage,
    }
}

/// Take the value at `path` out of `table` (an element of an inline array takes the whole
/// array, so that later paths keep their indices). False when there is nothing to take.
fn remove(table: &mut toml::Table, path: &[Seg]) -> bool {
    let cut = match path.iter().rposition(|s| matches!(s, Seg::Key(_))) {
        // `a.b[3]`: the array `a.b`; `a[2].k`: the key `k` of the table `a[2]`.
        Some(k)
            if k + 1 < path.len() && path[k + 1..].iter().all(|s| matches!(s, Seg::Index(_))) =>
        {
            &path[..=k]
        }
        Some(_) => path,
        None => return false,
    };
    let mut v = toml::Value::Table(std::mem::take(table));
    let removed = remove_in(&mut v, cut);
    if let toml::Value::Table(t) = v {
        *table = t;
    }
    removed
}

fn remove_in(v: &mut toml::Value, path: &[Seg]) -> bool {
    match path {
        [Seg::Key(k)] => v.as_table_mut().is_some_and(|t| t.remove(k).is_some()),
        [Seg::Key(k), rest @ ..] => v
            .as_table_mut()
            .and_then(|t| t.get_mut(k))
            .is_some_and(|n| remove_in(n, rest)),
        [Seg::Index(i), rest @ ..] if !rest.is_empty() => v
            .as_array_mut()
            .and_then(|a| a.get_mut(*i))
            .is_some_and(|n| remove_in(n, rest)),
        _ => false,
    }
}

fn segs(p: &serde_ignored::Path) -> Vec<Seg> {
    use serde_ignored::Path as P;
    match p {
        P::Root => vec![],
        P::Seq { parent, index } => {
            let mut v = segs(parent);
            v.push(Seg::Index(*index));
            v
        }
        P::Map { parent, key } => {
            let mut v = segs(parent);
            v.push(Seg::Key(key.clone()));
            v
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            segs(parent)
        }
    }
}

fn unknown_key_message(path: &[Seg]) -> String {
    let Some(Seg::Key(key)) = path.last() else {
        return "unknown key".into();
    };
    if key.contains("webhook_url") && !key.ends_with("_env") && !key.ends_with("_file") {
        return "unknown key; a webhook URL is a secret and never goes in the file: put it in an \
                environment variable named by `webhook_url_env`, or in a file named by `webhook_url_file`"
            .into();
    }
    // The table the key sits in, without array indices (`detect.override[2]` → `detect.override`).
    let table_keys: Vec<Seg> = path[..path.len() - 1]
        .iter()
        .filter(|s| matches!(s, Seg::Key(_)))
        .cloned()
        .collect();
    let table = display_path(&table_keys);
    let candidates: Vec<&str> = known_keys()
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, keys)| keys.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let best = candidates
        .iter()
        .map(|c| (strsim::levenshtein(c, key), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 3))
        .min();
    match best {
        Some((_, c)) => format!("unknown key; did you mean `{c}`?"),
        None if candidates.is_empty() => "unknown key".into(),
        None => format!("unknown key (known here: {})", candidates.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sink::DEFAULT_SLACK_ENV;
    use crate::settings::SecretSource;
    use crate::state::DEFAULT_STATE_PATH;
    use std::time::Duration;

    fn errs(text: &str) -> Vec<String> {
        parse(text, "t.toml")
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("", "t.toml").unwrap();
        assert_eq!(c.detect, DetectSettings::default());
        assert_eq!(c.state_path, PathBuf::from(DEFAULT_STATE_PATH));
        assert!(c.notify.slack.is_none());
    }

    #[test]
    fn misspelled_key_names_file_line_key_and_suggests() {
        let e = errs("[detect]\nhistory_days = 120\nmin_robust_zz = 3\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:3:1: detect.min_robust_zz: unknown key"),
            "{}",
            e[0]
        );
        assert!(e[0].contains("did you mean `min_robust_z`?"), "{}", e[0]);
    }

    #[test]
    fn every_unknown_key_is_reported() {
        let e =
            errs("colour = 1\n[detect]\nfoo = 1\n[notify.slack]\nwebhook_url = \"https://x\"\n");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("t.toml:1:1: colour:"), "{}", e[0]);
        assert!(e[1].starts_with("t.toml:3:1: detect.foo:"), "{}", e[1]);
        assert!(
            e[2].contains("notify.slack.webhook_url") && e[2].contains("secret"),
            "{}",
            e[2]
        );
        assert!(
            !e[2].contains("https://x"),
            "the secret must not be echoed: {}",
            e[2]
        );
    }

    #[test]
    fn wrong_types_and_ranges_point_at_the_key() {
        let e = errs("[detect]\n\nmin_robust_z = \"four\"\n");
        assert!(
            e[0].starts_with("t.toml:3:") && e[0].contains("detect.min_robust_z"),
            "{e:?}"
        );
        let e = errs("[detect]\nhistory_days = 1\nmin_excess_usd = -2\nfamilies = [\"internet-out\", \"bogus\"]\n");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:2:1: detect.history_days: 1 is out of range"),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with("t.toml:3:1: detect.min_excess_usd"),
            "{}",
            e[1]
        );
        assert!(
            e[2].starts_with("t.toml:4:")
                && e[2].contains("detect.families[1]")
                && e[2].contains("bogus"),
            "{}",
            e[2]
        );
    }

    #[test]
    fn coverage_settings_are_validated_where_written() {
        let e = errs("[coverage]\nregions = [\"eu-west-1\", \"mars-1\"]\nrole_name = \"read only\"\nguardduty = 3\n");
        assert!(
            e.iter().any(|x| x.starts_with("t.toml:2:")
                && x.contains("coverage.regions[1]")
                && x.contains("mars-1")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:3:") && x.contains("coverage.role_name")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:4:") && x.contains("coverage.guardduty")),
            "{e:?}"
        );
        let c = parse("[coverage]\nregions = [\"eu-west-1\", \"eu-west-1\"]\nrole_name = \"egresswatch-read\"\n", "t.toml").unwrap();
        let cov = c.coverage.unwrap();
        assert_eq!(cov.regions, ["eu-west-1"]);
        assert_eq!(cov.role_name.as_deref(), Some("egresswatch-read"));
        assert!(cov.guardduty && cov.service_control_policies);
        assert!(parse("", "t.toml").unwrap().coverage.is_none());
    }

    #[test]
    fn activity_settings_are_validated_where_written() {
        let e = errs("[activity]\nmin_count = 5\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("[activity] counts CloudTrail events"),
            "{e:?}"
        );
        let e = errs("[cloudtrail]\nsource = \"/t\"\n\n[activity]\nthreshold_z = 0\nthreshold_z_by_event = { ListBuckets = -1.0 }\nmin_count_by_event = { GetObject = -3 }\n");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:5:") && x.contains("activity.threshold_z")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|x| x.starts_with("t.toml:6:")
                && x.contains("activity.threshold_z_by_event.ListBuckets")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|x| x.starts_with("t.toml:7:")
                && x.contains("activity.min_count_by_event.GetObject")),
            "{e:?}"
        );
        let c = parse("[cloudtrail]\nsource = \"/t\"\n[activity]\nthreshold_z_by_event = { ListBuckets = 8.5 }\n", "t.toml").unwrap();
        let a = c.activity.unwrap();
        assert_eq!(a.threshold_z_by_event.get("ListBuckets"), Some(&8.5));
        assert_eq!(a.threshold_z, c.detect.gates.min_robust_z);
    }

    #[test]
    fn sql_sources_are_validated_where_written() {
        use crate::sources::cloudtrail::TrailSource;
        let e = errs("[cloudtrail]\nsource = \"athena\"\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:2:") && e[0].contains("needs a [cloudtrail.athena] table"),
            "{e:?}"
        );
        let e = errs("[cloudtrail]\nsource = \"cloudtrail-lake\"\n[cloudtrail.lake]\nevent_data_store = \"x; DROP\"\ntimeout_seconds = 0\n");
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:4:")
                    && x.contains("cloudtrail.lake.event_data_store")),
            "{e:?}"
        );
        assert!(
            e.iter().any(
                |x| x.starts_with("t.toml:5:") && x.contains("cloudtrail.lake.timeout_seconds")
            ),
            "{e:?}"
        );
        let e = errs("[cloudtrail]\nsource = \"athena\"\n[cloudtrail.athena]\ndatbase = \"x\"\ndate_partition_format = \"dd-MM\"\noutput_location = \"/tmp\"\n");
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:4:") && x.contains("database")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:5:") && x.contains("must name yyyy, MM and dd")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:6:") && x.contains("not an s3://")),
            "{e:?}"
        );
        let e = errs("[cloudtrail]\nsource = \"athena\"\n[cloudtrail.athena]\ndate_partitions = [\"y\", \"m\"]\n");
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:4:") && x.contains("three columns")),
            "{e:?}"
        );
        let e = errs("[cloudtrail]\nsource = \"athena\"\n[cloudtrail.athena]\ndate_partition = \"dt\"\ndate_partitions = [\"y\", \"m\", \"d\"]\n");
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:5:") && x.contains("not both")),
            "{e:?}"
        );
        let c = parse("[cloudtrail]\nsource = \"athena\"\n[cloudtrail.athena]\ndate_partitions = [\"year\", \"month\", \"day\"]\n", "t.toml").unwrap();
        let Some(TrailSource::Athena(a)) = c.cloudtrail.unwrap().source else {
            panic!("an athena source")
        };
        assert_eq!(
            (
                a.table.date_partition,
                a.table.ymd_partitions.map(|p| p[2].clone())
            ),
            (None, Some("day".to_string()))
        );
        let c = parse("[cloudtrail]\nsource = \"athena\"\n[cloudtrail.athena]\ndatabase = \"trails\"\ndate_partition = \"\"\ntimeout_seconds = 2\n", "t.toml").unwrap();
        let ct = c.cloudtrail.unwrap();
        let Some(TrailSource::Athena(a)) = &ct.source else {
            panic!("{:?}", ct.source)
        };
        assert_eq!(a.table.database, "trails");
        assert_eq!(a.table.date_partition, None, "\"\" turns the partition off");
        assert_eq!(a.table.region_partition.as_deref(), Some("region"));
        assert_eq!(a.poll.timeout, Duration::from_secs(2));
        assert!(ct.source_or(Some("cloudtrail-lake")).is_err());
        assert!(matches!(
            ct.source_or(Some("athena")),
            Ok(TrailSource::Athena(_))
        ));
        assert!(matches!(
            ct.source_or(Some("/x")),
            Ok(TrailSource::Local(_))
        ));
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = errs("[detect]\nmin_robust_z = = 4\n");
        assert!(e[0].starts_with("t.toml:2:"), "{}", e[0]);
    }

    #[test]
    fn slack_secret_sources() {
        let c = parse("[notify.slack]\nwebhook_url_env = \"MY_HOOK\"\n", "t").unwrap();
        assert_eq!(
            c.notify.slack.unwrap().webhook_url,
            SecretSource::Env("MY_HOOK".into())
        );
        let c = parse("[notify.slack]\n", "t").unwrap();
        assert_eq!(
            c.notify.slack.unwrap().webhook_url,
            SecretSource::Env(DEFAULT_SLACK_ENV.into())
        );
        let e = errs("[notify.slack]\nwebhook_url_env = \"https://hooks.slack.com/x\"\n");
        assert!(e[0].contains("not the URL itself"), "{}", e[0]);
        let e = errs("[notify.slack]\nwebhook_url_env = \"A\"\nwebhook_url_file = \"/x\"\n");
        assert!(e[0].contains("not both"), "{}", e[0]);
    }

    #[test]
    fn secret_from_file_is_trimmed_and_errors_do_not_leak() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hook");
        std::fs::write(&f, "https://hooks.example/abc\n").unwrap();
        let s = SecretSource::File(f).resolve().unwrap();
        assert_eq!(s.expose(), "https://hooks.example/abc");
        let e = SecretSource::Env("EGRESSWATCH_TEST_SURELY_UNSET".into())
            .resolve()
            .unwrap_err();
        assert!(format!("{e:#}").contains("EGRESSWATCH_TEST_SURELY_UNSET is not set"));
    }

    #[test]
    fn the_example_config_is_valid_and_documents_every_key() {
        let text = include_str!("../../config.toml.example");
        parse(text, "config.toml.example").unwrap();
        for (table, keys) in known_keys() {
            for key in keys {
                let as_key = format!("\n{key} =");
                let commented = format!("\n# {key} =");
                let as_table = format!(
                    "[{}",
                    if table.is_empty() {
                        key.to_string()
                    } else {
                        format!("{table}.{key}")
                    }
                );
                assert!(
                    text.contains(&as_key) || text.contains(&commented) || text.contains(&as_table),
                    "config.toml.example does not document {table}.{key}"
                );
            }
        }
    }
}

#[cfg(test)]
mod override_tests {
    use super::*;
    use crate::model::Family;

    #[test]
    fn overrides_are_validated_with_their_place() {
        let c = parse(
            "[[detect.override]]\naccount = \"1\"\nmin_excess_usd = 50\n\n[[detect.override]]\nfamily = \"get-requests\"\nmin_robust_z = 6\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.detect.overrides.len(), 2);
        assert_eq!(c.detect.overrides[1].family, Some(Family::GetRequests));
        let e: Vec<String> = parse(
            "[[detect.override]]\naccount = \"1\"\nmin_excess_usdd = 50\n\n[[detect.override]]\nmin_excess_usd = 5\n\n[[detect.override]]\nfamily = \"nope\"\nmin_excess_pct = -1\n",
            "t.toml",
        )
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
        assert!(e[0].starts_with("t.toml:3:1: detect.override[0].min_excess_usdd: unknown key; did you mean `min_excess_usd`?"), "{e:?}");
        assert!(
            e.iter()
                .any(|x| x.contains("detect.override[0]: an override needs at least one gate")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|x| x.starts_with("t.toml:5:")
                && x.contains("detect.override[1]: an override needs at least one of")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:9:") && x.contains("detect.override[2].family")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|x| x.starts_with("t.toml:10:")
                    && x.contains("detect.override[2].min_excess_pct")),
            "{e:?}"
        );
    }
}
