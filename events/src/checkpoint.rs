use serde::{Deserialize, Serialize};

/// The position of an event in an event store's global commit order.
///
/// Positions come from a sequence, and sequences do not commit in order, so the position alone
/// would let a reader skip an event committed late. Ordering by the writing transaction's id
/// (`xid8`) first fixes that: field order matters here, the derived `Ord` compares
/// `transaction_id`, then `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Checkpoint {
    pub transaction_id: u64,
    pub position: i64,
}

impl Checkpoint {
    /// Before everything: a reader starting here sees every event.
    pub const ORIGIN: Self = Self::new(0, 0);

    pub const fn new(transaction_id: u64, position: i64) -> Self {
        Self {
            transaction_id,
            position,
        }
    }
}
