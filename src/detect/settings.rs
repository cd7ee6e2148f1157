//! `[detect]` and `[[detect.override]]`: the detector's history and the gates, as written and as
//! validated.

use serde::Deserialize;

use super::online::OnlineParams;
use super::thresholds::{Gates, Materiality, Override};
use crate::model::Family;
use crate::settings::{at_index, keys, with, Check, Seg};

/// Settings of detection, validated by `config`.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectSettings {
    /// Days of Cost Explorer history a run makes sure the store holds before the evaluated day
    /// (what a cold run, `sync` and a backfill fetch). Not a window: the detector reads every
    /// stored day from each series' account's first, so what it says of a day never depends
    /// on which day is judged (see `detect::evaluate_range`).
    pub history_days: u32,
    /// The global gates.
    pub gates: Gates,
    /// Per account / region / family gates, applied in order.
    pub overrides: Vec<Override>,
    /// Benjamini–Hochberg false discovery rate across the series of a day (1: off).
    pub false_discovery_rate: f64,
    /// The drift (CUSUM) limit, in σ.
    pub drift_limit: f64,
    /// Consecutive out-of-band days after which a new level is accepted as normal.
    pub adapt_after_days: u32,
    /// Families that are evaluated.
    pub families: Vec<Family>,
}

impl Default for DetectSettings {
    fn default() -> Self {
        let p = OnlineParams::daily();
        DetectSettings {
            history_days: 120,
            gates: Gates::default(),
            overrides: Vec::new(),
            false_discovery_rate: 0.01,
            drift_limit: p.cusum_h,
            adapt_after_days: p.adapt_after as u32,
            families: vec![
                Family::InternetOut,
                Family::InterRegionOut,
                Family::CloudfrontOut,
                Family::Regional,
                Family::GetRequests,
            ],
        }
    }
}

impl DetectSettings {
    /// How many days before the evaluated day the store is filled with.
    pub fn history_days(&self) -> u64 {
        u64::from(self.history_days)
    }

