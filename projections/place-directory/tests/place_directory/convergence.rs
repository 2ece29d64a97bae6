//! The key property: the same events in any cross-source interleaving, with duplicates and
//! any batching, give the same model; and a reset followed by a rebuild gives it again.

use events::places::{Category, PlaceClosed, PlaceEvent, PlaceUpdated};
use events::reviews::{ReviewEdited, ReviewEvent};
use events::{MemberId, PlaceId, ReviewId};
use place_directory::PlaceDirectory;
use projection::{IncomingEvent, ReadModel};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

use super::support::{self, Sources, apply, checksum, place};

/// Each source's events in its own commit order.
struct Workload {
    places: Vec<IncomingEvent>,
    reviews: Vec<IncomingEvent>,
    ratings: Vec<IncomingEvent>,
}

fn generate(rng: &mut StdRng) -> Workload {
    let mut sources = Sources::default();
    let mut places = Vec::new();
    let mut place_ids = Vec::new();
    for minute in 0..40 {
        let category = *Category::ALL.choose(rng).unwrap();
        let added = place(&format!("Place {minute}"), category, "A fine place", minute);
        place_ids.push(added.place_id);
        places.push(sources.place(added));
    }
    for _ in 0..40 {
        let place_id = *place_ids.choose(rng).unwrap();
        let event = if rng.random_bool(0.2) {
            PlaceEvent::from(PlaceClosed {
                place_id,
                closed_by: MemberId::generate(),
                closed_at: OffsetDateTime::now_utc(),
            })
        } else {
            PlaceEvent::from(PlaceUpdated {
                place_id,
                name: rng
                    .random_bool(0.5)
                    .then(|| format!("Renamed {}", rng.random::<u16>())),
                category: rng
                    .random_bool(0.3)
                    .then(|| *Category::ALL.choose(rng).unwrap()),
                address: None,
                description: rng.random_bool(0.5).then(|| "Better now".to_owned()),
                updated_by: MemberId::generate(),
                updated_at: OffsetDateTime::now_utc(),
            })
        };
        places.push(sources.record::<PlaceEvent>(event));
    }
    // Ratings and reviews also name a place that is never added: they must not show, but
    // they count in the checksum all the same.
    place_ids.push(PlaceId::generate());

    let mut reviews = Vec::new();
    let mut live: Vec<(ReviewId, PlaceId)> = Vec::new();
    for _ in 0..200 {
        match rng.random_range(0..10) {
            0..=5 => {
                let review = (ReviewId::generate(), *place_ids.choose(rng).unwrap());
                live.push(review);
                reviews.push(sources.write_review(review.0, review.1));
            }
            6 if !live.is_empty() => {
                let (review_id, place_id) = *live.choose(rng).unwrap();
                reviews.push(sources.record::<ReviewEvent>(ReviewEdited {
                    review_id,
                    place_id,
                    title: "Edited".to_owned(),
                    body: "Edited".to_owned(),
                    photo_ids: Vec::new(),
                    edited_at: OffsetDateTime::now_utc(),
                }));
            }
            _ if !live.is_empty() => {
                let index = rng.random_range(0..live.len());
                let (review_id, place_id) = live.swap_remove(index);
                reviews.push(sources.delete_review(review_id, place_id));
            }
            _ => {}
        }
    }

    let members: Vec<MemberId> = (0..12).map(|_| MemberId::generate()).collect();
    let mut ratings = Vec::new();
    for _ in 0..250 {
        let place_id = *place_ids.choose(rng).unwrap();
        let member_id = *members.choose(rng).unwrap();
        ratings.push(if rng.random_bool(0.2) {
            sources.unrate(place_id, member_id)
        } else {
            sources.rate(place_id, member_id, rng.random_range(1..=5))
        });
    }
    Workload {
        places,
        reviews,
        ratings,
    }
}

