//! The queries, as functions over the pool, and the JSON shape of a review.
//!
//! A review's JSON:
//! ```json
//! { "review_id": "…",
//!   "place": { "place_id": "…", "name": "Café Central" },
//!   "author": { "member_id": "…", "nickname": "ana", "avatar_url": "/api/v1/photos/…",
//!               "deleted": false },
//!   "title": "…", "body": "…", "photo_urls": ["/api/v1/photos/…"], "stars": 4,
//!   "created_at": "2026-01-02T03:04:05Z", "edited_at": null }
//! ```
//! - `author.deleted` is `true` once the member is deactivated; `nickname` and `avatar_url`
//!   are then `null` ("deleted member"). They are also `null` while the members service has
//!   not told this model about the author yet (a stale source), with `deleted: false`.
//! - `place.name` is `null` while the places service has not told this model about the place.
//! - `stars` is the author's current rating of the place: `null` when unknown or removed.
//!
//! Lists are keyset pages: a cursor is the last shown review's position in the sort order.

use events::PhotoId;
use projection::query::{Page, PageParams, Problem, decode_cursor};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// The order of a place's reviews.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// By written time, then review id, newest first.
    #[default]
    Newest,
    /// Most stars first, unknown stars last, then newest first.
    Stars,
}

/// A validated page request: its order, size and where it starts.
#[derive(Debug, Clone)]
pub struct PageRequest {
    sort: Sort,
    limit: u32,
    after: Option<Position>,
}

impl PageRequest {
    /// Refuses a limit above the maximum, a cursor this API did not issue and a cursor of
    /// another sort order.
    pub fn parse(sort: Sort, params: &PageParams) -> Result<Self, Problem> {
        let limit = params.limit()?;
        let after = params
            .cursor
            .as_deref()
            .map(|cursor| {
                let position: Position = decode_cursor(cursor)?;
                if position.stars.is_some() == (sort == Sort::Stars) {
                    Ok(position)
                } else {
                    Err(Problem::invalid("cursor", "a cursor of another sort order"))
                }
            })
            .transpose()?;
        Ok(Self { sort, limit, after })
    }

    fn fetch(&self) -> i64 {
        // One more than the page: it only says whether there is a next page.
        i64::from(self.limit) + 1
    }
}

/// A review's place in a list: the sort key of the last review shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Position {
    /// Stars as sorted (unknown is 0); present only in the stars order.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    stars: Option<i16>,
    #[serde(rename = "w", with = "time::serde::rfc3339")]
    written_at: OffsetDateTime,
    #[serde(rename = "r")]
    review_id: Uuid,
}

impl Position {
    fn of(review: &Review, sort: Sort) -> Self {
        Self {
            stars: (sort == Sort::Stars).then(|| review.stars.map_or(0, i16::from)),
            written_at: review.created_at,
            review_id: review.review_id,
        }
    }
}

/// One review as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    pub review_id: Uuid,
    pub place: Place,
    pub author: Author,
    pub title: String,
    pub body: String,
    pub photo_urls: Vec<String>,
    pub stars: Option<u8>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub edited_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    pub place_id: Uuid,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Author {
    pub member_id: Uuid,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub deleted: bool,
}

/// Where the gateway serves a photo.
fn photo_url(photo_id: Uuid) -> String {
    format!("/api/v1/photos/{}", PhotoId::from(photo_id))
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    review_id: Uuid,
    place_id: Uuid,
    place_name: Option<String>,
    author_id: Uuid,
    nickname: Option<String>,
    avatar_photo_id: Option<Uuid>,
    deactivated: bool,
    title: String,
    body: String,
    photo_ids: Vec<Uuid>,
    stars: Option<i16>,
    written_at: OffsetDateTime,
    edited_at: Option<OffsetDateTime>,
}

impl From<Row> for Review {
    fn from(row: Row) -> Self {
        let author = if row.deactivated {
            Author {
                member_id: row.author_id,
                nickname: None,
                avatar_url: None,
                deleted: true,
            }
        } else {
            Author {
                member_id: row.author_id,
                nickname: row.nickname,
                avatar_url: row.avatar_photo_id.map(photo_url),
                deleted: false,
            }
        };
        Self {
            review_id: row.review_id,
            place: Place {
                place_id: row.place_id,
                name: row.place_name,
            },
            author,
            title: row.title,
            body: row.body,
            photo_urls: row.photo_ids.into_iter().map(photo_url).collect(),
            stars: row.stars.and_then(|stars| u8::try_from(stars).ok()),
            created_at: row.written_at,
            edited_at: row.edited_at,
        }
    }
}

