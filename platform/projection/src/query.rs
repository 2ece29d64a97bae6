//! What every read model's query API shares: page limits, opaque cursors, ETags,
//! read-your-writes and problem+json errors.
//!
//! Responses are JSON. A response computed before the model caught up with the client's
//! consistency tokens carries `Waypoint-Freshness: stale`; otherwise `fresh`.
//!
//! `consistency` carries one token or several separated by commas (the gateway presents the
//! client's token together with the ones it remembers for the client's session). A query waits
//! until every token is covered, after narrowing it to what it can ask of this model (see
//! [`crate::reads`]): a token of a source the model does not read asks nothing.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use events::ConsistencyToken;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::checkpoints;
use crate::reads::ModelReads;

/// The largest page a client may ask for, and what it gets when it does not ask.
pub const MAX_LIMIT: u32 = 100;
pub const DEFAULT_LIMIT: u32 = 20;
/// The response header that says whether the model had caught up with the client's token.
pub const FRESHNESS_HEADER: &str = "waypoint-freshness";
/// More tokens than this in one `consistency` parameter are refused: there are only a few
/// sources, and each token costs a checkpoint lookup.
pub const MAX_TOKENS: usize = 16;

/// A list query's paging parameters and its read-your-writes token.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PageParams {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    /// Consistency tokens from command replies (`<source>.<xid>.<position>`), comma-separated.
    pub consistency: Option<String>,
}

impl PageParams {
    /// The page size, refused above [`MAX_LIMIT`] rather than silently cut.
    pub fn limit(&self) -> Result<u32, Problem> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(limit @ 1..=MAX_LIMIT) => Ok(limit),
            Some(_) => Err(Problem::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// The decoded cursor, if any.
    pub fn cursor<T: DeserializeOwned>(&self) -> Result<Option<T>, Problem> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }

    /// The `consistency` tokens, if any.
    pub fn token(&self) -> Result<Option<ConsistencyTokens>, Problem> {
        parse_tokens(self.consistency.as_deref())
    }
}

/// A token parameter, for queries that are not pages.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ConsistencyParams {
    pub consistency: Option<String>,
}

impl ConsistencyParams {
    /// The `consistency` tokens, if any.
    pub fn token(&self) -> Result<Option<ConsistencyTokens>, Problem> {
        parse_tokens(self.consistency.as_deref())
    }
}

fn parse_tokens(raw: Option<&str>) -> Result<Option<ConsistencyTokens>, Problem> {
    raw.map(str::parse).transpose()
}

/// What a query waits for: one token per source, the latest the client presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyTokens(Vec<ConsistencyToken>);

impl ConsistencyTokens {
    /// The tokens, one per source, ordered by source.
    pub fn as_slice(&self) -> &[ConsistencyToken] {
        &self.0
    }
}

impl From<ConsistencyToken> for ConsistencyTokens {
    fn from(token: ConsistencyToken) -> Self {
        Self(vec![token])
    }
}

impl std::str::FromStr for ConsistencyTokens {
    type Err = Problem;

    /// `<token>[,<token>…]`. Of two tokens of one source only the later counts: covering it
    /// covers the earlier one.
    fn from_str(raw: &str) -> Result<Self, Problem> {
        let invalid = |message: &str| Problem::invalid("consistency", message);
        let pieces: Vec<&str> = raw.split(',').map(str::trim).collect();
        if pieces.len() > MAX_TOKENS {
            return Err(invalid(&format!("at most {MAX_TOKENS} tokens")));
        }
        let mut tokens: Vec<ConsistencyToken> = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let token: ConsistencyToken = piece
                .parse()
                .map_err(|_| invalid("not a consistency token"))?;
            match tokens.iter_mut().find(|kept| kept.source == token.source) {
                Some(kept) => kept.checkpoint = kept.checkpoint.max(token.checkpoint),
                None => tokens.push(token),
            }
        }
        tokens.sort_by(|a, b| a.source.cmp(&b.source));
        Ok(Self(tokens))
    }
}

