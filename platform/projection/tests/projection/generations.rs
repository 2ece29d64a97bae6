//! Generations: a rebuild fills the next one beside the active one and switches to it; hosts
//! follow the switch under load without losing or repeating an event; rollback catches the
//! previous one up first; only retired generations are ever dropped.

use std::time::Duration;

use event_store::{EventStore, Relay, RelayConfig};
use events::Checkpoint;
use message_bus::{CancellationToken, Publisher};
use projection::generations::{self, GenerationError, State};
use projection::rebuild::Rebuild;
use projection::{ReadModel, catchup};
use sqlx::{AssertSqlSafe, PgPool};
use testkit::database::TestDatabase;
use testkit::poll;

use crate::support::{DEADLINE, Seen, World, added, append};

async fn begin(world: &World, base: &PgPool) -> Rebuild<'static, Seen> {
    Rebuild::begin(base.clone(), &Seen, vec![world.source.clone()], 2)
        .await
        .unwrap()
}

/// How many places generation `schema` has seen.
async fn seen_in(base: &PgPool, schema: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {schema}.seen")))
        .fetch_one(base)
        .await
        .unwrap()
}

async fn schema_exists(base: &PgPool, schema: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(base)
        .await
        .unwrap()
}

async fn table_exists(base: &PgPool, schema: &str, table: &str) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM pg_tables WHERE schemaname = $1 AND tablename = $2)",
    )
    .bind(schema)
    .bind(table)
    .fetch_one(base)
    .await
    .unwrap()
}

/// Appends `count` places and waits until a reader of the store sees all `total` it holds:
/// the commit horizon is the whole server's, so another test's open transaction can hold it
/// back for a moment, and catch-ups here are expected to find everything.
async fn add_places(world: &World, count: usize, total: usize) {
    for _ in 0..count {
        world.append(&added()).await;
    }
    poll::until("the store's events to be readable", DEADLINE, || async {
        let visible = world
            .source
            .read_all(Checkpoint::ORIGIN, i64::MAX)
            .await
            .unwrap()
            .len();
        (visible == total).then_some(())
    })
    .await;
}

/// Generation 1 as a host leaves it: the model in `public`, caught up from the store.
async fn fill_public(world: &World, base: &PgPool) {
    generations::ensure(base).await.unwrap();
    projection::migrate(base).await.unwrap();
    Seen.migrate(base).await.unwrap();
    catchup::catch_up(base, &Seen, std::slice::from_ref(&world.source))
        .await
        .unwrap();
}

/// The model's digest in `schema`, and that of a fresh rebuild from the store.
async fn checksums(world: &World, base: &PgPool, schema: &str) -> (String, String) {
    let generation = generations::list(base)
        .await
        .unwrap()
        .into_iter()
        .find(|generation| generation.schema == schema)
        .unwrap();
    let pool = generations::connect(base, &generation, 1).await.unwrap();
    let served = projection_testkit::model::checksum(&Seen, &pool).await;
    let fresh = projection_testkit::model::fresh(&Seen).await;
    catchup::catch_up(&fresh, &Seen, std::slice::from_ref(&world.source))
        .await
        .unwrap();
    (
        served,
        projection_testkit::model::checksum(&Seen, &fresh).await,
    )
}

