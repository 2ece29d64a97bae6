//! The query API through the router: matching, filtering, sorting, paging, ETags and
//! read-your-writes.

use std::collections::HashSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use events::places::{Category, PlaceAdded};
use events::{MemberId, ReviewId};
use projection::IncomingEvent;
use projection::query::FRESHNESS_HEADER;
use rand::Rng;
use sqlx::PgPool;

use super::support::{self, Answer, Sources, apply, get, get_with, ids, place};

/// Five places with known ratings and review counts.
struct Directory {
    pool: PgPool,
    alpha: PlaceAdded,
    beta: PlaceAdded,
    alphabet: PlaceAdded,
    gamma: PlaceAdded,
    juice: PlaceAdded,
}

impl Directory {
    async fn new() -> Self {
        let pool = support::model().await;
        let mut sources = Sources::default();
        let alpha = place(
            "Alpha Cafe",
            Category::Cafe,
            "Quiet espresso bar with books",
            1,
        );
        let beta = place("Beta Bistro", Category::Restaurant, "French food", 2);
        let alphabet = place("alphabet soup", Category::Restaurant, "Soups", 3);
        let gamma = place("Gamma", Category::Bar, "Craft beer in a quiet corner", 4);
        let juice = place("100% Juice", Category::Shop, "Pressed daily", 5);
        let mut events: Vec<IncomingEvent> = [&alpha, &beta, &alphabet, &gamma, &juice]
            .into_iter()
            .map(|added| sources.place(added.clone()))
            .collect();
        for (added, stars, reviews) in [
            (&alpha, &[5, 4][..], 2),
            (&beta, &[5][..], 3),
            (&gamma, &[4, 5][..], 2),
            (&juice, &[2][..], 1),
        ] {
            for &stars in stars {
                events.push(sources.rate(added.place_id, MemberId::generate(), stars));
            }
            for _ in 0..reviews {
                events.push(sources.write_review(ReviewId::generate(), added.place_id));
            }
        }
        apply(&pool, &events).await;
        Self {
            pool,
            alpha,
            beta,
            alphabet,
            gamma,
            juice,
        }
    }

    async fn ids(&self, uri: &str) -> Vec<String> {
        let answer = get(&support::router(&self.pool, Duration::ZERO), uri).await;
        assert_eq!(answer.status, 200, "{uri}: {:?}", answer.body);
        ids(&answer)
    }
}

fn id_of(added: &PlaceAdded) -> String {
    added.place_id.to_string()
}

/// `a` and `b` tie: the larger place id comes first.
fn tied(a: &PlaceAdded, b: &PlaceAdded) -> [String; 2] {
    let (a, b) = (id_of(a), id_of(b));
    if a > b { [a, b] } else { [b, a] }
}

#[tokio::test]
async fn q_matches_a_name_prefix_in_any_case_or_the_text() {
    let directory = Directory::new().await;
    let both = HashSet::from([id_of(&directory.alpha), id_of(&directory.alphabet)]);
    for q in ["alph", "ALPHA"] {
        let found: HashSet<_> = directory
            .ids(&format!("/places?q={q}"))
            .await
            .into_iter()
            .collect();
        assert_eq!(found, both, "q={q}");
    }
    // Full text over the description, and a word of the name that is not its prefix.
    let quiet: HashSet<_> = directory.ids("/places?q=quiet").await.into_iter().collect();
    assert_eq!(
        quiet,
        HashSet::from([id_of(&directory.alpha), id_of(&directory.gamma)])
    );
    assert_eq!(
        directory.ids("/places?q=bistro").await,
        [id_of(&directory.beta)]
    );
    // LIKE's wildcards in q match only themselves.
    assert_eq!(
        directory.ids("/places?q=100%25").await,
        [id_of(&directory.juice)]
    );
    assert!(directory.ids("/places?q=_").await.is_empty());
    // Blank is no filter.
    assert_eq!(directory.ids("/places?q=%20").await.len(), 5);
}

#[tokio::test]
async fn category_filters_and_an_unknown_one_is_refused() {
    let directory = Directory::new().await;
    let restaurants: HashSet<_> = directory
        .ids("/places?category=restaurant")
        .await
        .into_iter()
        .collect();
    assert_eq!(
        restaurants,
        HashSet::from([id_of(&directory.beta), id_of(&directory.alphabet)])
    );
    assert_eq!(
        directory.ids("/places?category=restaurant&q=soup").await,
        [id_of(&directory.alphabet)]
    );

    let router = support::router(&directory.pool, Duration::ZERO);
    let unknown = get(&router, "/places?category=spaceport").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["errors"][0]["field"], "category");
}

#[tokio::test]
async fn sorts_by_rating_with_unrated_last_by_reviews_and_by_newest() {
    let d = Directory::new().await;
    let [first_tie, second_tie] = tied(&d.alpha, &d.gamma);

    let by_rating = d.ids("/places?sort=rating").await;
    assert_eq!(
        by_rating,
        [
            id_of(&d.beta),
            first_tie.clone(),
            second_tie.clone(),
            id_of(&d.juice),
            id_of(&d.alphabet)
        ]
    );
    let by_reviews = d.ids("/places?sort=reviews").await;
    assert_eq!(
        by_reviews,
        [
            id_of(&d.beta),
            first_tie,
            second_tie,
            id_of(&d.juice),
            id_of(&d.alphabet)
        ]
    );
    let newest = [&d.juice, &d.gamma, &d.alphabet, &d.beta, &d.alpha].map(id_of);
    assert_eq!(d.ids("/places?sort=newest").await, newest);
    assert_eq!(d.ids("/places").await, newest);

    let router = support::router(&d.pool, Duration::ZERO);
    let item = &get(&router, "/places?sort=rating&limit=1").await.body["items"][0];
    assert_eq!(
        *item,
        serde_json::json!({
            "place_id": d.beta.place_id, "name": "Beta Bistro", "category": "restaurant",
            "address": "2 Main Street", "closed": false, "average_stars": 5.0,
            "rating_count": 1, "review_count": 3, "added_at": "2026-01-01T00:02:00Z",
        })
    );
    let unknown = get(&router, "/places?sort=alphabetical").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["errors"][0]["field"], "sort");
}

