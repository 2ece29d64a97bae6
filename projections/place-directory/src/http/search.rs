//! `GET /places?q=&category=&sort=&cursor=&limit=&consistency=`: the directory's search.
//!
//! - `q` matches a case-insensitive prefix of the name, or full text over the name (weight A)
//!   and the description (weight B) through `websearch_to_tsquery('simple', q)`, which accepts
//!   any input: quotes, `or` and `-word` work, stray punctuation is ignored.
//! - `category` filters by one of the contract's categories.
//! - `sort`: `newest` (the default, by added time), `rating` (average stars, unrated last)
//!   or `reviews` (review count); always descending, ties broken by descending place id, so
//!   the keyset cursor is a total order and pages never overlap or skip.
//! - A blank parameter is the same as an absent one.

use std::str::FromStr;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use events::places::Category;
use projection::query::{Page, PageParams, Problem, QueryContext, json};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

/// Longer search text is refused: it only makes the text search slower.
const MAX_Q_CHARS: usize = 200;

#[derive(Debug, Deserialize)]
pub(super) struct SearchParams {
    q: Option<String>,
    category: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
    /// Parsed here, so a malformed limit is reported as the `limit` field's error.
    limit: Option<String>,
    consistency: Option<String>,
}

/// A validated search.
#[derive(Debug)]
struct Search {
    q: Option<String>,
    category: Option<Category>,
    sort: Sort,
    after: Option<Cursor>,
    limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Rating,
    Reviews,
    Newest,
}

impl FromStr for Sort {
    type Err = Problem;

    fn from_str(s: &str) -> Result<Self, Problem> {
        match s {
            "rating" => Ok(Self::Rating),
            "reviews" => Ok(Self::Reviews),
            "newest" => Ok(Self::Newest),
            _ => Err(Problem::invalid(
                "sort",
                "must be one of rating, reviews, newest",
            )),
        }
    }
}

impl Sort {
    /// Each matches an index: `place_stats_by_rating`, `place_stats_by_reviews`,
    /// `places_newest`.
    fn order_by(self) -> &'static str {
        match self {
            Self::Rating => "coalesce(s.average_stars, 0) DESC, s.place_id DESC",
            Self::Reviews => "s.review_count DESC, s.place_id DESC",
            Self::Newest => "p.added_at DESC, p.place_id DESC",
        }
    }
}

/// The last place of a page, by the sort it was listed in.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "sort", rename_all = "snake_case")]
enum Cursor {
    /// The average's bits: a float written as decimal JSON may not read back as the same
    /// float, and the keyset comparison must be exact.
    Rating {
        average_bits: u64,
        place_id: Uuid,
    },
    Reviews {
        review_count: i32,
        place_id: Uuid,
    },
    Newest {
        #[serde(with = "time::serde::rfc3339")]
        added_at: OffsetDateTime,
        place_id: Uuid,
    },
}

impl Cursor {
    fn sort(&self) -> Sort {
        match self {
            Self::Rating { .. } => Sort::Rating,
            Self::Reviews { .. } => Sort::Reviews,
            Self::Newest { .. } => Sort::Newest,
        }
    }

