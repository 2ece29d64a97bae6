//! The relay: gap-free, in commit order, confirmed before checkpointed, one active per store,
//! and back on its feet after PostgreSQL or RabbitMQ drop it.

use super::relaying::{Relaying, stored_checkpoint, terminate_relay_sessions};
use super::support::{event, request, store, stream};
use event_store::{AppendError, EventStore, NewEvent};
use rand::Rng;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;

const WRITERS: usize = 32;
const TRANSACTIONS_PER_WRITER: usize = 8;
const SHARED_STREAMS: usize = 4;

#[derive(Default)]
struct Written {
    committed: HashSet<Uuid>,
    rolled_back: HashSet<Uuid>,
}

/// One writer's transactions: append to a shared or an own stream, hold the transaction open
/// for a random time, then commit — or, now and then, roll back.
async fn write(store: EventStore, shared: Arc<Vec<String>>, written: Arc<Mutex<Written>>) {
    for _ in 0..TRANSACTIONS_PER_WRITER {
        let (stream, delay_ms, roll_back, count) = {
            let mut rng = rand::rng();
            let stream = if rng.random_bool(0.5) {
                shared[rng.random_range(0..SHARED_STREAMS)].clone()
            } else {
                stream()
            };
            (
                stream,
                rng.random_range(0..30),
                rng.random_bool(0.15),
                rng.random_range(1..=3),
            )
        };
        let events: Vec<NewEvent> = (0..count).map(event).collect();
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let mut tx = store.pool().begin().await.unwrap();
        let version = store
            .load(&stream, 1)
            .await
            .unwrap()
            .last()
            .map_or(0, |e| e.stream_version);
        match store
            .append_in(&mut tx, &request(&stream, version, events))
            .await
        {
            Ok(_) => {}
            Err(AppendError::Conflict { .. }) => {
                tx.rollback().await.unwrap();
                written.lock().await.rolled_back.extend(ids);
                continue;
            }
            Err(error) => panic!("append failed: {error}"),
        }
        sqlx::query("SELECT pg_sleep($1)")
            .bind(f64::from(delay_ms) / 1000.0)
            .execute(&mut *tx)
            .await
            .unwrap();
        if roll_back {
            tx.rollback().await.unwrap();
            written.lock().await.rolled_back.extend(ids);
        } else {
            tx.commit().await.unwrap();
            store.committed();
            written.lock().await.committed.extend(ids);
        }
    }
}

