//! What every model does with its tables as a whole: empty them for a rebuild, and digest them
//! for the convergence check.

use sqlx::{AssertSqlSafe, PgConnection};

/// One of a model's tables, with the key that orders its rows in a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    /// Columns that identify a row, comma-separated (`member_id, place_id`).
    pub key: &'static str,
}

impl Table {
    pub const fn new(name: &'static str, key: &'static str) -> Self {
        Self { name, key }
    }
}

/// Empties `tables` in one statement.
pub async fn truncate(conn: &mut PgConnection, tables: &[Table]) -> Result<(), sqlx::Error> {
    let names: Vec<&str> = tables.iter().map(|table| table.name).collect();
    sqlx::query(AssertSqlSafe(format!("TRUNCATE {}", names.join(", "))))
        .execute(conn)
        .await?;
    Ok(())
}

/// `name:md5(rows in key order)` per table, in the order given, joined by `;`. Whole rows go
/// in, so two models with equal contents, however they were written, give equal digests; a
/// model must keep nothing in its tables that depends on arrival order.
pub async fn checksum(conn: &mut PgConnection, tables: &[Table]) -> Result<String, sqlx::Error> {
    let parts: Vec<String> = tables
        .iter()
        .map(|Table { name, key }| {
            format!(
                "'{name}:' || (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY {key}), '')) \
                 FROM {name} t)"
            )
        })
        .collect();
    // The names are the model's own constants, never input.
    let statement = format!("SELECT concat_ws(';', {})", parts.join(", "));
    sqlx::query_scalar(AssertSqlSafe(statement))
        .fetch_one(conn)
        .await
}
