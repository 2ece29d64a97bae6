//! `waypoint events`: a stream's history, or a service's events in commit order.

pub(crate) mod since;

use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use self::since::{Since, Start};
use crate::{CliError, Context, Outcome, Output};

/// How many of a service's events are shown when `--limit` is not given.
const DEFAULT_SERVICE_LIMIT: u32 = 100;
/// Payload characters a table cell shows; `--json` shows the whole payload.
const PAYLOAD_WIDTH: usize = 60;

#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("what")
        .required(true)
        .multiple(true)
        .args(["stream", "service"])
))]
#[command(after_help = "\
Examples:
  waypoint events place-0195f1a2-8c1e-7d33-b0a4-3f5e2c9d8a71
  waypoint events --service reviews --type ReviewWritten --limit 20
  waypoint events --service places --since 2025-06-01T12:00:00Z
  waypoint events --service places --since 812.4031 --json")]
pub struct Args {
    /// A stream id: `member-<id>`, `place-<id>`, `review-<id>` or `rating-<member>-<place>`.
    stream: Option<String>,
    /// The service whose store to read. Without a stream: its events in commit order.
    #[arg(long)]
    service: Option<String>,
    /// Only events after this point: an RFC 3339 time, a checkpoint `<xid>.<position>`
    /// (exclusive), a consistency token `<service>.<xid>.<position>` (exclusive), or a
    /// position number (inclusive).
    #[arg(long, value_name = "TIME|POSITION", value_parser = since::parse)]
    since: Option<Since>,
    /// Only events of this type: `ReviewWritten` or `reviews.ReviewWritten`.
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// At most this many events [default: the whole stream, or 100 of a service].
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
}

/// One event as shown.
#[derive(Debug, Serialize)]
struct EventView {
    /// Its place in the store's commit order, `<transaction id>.<position>`.
    checkpoint: String,
    stream_id: String,
    stream_version: i64,
    event_id: Uuid,
    event_type: String,
    schema_version: i32,
    #[serde(with = "time::serde::rfc3339")]
    recorded_at: OffsetDateTime,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<Value>,
    payload: Value,
}

#[derive(Debug, Serialize)]
struct History<'a> {
    service: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<&'a str>,
    events: Vec<EventView>,
}

pub async fn run(args: Args, context: &Context, output: &mut Output) -> Result<Outcome, CliError> {
    let service = match (&args.service, &args.stream) {
        (Some(service), _) => service.clone(),
        (None, Some(stream)) => service_of(context, stream)?,
        // clap's group requires one of the two.
        (None, None) => return Err(CliError::new("give a stream id or --service")),
    };
    let store = context.store(&service).await?;
    let start = match &args.since {
        Some(since) => since::resolve(store.pool(), &service, since).await?,
        None => Start::ORIGIN,
    };
    let event_type = args.event_type.as_deref().map(|event_type| {
        if event_type.contains('.') {
            event_type.to_owned()
        } else {
            format!("{service}.{event_type}")
        }
    });
    let limit = args.limit.or(match args.stream {
        Some(_) => None,
        None => Some(DEFAULT_SERVICE_LIMIT),
    });
    let events = read(
        store.pool(),
        args.stream.as_deref(),
        start,
        event_type.as_deref(),
        limit,
    )
    .await
    .map_err(|error| CliError::database(&format!("the {service} store"), error))?;

    if let Some(stream) = &args.stream
        && events.is_empty()
        && args.since.is_none()
        && event_type.is_none()
    {
        return Err(
            CliError::new(format!("the {service} store has no stream `{stream}`")).with_hint(
                "check the id (a place's stream is `place-<id>`), or name the store with --service",
            ),
        );
    }
    let history = History {
        service: &service,
        stream: args.stream.as_deref(),
        events,
    };
    output.emit(&history, |output| human(output, &history));
    Ok(Outcome::Ok)
}