/// What a reader that trusts positions alone would see: it remembers the highest position and
/// asks for anything above it.
async fn read_by_position_alone(store: EventStore, done: Arc<AtomicBool>) -> HashSet<Uuid> {
    let mut seen = HashSet::new();
    let mut last = 0_i64;
    loop {
        // Read `done` before reading, so the final pass runs after every writer has finished.
        let finished = done.load(Ordering::SeqCst);
        let rows: Vec<(i64, Uuid)> = sqlx::query_as(
            "SELECT position, event_id FROM events WHERE position > $1 ORDER BY position",
        )
        .bind(last)
        .fetch_all(store.pool())
        .await
        .unwrap();
        for (position, id) in rows {
            last = last.max(position);
            seen.insert(id);
        }
        if finished {
            return seen;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_relay_publishes_every_committed_event_once_in_commit_order_despite_late_commits() {
    let (_db, store) = store().await;
    let relaying = Relaying::start(store.clone()).await;
    let _relay = relaying.spawn_relay();
    let shared = Arc::new((0..SHARED_STREAMS).map(|_| stream()).collect::<Vec<_>>());
    let written = Arc::new(Mutex::new(Written::default()));
    let done = Arc::new(AtomicBool::new(false));
    let naive = tokio::spawn(read_by_position_alone(store.clone(), done.clone()));

    let writers: Vec<_> = (0..WRITERS)
        .map(|_| tokio::spawn(write(store.clone(), shared.clone(), written.clone())))
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let naive_seen = naive.await.unwrap();
    let written = written.lock().await;
    let received = relaying.wait_for(&written.committed).await;

    let ids: Vec<Uuid> = received.iter().map(|e| e.event_id).collect();
    let unique: HashSet<Uuid> = ids.iter().copied().collect();
    assert_eq!(
        unique, written.committed,
        "published set differs from the committed set"
    );
    assert_eq!(
        ids.len(),
        unique.len(),
        "events were published more than once"
    );
    assert!(
        unique.is_disjoint(&written.rolled_back),
        "a rolled-back event was published"
    );
    assert!(
        received
            .windows(2)
            .all(|w| w[0].checkpoint < w[1].checkpoint),
        "not in (transaction id, position) order"
    );
    assert!(
        !written.rolled_back.is_empty(),
        "the test rolled nothing back"
    );
    let missed = written.committed.difference(&naive_seen).count();
    assert!(
        missed > 0,
        "a position-only reader saw all {} events; the late commits did not interleave",
        written.committed.len()
    );
    eprintln!(
        "{} committed, {} rolled back; the position-only reader missed {missed}",
        written.committed.len(),
        written.rolled_back.len()
    );
    relaying.stop().await;
}

#[tokio::test]
async fn a_relay_that_crashes_between_publish_and_checkpoint_republishes_and_loses_nothing() {
    let (_db, store) = store().await;
    let relaying = Relaying::start(store.clone()).await;
    let mut expected = HashSet::new();
    for n in 0..30 {
        let request = request(&stream(), 0, vec![event(n)]);
        expected.insert(request.events[0].event_id);
        store.append(&request).await.unwrap();
    }

    // Block checkpoint writes (reads still pass), so the relay publishes, gets its confirms,
    // and then hangs on the checkpoint: the window a crash must not lose anything in.
    let mut blocker = store.pool().begin().await.unwrap();
    sqlx::query("LOCK TABLE relay_checkpoints IN EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let relay = relaying.spawn_relay();
    testkit::poll::until(
        "the relay to block on its checkpoint",
        Duration::from_secs(30),
        || async {
            let waiting: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                            WHERE datname = current_database()
                              AND application_name LIKE 'waypoint-relay%'
                              AND wait_event_type = 'Lock')",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            waiting.then_some(())
        },
    )
    .await;
    relay.abort();
    assert_eq!(terminate_relay_sessions(&store).await, 1);
    blocker.rollback().await.unwrap();
    assert_eq!(
        stored_checkpoint(&store).await,
        None,
        "the checkpoint advanced"
    );

    // The restarted relay starts from the unchanged checkpoint, so it publishes all 30 again,
    // after the batch the crashed one had confirmed: duplicates, never gaps.
    let _restarted = relaying.spawn_relay();
    relaying.wait_for(&expected).await;
    let received =
        testkit::poll::until("the republished batch", Duration::from_secs(30), || async {
            let received = relaying.received();
            (received.len() > expected.len()).then_some(received)
        })
        .await;
    let last = received.iter().map(|e| e.checkpoint).max();
    testkit::poll::until(
        "the restarted relay's checkpoint",
        Duration::from_secs(30),
        || async { (stored_checkpoint(&store).await == last).then_some(()) },
    )
    .await;

    let received = relaying.received();
    let unique: HashSet<Uuid> = received.iter().map(|e| e.event_id).collect();
    assert_eq!(unique, expected);
    let duplicates = received.len() - unique.len();
    for id in &unique {
        let copies = received.iter().filter(|e| e.event_id == *id).count();
        assert!(copies <= 2, "event {id} published {copies} times");
    }
    eprintln!("{} events, {duplicates} published twice", unique.len());
    relaying.stop().await;
}

#[tokio::test]
async fn a_standby_relay_waits_and_takes_over_when_the_active_one_dies() {
    let (_db, store) = store().await;
    let relaying = Relaying::start(store.clone()).await;
    let active = relaying.spawn_relay();
    wait_for_lock_holders(&store, 1, 0).await;
    let _standby = relaying.spawn_relay();
    wait_for_lock_holders(&store, 1, 1).await;

    let first = append_some(&store, 20).await;
    let received = relaying.wait_for(&first).await;
    assert_eq!(received.len(), 20, "the standby published too");

    active.abort();
    let holder: i32 = sqlx::query_scalar(
        "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database
         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(holder)
        .execute(store.pool())
        .await
        .unwrap();
    wait_for_lock_holders(&store, 1, 0).await;

    let second = append_some(&store, 20).await;
    let received = relaying.wait_for(&second).await;
    let unique: HashSet<Uuid> = received.iter().map(|e| e.event_id).collect();
    assert!(unique.is_superset(&first) && unique.len() == 40);
    relaying.stop().await;
}

#[tokio::test]
async fn the_relay_recovers_when_postgresql_and_rabbitmq_drop_its_connections() {
    let (db, store) = store().await;
    let relaying = Relaying::start(store.clone()).await;
    let _relay = relaying.spawn_relay();

    let before = append_some(&store, 10).await;
    relaying.wait_for(&before).await;

    // PostgreSQL goes away for everyone on this database: the relay's lock, reads and LISTEN.
    let terminated: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&db.name)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(
        terminated >= 2,
        "expected the relay's sessions among {terminated}"
    );
    let after_postgres = append_some(&store, 10).await;
    relaying.wait_for(&after_postgres).await;

    // RabbitMQ drops the relay's connection.
    // The management API lists a new connection only after its next stats round.
    let closed = testkit::poll::until(
        "the relay's broker connection",
        Duration::from_secs(15),
        || async {
            let closed =
                testkit::rabbitmq::close_connections_named(&relaying.relay_connection).await;
            (closed > 0).then_some(closed)
        },
    )
    .await;
    assert_eq!(closed, 1);
    let after_rabbitmq = append_some(&store, 10).await;
    let received = relaying.wait_for(&after_rabbitmq).await;

    let unique: HashSet<Uuid> = received.iter().map(|e| e.event_id).collect();
    assert_eq!(unique.len(), 30);
    relaying.stop().await;
}

#[tokio::test]
async fn a_commit_wakes_an_idle_relay_without_waiting_for_its_poll() {
    let (_db, store) = store().await;
    let relaying = Relaying::start(store.clone()).await;
    // A poll interval far beyond the deadline below: only the notification can deliver in time.
    let _relay = relaying.spawn_relay_polling_every(Duration::from_secs(3600));
    wait_for_lock_holders(&store, 1, 0).await;
    let first = append_some(&store, 1).await;
    relaying.wait_for(&first).await;

    let second = append_some(&store, 1).await;

    relaying.wait_for(&second).await;
    relaying.stop().await;
}

async fn append_some(store: &EventStore, count: usize) -> HashSet<Uuid> {
    let mut ids = HashSet::new();
    for n in 0..count {
        let request = request(&stream(), 0, vec![event(n)]);
        ids.insert(request.events[0].event_id);
        store.append(&request).await.unwrap();
    }
    ids
}

/// Waits until the relay lock has `granted` holders and `waiting` standbys.
async fn wait_for_lock_holders(store: &EventStore, granted: i64, waiting: i64) {
    testkit::poll::until(
        &format!("{granted} active and {waiting} waiting relays"),
        Duration::from_secs(10),
        || async {
            let (g, w): (i64, i64) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)
                 FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                 WHERE l.locktype = 'advisory' AND d.datname = current_database()",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            (g == granted && w == waiting).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn events_no_queue_is_bound_for_are_passed_over_not_retried_forever() {
    let (_db, store) = store().await;
    let names = message_bus::BusNames::with_prefix(testkit::rabbitmq::unique_prefix());
    let prefix = names.prefix().unwrap_or_default().to_owned();
    // Waypoint's exchanges and no queue: the broker returns every event as unroutable.
    let bus = message_bus::Bus::connect(message_bus::BusConfig {
        url: testkit::rabbitmq::amqp_url(),
        connection_name: format!("{prefix}-relay"),
        names: names.clone(),
        topology: message_bus::Topology::new(names.clone()),
    })
    .await
    .unwrap();
    let config = event_store::RelayConfig::new(super::relaying::RELAY, names.events_exchange());
    let relay = event_store::Relay::new(store.clone(), bus.publisher(), config);
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(relay.run(stop.clone()));
    let mut last = None;
    for n in 0..3 {
        let appended = store
            .append(&request(&stream(), 0, vec![event(n)]))
            .await
            .unwrap();
        last = Some(appended.checkpoint);
    }

    testkit::poll::until(
        "the checkpoint past the unroutable events",
        Duration::from_secs(30),
        || async { (stored_checkpoint(&store).await == last).then_some(()) },
    )
    .await;
    stop.cancel();
    running.await.unwrap();
    testkit::rabbitmq::delete_prefixed(&prefix).await;
    bus.shutdown().await;
}