    /// The detector's parameters for a series with these gates.
    pub fn params(&self, gates: &Gates) -> OnlineParams {
        OnlineParams {
            threshold_z: gates.min_robust_z,
            cusum_h: self.drift_limit,
            adapt_after: self.adapt_after_days as usize,
            ..OnlineParams::daily()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RawDetect {
    pub history_days: Option<i64>,
    pub min_robust_z: Option<f64>,
    pub min_excess_gb: Option<f64>,
    pub min_excess_requests: Option<f64>,
    pub min_excess_usd: Option<f64>,
    pub min_excess_pct: Option<f64>,
    pub false_discovery_rate: Option<f64>,
    pub drift_limit: Option<f64>,
    pub adapt_after_days: Option<i64>,
    pub families: Option<Vec<String>>,
    #[serde(rename = "override")]
    pub overrides: Option<Vec<RawOverride>>,
}

/// The gates, globally under `[detect]` and per series in `[[detect.override]]`. (Not a
/// `#[serde(flatten)]` field: flattening would hide unknown keys and their lines.)
#[derive(Debug, Default, Clone)]
pub struct RawGates {
    pub min_robust_z: Option<f64>,
    pub min_excess_gb: Option<f64>,
    pub min_excess_requests: Option<f64>,
    pub min_excess_usd: Option<f64>,
    pub min_excess_pct: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawOverride {
    pub account: Option<String>,
    pub region: Option<String>,
    pub family: Option<String>,
    pub min_robust_z: Option<f64>,
    pub min_excess_gb: Option<f64>,
    pub min_excess_requests: Option<f64>,
    pub min_excess_usd: Option<f64>,
    pub min_excess_pct: Option<f64>,
}

/// `[detect]` and `[[detect.override]]` carry the same gate keys; both hand them over as one
/// [`RawGates`].
macro_rules! gates_of {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn gates(&self) -> RawGates {
                RawGates {
                    min_robust_z: self.min_robust_z,
                    min_excess_gb: self.min_excess_gb,
                    min_excess_requests: self.min_excess_requests,
                    min_excess_usd: self.min_excess_usd,
                    min_excess_pct: self.min_excess_pct,
                }
            }
        }
    )*};
}

gates_of!(RawDetect, RawOverride);

/// The gates under `base`, each defaulting to `global`'s.
fn gates(c: &mut Check<'_>, base: &[Seg], d: &RawGates, global: &Gates) -> Gates {
    let m = &global.materiality;
    let inf = (0.0, f64::INFINITY);
    Gates {
        min_robust_z: c.num(
            &with(base, "min_robust_z"),
            d.min_robust_z,
            global.min_robust_z,
            (0.0, 100.0),
            true,
        ),
        materiality: Materiality {
            min_excess_gb: c.num(
                &with(base, "min_excess_gb"),
                d.min_excess_gb,
                m.min_excess_gb,
                inf,
                false,
            ),
            min_excess_requests: c.num(
                &with(base, "min_excess_requests"),
                d.min_excess_requests,
                m.min_excess_requests,
                inf,
                false,
            ),
            min_excess_usd: c.num(
                &with(base, "min_excess_usd"),
                d.min_excess_usd,
                m.min_excess_usd,
                inf,
                false,
            ),
            min_excess_pct: c.num(
                &with(base, "min_excess_pct"),
                d.min_excess_pct,
                m.min_excess_pct,
                inf,
                false,
            ),
        },
    }
}

impl DetectSettings {
    /// Validate `[detect]`.
    pub fn check(d: RawDetect, c: &mut Check<'_>) -> DetectSettings {
        let mut s = DetectSettings::default();
        let base = keys(&["detect"]);
        s.history_days = c.int(
            &with(&base, "history_days"),
            d.history_days,
            s.history_days,
            28,
            400,
        );
        s.gates = gates(c, &base, &d.gates(), &Gates::default());
        s.false_discovery_rate = c.num(
            &with(&base, "false_discovery_rate"),
            d.false_discovery_rate,
            s.false_discovery_rate,
            (0.0, 1.0),
            true,
        );
        s.drift_limit = c.num(
            &with(&base, "drift_limit"),
            d.drift_limit,
            s.drift_limit,
            (0.0, 1000.0),
            true,
        );
        s.adapt_after_days = c.int(
            &with(&base, "adapt_after_days"),
            d.adapt_after_days,
            s.adapt_after_days,
            2,
            60,
        );
        if let Some(names) = d.families {
            let path = with(&base, "families");
            let mut fams = Vec::new();
            for (i, n) in names.iter().enumerate() {
                let at = at_index(&path, i);
                match c.family(&at, n) {
                    Some(f) if fams.contains(&f) => c.fail(&at, format!("`{n}` is listed twice")),
                    Some(f) => fams.push(f),
                    None => {}
                }
            }
            if names.is_empty() {
                c.fail(&path, "must name at least one family");
            }
            s.families = fams;
        }
        for (i, o) in d.overrides.unwrap_or_default().into_iter().enumerate() {
            let at = at_index(&with(&base, "override"), i);
            let family = o
                .family
                .as_deref()
                .and_then(|f| c.family(&with(&at, "family"), f));
            if o.account.is_none() && o.region.is_none() && o.family.is_none() {
                c.fail(
                    &at,
                    "an override needs at least one of account, region, family",
                );
            }
            let g = &o.gates();
            if [
                g.min_robust_z,
                g.min_excess_gb,
                g.min_excess_requests,
                g.min_excess_usd,
                g.min_excess_pct,
            ]
            .iter()
            .all(Option::is_none)
            {
                c.fail(
                    &at,
                    "an override needs at least one gate (min_robust_z, min_excess_gb, ...)",
                );
            }
            // Validate the gates' values with the same rules as the global ones.
            let _ = gates(c, &at, g, &s.gates);
            s.overrides.push(Override {
                account: o.account,
                region: o.region,
                family,
                min_robust_z: g.min_robust_z,
                min_excess_gb: g.min_excess_gb,
                min_excess_requests: g.min_excess_requests,
                min_excess_usd: g.min_excess_usd,
                min_excess_pct: g.min_excess_pct,
            });
        }
        s
    }
}