    fn of(sort: Sort, item: &PlaceItem) -> Self {
        let place_id = item.place_id;
        match sort {
            // Unrated sorts as 0, as in the SQL.
            Sort::Rating => Self::Rating {
                average_bits: item.average_stars.unwrap_or(0.0).to_bits(),
                place_id,
            },
            Sort::Reviews => Self::Reviews {
                review_count: item.review_count,
                place_id,
            },
            Sort::Newest => Self::Newest {
                added_at: item.added_at,
                place_id,
            },
        }
    }
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct PlaceItem {
    place_id: Uuid,
    name: String,
    category: String,
    address: String,
    closed: bool,
    /// Null while nobody has rated the place.
    average_stars: Option<f64>,
    rating_count: i32,
    review_count: i32,
    #[serde(with = "time::serde::rfc3339")]
    added_at: OffsetDateTime,
}

pub(super) async fn search(
    State(context): State<QueryContext>,
    headers: HeaderMap,
    query: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, Problem> {
    let params = super::query_params(query)?;
    let page = PageParams {
        limit: parse_limit(params.limit.as_deref())?,
        cursor: params.cursor,
        consistency: params.consistency,
    };
    let search = Search {
        q: parse_q(params.q)?,
        category: non_blank(params.category)
            .map(|category| category.parse::<Category>())
            .transpose()
            .map_err(|unknown| Problem::invalid("category", unknown.to_string()))?,
        sort: non_blank(params.sort).map_or(Ok(Sort::Newest), |sort| sort.parse())?,
        after: page.cursor()?,
        limit: page.limit()?,
    };
    if search
        .after
        .as_ref()
        .is_some_and(|after| after.sort() != search.sort)
    {
        return Err(Problem::invalid(
            "cursor",
            "the cursor belongs to another sort",
        ));
    }
    let token = page.token()?;
    let freshness = context.freshness(token.as_ref()).await?;
    let rows = fetch(&context, &search).await?;
    let sort = search.sort;
    let page = Page::from_rows(rows, search.limit, |item| Cursor::of(sort, item));
    Ok(json(&headers, &page, freshness))
}

async fn fetch(context: &QueryContext, search: &Search) -> Result<Vec<PlaceItem>, sqlx::Error> {
    let mut sql = QueryBuilder::<Postgres>::new(
        "SELECT p.place_id, p.name, p.category, p.address, p.closed, s.average_stars,
                s.rating_count, s.review_count, p.added_at
           FROM places p JOIN place_stats s ON s.place_id = p.place_id
          WHERE true",
    );
    if let Some(category) = search.category {
        sql.push(" AND p.category = ").push_bind(category.as_str());
    }
    if let Some(q) = &search.q {
        sql.push(" AND (lower(p.name) LIKE lower(")
            .push_bind(prefix_pattern(q))
            .push(") OR p.search @@ websearch_to_tsquery('simple', ")
            .push_bind(q.clone())
            .push("))");
    }
    match &search.after {
        None => {}
        Some(Cursor::Rating {
            average_bits,
            place_id,
        }) => {
            sql.push(" AND (coalesce(s.average_stars, 0), s.place_id) < (")
                .push_bind(f64::from_bits(*average_bits))
                .push(", ")
                .push_bind(*place_id)
                .push(")");
        }
        Some(Cursor::Reviews {
            review_count,
            place_id,
        }) => {
            sql.push(" AND (s.review_count, s.place_id) < (")
                .push_bind(*review_count)
                .push(", ")
                .push_bind(*place_id)
                .push(")");
        }
        Some(Cursor::Newest { added_at, place_id }) => {
            sql.push(" AND (p.added_at, p.place_id) < (")
                .push_bind(*added_at)
                .push(", ")
                .push_bind(*place_id)
                .push(")");
        }
    }
    // One more row than asked: it only says whether there is a next page.
    sql.push(" ORDER BY ")
        .push(search.sort.order_by())
        .push(" LIMIT ")
        .push_bind(i64::from(search.limit) + 1);
    sql.build_query_as().fetch_all(&context.pool).await
}

fn non_blank(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

fn parse_q(q: Option<String>) -> Result<Option<String>, Problem> {
    let q = non_blank(q).map(|q| q.trim().to_owned());
    if q.as_ref().is_some_and(|q| q.chars().count() > MAX_Q_CHARS) {
        return Err(Problem::invalid(
            "q",
            format!("at most {MAX_Q_CHARS} characters"),
        ));
    }
    Ok(q)
}

fn parse_limit(limit: Option<&str>) -> Result<Option<u32>, Problem> {
    limit
        .map(|limit| {
            limit
                .parse()
                .map_err(|_| Problem::invalid("limit", "not a whole number"))
        })
        .transpose()
}

/// `q` as a LIKE prefix: its own `%`, `_` and `\` match only themselves.
fn prefix_pattern(q: &str) -> String {
    let mut pattern = String::with_capacity(q.len() + 1);
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
