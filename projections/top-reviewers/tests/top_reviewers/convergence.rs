//! The key property: whatever the interleaving of the sources, with redeliveries, and whether
//! built live or rebuilt after a reset, the model ends in the same state, and that state ranks
//! the members as the history says it should.

use std::collections::{BTreeMap, HashMap};

use events::ratings::RatingEvent;
use events::reviews::ReviewEvent;
use events::{MemberId, PlaceId, ReviewId};
use projection::{IncomingEvent, ReadModel};
use projection_testkit::{AnyEvent, Workload};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use top_reviewers::TopReviewers;

use crate::support::{Feed, apply, checksum, model, standings};

/// Enough for ties, deletions, re-ratings and deactivations, small enough for seconds.
const EVENTS: usize = 2_000;

const MEMBERS: usize = 0;
const REVIEWS: usize = 1;
const RATINGS: usize = 2;

/// A history's events this model consumes, each source's in its commit order.
struct Sources([Vec<IncomingEvent>; 3]);

impl Sources {
    /// The workload's events as their stores would record them; only the types the model's
    /// queue is bound to, as the broker and catch-up deliver them.
    fn record(workload: &Workload) -> Self {
        let mut feed = Feed::default();
        let mut sources: [Vec<IncomingEvent>; 3] = Default::default();
        for event in &workload.events {
            if !TopReviewers::EVENT_TYPES.contains(&event.wire_name()) {
                continue;
            }
            let (source, recorded) = match event {
                AnyEvent::Member(event) => (MEMBERS, feed.record(event)),
                AnyEvent::Review(event) => (REVIEWS, feed.record(event)),
                AnyEvent::Rating(event) => (RATINGS, feed.record(event)),
                AnyEvent::Place(_) => continue,
            };
            sources[source].push(recorded);
        }
        Self(sources)
    }

    fn one_source_after_another(&self, order: [usize; 3]) -> Vec<IncomingEvent> {
        order
            .iter()
            .flat_map(|&source| self.0[source].iter().cloned())
            .collect()
    }

    /// A random merge that keeps each source's order, with about one event in ten delivered
    /// again later, as after a crash before the ack.
    fn interleaved_with_redeliveries(&self, rng: &mut StdRng) -> Vec<IncomingEvent> {
        let mut next = [0; 3];
        let mut merged = Vec::new();
        loop {
            let open: Vec<usize> = (0..3)
                .filter(|&source| next[source] < self.0[source].len())
                .collect();
            let Some(&source) = open.choose(rng) else {
                break;
            };
            merged.push(self.0[source][next[source]].clone());
            next[source] += 1;
        }
        for index in 0..merged.len() {
            if rng.random_bool(0.1) {
                let again = merged[index].clone();
                let later = rng.random_range(index + 1..=merged.len());
                merged.insert(later, again);
            }
        }
        merged
    }
}

/// Applies `events` in batches of random sizes, as the live consumer or a catch-up would.
async fn apply_in_batches(pool: &PgPool, events: &[IncomingEvent], rng: &mut StdRng) {
    let mut rest = events;
    while !rest.is_empty() {
        let (batch, after) = rest.split_at(rng.random_range(1..=50).min(rest.len()));
        let outcome = apply(pool, batch).await;
        assert!(outcome.poisoned.is_empty(), "{:?}", outcome.poisoned);
        rest = after;
    }
}

/// The ranking the history leads to, worked out without the database: live reviews per
/// member, the stars of those whose author rates the place, in the ranking's order.
fn expected_standings(workload: &Workload) -> Vec<(MemberId, i64, Option<f64>)> {
    let mut reviews: HashMap<ReviewId, (MemberId, PlaceId)> = HashMap::new();
    let mut stars: HashMap<(MemberId, PlaceId), u8> = HashMap::new();
    for event in &workload.events {
        match event {
            AnyEvent::Review(ReviewEvent::ReviewWritten(written)) => {
                reviews.insert(written.review_id, (written.author_id, written.place_id));
            }
            AnyEvent::Review(ReviewEvent::ReviewDeleted(deleted)) => {
                reviews.remove(&deleted.review_id);
            }
            AnyEvent::Rating(RatingEvent::PlaceRated(rated)) => {
                stars.insert((rated.member_id, rated.place_id), rated.stars);
            }
            AnyEvent::Rating(RatingEvent::RatingRemoved(removed)) => {
                stars.remove(&(removed.member_id, removed.place_id));
            }
            _ => {}
        }
    }
    let mut per_member: BTreeMap<MemberId, (i64, u32, u32)> = BTreeMap::new();
    for (author, place) in reviews.values() {
        let (count, rated, sum) = per_member.entry(*author).or_default();
        *count += 1;
        if let Some(&given) = stars.get(&(*author, *place)) {
            *rated += 1;
            *sum += u32::from(given);
        }
    }
    let mut standings: Vec<(MemberId, i64, Option<f64>)> = per_member
        .into_iter()
        .map(|(member, (count, rated, sum))| {
            let average = (rated > 0).then(|| f64::from(sum) / f64::from(rated));
            (member, count, average)
        })
        .collect();
    standings.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| match (a.2, b.2) {
                (Some(a), Some(b)) => b.total_cmp(&a),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.0.cmp(&b.0))
    });
    standings.truncate(top_reviewers::ranking::Limit::MAX as usize);
    standings
}

#[tokio::test]
async fn every_interleaving_of_the_sources_ends_in_the_same_ranking() {
    let seed = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let workload = Workload::generate(seed, EVENTS);
    let sources = Sources::record(&workload);
    let expected = expected_standings(&workload);
    assert!(
        expected.len() > 10 && expected.iter().any(|(_, _, average)| average.is_some()),
        "seed {seed}: a workload worth ranking"
    );
    let deliveries = [
        (
            "members last",
            sources.one_source_after_another([REVIEWS, RATINGS, MEMBERS]),
        ),
        (
            "ratings before reviews",
            sources.one_source_after_another([MEMBERS, RATINGS, REVIEWS]),
        ),
        (
            "a random interleaving with redeliveries",
            sources.interleaved_with_redeliveries(&mut rng),
        ),
    ];

    let mut checksums = Vec::new();
    for (name, events) in deliveries {
        let pool = model().await;
        apply_in_batches(&pool, &events, &mut rng).await;
        assert_eq!(standings(&pool).await, expected, "{name} (seed {seed})");
        checksums.push((name, checksum(&pool).await));
    }

    let (first_name, first) = &checksums[0];
    for (name, other) in &checksums[1..] {
        assert_eq!(other, first, "{name} vs {first_name} (seed {seed})");
    }
}

#[tokio::test]
async fn a_reset_and_rebuild_ends_where_live_processing_did() {
    let seed = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let workload = Workload::generate(seed, EVENTS);
    let sources = Sources::record(&workload);
    let pool = model().await;
    apply_in_batches(
        &pool,
        &sources.interleaved_with_redeliveries(&mut rng),
        &mut rng,
    )
    .await;
    let live = checksum(&pool).await;

    let mut conn = pool.acquire().await.unwrap();
    TopReviewers.reset(&mut conn).await.unwrap();
    // The runner's half of a reset.
    sqlx::query("TRUNCATE projection_checkpoints")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(checksum(&pool).await, checksum(&model().await).await);

    apply_in_batches(
        &pool,
        &sources.one_source_after_another([MEMBERS, REVIEWS, RATINGS]),
        &mut rng,
    )
    .await;

    assert_eq!(checksum(&pool).await, live, "seed {seed}");
    assert_eq!(
        standings(&pool).await,
        expected_standings(&workload),
        "seed {seed}"
    );
}