/// The sources merged in a random order that keeps each source's own order, with some
/// events delivered again later (as a redelivery would).
fn interleave(workload: &Workload, rng: &mut StdRng) -> Vec<IncomingEvent> {
    let mut queues = [
        workload.places.iter(),
        workload.reviews.iter(),
        workload.ratings.iter(),
    ]
    .map(Iterator::peekable);
    let mut merged: Vec<IncomingEvent> = Vec::new();
    loop {
        let open: Vec<usize> = (0..queues.len())
            .filter(|&index| queues[index].peek().is_some())
            .collect();
        let Some(&index) = open.choose(rng) else {
            break;
        };
        merged.extend(queues[index].next().cloned());
        if rng.random_bool(0.1) {
            let again = merged[rng.random_range(0..merged.len())].clone();
            merged.push(again);
        }
    }
    merged
}

/// Applies `events` in batches of random sizes.
async fn apply_in_batches(pool: &sqlx::PgPool, events: &[IncomingEvent], rng: &mut StdRng) {
    let mut rest = events;
    while !rest.is_empty() {
        let size = rng.random_range(1..=50).min(rest.len());
        let (batch, tail) = rest.split_at(size);
        let outcome = apply(pool, batch).await;
        assert!(outcome.poisoned.is_empty(), "{outcome:?}");
        rest = tail;
    }
}

/// The stats rows say exactly what the copies hold.
async fn assert_stats_match_copies(pool: &sqlx::PgPool) {
    let mismatched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM place_stats s
           LEFT JOIN (SELECT place_id,
                             count(*) FILTER (WHERE stars = 1) AS s1, count(*) FILTER (WHERE stars = 2) AS s2,
                             count(*) FILTER (WHERE stars = 3) AS s3, count(*) FILTER (WHERE stars = 4) AS s4,
                             count(*) FILTER (WHERE stars = 5) AS s5
                        FROM ratings GROUP BY place_id) r USING (place_id)
           LEFT JOIN (SELECT place_id, count(*) AS n FROM reviews GROUP BY place_id) v USING (place_id)
          WHERE (s.stars_1, s.stars_2, s.stars_3, s.stars_4, s.stars_5, s.review_count)
             IS DISTINCT FROM (coalesce(r.s1, 0), coalesce(r.s2, 0), coalesce(r.s3, 0),
                               coalesce(r.s4, 0), coalesce(r.s5, 0), coalesce(v.n, 0))",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(mismatched, 0);
}

#[tokio::test]
async fn every_interleaving_with_duplicates_converges_and_a_rebuild_matches() {
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let workload = generate(&mut rng);

    // Each source whole, one after the other: places first, then the other way round.
    let in_order: Vec<IncomingEvent> = [&workload.places, &workload.reviews, &workload.ratings]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let reversed: Vec<IncomingEvent> = [&workload.ratings, &workload.reviews, &workload.places]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let shuffled = interleave(&workload, &mut rng);
    assert!(
        shuffled.len() > in_order.len(),
        "seed {seed}: no duplicates"
    );

    let mut checksums = Vec::new();
    for events in [&in_order, &reversed, &shuffled] {
        let pool = support::model().await;
        apply_in_batches(&pool, events, &mut rng).await;
        assert_stats_match_copies(&pool).await;
        checksums.push((checksum(&pool).await, pool));
    }
    let (first, _) = &checksums[0];
    for (other, _) in &checksums[1..] {
        assert_eq!(other, first, "seed {seed}");
    }

    // A reset and a rebuild (here, in a fresh interleaving) give the same model again.
    let (_, pool) = &checksums[2];
    let mut conn = pool.acquire().await.unwrap();
    PlaceDirectory.reset(&mut conn).await.unwrap();
    sqlx::query("TRUNCATE projection_checkpoints")
        .execute(&mut *conn)
        .await
        .unwrap();
    let emptied = PlaceDirectory.checksum(&mut conn).await.unwrap();
    assert_ne!(
        &emptied, first,
        "seed {seed}: the workload left the model empty"
    );
    drop(conn);
    apply_in_batches(pool, &interleave(&workload, &mut rng), &mut rng).await;
    assert_eq!(&checksum(pool).await, first, "seed {seed}");
}
