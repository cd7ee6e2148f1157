//! Materiality: is an anomaly big enough to be worth a human's attention?
//!
//! Finance and security share the channel; both stop reading it if it cries wolf over cents.
//! An incident must clear every threshold at once: usage (GB for byte families, requests for
//! request counts), dollars, and percent over expected.

use crate::model::Family;

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
            min_excess_pct: 50.0,
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
}