/// Walks every page of `uri` with `limit` per page.
async fn walk(router: &axum::Router, uri: &str, limit: u32) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_uri = match &cursor {
            None => format!("{uri}&limit={limit}"),
            Some(cursor) => format!("{uri}&limit={limit}&cursor={cursor}"),
        };
        let answer = get(router, &page_uri).await;
        assert_eq!(answer.status, 200, "{page_uri}: {:?}", answer.body);
        let page = ids(&answer);
        assert!(page.len() <= limit as usize);
        all.extend(page);
        match answer.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

#[tokio::test]
async fn cursors_page_through_every_sort_without_gaps_or_duplicates() {
    let pool = support::model().await;
    let mut sources = Sources::default();
    let mut rng = rand::rng();
    let mut events = Vec::new();
    // Few distinct averages and review counts, and equal added times: many ties.
    for index in 0..37 {
        let added = place(
            &format!("Place {index}"),
            Category::Park,
            "Grass",
            index % 4,
        );
        for _ in 0..rng.random_range(0..3) {
            events.push(sources.rate(
                added.place_id,
                MemberId::generate(),
                rng.random_range(1..=5),
            ));
        }
        for _ in 0..rng.random_range(0..3) {
            events.push(sources.write_review(ReviewId::generate(), added.place_id));
        }
        events.push(sources.place(added));
    }
    apply(&pool, &events).await;
    let router = support::router(&pool, Duration::ZERO);

    for sort in ["rating", "reviews", "newest"] {
        let uri = format!("/places?sort={sort}");
        let whole = ids(&get(&router, &format!("{uri}&limit=100")).await);
        assert_eq!(whole.len(), 37);
        for limit in [1, 4, 10] {
            assert_eq!(
                walk(&router, &uri, limit).await,
                whole,
                "sort={sort} limit={limit}"
            );
        }
    }
}

#[tokio::test]
async fn bad_limits_cursors_and_tokens_are_refused() {
    let directory = Directory::new().await;
    let router = support::router(&directory.pool, Duration::ZERO);
    let first = get(&router, "/places?sort=rating&limit=2").await;
    let rating_cursor = first.body["next_cursor"].as_str().unwrap().to_owned();

    for (uri, field) in [
        ("/places?limit=101".to_owned(), "limit"),
        ("/places?limit=0".to_owned(), "limit"),
        ("/places?limit=-3".to_owned(), "limit"),
        ("/places?cursor=not-a-cursor".to_owned(), "cursor"),
        (
            format!("/places?sort=newest&cursor={rating_cursor}"),
            "cursor",
        ),
        ("/places?consistency=nonsense".to_owned(), "consistency"),
        ("/places?q=".to_owned() + &"x".repeat(201), "q"),
    ] {
        let answer = get(&router, &uri).await;
        assert_eq!(answer.status, 400, "{uri}");
        assert_eq!(
            answer.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(answer.body["errors"][0]["field"], field, "{uri}");
    }
    let limit_100 = get(&router, "/places?limit=100").await;
    assert_eq!(limit_100.status, 200);
}

#[tokio::test]
async fn an_unchanged_answer_is_not_modified_for_its_etag() {
    let directory = Directory::new().await;
    let router = support::router(&directory.pool, Duration::ZERO);
    for uri in [
        "/places?sort=reviews".to_owned(),
        format!("/places/{}", directory.alpha.place_id),
    ] {
        let first = get(&router, &uri).await;
        let etag = first.headers[header::ETAG].clone();
        let request = Request::get(&uri)
            .header(header::IF_NONE_MATCH, etag.clone())
            .body(Body::empty())
            .unwrap();
        let again: Answer = get_with(&router, request).await;
        assert_eq!(again.status, 304, "{uri}");
        assert_eq!(again.headers[header::ETAG], etag);
    }
}

#[tokio::test]
async fn a_token_ahead_of_the_model_answers_stale_after_the_wait_and_a_covered_one_fresh() {
    let directory = Directory::new().await;
    let router = support::router(&directory.pool, Duration::from_millis(50));
    let detail = format!("/places/{}", directory.alpha.place_id);
    // The fixture applied a handful of place events: position 5 is covered, 9999 is not.
    for (token, freshness) in [("places.9999.9999", "stale"), ("places.5.5", "fresh")] {
        for uri in [
            format!("/places?consistency={token}"),
            format!("{detail}?consistency={token}"),
        ] {
            let answer = get(&router, &uri).await;
            assert_eq!(answer.status, 200, "{uri}");
            assert_eq!(answer.headers[FRESHNESS_HEADER], freshness, "{uri}");
        }
    }
    let without = get(&router, &detail).await;
    assert_eq!(without.headers[FRESHNESS_HEADER], "fresh");
}
