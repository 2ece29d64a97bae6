//! The dynamic configuration against real PostgreSQL, Redis and RabbitMQ: versions, the
//! current version in Redis, and a follower applying what is broadcast.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dynamic_config::broadcast::{self, Announcement};
use dynamic_config::{
    Apply, ApplyError, Changed, ConfigError, ConfigStore, DynamicConfig, Follower, keys,
};
use message_bus::{Bus, BusConfig, BusNames, CancellationToken, Publisher, Topology};
use serde_json::json;
use service_kit::settings::{PostgresSettings, RabbitMqSettings, RedisSettings};
use testkit::database::{TEST_DATABASE_PREFIX, TestDatabase};

const DEADLINE: Duration = Duration::from_secs(20);

fn postgres() -> PostgresSettings {
    PostgresSettings {
        url: testkit::database::admin_url(),
        max_connections: 4,
    }
}

fn redis_settings(prefix: &str) -> RedisSettings {
    RedisSettings {
        url: testkit::redis_url(),
        key_prefix: format!("{prefix}:"),
    }
}

#[tokio::test]
async fn versions_are_seeded_once_and_only_valid_changes_are_stored() {
    let database = format!("{TEST_DATABASE_PREFIX}{}_config", testkit::unique_suffix());
    // Two first uses at once: one database, one version 1.
    let server = postgres();
    let (first, second) = tokio::join!(
        ConfigStore::open(&server, &database),
        ConfigStore::open(&server, &database)
    );
    let (store, _) = (first.unwrap(), second.unwrap());
    let seeded = store.current().await.unwrap();
    assert_eq!(seeded.version, 1);
    assert_eq!(seeded.document, DynamicConfig::default());
    assert_eq!(
        dynamic_config::current_version(store.pool()).await.unwrap(),
        Some(1)
    );

    let set_burst = |current: &DynamicConfig| keys::set(current, "rate_limit.per_ip_burst", "5");
    let Changed::Stored { version, changes } =
        store.change("ann", "tighter", set_burst).await.unwrap()
    else {
        panic!("a change is stored");
    };
    assert_eq!((version.version, version.author.as_str()), (2, "ann"));
    assert_eq!(version.document.rate_limit.per_ip_burst, 5);
    assert_eq!(changes[0].key, "rate_limit.per_ip_burst");
    assert!(matches!(
        store.change("ann", "again", set_burst).await.unwrap(),
        Changed::Unchanged(current) if current.version == 2
    ));

    let negative = store
        .change("ann", "bad", |current| {
            keys::set(current, "rate_limit.per_ip_per_s", "-1")
        })
        .await;
    let Err(ConfigError::Refused(refused)) = negative else {
        panic!("a negative rate is refused: {negative:?}");
    };
    assert_eq!(refused.errors[0].field, "rate_limit.per_ip_per_s");
    assert_eq!(store.current().await.unwrap().version, 2);

    // Two operators at once, each changing a different key: both changes are kept.
    let (window, timeout) = tokio::join!(
        store.change("bob", "", |current| keys::set(
            current,
            "breaker.window",
            "40"
        )),
        store.change("cy", "", |current| {
            keys::set(current, "commands.reply_timeout_ms", "1500")
        })
    );
    assert!(matches!(window.unwrap(), Changed::Stored { .. }));
    assert!(matches!(timeout.unwrap(), Changed::Stored { .. }));
    let current = store.current().await.unwrap();
    assert_eq!(current.version, 4);
    assert_eq!(current.document.breaker.window, 40);
    assert_eq!(current.document.commands.reply_timeout_ms, 1500);
    assert_eq!(current.document.rate_limit.per_ip_burst, 5);

    let history = store.history(3).await.unwrap();
    let versions: Vec<i64> = history.iter().map(|(version, _)| version.version).collect();
    assert_eq!(versions, [4, 3, 2]);
    assert_eq!(history[2].1[0].key, "rate_limit.per_ip_burst");
    assert!(history.iter().all(|(_, changes)| changes.len() == 1));
    assert!(store.history(10).await.unwrap()[3].1.is_empty());
    assert!(matches!(
        store.version(99).await,
        Err(ConfigError::NoSuchVersion(99))
    ));
}

