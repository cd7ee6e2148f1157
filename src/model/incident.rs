//! An incident: consecutive flagged days of one series, what gets announced once; the other
//! usage families of the same account and region that rose with it travel inside it.
//!
//! Why one incident per place and not per series: bytes out and GET requests (and replication)
//! of one account and region rise together when anything downloads, a theft or a legitimate
//! step. Announced apart, one event is two alerts with the same callers; announced together,
//! it is one alert whose GET figures corroborate its bytes.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Family, SeriesKey};

/// Consecutive flagged days of one series: what gets announced, once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub account: String,
    #[serde(default)]
    pub account_name: Option<String>,
    pub region: String,
    pub family: Family,
    /// The newest flagged day (the day evaluated).
    pub day: NaiveDate,
    /// The first flagged day of the run.
    pub start: NaiveDate,
    /// The day with the largest excess.
    pub peak_day: NaiveDate,
    /// Flagged days so far.
    pub days: u32,
    /// Observed and expected on `day`.
    pub observed: f64,
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
    pub unit: String,
    /// Excess on `day`.
    pub excess_usage: f64,
    /// Excess in percent of expected on `day`; absent when nothing was expected.
    pub excess_pct: Option<f64>,
    pub excess_cost_usd: f64,
    pub observed_cost_usd: f64,
    /// Over every flagged day from `start` to `day`.
    pub total_excess_usage: f64,
    pub total_excess_cost_usd: f64,
    pub score: f64,
    pub robust_z: f64,
    pub p_value: f64,
    /// `spike` (the day itself) or `drift` (a sustained rise).
    pub evidence: String,
    /// The baseline had little history: thresholds were raised.
    pub young: bool,
    /// Cost Explorer still calls the day estimated: the figures may move a little.
    pub estimated: bool,
    pub reason: String,
    /// Other families of the same account and region flagged in the same event (overlapping
    /// or touching days), each with its own figures and reason; never nested further.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Incident>,
}

impl Incident {
    pub fn key(&self) -> SeriesKey {
        SeriesKey {
            account: self.account.clone(),
            region: self.region.clone(),
            family: self.family,
        }
    }

    /// Name the account (its name from the organisation), on the related families too.
    pub fn name_account(&mut self, name: Option<String>) {
        for r in &mut self.related {
            r.account_name = name.clone();
        }
        self.account_name = name;
    }

    /// This incident's series, then every related family's.
    pub fn families(&self) -> impl Iterator<Item = &Incident> {
        std::iter::once(self).chain(self.related.iter())
    }

    /// The newest flagged day of any of the event's families.
    pub fn last_day(&self) -> NaiveDate {
        self.families().map(|f| f.day).max().unwrap_or(self.day)
    }

    /// Whether `next` (a later day's incident) continues this event: the same account and
    /// region, starting at most one quiet day after this event's last flagged day (the rule
    /// the store and backfill share).
    pub fn continued_by(&self, next: &Incident) -> bool {
        self.account == next.account
            && self.region == next.region
            && self.last_day() + chrono::Days::new(2) >= next.start
            && self.start <= next.day
    }

    /// Dollars over baseline over the whole event: every family's total.
    pub fn event_cost_usd(&self) -> f64 {
        self.families().map(|f| f.total_excess_cost_usd).sum()
    }

    /// The reason a person reads: this series' own, then one clause per related family.
    pub fn why(&self) -> String {
        let mut why = self.reason.clone();
        for r in &self.related {
            why.push_str(&format!(
                "; with it, {} {} vs {} expected ({}), {} over baseline since {}",
                r.family,
                crate::model::units::usage(r.observed, &r.unit),
                crate::model::units::usage(r.expected, &r.unit),
                r.excess_pct
                    .map_or("new".to_string(), |p| format!("{p:+.0}%")),
                crate::model::units::usd(r.total_excess_cost_usd),
                r.start
            ));
        }
        why
    }

    /// Take `other` (same account and region) into this event: its family's figures replace
    /// those held for that family (a later day of the same series), or join as a related
    /// family. The event starts at the earliest start of any family.
    pub fn absorb(&mut self, mut other: Incident) {
        debug_assert!(self.account == other.account && self.region == other.region);
        let nested = std::mem::take(&mut other.related);
        for o in std::iter::once(other).chain(nested) {
            let start = o.start;
            if o.family == self.family {
                let related = std::mem::take(&mut self.related);
                let first = self.start.min(start);
                *self = Incident { related, ..o };
                self.start = first;
            } else if let Some(r) = self.related.iter_mut().find(|r| r.family == o.family) {
                let first = r.start.min(start);
                *r = o;
                r.start = first;
            } else {
                self.related.push(o);
                self.related.sort_by(reading_order);
            }
            self.start = self.start.min(start);
        }
    }
}

/// One incident per account and region: the day's incidents of one place become one event,
/// led by the first in [`reading_order`] (the family with the most dollars over baseline).
pub fn by_place(mut incidents: Vec<Incident>) -> Vec<Incident> {
    incidents.sort_by(reading_order);
    let mut out: Vec<Incident> = Vec::with_capacity(incidents.len());
    for i in incidents {
        match out
            .iter_mut()
            .find(|e| e.account == i.account && e.region == i.region)
        {
            Some(e) => e.absorb(i),
            None => out.push(i),
        }
    }
    out.sort_by(reading_order);
    out
}

