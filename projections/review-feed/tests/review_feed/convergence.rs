//! The key property: the same events give the same model whatever the interleaving of the
//! sources, with duplicates delivered on the way.

use std::collections::BTreeSet;

use events::{MemberId, PhotoId, PlaceId};
use projection::IncomingEvent;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use sqlx::PgPool;

use super::support::{Sources, Written, apply, checksum, model};

/// A random workload, each source's events in its commit order.
struct Workload {
    by_source: Vec<Vec<IncomingEvent>>,
}

impl Workload {
    fn generate(rng: &mut StdRng) -> Self {
        let mut sources = Sources::default();
        let members: Vec<_> = (0..15).map(|_| MemberId::generate()).collect();
        let places: Vec<_> = (0..8).map(|_| PlaceId::generate()).collect();

        let mut member_events: Vec<_> = members
            .iter()
            .enumerate()
            .map(|(n, member)| sources.register(*member, &format!("member-{n}")))
            .collect();
        for n in 0..40 {
            let member = *members.choose(rng).unwrap();
            member_events.push(if rng.random_bool(0.6) {
                sources.rename_member(member, &format!("nick-{n}"))
            } else {
                sources.avatar(member, PhotoId::generate())
            });
        }
        for member in members.iter().filter(|_| rng.random_bool(0.2)) {
            member_events.push(sources.deactivate(*member));
        }

        let mut place_events: Vec<_> = places
            .iter()
            .enumerate()
            .map(|(n, place)| sources.add_place(*place, &format!("place-{n}")))
            .collect();
        for n in 0..15 {
            let place = *places.choose(rng).unwrap();
            let name = format!("renamed-{n}");
            place_events.push(sources.update_place(place, rng.random_bool(0.7).then_some(&*name)));
        }

        // One review per member and place, as the reviews service enforces.
        let mut pairs: Vec<_> = members
            .iter()
            .flat_map(|member| places.iter().map(move |place| (*member, *place)))
            .collect();
        pairs.shuffle(rng);
        let reviews: Vec<_> = pairs[..80]
            .iter()
            .map(|(member, place)| {
                let mut written = Written::new(*place, *member, rng.random_range(0..500));
                written.photo_ids = (0..rng.random_range(0..3))
                    .map(|_| PhotoId::generate())
                    .collect();
                written
            })
            .collect();
        let mut review_events: Vec<_> = reviews
            .iter()
            .map(|written| sources.write(written))
            .collect();
        for n in 0..50 {
            let written = reviews.choose(rng).unwrap();
            review_events.push(sources.edit(
                written,
                &format!("edit-{n}"),
                vec![PhotoId::generate()],
            ));
        }
        for written in reviews.iter().filter(|_| rng.random_bool(0.2)) {
            review_events.push(sources.delete(written));
        }

        // Mostly the reviewed pairs, so stars land on reviews; some pairs without a review.
        let mut rating_events = Vec::new();
        for _ in 0..150 {
            let (member, place) = *pairs[..100].choose(rng).unwrap();
            rating_events.push(if rng.random_bool(0.2) {
                sources.unrate(member, place)
            } else {
                sources.rate(member, place, rng.random_range(1..=5))
            });
        }

        Self {
            by_source: vec![member_events, place_events, review_events, rating_events],
        }
    }

    fn len(&self) -> usize {
        self.by_source.iter().map(Vec::len).sum()
    }

    /// Whole sources one after another, in the given order of sources, in fixed batches.
    fn in_source_order(&self, order: [usize; 4]) -> Vec<Vec<IncomingEvent>> {
        let events: Vec<_> = order
            .iter()
            .flat_map(|&source| self.by_source[source].clone())
            .collect();
        events.chunks(50).map(<[_]>::to_vec).collect()
    }

    /// The sources merged at random (each keeping its own order), with events delivered again
    /// at random, in batches of random sizes.
    fn shuffled_with_duplicates(&self, rng: &mut StdRng) -> Vec<Vec<IncomingEvent>> {
        let mut next = [0_usize; 4];
        let mut delivered: Vec<IncomingEvent> = Vec::new();
        while let Some(&source) = (0..4)
            .filter(|&source| next[source] < self.by_source[source].len())
            .collect::<Vec<_>>()
            .choose(rng)
        {
            let run = rng
                .random_range(1..=5)
                .min(self.by_source[source].len() - next[source]);
            delivered.extend_from_slice(&self.by_source[source][next[source]..next[source] + run]);
            next[source] += run;
            if rng.random_bool(0.15) {
                let again = delivered.choose(rng).unwrap().clone();
                delivered.push(again);
            }
        }
        let mut batches = Vec::new();
        while !delivered.is_empty() {
            let size = rng.random_range(1..=40).min(delivered.len());
            batches.push(delivered.drain(..size).collect());
        }
        batches
    }
}

async fn build(batches: &[Vec<IncomingEvent>]) -> (PgPool, usize) {
    let pool = model().await;
    let mut applied = 0;
    for batch in batches {
        let outcome = apply(&pool, batch).await;
        assert!(outcome.poisoned.is_empty(), "{:?}", outcome.poisoned);
        applied += outcome.applied;
    }
    (pool, applied)
}

#[tokio::test]
async fn every_interleaving_of_the_sources_gives_the_same_model() {
    let seed = rand::random::<u64>();
    let mut rng = StdRng::seed_from_u64(seed);
    let workload = Workload::generate(&mut rng);

    // Dependencies last: every review before its authors, places and ratings.
    let (late_copies, late_applied) = build(&workload.in_source_order([2, 3, 1, 0])).await;
    // Dependencies first.
    let (early_copies, early_applied) = build(&workload.in_source_order([0, 1, 3, 2])).await;
    let (shuffled, shuffled_applied) = build(&workload.shuffled_with_duplicates(&mut rng)).await;

    assert_eq!(
        BTreeSet::from([late_applied, early_applied, shuffled_applied]),
        BTreeSet::from([workload.len()]),
        "seed {seed}: every event applied exactly once"
    );
    let expected = checksum(&late_copies).await;
    assert_eq!(checksum(&early_copies).await, expected, "seed {seed}");
    assert_eq!(checksum(&shuffled).await, expected, "seed {seed}");

    // The checksum covers a real model: live reviews with stars copied from `stars`.
    let (reviews, rated, mismatched): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(r.stars), count(*) FILTER (WHERE r.stars IS DISTINCT FROM s.stars)
           FROM reviews r LEFT JOIN stars s ON s.member_id = r.author_id AND s.place_id = r.place_id",
    )
    .fetch_one(&shuffled)
    .await
    .unwrap();
    assert!(
        reviews > 40 && rated > 0,
        "seed {seed}: {reviews} reviews, {rated} rated"
    );
    assert_eq!(mismatched, 0, "seed {seed}");
}