/// One page of a list, with the cursor of the next page when there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says there is more, and
    /// the cursor is made from the last row shown.
    pub fn from_rows<C: Serialize>(
        mut rows: Vec<T>,
        limit: u32,
        cursor_of: impl Fn(&T) -> C,
    ) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|last| encode_cursor(&cursor_of(last)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

/// Cursors are opaque to clients: the position in the sort order, as base64url JSON.
pub fn encode_cursor<C: Serialize>(position: &C) -> String {
    // Serialising plain keys (numbers, strings, uuids) cannot fail.
    let json = serde_json::to_vec(position).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub fn decode_cursor<C: DeserializeOwned>(cursor: &str) -> Result<C, Problem> {
    let invalid = || Problem::invalid("cursor", "not a cursor this API issued");
    let json = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    serde_json::from_slice(&json).map_err(|_| invalid())
}

/// Whether a response could wait for the client's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// The wait ran out: the data is what the model had.
    Stale,
}

/// Wakes read-your-writes waiters when this process commits a batch; waiters in other
/// processes (standby replicas) poll instead.
#[derive(Debug, Clone, Default)]
pub struct AppliedSignal(Arc<Notify>);

impl AppliedSignal {
    pub fn notify(&self) {
        self.0.notify_waiters();
    }
}

/// What every query handler of a model holds: its database, the signal of applied batches,
/// how long a query may wait for a client's tokens, and what the model reads.
#[derive(Debug, Clone)]
pub struct QueryContext {
    pub pool: PgPool,
    pub signal: AppliedSignal,
    /// Read-your-writes waits at most this long, then answers stale (2 s by default).
    pub max_wait: Duration,
    /// What the model reads: tokens are narrowed to it ([`ModelReads::narrow`]). `None` when
    /// unknown (a bare router in a test): then every token is waited for as it is.
    pub reads: Option<Arc<ModelReads>>,
}

impl QueryContext {
    /// Waits for what the client's tokens ask of this model; see [`wait_for_all`].
    pub async fn freshness(
        &self,
        tokens: Option<&ConsistencyTokens>,
    ) -> Result<Freshness, Problem> {
        let Some(tokens) = tokens else {
            return Ok(Freshness::Fresh);
        };
        let mut asked = Vec::with_capacity(tokens.as_slice().len());
        for token in tokens.as_slice() {
            let narrowed = match &self.reads {
                None => Some(token.clone()),
                // Nothing the model shows depends on a source it does not read.
                Some(reads) if !reads.reads_from(&token.source) => None,
                // Already covered as it is, the usual case: no need to ask its source store.
                Some(_) if checkpoints::covers(&self.pool, token).await? => None,
                Some(reads) => reads.narrow(token).await?,
            };
            asked.extend(narrowed);
        }
        Ok(wait_for_all(&self.pool, &self.signal, &asked, self.max_wait).await?)
    }
}

/// How often a waiter looks again when no local signal comes.
const RECHECK: Duration = Duration::from_millis(20);

/// Waits up to `max_wait` until the model's checkpoint covers `token`.
pub async fn wait_for(
    pool: &PgPool,
    signal: &AppliedSignal,
    token: Option<&ConsistencyToken>,
    max_wait: Duration,
) -> Result<Freshness, sqlx::Error> {
    let tokens = token.map(std::slice::from_ref).unwrap_or_default();
    wait_for_all(pool, signal, tokens, max_wait).await
}

/// Waits up to `max_wait` until the model's checkpoints cover every one of `tokens`.
pub async fn wait_for_all(
    pool: &PgPool,
    signal: &AppliedSignal,
    tokens: &[ConsistencyToken],
    max_wait: Duration,
) -> Result<Freshness, sqlx::Error> {
    let mut waiting: Vec<&ConsistencyToken> = tokens.iter().collect();
    let deadline = tokio::time::Instant::now() + max_wait;
    loop {
        // Registered before the check, so a batch committed in between still wakes us.
        let applied = signal.0.notified();
        // A covered token stays covered (checkpoints never move back): it is not asked again.
        let mut still_waiting = Vec::with_capacity(waiting.len());
        for token in waiting {
            if !checkpoints::covers(pool, token).await? {
                still_waiting.push(token);
            }
        }
        waiting = still_waiting;
        if waiting.is_empty() {
            return Ok(Freshness::Fresh);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(Freshness::Stale);
        }
        let wake = deadline.min(now + RECHECK);
        tokio::select! {
            () = applied => {}
            () = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// A JSON response with an ETag; `304 Not Modified` when the client already has it.
pub fn json(request: &HeaderMap, body: &impl Serialize, freshness: Freshness) -> Response {
    let Ok(bytes) = serde_json::to_vec(body) else {
        return Problem::internal().into_response();
    };
    let etag = etag_of(&bytes);
    let fresh_value = match freshness {
        Freshness::Fresh => "fresh",
        Freshness::Stale => "stale",
    };
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(FRESHNESS_HEADER, HeaderValue::from_static(fresh_value));
    response
}

/// A strong ETag from the body. SipHash with fixed keys is deterministic, so every replica
/// gives the same body the same tag.
fn etag_of(body: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

/// An RFC 9457 problem, with a stable `code` and per-field `errors`.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<events::FieldError>,
}

impl Problem {
    /// A parameter the client sent is wrong.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: "Invalid query parameters",
            status: 400,
            code: "validation",
            detail: None,
            errors: vec![events::FieldError {
                field: field.to_owned(),
                message: message.into(),
            }],
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self {
            kind: "about:blank",
            title: "Not found",
            status: 404,
            code: "not_found",
            detail: Some(format!("no such {what}")),
            errors: Vec::new(),
        }
    }

    /// The model's database failed; the details stay in the log.
    pub fn internal() -> Self {
        Self {
            kind: "about:blank",
            title: "The read model is unavailable",
            status: 503,
            code: "unavailable",
            detail: None,
            errors: Vec::new(),
        }
    }
}

impl From<sqlx::Error> for Problem {
    fn from(error: sqlx::Error) -> Self {
        tracing::warn!(%error, "a query failed");
        Self::internal()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            )],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::Checkpoint;

    fn token(source: &str, transaction_id: u64, position: i64) -> ConsistencyToken {
        ConsistencyToken::new(source, Checkpoint::new(transaction_id, position))
    }

    #[test]
    fn one_token_parses_as_before() {
        let params = ConsistencyParams {
            consistency: Some("places.12.3".to_owned()),
        };
        let tokens = params.token().unwrap().unwrap();
        assert_eq!(tokens.as_slice(), [token("places", 12, 3)]);
        assert_eq!(ConsistencyParams::default().token().unwrap(), None);
    }

    #[test]
    fn several_tokens_parse_one_per_source_keeping_the_latest() {
        let tokens: ConsistencyTokens = "reviews.7.1, places.12.3,places.15.1,places.12.9"
            .parse()
            .unwrap();
        assert_eq!(
            tokens.as_slice(),
            [token("places", 15, 1), token("reviews", 7, 1)]
        );
    }

    #[test]
    fn a_malformed_piece_refuses_the_whole_parameter() {
        for raw in [
            "places.12.3,",
            "places.12.3,nope",
            ",places.12.3",
            "",
            "places.12",
        ] {
            let problem = raw.parse::<ConsistencyTokens>().unwrap_err();
            assert_eq!(problem.status, 400, "{raw}");
            assert_eq!(problem.errors[0].field, "consistency", "{raw}");
        }
    }

    #[test]
    fn too_many_tokens_are_refused() {
        let raw = vec!["places.1.1"; MAX_TOKENS + 1].join(",");
        let problem = raw.parse::<ConsistencyTokens>().unwrap_err();
        assert_eq!(problem.errors[0].field, "consistency");
        let raw = vec!["places.1.1"; MAX_TOKENS].join(",");
        assert!(raw.parse::<ConsistencyTokens>().is_ok());
    }
}