/// The one order incidents are read in, in every sink: egress incidents by dollars over
/// baseline (the whole event's), most first; then request incidents (a GET flood costs
/// little) by excess requests.
pub fn reading_order(a: &Incident, b: &Incident) -> std::cmp::Ordering {
    let requests = |i: &Incident| !i.family.is_bytes();
    requests(a)
        .cmp(&requests(b))
        .then_with(|| {
            if requests(a) {
                b.total_excess_usage.total_cmp(&a.total_excess_usage)
            } else {
                b.event_cost_usd().total_cmp(&a.event_cost_usd())
            }
        })
        .then_with(|| a.key().cmp(&b.key()))
}

#[cfg(test)]
pub(crate) mod fixture {
    //! Incidents for tests: one account, March 2026.
    use super::*;

    pub fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    /// An incident of `family` in `region` flagged from `start` to `last`, worth `usd` in all.
    pub fn inc(region: &str, family: Family, start: u32, last: u32, usd: f64) -> Incident {
        let unit = if family.is_bytes() { "GB" } else { "Requests" };
        Incident {
            account: "111111111111".into(),
            account_name: None,
            region: region.into(),
            family,
            day: day(last),
            start: day(start),
            peak_day: day(last),
            days: last - start + 1,
            observed: 200.0,
            expected: 100.0,
            lower: 80.0,
            upper: 120.0,
            unit: unit.into(),
            excess_usage: 100.0,
            excess_pct: Some(100.0),
            excess_cost_usd: usd / f64::from(last - start + 1),
            observed_cost_usd: usd,
            total_excess_usage: 100.0 * f64::from(last - start + 1),
            total_excess_cost_usd: usd,
            score: 0.9,
            robust_z: 9.0,
            p_value: 1e-9,
            evidence: "spike".into(),
            young: false,
            estimated: false,
            reason: format!("{family} rose"),
            related: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::fixture::{day, inc};

    #[test]
    fn one_place_one_event_led_by_its_dollars_and_every_dollar_kept() {
        let events = by_place(vec![
            inc("eu-west-1", Family::GetRequests, 3, 4, 5.0),
            inc("us-east-1", Family::InternetOut, 4, 4, 40.0),
            inc("eu-west-1", Family::InternetOut, 2, 4, 90.0),
            inc("eu-west-1", Family::InterRegionOut, 4, 4, 20.0),
        ]);
        assert_eq!(events.len(), 2, "{events:#?}");
        let eu = &events[0];
        assert_eq!(
            (eu.region.as_str(), eu.family),
            ("eu-west-1", Family::InternetOut)
        );
        let related: Vec<Family> = eu.related.iter().map(|r| r.family).collect();
        assert_eq!(related, [Family::InterRegionOut, Family::GetRequests]);
        assert_eq!(eu.event_cost_usd(), 115.0);
        assert_eq!(eu.start, day(2));
        assert!(eu.related.iter().all(|r| r.related.is_empty()));
        assert!(eu.why().contains("; with it, get-requests 200 requests vs 100 requests expected (+100%), $5.00 over baseline since 2026-03-03"), "{}", eu.why());
        assert!(eu.why().starts_with(&eu.reason));
        let total: f64 = events.iter().map(Incident::event_cost_usd).sum();
        assert_eq!(total, 155.0);
    }

    #[test]
    fn a_later_day_replaces_its_familys_figures_and_keeps_the_earliest_start() {
        let mut event = by_place(vec![
            inc("eu-west-1", Family::InternetOut, 2, 3, 30.0),
            inc("eu-west-1", Family::GetRequests, 3, 3, 2.0),
        ])
        .remove(0);
        // Day 5: requests alone (bytes quiet), then bytes again with requests inside.
        let next = inc("eu-west-1", Family::GetRequests, 3, 5, 6.0);
        assert!(event.continued_by(&next));
        event.absorb(next);
        assert_eq!(event.related.len(), 1);
        assert_eq!(event.related[0].total_excess_cost_usd, 6.0);
        assert_eq!(event.last_day(), day(5));
        let mut later = inc("eu-west-1", Family::InternetOut, 6, 6, 10.0);
        later
            .related
            .push(inc("eu-west-1", Family::GetRequests, 6, 6, 1.0));
        assert!(event.continued_by(&later));
        event.absorb(later);
        assert_eq!(
            (event.family, event.start, event.day),
            (Family::InternetOut, day(2), day(6))
        );
        assert_eq!(event.related.len(), 1);
        assert_eq!(event.related[0].start, day(3));
        assert_eq!(event.event_cost_usd(), 11.0);
    }

    #[test]
    fn two_quiet_days_or_another_place_make_a_new_event() {
        let event = inc("eu-west-1", Family::InternetOut, 2, 3, 30.0);
        assert!(event.continued_by(&inc("eu-west-1", Family::GetRequests, 5, 5, 1.0)));
        assert!(!event.continued_by(&inc("eu-west-1", Family::GetRequests, 6, 6, 1.0)));
        assert!(!event.continued_by(&inc("us-east-1", Family::InternetOut, 3, 3, 1.0)));
        let mut other_account = inc("eu-west-1", Family::InternetOut, 3, 3, 1.0);
        other_account.account = "222222222222".into();
        assert!(!event.continued_by(&other_account));
    }
}
