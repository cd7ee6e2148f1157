//! Gates: is an anomaly significant enough, and big enough, to be worth a human's attention?
//!
//! Finance and security share the channel; both stop reading it if it cries wolf over cents.
//! An incident must clear every gate at once: significance (robust z), usage (GB for byte
//! families, requests for request counts), dollars, and percent over expected. Gates are set
//! globally and can be overridden per account, region and family (`[[detect.override]]`).

use crate::model::{Family, SeriesKey};

#[derive(Debug, Clone, PartialEq)]
pub struct Materiality {
    /// Minimum excess in GB, for families measured in bytes.
    pub min_excess_gb: f64,
    /// Minimum excess in requests, for the GET request count.
    pub min_excess_requests: f64,
    /// Minimum excess cost in USD.
    pub min_excess_usd: f64,
    /// Minimum excess in percent of the expected value (a series that expected zero passes).
    pub min_excess_pct: f64,
}

impl Default for Materiality {
    fn default() -> Self {
        Materiality {
            min_excess_gb: 10.0,
            min_excess_requests: 1_000_000.0,
            min_excess_usd: 1.0,
            min_excess_pct: 25.0,
        }
    }
}

impl Materiality {
    /// `Ok` when every threshold is met, otherwise the first one that was not, in words.
    pub fn check(
        &self,
        family: Family,
        excess: f64,
        excess_usd: f64,
        excess_pct: Option<f64>,
    ) -> Result<(), String> {
        let (min, unit) = if family.is_bytes() {
            (self.min_excess_gb, "GB")
        } else {
            (self.min_excess_requests, "requests")
        };
        if excess < min {
            return Err(format!("excess {excess:.2} {unit} < {min} {unit}"));
        }
        if excess_usd < self.min_excess_usd {
            return Err(format!(
                "excess ${excess_usd:.2} < ${}",
                self.min_excess_usd
            ));
        }
        if let Some(p) = excess_pct {
            if p < self.min_excess_pct {
                return Err(format!("excess {p:.1}% < {}%", self.min_excess_pct));
            }
        }
        Ok(())
    }
}

impl Materiality {
    /// `Ok` when a sustained excess's total (usage and dollars since it began) meets the usage
    /// and dollar thresholds. No percentage: a drip is judged by what it added up to.
    pub fn check_total(&self, family: Family, total: f64, total_usd: f64) -> Result<(), String> {
        self.check(family, total, total_usd, None)
    }
}

/// Every gate of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Gates {
    /// Statistical significance, as a one-sided robust z.
    pub min_robust_z: f64,
    pub materiality: Materiality,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            min_robust_z: 4.0,
            materiality: Materiality::default(),
        }
    }
}

/// Gates for the series an override selects. Unset selectors match everything; unset gates keep
/// the value they had.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Override {
    pub account: Option<String>,
    pub region: Option<String>,
    pub family: Option<Family>,
    pub min_robust_z: Option<f64>,
    pub min_excess_gb: Option<f64>,
    pub min_excess_requests: Option<f64>,
    pub min_excess_usd: Option<f64>,
    pub min_excess_pct: Option<f64>,
}

impl Override {
    pub fn matches(&self, key: &SeriesKey) -> bool {
        self.account.as_ref().is_none_or(|a| *a == key.account)
            && self.region.as_ref().is_none_or(|r| *r == key.region)
            && self.family.is_none_or(|f| f == key.family)
    }
}

/// The gates of `key`: the global ones, then every matching override in order (later wins).
pub fn gates_for(global: &Gates, overrides: &[Override], key: &SeriesKey) -> Gates {
    let mut g = global.clone();
    for o in overrides.iter().filter(|o| o.matches(key)) {
        let m = &mut g.materiality;
        g.min_robust_z = o.min_robust_z.unwrap_or(g.min_robust_z);
        m.min_excess_gb = o.min_excess_gb.unwrap_or(m.min_excess_gb);
        m.min_excess_requests = o.min_excess_requests.unwrap_or(m.min_excess_requests);
        m.min_excess_usd = o.min_excess_usd.unwrap_or(m.min_excess_usd);
        m.min_excess_pct = o.min_excess_pct.unwrap_or(m.min_excess_pct);
    }
    g
}