#[tokio::test]
async fn there_is_no_current_version_before_the_first_use() {
    let database = TestDatabase::create().await;
    let pool = database.pool(1).await;
    assert_eq!(dynamic_config::current_version(&pool).await.unwrap(), None);
}

#[tokio::test]
async fn redis_keeps_the_newest_version() {
    let prefix = testkit::rabbitmq::unique_prefix();
    let settings = redis_settings(&prefix);
    let mut redis = broadcast::redis_connection(&settings).await.unwrap();
    let announcement = |version| Announcement {
        version,
        document: DynamicConfig::default().to_value(),
    };
    assert_eq!(
        broadcast::read_current(&mut redis, &settings.key_prefix)
            .await
            .unwrap(),
        None
    );
    assert!(
        broadcast::write_current(&mut redis, &settings.key_prefix, &announcement(3))
            .await
            .unwrap()
    );
    assert!(
        !broadcast::write_current(&mut redis, &settings.key_prefix, &announcement(2))
            .await
            .unwrap()
    );
    let current = broadcast::read_current(&mut redis, &settings.key_prefix)
        .await
        .unwrap();
    assert_eq!(current.map(|current| current.version), Some(3));
    let _: () = redis::cmd("DEL")
        .arg(broadcast::current_key(&settings.key_prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
}

/// Remembers the rate-limit burst of every version it is handed.
#[derive(Clone, Default)]
struct Bursts(Arc<Mutex<Vec<u32>>>);

impl Apply for Bursts {
    fn apply(&self, document: &DynamicConfig) -> Result<(), ApplyError> {
        self.0
            .lock()
            .unwrap()
            .push(document.rate_limit.per_ip_burst);
        Ok(())
    }
}

#[tokio::test]
async fn a_follower_applies_the_current_version_then_each_newer_broadcast() {
    let prefix = testkit::rabbitmq::unique_prefix();
    let redis_settings = redis_settings(&prefix);
    let rabbitmq = RabbitMqSettings {
        url: testkit::rabbitmq::amqp_url(),
        prefix: prefix.clone(),
    };
    let mut redis = broadcast::redis_connection(&redis_settings).await.unwrap();
    let names = BusNames::with_prefix(prefix.clone());
    let bus = Bus::connect(BusConfig {
        url: rabbitmq.url.clone(),
        connection_name: format!("{prefix}-operator"),
        names: names.clone(),
        topology: Topology::new(names.clone()),
    })
    .await
    .unwrap();
    let publisher = Publisher::new(bus.clone());
    let with_burst = |version, burst| Announcement {
        version,
        document: json!({ "rate_limit": { "per_ip_burst": burst } }),
    };
    // Published before the instance starts: it must read it from Redis.
    broadcast::write_current(&mut redis, &redis_settings.key_prefix, &with_burst(2, 20))
        .await
        .unwrap();

    let bursts = Bursts::default();
    let reported = Arc::new(Mutex::new(Vec::new()));
    let follower = Follower::new(&rabbitmq, &redis_settings, "unit-1").with(bursts.clone());
    let stop = CancellationToken::new();
    let following = tokio::spawn({
        let (reported, stop) = (Arc::clone(&reported), stop.clone());
        async move {
            let report = |version: i64| reported.lock().unwrap().push(version);
            follower.run(&report, stop).await;
        }
    });
    let reported_now = || reported.lock().unwrap().clone();
    testkit::poll::until("the version in Redis is applied", DEADLINE, || async {
        (reported_now() == [2]).then_some(())
    })
    .await;

    let exchange = names.config_exchange();
    for announcement in [with_burst(3, 30), with_burst(1, 10), with_burst(4, 40)] {
        broadcast::publish(&publisher, &exchange, &announcement)
            .await
            .unwrap();
    }
    testkit::poll::until("the broadcasts are applied", DEADLINE, || async {
        (reported_now().len() >= 3).then_some(())
    })
    .await;
    // Version 1 came after 3: older than what runs, so ignored.
    assert_eq!(reported_now(), [2, 3, 4]);
    assert_eq!(*bursts.0.lock().unwrap(), [20, 30, 40]);

    stop.cancel();
    following.await.unwrap();
    bus.shutdown().await;
    let _: () = redis::cmd("DEL")
        .arg(broadcast::current_key(&redis_settings.key_prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    testkit::rabbitmq::delete_prefixed(&prefix).await;
}
