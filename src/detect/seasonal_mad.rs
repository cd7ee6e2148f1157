//! The first detector: same weekday, median and MAD. Replaced in the daily job by
//! [`super::online`]; kept as a baseline in the detection benchmark.
//!
//! S3 egress follows the working week, so a Monday is compared with the Mondays before it: the
//! median of the same weekday over the last N weeks is the expected value, and the median
//! absolute deviation (MAD, scaled by 1.4826 to estimate σ) is the spread. Both are robust: one
//! past incident among eight weeks moves neither, so last week's exfiltration cannot hide this
//! week's. A perfectly flat history has a MAD of zero; the spread is then floored at a small
//! share of the median so that tiny wobbles are not infinitely significant (materiality
//! thresholds make the final call anyway).

use chrono::{Days, NaiveDate};

use super::{Assessment, Detector};

/// σ ≈ 1.4826 × MAD for normally distributed data.
const MAD_TO_SIGMA: f64 = 1.4826;
/// The spread is at least this share of the expected value.
const RELATIVE_FLOOR: f64 = 0.05;
/// And never below this, so that an all-zero history still gives a finite score.
const ABSOLUTE_FLOOR: f64 = 1e-6;

#[derive(Debug, Clone)]
pub struct SeasonalMad {
    pub weeks: u32,
    pub min_points: u32,
    pub threshold: f64,
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

impl Detector for SeasonalMad {
    fn assess(
        &self,
        history: &[(NaiveDate, f64)],
        day: NaiveDate,
        observed: f64,
    ) -> Option<Assessment> {
        let same_weekday: Vec<NaiveDate> = (1..=u64::from(self.weeks))
            .map(|w| day - Days::new(7 * w))
            .collect();
        let mut points: Vec<f64> = history
            .iter()
            .filter(|(d, _)| same_weekday.contains(d))
            .map(|(_, v)| *v)
            .collect();
        if points.len() < self.min_points as usize {
            return None;
        }
        let n = points.len();
        let med = median(&mut points);
        let mut dev: Vec<f64> = points.iter().map(|v| (v - med).abs()).collect();
        let mad = median(&mut dev);
        let sigma = (MAD_TO_SIGMA * mad)
            .max(RELATIVE_FLOOR * med.abs())
            .max(ABSOLUTE_FLOOR);
        let z = (observed - med) / sigma;
        let pos = z.max(0.0);
        Some(Assessment {
            expected: med,
            lower: (med - self.threshold * sigma).max(0.0),
            upper: med + self.threshold * sigma,
            score: pos / (pos + self.threshold),
            statistic: z,
            significant: z >= self.threshold,
            basis: format!("the median of {n} same weekdays ({med:.2}, MAD {mad:.2})"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn det() -> SeasonalMad {
        SeasonalMad {
            weeks: 8,
            min_points: 4,
            threshold: 4.0,
        }
    }

    fn history(day: NaiveDate, same_weekday: &[f64], other: f64) -> Vec<(NaiveDate, f64)> {
        let mut h = vec![];
        for back in (1..=56u64).rev() {
            let dd = day - Days::new(back);
            let v = if back % 7 == 0 {
                same_weekday[(back / 7 - 1) as usize]
            } else {
                other
            };
            h.push((dd, v));
        }
        h
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn one_past_incident_does_not_inflate_the_baseline() {
        let day = d("2026-06-10");
        // Last week had a 1000 GB incident; the other weeks are ~100.
        let h = history(
            day,
            &[1000.0, 98.0, 101.0, 99.0, 103.0, 100.0, 97.0, 102.0],
            10.0,
        );
        let a = det().assess(&h, day, 600.0).unwrap();
        assert!((a.expected - 100.5).abs() < 1e-9, "{}", a.expected);
        assert!(a.significant, "z = {}", a.statistic);
        // Other weekdays (10 GB) are not part of a Wednesday's baseline.
        assert!(a.lower > 10.0);
    }

    #[test]
    fn score_is_monotonic_and_bounded() {
        let day = d("2026-06-10");
        let h = history(
            day,
            &[98.0, 101.0, 99.0, 103.0, 100.0, 97.0, 102.0, 100.0],
            10.0,
        );
        let mut last = -1.0;
        for obs in [50.0, 100.0, 105.0, 110.0, 150.0, 1000.0, 1e9] {
            let a = det().assess(&h, day, obs).unwrap();
            assert!(a.score >= last && a.score < 1.0, "{obs}: {}", a.score);
            last = a.score;
        }
        let at = det().assess(&h, day, 100.0).unwrap();
        assert!(!at.significant);
    }

    #[test]
    fn flat_and_zero_histories_give_finite_scores() {
        let day = d("2026-06-10");
        let flat = history(day, &[100.0; 8], 100.0);
        let a = det().assess(&flat, day, 103.0).unwrap();
        assert!(
            !a.significant,
            "3% over a flat line is noise: z = {}",
            a.statistic
        );
        let zero = history(day, &[0.0; 8], 0.0);
        let a = det().assess(&zero, day, 5.0).unwrap();
        assert!(a.significant && a.statistic.is_finite());
    }

    #[test]
    fn needs_enough_points() {
        let day = d("2026-06-10");
        let h: Vec<_> = history(day, &[100.0; 8], 10.0)
            .into_iter()
            .filter(|(dd, _)| *dd > day - Days::new(22))
            .collect();
        assert!(det().assess(&h, day, 500.0).is_none());
    }
}
