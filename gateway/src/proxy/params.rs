//! Each query route's parameters: refused at the gateway when unknown or repeated (400
//! naming the parameter), passed on otherwise. Their values are the read model's to judge,
//! so a bad `limit` gets the read model's own answer.

use std::collections::HashSet;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use utoipa::IntoParams;

use crate::error::ApiError;

/// What a route's parameters give the forwarding.
pub(crate) trait QueryParameters: DeserializeOwned {
    /// The parameters to pass on, in a fixed order, so equal queries make equal upstream
    /// paths (and share their stale entry).
    fn forwarded(&self) -> Vec<(&'static str, &str)>;
    /// The client's `consistency` parameter, which the gateway merges with other tokens.
    fn consistency(&self) -> Option<&str>;
}

/// The route's query parameters as `T`, or a problem naming the parameter that is wrong.
#[derive(Debug, Clone)]
pub(crate) struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: QueryParameters + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        parse(pairs).map(Self)
    }
}

fn parse<T: DeserializeOwned>(pairs: Vec<(String, String)>) -> Result<T, ApiError> {
    let mut seen = HashSet::new();
    let mut object = Map::new();
    for (name, value) in pairs {
        if !seen.insert(name.clone()) {
            return Err(ApiError::invalid_parameter(name, "given more than once"));
        }
        object.insert(name, Value::String(value));
    }
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|error| {
        let name = error.path().to_string();
        ApiError::invalid_parameter(name, error.into_inner().to_string())
    })
}

/// The same values without the absent ones.
fn present<'a>(
    pairs: impl IntoIterator<Item = (&'static str, &'a Option<String>)>,
) -> Vec<(&'static str, &'a str)> {
    pairs
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.as_deref()?)))
        .collect()
}

/// `GET /places`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PlaceSearch {
    /// Words to find: a case-insensitive prefix of the name, or full text over the name and
    /// the description (quotes, `or` and `-word` work). At most 200 characters.
    q: Option<String>,
    /// One of `restaurant`, `cafe`, `bar`, `museum`, `park`, `shop`, `hotel`, `other`.
    category: Option<String>,
    /// `newest` (the default), `rating` (average stars, unrated last) or `reviews` (review
    /// count); always descending.
    sort: Option<String>,
    /// The `next_cursor` of the previous page, listed in the same sort.
    cursor: Option<String>,
    /// Places per page, 1 to 100; 20 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Consistency tokens (comma-separated): wait until the listing includes those writes.
    /// `X-Consistency-Token` does the same.
    consistency: Option<String>,
}

impl QueryParameters for PlaceSearch {
    fn forwarded(&self) -> Vec<(&'static str, &str)> {
        present([
            ("q", &self.q),
            ("category", &self.category),
            ("sort", &self.sort),
            ("cursor", &self.cursor),
            ("limit", &self.limit),
        ])
    }

    fn consistency(&self) -> Option<&str> {
        self.consistency.as_deref()
    }
}

/// `GET /places/{place_id}/reviews`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PlaceReviewsPage {
    /// `newest` (the default) or `stars` (most stars first, unknown last, then newest).
    sort: Option<String>,
    /// The `next_cursor` of the previous page, listed in the same sort.
    cursor: Option<String>,
    /// Reviews per page, 1 to 100; 20 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Consistency tokens (comma-separated): wait until the page includes those writes.
    consistency: Option<String>,
}

impl QueryParameters for PlaceReviewsPage {
    fn forwarded(&self) -> Vec<(&'static str, &str)> {
        present([
            ("sort", &self.sort),
            ("cursor", &self.cursor),
            ("limit", &self.limit),
        ])
    }

    fn consistency(&self) -> Option<&str> {
        self.consistency.as_deref()
    }
}

/// A list in its one order, newest first.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page, 1 to 100; 20 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Consistency tokens (comma-separated): wait until the page includes those writes.
    consistency: Option<String>,
}

impl QueryParameters for Page {
    fn forwarded(&self) -> Vec<(&'static str, &str)> {
        present([("cursor", &self.cursor), ("limit", &self.limit)])
    }

    fn consistency(&self) -> Option<&str> {
        self.consistency.as_deref()
    }
}

/// One item.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Read {
    /// Consistency tokens (comma-separated): wait until the answer includes those writes.
    consistency: Option<String>,
}

impl QueryParameters for Read {
    fn forwarded(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }

    fn consistency(&self) -> Option<&str> {
        self.consistency.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn known_parameters_are_passed_on_in_a_fixed_order() {
        let search: PlaceSearch = parse(pairs(&[
            ("limit", "ten"),
            ("q", "café"),
            ("consistency", "places.1.1"),
        ]))
        .unwrap();
        assert_eq!(search.forwarded(), [("q", "café"), ("limit", "ten")]);
        assert_eq!(search.consistency(), Some("places.1.1"));
    }

    #[test]
    fn an_unknown_parameter_is_named() {
        let error = parse::<Page>(pairs(&[("limit", "5"), ("sort", "stars")])).unwrap_err();
        assert_eq!(error.status().as_u16(), 400);
        assert_eq!(error.problem().errors[0].field, "sort");
    }

    #[test]
    fn a_repeated_parameter_is_named() {
        let error =
            parse::<Read>(pairs(&[("consistency", "a"), ("consistency", "b")])).unwrap_err();
        assert_eq!(error.status().as_u16(), 400);
        assert_eq!(error.problem().errors[0].field, "consistency");
    }
}
