//! What every bench suite does with its figures: a JSON file for machines, a table for people.
//!
//! A suite measures, then hands over its rows:
//!
//! ```ignore
//! report::publish(root, Suite::Store, &[
//!     Row::limited("append_p99_ms", p99, "append_p99_limit_ms"),
//!     Row::new("append_p99_limit_ms", 5.0),
//! ])?;
//! ```
//!
//! Limits are figures like any other, so the JSON carries them too and a later run can be compared
//! against the limits it was held to.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use comfy_table::{CellAlignment, Table, presets};

use super::Suite;

/// One figure of a suite's results.
#[derive(Debug, Clone)]
pub struct Row {
    pub key: String,
    pub value: f64,
    /// The key of another row that holds this figure's limit.
    pub limit: Option<String>,
    /// Shown in the table only: a limit measured for comparison that is not one of the suite's
    /// published figures.
    pub table_only: bool,
}

impl Row {
    pub fn new(key: impl Into<String>, value: f64) -> Self {
        Self {
            key: key.into(),
            value,
            limit: None,
            table_only: false,
        }
    }

    /// A figure for the table's comparisons only; the JSON file leaves it out.
    pub fn table_only(key: impl Into<String>, value: f64) -> Self {
        Self {
            table_only: true,
            ..Self::new(key, value)
        }
    }

    /// A figure held to the figure under `limit`: the table shows `value / limit`.
    pub fn limited(key: impl Into<String>, value: f64, limit: impl Into<String>) -> Self {
        Self {
            limit: Some(limit.into()),
            ..Self::new(key, value)
        }
    }
}

/// Writes `target/bench/<suite>.json` (keys in the rows' order) and prints the table to stdout;
/// returns the JSON file's path.
pub fn publish(root: &Path, suite: Suite, rows: &[Row]) -> Result<PathBuf> {
    let json = to_json(rows)?;
    let table = to_table(rows)?;
    let dir = crate::target_dir(root).join("bench");
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let path = dir.join(format!("{}.json", suite.name()));
    fs::write(&path, json).with_context(|| format!("could not write {}", path.display()))?;
    #[expect(clippy::print_stdout, reason = "the table is the command's output")]
    {
        println!("{table}");
    }
    Ok(path)
}

impl Suite {
    /// The suite's name as typed on the command line.
    fn name(self) -> &'static str {
        match self {
            Suite::Store => "store",
            Suite::Commands => "commands",
            Suite::Projections => "projections",
            Suite::Gateway => "gateway",
            Suite::System => "system",
            Suite::Standalone => "standalone",
        }
    }
}

/// A flat JSON object, written by hand because serde_json's map would sort the keys (keeping
/// insertion order needs a feature that would change every other crate's maps too).
fn to_json(rows: &[Row]) -> Result<String> {
    check(rows)?;
    let mut json = String::from("{");
    for (i, row) in rows.iter().filter(|row| !row.table_only).enumerate() {
        let separator = if i == 0 { "" } else { "," };
        let key = serde_json::to_string(&row.key)?;
        let value = serde_json::to_string(&row.value)?;
        write!(json, "{separator}\n  {key}: {value}")?;
    }
    json.push_str("\n}\n");
    Ok(json)
}

fn to_table(rows: &[Row]) -> Result<Table> {
    check(rows)?;
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_header(["figure", "value", "limit", "ratio"]);
    for row in rows {
        let (limit, ratio) = match limit_of(rows, row)? {
            Some(limit) => (format_value(limit), format_ratio(row.value / limit)),
            None => (String::new(), String::new()),
        };
        table.add_row([row.key.clone(), format_value(row.value), limit, ratio]);
    }
    for index in 1..=3 {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    Ok(table)
}

/// A suite's mistakes are caught before anything is written: every figure a number, every key
/// once, every limit a figure of the same report.
fn check(rows: &[Row]) -> Result<()> {
    for (i, row) in rows.iter().enumerate() {
        if !row.value.is_finite() {
            bail!("figure {:?} is {}, not a number", row.key, row.value);
        }
        if rows[..i].iter().any(|earlier| earlier.key == row.key) {
            bail!("figure {:?} is reported twice", row.key);
        }
        limit_of(rows, row)?;
    }
    Ok(())
}

fn limit_of(rows: &[Row], row: &Row) -> Result<Option<f64>> {
    let Some(limit_key) = &row.limit else {
        return Ok(None);
    };
    match rows.iter().find(|candidate| &candidate.key == limit_key) {
        Some(limit) => Ok(Some(limit.value)),
        None => bail!(
            "figure {:?} is held to {limit_key:?}, which is not in the report",
            row.key
        ),
    }
}

/// Whole numbers as such, large ones without decimals, small ones to three significant digits.
fn format_value(value: f64) -> String {
    let magnitude = value.abs();
    if value.fract() == 0.0 || magnitude >= 1000.0 {
        format!("{value:.0}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        let decimals = (2.0 - magnitude.log10().floor()).clamp(0.0, 12.0) as usize;
        format!("{value:.decimals$}")
    }
}

fn format_ratio(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{ratio:.2}×")
    } else {
        // A limit of zero.
        "n/a".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        vec![
            Row::limited("zeta_p99_ms", 4.55, "zeta_p99_limit_ms"),
            Row::new("zeta_p99_limit_ms", 5.0),
            Row::new("alpha_per_s", 12_345.6),
            Row::table_only("alpha_limit_per_s", 20_000.0),
        ]
    }

    #[test]
    fn json_keeps_the_rows_order_and_leaves_table_only_rows_out() {
        let json = to_json(&rows()).unwrap();
        assert_eq!(
            json,
            "{\n  \"zeta_p99_ms\": 4.55,\n  \"zeta_p99_limit_ms\": 5.0,\n  \"alpha_per_s\": 12345.6\n}\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["alpha_per_s"], 12_345.6);
    }

    #[test]
    fn table_shows_value_over_limit() {
        let table = to_table(&rows()).unwrap().to_string();
        let line = table
            .lines()
            .find(|line| line.contains("zeta_p99_ms"))
            .unwrap();
        assert!(line.contains("4.55"), "{line}");
        assert!(line.contains("5"), "{line}");
        assert!(line.contains("0.91×"), "{line}");
        assert!(table.contains("alpha_limit_per_s"), "{table}");
    }

    #[test]
    fn publish_writes_target_bench_suite_json() {
        let root = std::env::temp_dir().join(format!("xtask-report-{}", std::process::id()));
        let path = publish(&root, Suite::Store, &rows()).unwrap();
        assert_eq!(path, root.join("target/bench/store.json"));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            to_json(&rows()).unwrap()
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn mistakes_in_the_rows_are_refused() {
        let missing_limit = [Row::limited("a", 1.0, "nope")];
        assert!(to_json(&missing_limit).is_err());
        let twice = [Row::new("a", 1.0), Row::new("a", 2.0)];
        assert!(to_json(&twice).is_err());
        let nan = [Row::new("a", f64::NAN)];
        assert!(to_json(&nan).is_err());
    }

    #[test]
    fn values_are_formatted_for_reading() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(12_345.6), "12346");
        assert_eq!(format_value(4.556), "4.56");
        assert_eq!(format_value(0.000_42), "0.000420");
        assert_eq!(format_value(0.5), "0.500");
        assert_eq!(format_ratio(0.909), "0.91×");
        assert_eq!(format_ratio(f64::INFINITY), "n/a");
    }
}