fn states(generations: &[generations::Generation]) -> Vec<(i32, &str, State)> {
    generations
        .iter()
        .map(|generation| {
            (
                generation.number,
                generation.schema.as_str(),
                generation.state,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_rebuild_fills_the_next_generation_beside_the_active_one_then_switches_to_it() {
    let world = World::new().await;
    add_places(&world, 50, 50).await;
    let base = world.model_db.pool(2).await;
    let rebuild = begin(&world, &base).await;

    let built = rebuild.build(&mut ()).await.unwrap();

    assert_eq!((built.generation.number, built.events), (2, 50));
    assert_eq!(
        states(&rebuild.generations().await.unwrap()),
        [(1, "public", State::Active), (2, "gen_2", State::Building)]
    );
    assert_eq!(seen_in(&base, "gen_2").await, 50);
    assert!(built.events_per_second() > 0.0);

    // Events committed after the build are taken by activation's final catch-up.
    add_places(&world, 5, 55).await;
    let activation = rebuild.activate(&built.generation).await.unwrap();

    assert_eq!(activation.active.number, 2);
    assert_eq!(
        activation.previous.map(|previous| previous.state),
        Some(State::Retired)
    );
    assert_eq!(
        states(&rebuild.generations().await.unwrap()),
        [(1, "public", State::Retired), (2, "gen_2", State::Active)]
    );
    // A plain new connection, as an operator's, looks in the active generation.
    let plain = world.model_db.pool(1).await;
    assert_eq!(world.seen(&plain).await, 55);
    let (served, fresh) = checksums(&world, &base, "gen_2").await;
    assert_eq!(served, fresh);
    rebuild.finish().await;
    world.cleanup().await;
}

#[tokio::test]
async fn rollback_catches_the_previous_generation_up_and_makes_it_active_again() {
    let world = World::new().await;
    add_places(&world, 20, 20).await;
    let base = world.model_db.pool(2).await;
    fill_public(&world, &base).await;
    let rebuild = begin(&world, &base).await;
    let built = rebuild.build(&mut ()).await.unwrap();
    rebuild.activate(&built.generation).await.unwrap();
    add_places(&world, 10, 30).await;

    let (caught_up, activation) = rebuild.rollback(&mut ()).await.unwrap();

    assert_eq!(caught_up.generation.number, 1);
    assert_eq!(caught_up.events, 10, "only what it missed");
    assert_eq!(activation.active.number, 1);
    assert_eq!(activation.previous.map(|previous| previous.number), Some(2));
    assert_eq!(seen_in(&base, "public").await, 30);
    let plain = world.model_db.pool(1).await;
    assert_eq!(world.seen(&plain).await, 30);

    // And forward again: the most recently retired one comes back.
    let (_, activation) = rebuild.rollback(&mut ()).await.unwrap();
    assert_eq!(activation.active.number, 2);
    assert_eq!(seen_in(&base, "gen_2").await, 30);
    rebuild.finish().await;

    let nothing_yet = TestDatabase::create().await.pool(2).await;
    let rebuild = begin(&world, &nothing_yet).await;
    assert!(matches!(
        rebuild.rollback(&mut ()).await,
        Err(GenerationError::NothingToRollBack)
    ));
    rebuild.finish().await;
    world.cleanup().await;
}

#[tokio::test]
async fn only_retired_generations_are_dropped_and_never_while_an_instance_serves_one() {
    let world = World::new().await;
    add_places(&world, 20, 20).await;
    let base = world.model_db.pool(2).await;
    fill_public(&world, &base).await;
    let rebuild = begin(&world, &base).await;
    let second = rebuild.build(&mut ()).await.unwrap();
    rebuild.activate(&second.generation).await.unwrap();

    generations::report_serving(&base, "still-on-one", 1)
        .await
        .unwrap();
    let refused = rebuild.drop_old().await;
    assert!(
        matches!(refused, Err(GenerationError::InUse { generation: 1, .. })),
        "{refused:?}"
    );
    assert!(table_exists(&base, "public", "seen").await);

    generations::forget_instance(&base, "still-on-one")
        .await
        .unwrap();
    let dropped = rebuild.drop_old().await.unwrap();
    assert_eq!(states(&dropped), [(1, "public", State::Dropped)]);
    for table in ["seen", "projection_checkpoints", "_sqlx_migrations"] {
        assert!(!table_exists(&base, "public", table).await, "{table}");
    }
    assert!(table_exists(&base, "public", "projection_generations").await);
    assert_eq!(seen_in(&base, "gen_2").await, 20);

    let third = rebuild.build(&mut ()).await.unwrap();
    rebuild.activate(&third.generation).await.unwrap();
    let dropped = rebuild.drop_old().await.unwrap();
    assert_eq!(states(&dropped), [(2, "gen_2", State::Dropped)]);
    assert!(!schema_exists(&base, "gen_2").await);
    assert_eq!(seen_in(&base, "gen_3").await, 20);
    assert_eq!(
        states(&rebuild.generations().await.unwrap()),
        [
            (1, "public", State::Dropped),
            (2, "gen_2", State::Dropped),
            (3, "gen_3", State::Active)
        ]
    );
    assert!(
        rebuild.drop_old().await.unwrap().is_empty(),
        "the active one stays"
    );
    rebuild.finish().await;
    world.cleanup().await;
}

#[tokio::test]
async fn one_rebuild_at_a_time_and_an_interrupted_one_is_dropped_by_the_next() {
    let world = World::new().await;
    world.append(&added()).await;
    let base = world.model_db.pool(4).await;
    let first = begin(&world, &base).await;
    let second = Rebuild::begin(base.clone(), &Seen, vec![world.source.clone()], 2).await;
    assert!(matches!(second, Err(GenerationError::Busy)), "{second:?}");
    first.finish().await;

    // A rebuild that died after creating its generation.
    let interrupted = generations::create_next(&base).await.unwrap();
    assert_eq!(interrupted.state, State::Building);
    let rebuild = begin(&world, &base).await;
    let built = rebuild.build(&mut ()).await.unwrap();

    assert_eq!(built.generation.number, 3);
    assert!(!schema_exists(&base, "gen_2").await);
    assert_eq!(
        states(&rebuild.generations().await.unwrap()),
        [
            (1, "public", State::Active),
            (2, "gen_2", State::Dropped),
            (3, "gen_3", State::Building)
        ]
    );
    rebuild.finish().await;
    world.cleanup().await;
}

/// Reads `/count` of one instance until `stop`, asserting that every read succeeds and none
/// goes back; returns how many reads it made and the last count.
async fn watch_count(address: String, stop: CancellationToken) -> (u64, i64) {
    let client = reqwest::Client::new();
    let (mut reads, mut last) = (0_u64, 0_i64);
    while !stop.is_cancelled() {
        let response = client.get(format!("{address}/count")).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "a query failed: {}",
            response.status()
        );
        let seen: i64 = response.json().await.unwrap();
        assert!(seen >= last, "went back from {last} to {seen}");
        (reads, last) = (reads + 1, seen);
    }
    (reads, last)
}

/// Appends places until `stop`; returns how many.
async fn keep_writing(store: EventStore, stop: CancellationToken) -> i64 {
    let mut written = 0;
    while !stop.is_cancelled() {
        append(&store, &added()).await;
        written += 1;
    }
    written
}

async fn ready_detail(address: &str) -> serde_json::Value {
    let ready: serde_json::Value = reqwest::get(format!("{address}/health/ready"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ready["checks"]["seen"]["detail"].clone()
}

#[tokio::test]
async fn a_host_switches_under_load_without_losing_or_repeating_an_event() {
    switch_under_load(1).await;
}

#[tokio::test]
async fn a_standby_switches_with_the_active_consumer() {
    switch_under_load(2).await;
}

/// `instances` hosts serve generation 1 while queries read each of them and writers keep
/// appending; a rebuild switches them to generation 2.
async fn switch_under_load(instances: usize) {
    let world = World::new().await;
    for _ in 0..200 {
        world.append(&added()).await;
    }
    let stop_relay = CancellationToken::new();
    let relay = Relay::new(
        world.source.clone(),
        Publisher::new(world.bus.clone()),
        RelayConfig::new("places", world.names.events_exchange()),
    );
    let relaying = tokio::spawn(relay.run(stop_relay.clone()));
    // Generation 1 in `public`, as every existing deployment has it. With two instances, one
    // consumes and one stands by.
    let mut running = Vec::new();
    for _ in 0..instances {
        running.push(world.start().await);
    }
    let base = world.model_db.pool(2).await;
    poll::until("generation 1 caught up", DEADLINE, || async {
        (seen_in(&base, "public").await == 200).then_some(())
    })
    .await;

    let stop_queries = CancellationToken::new();
    let watchers: Vec<_> = running
        .iter()
        .map(|instance| tokio::spawn(watch_count(instance.address.clone(), stop_queries.clone())))
        .collect();
    let stop_writing = CancellationToken::new();
    let writers: Vec<_> = (0..4)
        .map(|_| tokio::spawn(keep_writing(world.source.clone(), stop_writing.clone())))
        .collect();

    let rebuild = begin(&world, &base).await;
    let built = rebuild.build(&mut ()).await.unwrap();
    rebuild.activate(&built.generation).await.unwrap();
    let served = rebuild
        .wait_until_served(2, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(served.complete, "{served:?}");
    assert_eq!(served.instances.len(), instances, "{served:?}");
    rebuild.finish().await;
    // Events that can only reach generation 2 through the queue.
    for _ in 0..50 {
        world.append(&added()).await;
    }
    stop_writing.cancel();
    let mut total = 250;
    for writer in writers {
        total += writer.await.unwrap();
    }

    poll::until("generation 2 applied every event", DEADLINE, || async {
        (seen_in(&base, "gen_2").await == total).then_some(())
    })
    .await;
    poll::until(
        "every instance answers from generation 2",
        DEADLINE,
        || async {
            let mut answers = Vec::new();
            for instance in &running {
                let count: i64 = reqwest::get(format!("{}/count", instance.address))
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                answers.push(count);
            }
            answers.iter().all(|count| *count == total).then_some(())
        },
    )
    .await;
    stop_queries.cancel();
    for watcher in watchers {
        let (reads, _) = watcher.await.unwrap();
        assert!(reads > 0);
    }

    assert!(
        seen_in(&base, "public").await < total,
        "the retired generation stopped receiving events"
    );
    let (served, fresh) = checksums(&world, &base, "gen_2").await;
    assert_eq!(served, fresh, "live after the switch equals a rebuild");
    for instance in &running {
        let detail = ready_detail(&instance.address).await;
        assert_eq!(detail["generation"], 2, "{detail}");
        assert_eq!(detail["schema"], "gen_2", "{detail}");
    }
    let metrics = reqwest::get(format!("{}/metrics", running[0].address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"waypoint_projection_generation{projection="seen"} 2"#),
        "{metrics}"
    );

    for instance in running {
        instance.stop().await;
    }
    stop_relay.cancel();
    relaying.await.unwrap();
    world.cleanup().await;
}

#[tokio::test]
async fn a_host_that_starts_after_a_switch_serves_the_active_generation() {
    let world = World::new().await;
    add_places(&world, 30, 30).await;
    let base = world.model_db.pool(2).await;
    let rebuild = begin(&world, &base).await;
    let built = rebuild.build(&mut ()).await.unwrap();
    rebuild.activate(&built.generation).await.unwrap();

    let instance = world.start().await;

    let detail = ready_detail(&instance.address).await;
    assert_eq!(detail["generation"], 2, "{detail}");
    let count: i64 = reqwest::get(format!("{}/count", instance.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count, 30);
    let reported = poll::until("the instance reports what it serves", DEADLINE, || async {
        let instances = generations::instances(&base).await.unwrap();
        (!instances.is_empty()).then_some(instances)
    })
    .await;
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert_eq!(reported[0].instance_id, instance.instance_id);
    assert_eq!(reported[0].generation, 2);
    assert!(
        !table_exists(&base, "public", "seen").await,
        "generation 1 was never served"
    );
    rebuild.finish().await;
    instance.stop().await;
    world.cleanup().await;
}
