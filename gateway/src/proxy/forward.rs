//! One query on its way to a read model and back: the upstream path with the parameters the
//! route accepted, the consistency tokens to wait for (the client's, from the header or the
//! `consistency` parameter, and the ones remembered for the caller's session), the request
//! headers passed on, and the answer as the read model gave it, or the last good answer
//! marked stale, or 503.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use events::ConsistencyToken;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::stale::StaleEntry;
use super::upstream::{Answer, Outgoing};
use super::{FRESHNESS_HEADER, Proxy};
use crate::auth::Identity;
use crate::consistency::CONSISTENCY_HEADER;
use crate::error::ApiError;
use crate::layers::{REQUEST_ID, TRACEPARENT};
use crate::state::AppState;

/// The parameter the read models take their tokens in, and clients may use instead of the
/// header.
const CONSISTENCY_PARAMETER: &str = "consistency";
/// Marks an answer served from the stale store.
pub(crate) const STALE_HEADER: HeaderName = HeaderName::from_static("x-waypoint-stale");
/// RFC 7234's warning for a stale answer.
const STALE_WARNING: &str = "110 - \"Response is Stale\"";
/// Request headers a read model gets: conditional requests, and what ties its logs to ours.
const PASSED_ON: [HeaderName; 3] = [header::IF_NONE_MATCH, TRACEPARENT, REQUEST_ID];
/// Parameter values are percent-encoded but for RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Whether an answer is the same for everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// Stored as the last good answer, and served from there when the upstream cannot answer.
    Public,
    /// The caller's own view (`/members/me`): never stored under the caller's route, though
    /// the public answer of the same upstream path may stand in for it.
    Caller,
}

/// A query as a route hands it over.
#[derive(Debug)]
pub(crate) struct Query<'a> {
    pub upstream: &'static str,
    /// The read model's path, ids already checked.
    pub path: String,
    pub params: Vec<(&'static str, &'a str)>,
    /// The client's `consistency` parameter.
    pub consistency: Option<&'a str>,
    pub audience: Audience,
}

/// Sends `query` on, waiting for the caller's writes, and answers.
pub(crate) async fn forward(
    state: &AppState,
    query: Query<'_>,
    identity: Option<&Identity>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let mut tokens = client_tokens(headers, query.consistency)?;
    if let Some(identity) = identity {
        tokens.extend(identity.written.iter().cloned());
    }
    let public = path_and_query(&query.path, &query.params);
    let tokens = latest_per_source(tokens);
    let path_and_query = if tokens.is_empty() {
        public.clone()
    } else {
        let tokens: Vec<String> = tokens.iter().map(ToString::to_string).collect();
        let tokens = tokens.join(",");
        let separator = if query.params.is_empty() { '?' } else { '&' };
        let encoded = utf8_percent_encode(&tokens, QUERY_VALUE);
        format!("{public}{separator}{CONSISTENCY_PARAMETER}={encoded}")
    };
    let mut passed_on = HeaderMap::new();
    for name in PASSED_ON {
        if let Some(value) = headers.get(&name) {
            passed_on.insert(name, value.clone());
        }
    }
    let outgoing = Outgoing {
        path_and_query,
        headers: passed_on,
    };
    state
        .proxy
        .query(query.upstream, &public, &outgoing, query.audience)
        .await
}

impl Proxy {
    /// The upstream's answer; when it has none, the last good answer to `public` (the
    /// path and query without tokens) marked stale; without one, 503.
    pub(crate) async fn query(
        &self,
        service: &'static str,
        public: &str,
        outgoing: &Outgoing,
        audience: Audience,
    ) -> Result<Response, ApiError> {
        let upstream = self.upstream(service)?;
        let key = self.stale.key(service, public);
        let error = match upstream.call(&self.caller, outgoing).await {
            Ok(answer) => {
                if answer.status == StatusCode::OK && audience == Audience::Public {
                    self.stale.remember(key, entry_of(&answer));
                }
                return Ok(respond(answer));
            }
            Err(error) => error,
        };
        // Each failed try is logged where it failed; an open breaker would log every request.
        tracing::debug!(upstream = service, %error, "a query got no answer; trying the stale store");
        match self.stale.recall(&key).await {
            Some(entry) => {
                metrics::counter!("gateway_stale_responses_total", "upstream" => service)
                    .increment(1);
                Ok(stale(entry))
            }
            None => Err(ApiError::Unavailable(format!(
                "{service} cannot answer now and has no earlier answer to this query"
            ))),
        }
    }
}

