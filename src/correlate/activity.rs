//! S3 activity counting: the second consumer of a trail scan, beside the caller analysis.
//!
//! For the activity trends every S3 event in the window is counted per (UTC day, account,
//! region, event name, outcome), with the heaviest (principal, source IP, user agent) callers
//! behind each count. It reads the same records as [`super::Partial`] through the same scan, but
//! keeps nothing else, so counting a month of trail costs the counts, not an analysis.

use rustc_hash::FxHashMap;

use super::{utc_day, AnalysisSpec, DataQuality, SEP};
use crate::model::ActivityCount;
use crate::sources::cloudtrail::record::{Record, AWS_SERVICE_PREFIX};
use crate::sources::cloudtrail::Consumer;

/// Distinct (principal, IP, agent) kept per activity series and day.
const MAX_DRIVERS: usize = 200;

/// What an AWS service's calls add to their outcome, so that they form series of their own.
pub const AWS_SERVICE_OUTCOME: &str = " (AWS service)";

#[derive(Debug, Clone, Default)]
struct ActivityAcc {
    count: u64,
    drivers: FxHashMap<String, u64>,
}

/// One worker's counts; merged with [`Consumer::merge`].
#[derive(Debug, Default)]
pub struct ActivityCounter {
    counts: FxHashMap<(i64, String, String, String, String), ActivityAcc>,
    pub quality: DataQuality,
}

impl ActivityCounter {
    fn count(&mut self, r: &Record<'_>, t: i64, name: &str, spec: &AnalysisSpec) {
        let principal = r.principal();
        if spec
            .allow_principals
            .iter()
            .any(|a| *a == principal || Some(a.as_str()) == r.role())
        {
            return;
        }
        let outcome = r
            .error_code
            .as_deref()
            .filter(|c| !c.is_empty())
            .unwrap_or("success");
        // AWS services' own calls (CloudTrail checking its bucket's ACL) are a series of their
        // own, apart from people's: `success (AWS service)`.
        let outcome = if principal.starts_with(AWS_SERVICE_PREFIX) {
            format!("{outcome}{AWS_SERVICE_OUTCOME}")
        } else {
            outcome.to_string()
        };
        let key = (
            t.div_euclid(86_400),
            r.recipient_account_id.as_deref().unwrap_or("").to_string(),
            r.aws_region.as_deref().unwrap_or("").to_string(),
            name.to_string(),
            outcome.to_string(),
        );
        let acc = self.counts.entry(key).or_default();
        acc.count += 1;
        let driver = format!(
            "{principal}{SEP}{}{SEP}{}",
            r.source_ip.as_deref().unwrap_or(""),
            r.user_agent.as_deref().unwrap_or("")
        );
        if let Some(n) = acc.drivers.get_mut(&driver) {
            *n += 1;
        } else if acc.drivers.len() < MAX_DRIVERS {
            acc.drivers.insert(driver, 1);
        }
    }

    /// The counts gathered, one per (day, account, region, event, outcome), and what was read.
    pub fn finish(self) -> (Vec<ActivityCount>, DataQuality) {
        let quality = self.quality;
        let mut out: Vec<ActivityCount> = self
            .counts
            .into_iter()
            .filter_map(|((day, account, region, event, outcome), acc)| {
                // `day` came from a valid record time (days since the epoch): always in range.
                let day = utc_day(day.checked_mul(86_400)?)?;
                let mut drivers: Vec<(String, u64)> = acc.drivers.into_iter().collect();
                drivers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                drivers.truncate(20);
                Some(ActivityCount {
                    day,
                    account,
                    region,
                    event,
                    outcome,
                    count: acc.count,
                    drivers,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (a.day, &a.account, &a.region, &a.event, &a.outcome)
                .cmp(&(b.day, &b.account, &b.region, &b.event, &b.outcome))
        });
        (out, quality)
    }
}

impl Consumer for ActivityCounter {
    type Spec = AnalysisSpec;

    /// Count one record if it is an S3 event of the window, not ignored, not an allowed caller.
    fn add(&mut self, r: &Record<'_>, spec: &AnalysisSpec) {
        let Some(t) = spec.admits(r) else { return };
        let (from, to) = spec.window;
        if t < from || t >= to {
            return;
        }
        let name = r.name();
        if let Some(ignored) = &spec.activity {
            if !ignored.iter().any(|e| e == name) {
                self.count(r, t, name, spec);
            }
        }
    }

    fn file_done(&mut self, name: &str, records: u64, bad_records: u64, error: Option<String>) {
        self.quality.file_done(name, records, bad_records, error);
    }

    fn bad_record_reasons(&mut self, reasons: &crate::sources::cloudtrail::reader::Reasons) {
        for (reason, n) in reasons {
            self.quality.add_reason(reason, *n);
        }
    }

    fn merge(mut self, other: Self) -> Self {
        for (k, o) in other.counts {
            let a = self.counts.entry(k).or_default();
            a.count += o.count;
            for (d, n) in o.drivers {
                if let Some(m) = a.drivers.get_mut(&d) {
                    *m += n;
                } else if a.drivers.len() < MAX_DRIVERS {
                    a.drivers.insert(d, n);
                }
            }
        }
        self.quality.merge(other.quality);
        self
    }
}