/// A review with its author and place joined by primary key; the rest of the query follows.
macro_rules! select_reviews {
    ($rest:literal) => {
        concat!(
            "SELECT r.review_id, r.place_id, p.name AS place_name, r.author_id, a.nickname,
                    a.avatar_photo_id, coalesce(a.deactivated, false) AS deactivated,
                    r.title, r.body, r.photo_ids, r.stars, r.written_at, r.edited_at
               FROM reviews r
               LEFT JOIN places p ON p.place_id = r.place_id
               LEFT JOIN authors a ON a.member_id = r.author_id ",
            $rest
        )
    };
}

// Without a cursor, the comparisons start above every review: the bounds fall back to values
// no review has, which keeps one plan whose index range starts at the cursor.
const PLACE_NEWEST: &str = select_reviews!(
    "WHERE r.place_id = $1
       AND (r.written_at, r.review_id)
         < (coalesce($2::timestamptz, 'infinity'),
            coalesce($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
     ORDER BY r.written_at DESC, r.review_id DESC
     LIMIT $4"
);

const PLACE_STARS: &str = select_reviews!(
    "WHERE r.place_id = $1
       AND (coalesce(r.stars, 0), r.written_at, r.review_id)
         < (coalesce($5::smallint, 32767), coalesce($2::timestamptz, 'infinity'),
            coalesce($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
     ORDER BY coalesce(r.stars, 0) DESC, r.written_at DESC, r.review_id DESC
     LIMIT $4"
);

const MEMBER_NEWEST: &str = select_reviews!(
    "WHERE r.author_id = $1
       AND (r.written_at, r.review_id)
         < (coalesce($2::timestamptz, 'infinity'),
            coalesce($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
     ORDER BY r.written_at DESC, r.review_id DESC
     LIMIT $4"
);

const ONE: &str = select_reviews!("WHERE r.review_id = $1");

/// A place's live reviews; `None` when the model knows neither the place nor any review of it.
pub async fn place_reviews(
    pool: &PgPool,
    place_id: Uuid,
    request: &PageRequest,
) -> Result<Option<Page<Review>>, sqlx::Error> {
    let sql = match request.sort {
        Sort::Newest => PLACE_NEWEST,
        Sort::Stars => PLACE_STARS,
    };
    let page = list(pool, sql, place_id, request).await?;
    known_unless_empty(
        pool,
        page,
        request,
        "SELECT EXISTS (SELECT FROM places WHERE place_id = $1)",
        place_id,
    )
    .await
}

/// A member's live reviews, newest first (the request's sort is ignored); `None` when the
/// model knows neither the member nor any review by them.
pub async fn member_reviews(
    pool: &PgPool,
    member_id: Uuid,
    request: &PageRequest,
) -> Result<Option<Page<Review>>, sqlx::Error> {
    let newest = PageRequest {
        sort: Sort::Newest,
        ..request.clone()
    };
    let page = list(pool, MEMBER_NEWEST, member_id, &newest).await?;
    known_unless_empty(
        pool,
        page,
        &newest,
        "SELECT EXISTS (SELECT FROM authors WHERE member_id = $1)",
        member_id,
    )
    .await
}

/// One live review; `None` when unknown or deleted.
pub async fn review(pool: &PgPool, review_id: Uuid) -> Result<Option<Review>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(ONE)
        .bind(review_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Review::from))
}

async fn list(
    pool: &PgPool,
    sql: &'static str,
    key: Uuid,
    request: &PageRequest,
) -> Result<Page<Review>, sqlx::Error> {
    let after = request.after.as_ref();
    let sort = request.sort;
    let mut query = sqlx::query_as(sql)
        .bind(key)
        .bind(after.map(|position| position.written_at))
        .bind(after.map(|position| position.review_id))
        .bind(request.fetch());
    if sort == Sort::Stars {
        query = query.bind(after.and_then(|position| position.stars));
    }
    let rows: Vec<Row> = query.fetch_all(pool).await?;
    Ok(Page::from_rows(
        rows.into_iter().map(Review::from).collect(),
        request.limit,
        |review| Position::of(review, sort),
    ))
}

/// An empty first page is a 404 when the owner is unknown too; a later page is just empty.
async fn known_unless_empty(
    pool: &PgPool,
    page: Page<Review>,
    request: &PageRequest,
    exists: &'static str,
    key: Uuid,
) -> Result<Option<Page<Review>>, sqlx::Error> {
    if !page.items.is_empty() || request.after.is_some() {
        return Ok(Some(page));
    }
    let known: bool = sqlx::query_scalar(exists).bind(key).fetch_one(pool).await?;
    Ok(known.then_some(page))
}
