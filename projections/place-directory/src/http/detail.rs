//! `GET /places/{place_id}`: one place with its rating and review count.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use projection::query::{ConsistencyParams, Problem, QueryContext, json};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Serialize)]
struct PlaceDetail {
    place_id: Uuid,
    name: String,
    category: String,
    address: String,
    description: String,
    #[serde(with = "time::serde::rfc3339")]
    added_at: OffsetDateTime,
    closed: bool,
    rating: Rating,
    review_count: i32,
}

#[derive(Debug, Serialize)]
struct Rating {
    /// Null while nobody has rated the place.
    average: Option<f64>,
    count: i32,
    histogram: Histogram,
}

/// How many members gave each number of stars.
#[derive(Debug, Serialize)]
struct Histogram {
    #[serde(rename = "1")]
    one: i32,
    #[serde(rename = "2")]
    two: i32,
    #[serde(rename = "3")]
    three: i32,
    #[serde(rename = "4")]
    four: i32,
    #[serde(rename = "5")]
    five: i32,
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    place_id: Uuid,
    name: String,
    category: String,
    address: String,
    description: String,
    added_at: OffsetDateTime,
    closed: bool,
    stars_1: i32,
    stars_2: i32,
    stars_3: i32,
    stars_4: i32,
    stars_5: i32,
    rating_count: i32,
    average_stars: Option<f64>,
    review_count: i32,
}

impl From<Row> for PlaceDetail {
    fn from(row: Row) -> Self {
        Self {
            place_id: row.place_id,
            name: row.name,
            category: row.category,
            address: row.address,
            description: row.description,
            added_at: row.added_at,
            closed: row.closed,
            rating: Rating {
                average: row.average_stars,
                count: row.rating_count,
                histogram: Histogram {
                    one: row.stars_1,
                    two: row.stars_2,
                    three: row.stars_3,
                    four: row.stars_4,
                    five: row.stars_5,
                },
            },
            review_count: row.review_count,
        }
    }
}

pub(super) async fn detail(
    State(context): State<QueryContext>,
    Path(place_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ConsistencyParams>, QueryRejection>,
) -> Result<Response, Problem> {
    let params = super::query_params(query)?;
    let place_id: Uuid = place_id
        .parse()
        .map_err(|_| Problem::invalid("place_id", "not a place id"))?;
    let token = params.token()?;
    let freshness = context.freshness(token.as_ref()).await?;
    let row: Option<Row> = sqlx::query_as(
        "SELECT p.place_id, p.name, p.category, p.address, p.description, p.added_at, p.closed,
                s.stars_1, s.stars_2, s.stars_3, s.stars_4, s.stars_5, s.rating_count,
                s.average_stars, s.review_count
           FROM places p JOIN place_stats s USING (place_id)
          WHERE p.place_id = $1",
    )
    .bind(place_id)
    .fetch_optional(&context.pool)
    .await?;
    let place = row.ok_or_else(|| Problem::not_found("place"))?;
    Ok(json(&headers, &PlaceDetail::from(place), freshness))
}
