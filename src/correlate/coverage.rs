//! What the inventory means per bucket (stub: filled in by the coverage evaluation).

use crate::model::coverage::{Coverage, Inventory};

/// Evaluate an inventory: per bucket, whether its GetObject calls are recorded, its guard
/// rails, and the blind spots with their fixes.
pub fn evaluate(inv: &Inventory) -> Coverage {
    Coverage {
        account: inv.account.clone(),
        collected_at: inv.collected_at.clone(),
        ..Coverage::default()
    }
}
