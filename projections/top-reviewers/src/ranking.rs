//! The ranking as the query API shows it, read from the members' counters.
//!
//! ```json
//! { "items": [
//!     { "rank": 1, "member_id": "…", "nickname": "ana", "deactivated": false,
//!       "review_count": 12, "average_stars": 4.25 } ] }
//! ```
//! - Ordered by `review_count` (live reviews), then `average_stars` (the mean of the stars
//!   those reviews received, null when none has stars, ranked after every average), then
//!   `member_id`, so equal members always come in the same order. `rank` is the position,
//!   from 1.
//! - A deactivated member shows as a "deleted member": `deactivated` true, `nickname` null.
//!   `nickname` is also null while the members service has not told this model about the
//!   member yet (a stale source), with `deactivated` false.
//! - Members without a live review are not ranked.

use events::MemberId;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// How many members a ranking shows: 1 to [`Limit::MAX`], [`Limit::DEFAULT`] when not asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub const DEFAULT: Self = Self(10);
    pub const MAX: u32 = projection::query::MAX_LIMIT;

    /// The limit a client asked for, if any; a blank one is the same as none.
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
            return Ok(Self::DEFAULT);
        };
        match raw.parse::<u32>() {
            Ok(limit @ 1..=Self::MAX) => Ok(Self(limit)),
            _ => Err(format!("must be a whole number from 1 to {}", Self::MAX)),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// The top of the ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranking {
    pub items: Vec<Reviewer>,
}

/// One ranked member.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reviewer {
    /// The position in the ranking, from 1.
    pub rank: u32,
    pub member_id: MemberId,
    /// Null for a deleted member, and while the member's registration has not arrived.
    pub nickname: Option<String>,
    pub deactivated: bool,
    /// Live reviews: written and not deleted.
    pub review_count: i64,
    /// The mean of the stars the member's reviews received (each the member's own rating of
    /// the reviewed place); null when none of them has stars.
    pub average_stars: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    member_id: Uuid,
    nickname: Option<String>,
    deactivated: bool,
    review_count: i32,
    average_stars: Option<f64>,
}

/// The first `limit` members of the ranking: one scan of `members_ranking`, in its order.
pub async fn top(pool: &PgPool, limit: Limit) -> Result<Ranking, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(RANKING)
        .bind(i64::from(limit.get()))
        .fetch_all(pool)
        .await?;
    let items = rows
        .into_iter()
        .zip(1..)
        .map(|(row, rank)| Reviewer {
            rank,
            member_id: MemberId::from(row.member_id),
            nickname: row.nickname.filter(|_| !row.deactivated),
            deactivated: row.deactivated,
            review_count: i64::from(row.review_count),
            average_stars: row.average_stars,
        })
        .collect();
    Ok(Ranking { items })
}

/// The ranking's statement; its `WHERE` and `ORDER BY` are those of the `members_ranking`
/// index, so the plan is an index scan cut at the limit, with no sort. The columns are read as
/// they are stored: an output column cast and named like its column would be what `ORDER BY`
/// sorts, and that needs a sort.
const RANKING: &str = "SELECT member_id, nickname, deactivated, review_count, average_stars
                         FROM members
                        WHERE review_count > 0
                        ORDER BY review_count DESC, average_stars DESC NULLS LAST, member_id
                        LIMIT $1";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::TopReviewers;

    #[test]
    fn a_limit_is_one_to_a_hundred_and_ten_when_absent_or_blank() {
        assert_eq!(Limit::parse(None), Ok(Limit::DEFAULT));
        assert_eq!(Limit::parse(Some(" ")), Ok(Limit::DEFAULT));
        assert_eq!(Limit::parse(Some("1")).unwrap().get(), 1);
        assert_eq!(Limit::parse(Some("100")).unwrap().get(), 100);
        for refused in ["0", "101", "-1", "ten", "2.5"] {
            assert!(Limit::parse(Some(refused)).is_err(), "{refused}");
        }
    }

    /// Whatever the table's size, the plan must be the index in its order: the planner is
    /// kept from a sequential scan, which a small test table would otherwise get.
    #[tokio::test]
    async fn the_ranking_is_read_in_index_order_without_a_sort() {
        let pool = projection_testkit::model::fresh(&TopReviewers).await;
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN {}",
            RANKING.replace("$1", "10")
        )))
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        let plan = plan.join("\n");

        assert!(plan.contains("Index Scan using members_ranking"), "{plan}");
        assert!(!plan.contains("Sort"), "{plan}");
    }
}
