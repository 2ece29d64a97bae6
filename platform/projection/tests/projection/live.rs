//! Catch-up handing over to the queue, duplicates, poison, standbys and read-your-writes.

use std::sync::Arc;
use std::time::Duration;

use event_store::{AppendRequest, EventMetadata, ExpectedVersion, NewEvent, Relay, RelayConfig};
use events::Checkpoint;
use message_bus::{CancellationToken, OutgoingMessage, Publisher};
use projection::ReadModel;
use projection::fixtures;
use projection::query::{AppliedSignal, ConsistencyTokens, Freshness, QueryContext, wait_for_all};
use projection::reads::ModelReads;
use sqlx::PgPool;
use testkit::database::TestDatabase;
use testkit::poll;

use crate::support::{DEADLINE, Seen, World, added, closed};

#[tokio::test]
async fn catch_up_hands_over_to_the_queue_while_events_keep_coming() {
    let world = World::new().await;
    // History from before the projection existed: published to no queue, only in the store.
    for _ in 0..150 {
        world.append(&added()).await;
    }
    let stop_relay = CancellationToken::new();
    let relay = Relay::new(
        world.source.clone(),
        Publisher::new(world.bus.clone()),
        RelayConfig::new("places", world.names.events_exchange()),
    );
    let relaying = tokio::spawn(relay.run(stop_relay.clone()));
    let writer = {
        let world_source = world.source.clone();
        tokio::spawn(async move {
            for _ in 0..150 {
                let event = added();
                let request = AppendRequest {
                    stream_id: events::Event::stream_id(&event),
                    expected_version: ExpectedVersion(0),
                    events: vec![NewEvent::from_contract(&event).unwrap()],
                    metadata: EventMetadata::default(),
                    command_id: None,
                };
                world_source.append(&request).await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };

    let instance = world.start().await;
    writer.await.unwrap();
    let pool = world.model_db.pool(1).await;
    poll::until("all 300 places applied", DEADLINE, || async {
        (world.seen(&pool).await == 300).then_some(())
    })
    .await;

    let head = world.source.head().await.unwrap();
    let token = events::ConsistencyToken::new("places", head);
    assert!(
        projection::checkpoints::covers(&pool, &token)
            .await
            .unwrap()
    );
    instance.stop().await;
    stop_relay.cancel();
    relaying.await.unwrap();
    world.cleanup().await;
}

#[tokio::test]
async fn duplicates_are_skipped_and_poison_and_garbage_are_dead_lettered_and_reported() {
    let world = World::new().await;
    let instance = world.start().await;
    let address = instance.address.clone();
    let first = fixtures::recorded(&added(), Checkpoint::new(10, 1));
    let mut poison = fixtures::recorded(&added(), Checkpoint::new(11, 2));
    poison.payload =
        serde_json::value::RawValue::from_string(r#"{"place_id": 42}"#.to_owned()).unwrap();
    let after = fixtures::recorded(&added(), Checkpoint::new(12, 3));

    for event in [first.clone(), first.clone(), poison, after.clone(), first] {
        world.publish(&event).await;
    }
    let garbage = OutgoingMessage::new(
        world.names.events_exchange(),
        "places.PlaceAdded",
        b"not json".to_vec(),
    );
    Publisher::new(world.bus.clone())
        .publish(garbage)
        .await
        .unwrap();

    let pool = world.model_db.pool(1).await;
    poll::until("the good events applied", DEADLINE, || async {
        let token = events::ConsistencyToken::new("places", Checkpoint::new(12, 3));
        projection::checkpoints::covers(&pool, &token)
            .await
            .unwrap()
            .then_some(())
    })
    .await;
    assert_eq!(world.seen(&pool).await, 2, "each good event once");
    let dead_letters = world.names.dead_letter_queue("projection.seen");
    poll::until(
        "the poison event and the garbage dead-lettered",
        DEADLINE,
        || async {
            let queue = testkit::rabbitmq::queue(&dead_letters).await?;
            (queue["messages"].as_u64() == Some(2)).then_some(())
        },
    )
    .await;
    let ready: serde_json::Value = reqwest::get(format!("{address}/health/ready"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["checks"]["seen"]["detail"]["degraded"], true,
        "{ready}"
    );
    assert_eq!(
        ready["checks"]["seen"]["detail"]["poisoned_events"], 2,
        "{ready}"
    );
    poll::until("lag and poison on /metrics", DEADLINE, || async {
        let metrics = reqwest::get(format!("{address}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let lag = r#"waypoint_projection_lag_events{projection="seen",source="places"} 0"#;
        let poisoned = r#"waypoint_projection_poisoned_events{projection="seen"} 2"#;
        (metrics.contains(lag) && metrics.contains(poisoned)).then_some(())
    })
    .await;
    instance.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn a_second_instance_stands_by_and_takes_over_when_the_active_one_stops() {
    let world = World::new().await;
    let (one, two) = (world.start().await, world.start().await);
    let pool = world.model_db.pool(1).await;
    for n in 1..=5 {
        world
            .publish(&fixtures::recorded(&added(), Checkpoint::new(n, n as i64)))
            .await;
    }
    poll::until("the first events applied", DEADLINE, || async {
        (world.seen(&pool).await == 5).then_some(())
    })
    .await;

    let queue = world.names.events_queue("seen");
    let active_connection = poll::until(
        "the broker to name the active consumer",
        DEADLINE,
        || async {
            let queue = testkit::rabbitmq::queue(&queue).await?;
            queue["consumer_details"]
                .as_array()?
                .iter()
                .find_map(|consumer| {
                    let active = consumer["active"].as_bool() == Some(true);
                    let name = consumer["channel_details"]["connection_name"].as_str()?;
                    active.then(|| name.to_owned())
                })
        },
    )
    .await;
    // The broker names connections by address; each host names its own after its instance.
    let one_is_active = testkit::rabbitmq::connections_named(&one.instance_id)
        .await
        .contains(&active_connection);
    let two_is_active = testkit::rabbitmq::connections_named(&two.instance_id)
        .await
        .contains(&active_connection);
    assert!(
        one_is_active != two_is_active,
        "exactly one instance consumes"
    );
    let (active, standby) = if one_is_active {
        (one, two)
    } else {
        (two, one)
    };
    active.stop().await;
    for n in 6..=10 {
        world
            .publish(&fixtures::recorded(&added(), Checkpoint::new(n, n as i64)))
            .await;
    }

    poll::until("the standby applies the rest", DEADLINE, || async {
        (world.seen(&pool).await == 10).then_some(())
    })
    .await;
    standby.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn a_model_built_live_with_duplicates_equals_its_rebuild_from_the_stores() {
    let workload = projection_testkit::Workload::generate(7, 400);

    let converged = projection_testkit::converge(Seen, Seen, &workload).await;

    assert_eq!(converged.live, converged.rebuilt);
    assert_ne!(converged.live, converged.empty, "the workload added places");
}

/// Sets `source`'s checkpoint as an applied batch would.
async fn set_checkpoint(pool: &PgPool, source: &str, transaction_id: i64, position: i64) {
    sqlx::query(
        "INSERT INTO projection_checkpoints (source, transaction_id, position, recorded_at)
         VALUES ($1, $2, $3, now())
         ON CONFLICT (source) DO UPDATE
            SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position",
    )
    .bind(source)
    .bind(transaction_id)
    .bind(position)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_query_waits_until_every_token_of_a_source_it_reads_is_covered() {
    let database = TestDatabase::create().await;
    let pool = database.pool(4).await;
    projection::migrate(&pool).await.unwrap();
    set_checkpoint(&pool, "places", 5, 1).await;
    set_checkpoint(&pool, "reviews", 2, 1).await;
    let signal = AppliedSignal::default();
    let tokens: ConsistencyTokens = "places.5.1,reviews.3.1".parse().unwrap();

    let short = Duration::from_millis(100);
    let one_behind = wait_for_all(&pool, &signal, tokens.as_slice(), short).await;
    assert_eq!(one_behind.unwrap(), Freshness::Stale, "reviews is behind");

    let waiting = tokio::spawn({
        let (pool, signal, tokens) = (pool.clone(), signal.clone(), tokens.clone());
        async move { wait_for_all(&pool, &signal, tokens.as_slice(), DEADLINE).await }
    });
    set_checkpoint(&pool, "reviews", 3, 1).await;
    signal.notify();
    assert_eq!(waiting.await.unwrap().unwrap(), Freshness::Fresh);

    // A model that reads only places does not wait for a members token it will never cover.
    let context = QueryContext {
        pool: pool.clone(),
        signal,
        max_wait: DEADLINE,
        reads: Some(Arc::new(ModelReads::new(&["places.PlaceAdded"], &[]))),
    };
    let foreign: ConsistencyTokens = "places.5.1,members.99.1".parse().unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        context.freshness(Some(&foreign)).await.unwrap(),
        Freshness::Fresh
    );
    assert!(started.elapsed() < DEADLINE / 2, "answered without waiting");
    let unknown_sources = QueryContext {
        reads: None,
        max_wait: short,
        ..context
    };
    assert_eq!(
        unknown_sources.freshness(Some(&foreign)).await.unwrap(),
        Freshness::Stale,
        "without the model's sources every token counts"
    );
}

/// Whether `ANALYZE` has run on the model's table (autovacuum's runs are counted apart).
async fn analyzed(pool: &PgPool) -> bool {
    sqlx::query_scalar(
        "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'seen'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_catch_up_that_applied_events_ends_with_analyze() {
    let world = World::new().await;
    for _ in 0..20 {
        world.append(&added()).await;
    }
    let pool = world.model_db.pool(2).await;
    projection::migrate(&pool).await.unwrap();
    ReadModel::migrate(&Seen, &pool).await.unwrap();
    assert!(!analyzed(&pool).await);

    // Another test's open transaction may hold the commit horizon, and so the history, back.
    poll::until("the history caught up", DEADLINE, || async {
        let sources = [world.source.clone()];
        projection::catchup::catch_up(&pool, &Seen, &sources)
            .await
            .unwrap();
        (world.seen(&pool).await == 20).then_some(())
    })
    .await;

    poll::until("the model's table analyzed", DEADLINE, || async {
        analyzed(&pool).await.then_some(())
    })
    .await;
    world.cleanup().await;
}

#[tokio::test]
async fn a_token_of_an_event_the_model_does_not_read_asks_only_for_the_ones_before_it() {
    let world = World::new().await;
    let pool = world.model_db.pool(4).await;
    projection::migrate(&pool).await.unwrap();
    let reads = ModelReads::new(Seen::EVENT_TYPES, std::slice::from_ref(&world.source));
    let token_at = |checkpoint: Checkpoint| events::ConsistencyToken::new("places", checkpoint);

    // Nothing the model reads is in the store yet: a token of a closing asks nothing.
    let before_any = token_at(world.append(&closed()).await);
    assert_eq!(reads.narrow(&before_any).await.unwrap(), None);

    let added_at = world.append(&added()).await;
    let closed_at = token_at(world.append(&closed()).await);
    assert_eq!(
        reads.narrow(&closed_at).await.unwrap(),
        Some(token_at(added_at)),
        "the closing asks for the addition before it"
    );

    // The model has applied the addition: the closing's token is fresh at once…
    set_checkpoint(
        &pool,
        "places",
        i64::try_from(added_at.transaction_id).unwrap(),
        added_at.position,
    )
    .await;
    let context = QueryContext {
        pool: pool.clone(),
        signal: AppliedSignal::default(),
        max_wait: Duration::from_millis(200),
        reads: Some(Arc::new(reads)),
    };
    let tokens: ConsistencyTokens = closed_at.to_string().parse().unwrap();
    assert_eq!(
        context.freshness(Some(&tokens)).await.unwrap(),
        Freshness::Fresh
    );
    // …and a later addition's is not, until the model applies it.
    let later = token_at(world.append(&added()).await);
    let tokens: ConsistencyTokens = later.to_string().parse().unwrap();
    assert_eq!(
        context.freshness(Some(&tokens)).await.unwrap(),
        Freshness::Stale
    );
    world.cleanup().await;
}
