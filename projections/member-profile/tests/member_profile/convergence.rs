//! The key property: whatever the interleaving of the sources, with redeliveries, and whether
//! built live or rebuilt after a reset, the model ends in the same state.

use member_profile::MemberProfile;
use projection::ReadModel;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::support::{checksum, model};
use crate::workload::{MEMBERS, RATINGS, REVIEWS, Workload, apply_in_batches};

const EVENTS: usize = 600;

#[tokio::test]
async fn every_interleaving_of_the_sources_ends_in_the_same_profiles() {
    let seed = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let workload = Workload::generate(&mut rng, EVENTS);
    let deliveries = [
        (
            "registrations last",
            workload.one_source_after_another([REVIEWS, RATINGS, MEMBERS]),
        ),
        (
            "registrations first",
            workload.one_source_after_another([MEMBERS, RATINGS, REVIEWS]),
        ),
        (
            "a random interleaving with redeliveries",
            workload.interleaved_with_redeliveries(&mut rng),
        ),
    ];

    let mut checksums = Vec::new();
    for (name, events) in deliveries {
        let pool = model().await;
        apply_in_batches(&pool, &events, &mut rng).await;
        workload
            .assert_profiles(&pool, &format!("{name} (seed {seed})"))
            .await;
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
    let workload = Workload::generate(&mut rng, EVENTS);
    let pool = model().await;
    apply_in_batches(
        &pool,
        &workload.interleaved_with_redeliveries(&mut rng),
        &mut rng,
    )
    .await;
    let live = checksum(&pool).await;

    let mut conn = pool.acquire().await.unwrap();
    MemberProfile.reset(&mut conn).await.unwrap();
    // The runner's half of a reset.
    sqlx::query("TRUNCATE projection_checkpoints")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(checksum(&pool).await, checksum(&model().await).await);

    apply_in_batches(
        &pool,
        &workload.one_source_after_another([MEMBERS, REVIEWS, RATINGS]),
        &mut rng,
    )
    .await;

    assert_eq!(checksum(&pool).await, live, "seed {seed}");
    workload
        .assert_profiles(&pool, &format!("a rebuild (seed {seed})"))
        .await;
}
