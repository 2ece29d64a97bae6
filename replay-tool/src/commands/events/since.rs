//! Where a read starts: `--since` of `events` and `--from` of `replay`.

use events::{Checkpoint, ConsistencyToken};
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::CliError;

/// A starting point as the operator wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Since {
    /// Events recorded at or after this time.
    Time(OffsetDateTime),
    /// Events after this checkpoint in commit order (`<transaction id>.<position>`).
    After(Checkpoint),
    /// Events after a consistency token's checkpoint; the token names its store.
    Token(ConsistencyToken),
    /// The event at this position and everything committed after it.
    Position(i64),
}

/// The same, resolved against one store: read after `after`, skip what was recorded before
/// `not_before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Start {
    pub after: Checkpoint,
    pub not_before: Option<OffsetDateTime>,
}

impl Start {
    pub const ORIGIN: Self = Self {
        after: Checkpoint::ORIGIN,
        not_before: None,
    };
}

/// The help text both commands show for the format.
pub(crate) const FORMATS: &str = "an RFC 3339 time (2025-06-01T12:00:00Z), a checkpoint \
     `<transaction id>.<position>` (exclusive), a consistency token `<service>.<xid>.<position>` \
     (exclusive), or a position number (inclusive)";

/// Parses `--since` / `--from` (a clap value parser: a bad value is a usage error).
pub(crate) fn parse(text: &str) -> Result<Since, String> {
    let text = text.trim();
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(Since::Time(time));
    }
    if let Ok(position) = text.parse::<i64>() {
        return if position > 0 {
            Ok(Since::Position(position))
        } else {
            Err("a position is a number from 1".to_owned())
        };
    }
    if let Some((transaction_id, position)) = text.split_once('.')
        && let (Ok(transaction_id), Ok(position)) = (transaction_id.parse(), position.parse())
    {
        return Ok(Since::After(Checkpoint::new(transaction_id, position)));
    }
    if let Ok(token) = text.parse::<ConsistencyToken>() {
        return Ok(Since::Token(token));
    }
    Err(format!("expected {FORMATS}"))
}

/// Resolves `since` against the store of `service` on `pool`.
pub(crate) async fn resolve(
    pool: &PgPool,
    service: &str,
    since: &Since,
) -> Result<Start, CliError> {
    match since {
        Since::Time(time) => Ok(Start {
            after: Checkpoint::ORIGIN,
            not_before: Some(*time),
        }),
        Since::After(checkpoint) => Ok(Start {
            after: *checkpoint,
            not_before: None,
        }),
        Since::Token(token) if token.source == service => Ok(Start {
            after: token.checkpoint,
            not_before: None,
        }),
        Since::Token(token) => Err(CliError::new(format!(
            "the token `{token}` is of the {} store, not of {service}",
            token.source
        ))
        .with_hint(format!("use --service {}", token.source))),
        Since::Position(position) => {
            let transaction_id: Option<String> =
                sqlx::query_scalar("SELECT transaction_id::text FROM events WHERE position = $1")
                    .bind(position)
                    .fetch_optional(pool)
                    .await
                    .map_err(|error| CliError::database(&format!("the {service} store"), error))?;
            let transaction_id = transaction_id
                .and_then(|text| text.parse::<u64>().ok())
                .ok_or_else(|| {
                    CliError::new(format!(
                        "the {service} store has no event at position {position}"
                    ))
                    .with_hint(
                        "`waypoint events --service <s>` shows positions as <xid>.<position>",
                    )
                })?;
            // Just before it in commit order: the same transaction, the position before.
            Ok(Start {
                after: Checkpoint::new(transaction_id, position - 1),
                not_before: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn every_form_is_understood() {
        assert_eq!(
            parse("2025-06-01T12:00:00Z"),
            Ok(Since::Time(datetime!(2025-06-01 12:00:00 UTC)))
        );
        assert_eq!(
            parse("812.4031"),
            Ok(Since::After(Checkpoint::new(812, 4031)))
        );
        assert_eq!(parse("42"), Ok(Since::Position(42)));
        assert_eq!(
            parse("places.812.4031"),
            Ok(Since::Token(ConsistencyToken::new(
                "places",
                Checkpoint::new(812, 4031)
            )))
        );
    }

    #[test]
    fn nonsense_is_refused_with_the_formats() {
        for bad in ["yesterday", "0", "-3", "1.2.3.4", ""] {
            let error = parse(bad).unwrap_err();
            assert!(!error.is_empty(), "{bad}");
        }
    }
}
