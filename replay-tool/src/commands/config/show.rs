//! `config get`, `config history`, `config diff`: reading the versions.

use dynamic_config::{Change, ConfigStore, StoredVersion, keys};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::cli_error;
use crate::{CliError, Context, Outcome, Output};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  waypoint config get\n  waypoint config get rate_limit.per_ip_burst\n  waypoint config get breaker --json"
)]
pub struct GetArgs {
    /// A dotted key (`rate_limit.per_ip_burst`) or a section (`rate_limit`); all when absent.
    key: Option<String>,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  waypoint config history\n  waypoint config history --limit 5 --json"
)]
pub struct HistoryArgs {
    /// How many of the newest versions to show.
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Without versions: the current one against the one before it. With one: that version against \
the current one.

Examples:
  waypoint config diff
  waypoint config diff 3
  waypoint config diff 3 5 --json")]
pub struct DiffArgs {
    /// The older version.
    from: Option<i64>,
    /// The newer version; the current one when absent.
    to: Option<i64>,
}

/// `config get` as JSON: the whole document, or one key's value.
#[derive(Debug, Serialize)]
struct Got<'a> {
    version: i64,
    author: &'a str,
    comment: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<Value>,
}

pub async fn get(
    args: GetArgs,
    store: &ConfigStore,
    context: &Context,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let failed = |error| cli_error(context, error);
    let current = store.current().await.map_err(failed)?;
    let (value, document) = match &args.key {
        Some(key) => {
            let value = keys::get(&current.document, key).ok_or_else(|| {
                let known: Vec<String> = keys::flatten(&current.document).into_keys().collect();
                CliError::new(format!("no key `{key}` in the dynamic configuration"))
                    .with_hint(format!("one of: {}", known.join(", ")))
            })?;
            (Some(value), None)
        }
        None => (None, Some(current.document.to_value())),
    };
    let got = Got {
        version: current.version,
        author: &current.author,
        comment: &current.comment,
        created_at: current.created_at,
        key: args.key.as_deref(),
        value,
        document,
    };
    output.emit(&got, |output| {
        output.line(&describe(&current));
        let leaves = match (&got.key, &got.value) {
            (Some(key), Some(Value::Object(_))) => keys::flatten(&current.document)
                .into_iter()
                .filter(|(leaf, _)| leaf.starts_with(&format!("{key}.")))
                .collect(),
            (Some(key), Some(value)) => [((*key).to_owned(), value.clone())].into(),
            _ => keys::flatten(&current.document),
        };
        let rows = leaves
            .iter()
            .map(|(key, value)| vec![key.clone(), shown(Some(value))]);
        output.table("", &["key", "value"], rows);
    });
    Ok(Outcome::Ok)
}

/// One version in `config history`.
#[derive(Debug, Serialize)]
struct HistoryEntry<'a> {
    version: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    author: &'a str,
    comment: &'a str,
    changed: Vec<&'a str>,
}

pub async fn history(
    args: HistoryArgs,
    store: &ConfigStore,
    context: &Context,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let failed = |error| cli_error(context, error);
    let versions = store.history(args.limit).await.map_err(failed)?;
    let entries: Vec<HistoryEntry<'_>> = versions
        .iter()
        .map(|(version, changes)| HistoryEntry {
            version: version.version,
            created_at: version.created_at,
            author: &version.author,
            comment: &version.comment,
            changed: changes.iter().map(|change| change.key.as_str()).collect(),
        })
        .collect();
    output.emit(&serde_json::json!({ "versions": entries }), |output| {
        let rows = entries.iter().map(|entry| {
            vec![
                entry.version.to_string(),
                time_of(entry.created_at),
                entry.author.to_owned(),
                entry.comment.to_owned(),
                entry.changed.join(", "),
            ]
        });
        output.table(
            "Configuration versions",
            &["version", "time", "author", "comment", "changed"],
            rows,
        );
    });
    Ok(Outcome::Ok)
}

#[derive(Debug, Serialize)]
struct Diff<'a> {
    from: i64,
    to: i64,
    changes: &'a [Change],
}

pub async fn diff(
    args: DiffArgs,
    store: &ConfigStore,
    context: &Context,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let failed = |error| cli_error(context, error);
    let current = store.current().await.map_err(failed)?;
    let to = match args.to {
        Some(to) => store.version(to).await.map_err(failed)?,
        None => current.clone(),
    };
    let from = match args.from {
        Some(from) => store.version(from).await.map_err(failed)?,
        None if to.version > 1 => store.version(to.version - 1).await.map_err(failed)?,
        None => to.clone(),
    };
    let changes = keys::changes(&from.document, &to.document);
    let diff = Diff {
        from: from.version,
        to: to.version,
        changes: &changes,
    };
    output.emit(&diff, |output| {
        if changes.is_empty() {
            output.line(&format!(
                "versions {} and {} are the same",
                from.version, to.version
            ));
            return;
        }
        let rows = changes.iter().map(|change| {
            vec![
                change.key.clone(),
                shown(change.old.as_ref()),
                shown(change.new.as_ref()),
            ]
        });
        output.table(
            &format!("From version {} to {}", from.version, to.version),
            &[
                "key",
                &format!("version {}", from.version),
                &format!("version {}", to.version),
            ],
            rows,
        );
    });
    Ok(Outcome::Ok)
}

/// `version 3, set by ann at 2026-11-26T20:01:00Z: <comment>`.
pub(super) fn describe(version: &StoredVersion) -> String {
    let mut line = format!(
        "version {}, by {} at {}",
        version.version,
        version.author,
        time_of(version.created_at)
    );
    if !version.comment.is_empty() {
        line.push_str(&format!(": {}", version.comment));
    }
    line
}

/// A value as a person reads it: text without quotes, `(unset)` for none.
pub(super) fn shown(value: Option<&Value>) -> String {
    match value {
        None => "(unset)".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

fn time_of(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_else(|_| time.to_string())
}
