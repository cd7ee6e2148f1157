//! CSV for spreadsheets: `incidents.csv` of a replay, and `series --format csv`.
//!
//! Fields are quoted as RFC 4180 says, and a field a spreadsheet would run as a formula is
//! defused with a leading `'`.

use crate::model::CostPoint;
use crate::report::ReportIncident;

/// Quote a CSV field when needed (RFC 4180), and defuse spreadsheet formulas (see
/// `format::csv`).
pub fn field(s: &str) -> String {
    super::format::csv(s)
}

/// `incidents.csv`: one row per incident, with its header. `top_callers` holds the top
/// `max_callers` callers (`;`-separated) when CloudTrail was read, empty otherwise.
pub fn incidents(incidents: &[ReportIncident], max_callers: usize) -> String {
    let mut csv = String::from(
        "account,account_name,region,family,start,end,peak_day,days,unit,total_excess_usage,total_excess_cost_usd,observed,expected,score,robust_z,evidence,young,reason,top_callers\n",
    );
    for ri in incidents {
        let i = &ri.incident;
        let callers = ri
            .cloudtrail
            .as_ref()
            .map(|c| super::context(c, max_callers).callers.join("; "))
            .unwrap_or_default();
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{:.3},{:.2},{:.3},{:.3},{:.4},{:.2},{},{},{},{}\n",
            field(&i.account),
            field(i.account_name.as_deref().unwrap_or("")),
            field(&i.region),
            i.family,
            i.start,
            i.day,
            i.peak_day,
            i.days,
            field(&i.unit),
            i.total_excess_usage,
            i.total_excess_cost_usd,
            i.observed,
            i.expected,
            i.score,
            i.robust_z,
            i.evidence,
            i.young,
            field(&i.reason),
            field(&callers)
        ));
    }
    csv
}

/// The header of `series --format csv`.
pub const POINTS_HEADER: &str =
    "day,account,region,family,usage_type,usage,unit,cost_usd,estimated";

/// One row of `series --format csv`.
pub fn point(p: &CostPoint) -> String {
    format!(
        "{},{},{},{},{},{},{},{},{}",
        p.day,
        field(&p.account),
        field(&p.region),
        p.family,
        field(&p.usage_type),
        p.usage,
        field(&p.unit),
        p.cost_usd,
        p.estimated
    )
}

#[cfg(test)]
mod tests {
    use super::field as csv_field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    }
}