/// Benjamini–Hochberg: which of `p_values` are discoveries at false discovery rate `q`.
/// With thousands of series checked a day, a per-series threshold alone would let chance
/// findings through; BH keeps the expected share of false ones among the flagged at `q`.
pub fn benjamini_hochberg(p_values: &[f64], q: f64) -> Vec<bool> {
    let m = p_values.len();
    if q >= 1.0 {
        return vec![true; m];
    }
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|a, b| p_values[*a].total_cmp(&p_values[*b]));
    let mut cutoff = None;
    for (rank, idx) in order.iter().enumerate() {
        if p_values[*idx] <= (rank + 1) as f64 / m as f64 * q {
            cutoff = Some(rank);
        }
    }
    let mut out = vec![false; m];
    if let Some(c) = cutoff {
        for idx in &order[..=c] {
            out[*idx] = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_threshold_must_pass() {
        let m = Materiality::default();
        assert!(m.check(Family::InternetOut, 50.0, 4.5, Some(200.0)).is_ok());
        assert!(m
            .check(Family::InternetOut, 5.0, 4.5, Some(200.0))
            .unwrap_err()
            .contains("GB"));
        assert!(m
            .check(Family::InternetOut, 50.0, 0.5, Some(200.0))
            .unwrap_err()
            .contains('$'));
        assert!(m
            .check(Family::InternetOut, 50.0, 4.5, Some(20.0))
            .unwrap_err()
            .contains('%'));
        assert!(m.check(Family::InternetOut, 50.0, 4.5, None).is_ok());
        // Requests are judged in requests, not GB.
        assert!(m
            .check(Family::GetRequests, 50.0, 4.5, None)
            .unwrap_err()
            .contains("requests"));
        assert!(m.check(Family::GetRequests, 2e6, 4.5, None).is_ok());
    }

    #[test]
    fn overrides_apply_in_order_to_matching_series() {
        let key = |a: &str, r: &str, f| SeriesKey {
            account: a.into(),
            region: r.into(),
            family: f,
        };
        let overrides = vec![
            Override {
                family: Some(Family::GetRequests),
                min_excess_usd: Some(20.0),
                ..Default::default()
            },
            Override {
                account: Some("1".into()),
                min_excess_usd: Some(100.0),
                min_robust_z: Some(6.0),
                ..Default::default()
            },
            Override {
                account: Some("1".into()),
                region: Some("eu-west-1".into()),
                min_excess_pct: Some(10.0),
                ..Default::default()
            },
        ];
        let g = gates_for(
            &Gates::default(),
            &overrides,
            &key("1", "eu-west-1", Family::GetRequests),
        );
        assert_eq!(
            g.materiality.min_excess_usd, 100.0,
            "the later override wins"
        );
        assert_eq!(g.min_robust_z, 6.0);
        assert_eq!(g.materiality.min_excess_pct, 10.0);
        assert_eq!(
            g.materiality.min_excess_gb, 10.0,
            "unset gates keep their value"
        );
        let g = gates_for(
            &Gates::default(),
            &overrides,
            &key("2", "eu-west-1", Family::GetRequests),
        );
        assert_eq!(g.materiality.min_excess_usd, 20.0);
        assert_eq!(g.min_robust_z, 4.0);
        let g = gates_for(
            &Gates::default(),
            &overrides,
            &key("2", "us-east-1", Family::InternetOut),
        );
        assert_eq!(g, Gates::default());
    }

    #[test]
    fn benjamini_hochberg_controls_the_many() {
        // 1000 series: 990 ordinary p-values, 10 real findings.
        let mut p: Vec<f64> = (0..990).map(|i| (i as f64 + 0.5) / 990.0).collect();
        p.extend([1e-9, 2e-9, 1e-8, 5e-8, 1e-7, 1e-6, 2e-6, 3e-6, 5e-6, 8e-6]);
        let d = benjamini_hochberg(&p, 0.01);
        assert_eq!(d.iter().filter(|x| **x).count(), 10);
        assert!(d[990..].iter().all(|x| *x));
        // A p-value that passes a lone 1e-4 threshold is not a discovery among a thousand.
        let mut p2 = vec![0.5; 999];
        p2.push(5e-5);
        assert!(!benjamini_hochberg(&p2, 0.01)[999]);
        // With one series, BH is the plain threshold.
        assert!(benjamini_hochberg(&[0.005], 0.01)[0]);
        assert!(benjamini_hochberg(&[0.5], 1.0)[0], "q = 1 turns it off");
    }
}
