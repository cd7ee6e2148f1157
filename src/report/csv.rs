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

/// `incidents.csv`: one row per incident and family (an event's related families each have
/// their own row, right after it, so the total columns add up to every dollar), with its
/// header. `top_callers` holds the top `max_callers` callers (`;`-separated) when CloudTrail
/// was read, empty otherwise (the event's, on each of its rows).
pub fn incidents(incidents: &[ReportIncident], max_callers: usize) -> String {
    let mut csv = String::from(
        "account,account_name,region,family,start,end,peak_day,days,unit,total_excess_usage,total_excess_cost_usd,observed,expected,score,robust_z,evidence,young,reason,top_callers\n",
    );
    for ri in incidents {
        let callers = ri
            .cloudtrail
            .as_ref()
            .map(|c| super::context(c, max_callers).callers.join("; "))
            .unwrap_or_default();
        for i in ri.incident.families() {
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

    #[test]
    fn an_events_families_each_have_a_row_and_the_dollars_add_up() {
        use crate::model::incident::{by_place, fixture::inc};
        use crate::model::Family;
        let events = by_place(vec![
            inc("eu-west-1", Family::InternetOut, 2, 3, 30.25),
            inc("eu-west-1", Family::GetRequests, 3, 3, 2.5),
            inc("us-east-1", Family::InterRegionOut, 3, 3, 7.0),
        ]);
        let report: Vec<_> = events
            .into_iter()
            .map(crate::report::ReportIncident::bare)
            .collect();
        let csv = super::incidents(&report, 5);
        // (The fixture's fields hold no comma or quote: a plain split reads them.)
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let (family, total) = (col("family"), col("total_excess_cost_usd"));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert!(rows.iter().all(|r| r.len() == header.len()), "{csv}");
        let families: Vec<&str> = rows.iter().map(|r| r[family]).collect();
        assert_eq!(
            families,
            ["internet-out", "get-requests", "inter-region-out"]
        );
        let sum: f64 = rows.iter().map(|r| r[total].parse::<f64>().unwrap()).sum();
        assert!((sum - 39.75).abs() < 1e-9, "{sum}");
    }
}