/// The store a stream lives in, from its id's prefix: `place-…` is in `places`.
fn service_of(context: &Context, stream: &str) -> Result<String, CliError> {
    let prefix = stream.split('-').next().unwrap_or_default();
    context
        .settings
        .stores
        .keys()
        .find(|service| service.strip_suffix('s') == Some(prefix))
        .cloned()
        .ok_or_else(|| {
            CliError::new(format!("cannot tell which store holds `{stream}`"))
                .with_hint("name it with --service (members, places, reviews, ratings)")
        })
}

/// Events in commit order (for one stream that is also version order), filtered in the
/// database so a long history is never loaded to show a few events.
async fn read(
    pool: &sqlx::PgPool,
    stream: Option<&str>,
    start: Start,
    event_type: Option<&str>,
    limit: Option<u32>,
) -> Result<Vec<EventView>, sqlx::Error> {
    type Row = (
        i64,
        String,
        String,
        i64,
        Uuid,
        String,
        i32,
        OffsetDateTime,
        Uuid,
        Option<Uuid>,
        Json<Value>,
        Json<Value>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT position, transaction_id::text, stream_id, stream_version, event_id, event_type,
                schema_version, recorded_at, correlation_id, causation_id, metadata, payload
           FROM events
          WHERE ($1::text IS NULL OR stream_id = $1)
            AND (transaction_id, position) > ($2::text::xid8, $3)
            AND ($4::timestamptz IS NULL OR recorded_at >= $4)
            AND ($5::text IS NULL OR event_type = $5)
          ORDER BY transaction_id, position
          LIMIT $6",
    )
    .bind(stream)
    .bind(start.after.transaction_id.to_string())
    .bind(start.after.position)
    .bind(start.not_before)
    .bind(event_type)
    .bind(limit.map(i64::from))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                position,
                transaction_id,
                stream_id,
                stream_version,
                event_id,
                event_type,
                schema_version,
                recorded_at,
                correlation_id,
                causation_id,
                Json(metadata),
                Json(payload),
            )| EventView {
                checkpoint: format!("{transaction_id}.{position}"),
                stream_id,
                stream_version,
                event_id,
                event_type,
                schema_version,
                recorded_at,
                correlation_id,
                causation_id,
                actor: metadata.get("actor").cloned(),
                payload,
            },
        )
        .collect())
}

fn human(output: &mut Output, history: &History<'_>) {
    if history.events.is_empty() {
        output.line(&format!("No {} events match.", history.service));
        return;
    }
    let title = match history.stream {
        Some(stream) => format!("{stream} ({} store)", history.service),
        None => format!("{} store", history.service),
    };
    let with_stream = history.stream.is_none();
    let rows = history.events.iter().map(|event| {
        let mut row = vec![event.checkpoint.clone()];
        if with_stream {
            row.push(event.stream_id.clone());
        }
        row.extend([
            event.stream_version.to_string(),
            format!("{} v{}", event.event_type, event.schema_version),
            event.recorded_at.format(&Rfc3339).unwrap_or_default(),
            event.correlation_id.to_string(),
            event
                .causation_id
                .map_or_else(|| "-".to_owned(), |id| id.to_string()),
            abbreviate(&event.payload.to_string(), PAYLOAD_WIDTH),
        ]);
        row
    });
    let mut header = vec!["checkpoint"];
    if with_stream {
        header.push("stream");
    }
    header.extend([
        "version",
        "type",
        "recorded",
        "correlation",
        "causation",
        "payload",
    ]);
    output.table(&title, &header, rows);
}

/// At most `width` characters, with `…` when cut.
pub(crate) fn abbreviate(text: &str, width: usize) -> String {
    match text.char_indices().nth(width) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_cut_on_character_boundaries() {
        assert_eq!(abbreviate("short", 10), "short");
        assert_eq!(abbreviate("ééééé", 3), "ééé…");
    }
}