/// The tokens the client presented in `X-Consistency-Token` headers and the `consistency`
/// parameter, each a comma-separated list.
fn client_tokens(
    headers: &HeaderMap,
    parameter: Option<&str>,
) -> Result<Vec<ConsistencyToken>, ApiError> {
    let mut tokens = Vec::new();
    for value in headers.get_all(&CONSISTENCY_HEADER) {
        let value = value
            .to_str()
            .map_err(|_| invalid_token("X-Consistency-Token"))?;
        tokens.extend(parse_tokens(value).ok_or_else(|| invalid_token("X-Consistency-Token"))?);
    }
    if let Some(parameter) = parameter {
        tokens.extend(parse_tokens(parameter).ok_or_else(|| invalid_token(CONSISTENCY_PARAMETER))?);
    }
    Ok(tokens)
}

fn parse_tokens(list: &str) -> Option<Vec<ConsistencyToken>> {
    list.split(',')
        .map(|token| token.trim().parse().ok())
        .collect()
}

fn invalid_token(name: &str) -> ApiError {
    ApiError::invalid_parameter(
        name,
        "not a consistency token (as in X-Consistency-Token of a command's answer)",
    )
}

/// One token per source, the latest: covering it covers the earlier ones.
fn latest_per_source(tokens: Vec<ConsistencyToken>) -> Vec<ConsistencyToken> {
    let mut latest: Vec<ConsistencyToken> = Vec::with_capacity(tokens.len());
    for token in tokens {
        match latest.iter_mut().find(|kept| kept.source == token.source) {
            Some(kept) => kept.checkpoint = kept.checkpoint.max(token.checkpoint),
            None => latest.push(token),
        }
    }
    latest.sort_by(|a, b| a.source.cmp(&b.source));
    latest
}

fn path_and_query(path: &str, params: &[(&str, &str)]) -> String {
    let mut url = path.to_owned();
    for (index, (name, value)) in params.iter().enumerate() {
        url.push(if index == 0 { '?' } else { '&' });
        url.push_str(name);
        url.push('=');
        url.extend(utf8_percent_encode(value, QUERY_VALUE));
    }
    url
}

fn entry_of(answer: &Answer) -> StaleEntry {
    StaleEntry {
        content_type: answer.headers.get(header::CONTENT_TYPE).cloned(),
        etag: answer.headers.get(header::ETAG).cloned(),
        body: answer.body.clone(),
    }
}

/// The read model's answer as it gave it.
fn respond(answer: Answer) -> Response {
    let mut response = (answer.status, answer.body).into_response();
    response.headers_mut().extend(answer.headers);
    response
}

/// A last good answer: marked stale both ways, and not fresh with respect to any token.
fn stale(entry: StaleEntry) -> Response {
    let mut response = (StatusCode::OK, entry.body).into_response();
    let headers = response.headers_mut();
    if let Some(content_type) = entry.content_type {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    if let Some(etag) = entry.etag {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::WARNING, HeaderValue::from_static(STALE_WARNING));
    headers.insert(STALE_HEADER, HeaderValue::from_static("true"));
    headers.insert(FRESHNESS_HEADER, HeaderValue::from_static("stale"));
    response
}

#[cfg(test)]
mod tests {
    use events::Checkpoint;

    use super::*;

    fn token(source: &str, transaction_id: u64) -> ConsistencyToken {
        ConsistencyToken::new(source, Checkpoint::new(transaction_id, 1))
    }

    #[test]
    fn the_client_may_present_tokens_in_headers_and_the_parameter() {
        let mut headers = HeaderMap::new();
        headers.append(&CONSISTENCY_HEADER, HeaderValue::from_static("places.3.1"));
        headers.append(
            &CONSISTENCY_HEADER,
            HeaderValue::from_static("reviews.4.1, ratings.5.1"),
        );
        let tokens = client_tokens(&headers, Some("members.6.1")).unwrap();
        assert_eq!(
            tokens,
            [
                token("places", 3),
                token("reviews", 4),
                token("ratings", 5),
                token("members", 6)
            ]
        );
    }

    #[test]
    fn a_malformed_token_is_named_where_it_came_from() {
        let mut headers = HeaderMap::new();
        headers.insert(&CONSISTENCY_HEADER, HeaderValue::from_static("places.3"));
        let error = client_tokens(&headers, None).unwrap_err();
        assert_eq!(error.problem().errors[0].field, "X-Consistency-Token");

        let error = client_tokens(&HeaderMap::new(), Some("places.3.1,")).unwrap_err();
        assert_eq!(error.problem().errors[0].field, "consistency");
    }

    #[test]
    fn the_latest_token_of_each_source_is_kept() {
        let tokens = vec![
            token("reviews", 9),
            token("places", 3),
            token("places", 7),
            token("places", 5),
        ];
        assert_eq!(
            latest_per_source(tokens),
            [token("places", 7), token("reviews", 9)]
        );
    }

    #[test]
    fn parameters_are_encoded_into_the_upstream_path() {
        assert_eq!(path_and_query("/places", &[]), "/places");
        assert_eq!(
            path_and_query("/places", &[("q", "café & bar"), ("limit", "5")]),
            "/places?q=caf%C3%A9%20%26%20bar&limit=5"
        );
    }
}
