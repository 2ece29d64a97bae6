//! Integration tests against real Redis and PostgreSQL, each test with its own Redis key
//! prefix, database and port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde::Deserialize;
use service_kit::discovery::{InstanceInfo, Registration, Registry};
use service_kit::health::{CheckResult, Readiness};
use service_kit::settings::{
    self, ConfigSources, DiscoverySettings, HttpSettings, PostgresSettings, RabbitMqSettings,
    RedisSettings, SettingsError,
};
use service_kit::{database, http, instance_id, shutdown};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use std::path::PathBuf;
use std::time::Duration;
use testkit::database::{TEST_DATABASE_PREFIX, admin_url};
use testkit::poll;
use testkit::{redis_url, unique_suffix};
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Settings

const EMBEDDED: &str = r#"
a = "embedded"
b = "embedded"
c = "embedded"
d = "embedded"
e = "embedded"

[postgres]
url = "postgres://embedded@127.0.0.1:5432"
max_connections = 5
"#;

#[derive(Debug, Deserialize)]
struct Layered {
    a: String,
    b: String,
    c: String,
    d: String,
    e: String,
    postgres: PostgresSettings,
}

/// A folder of config files that is removed when the test ends, passed or not.
struct ConfigDir(PathBuf);

impl ConfigDir {
    fn with_files(files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("service-kit-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, contents) in files {
            std::fs::write(dir.join(name), contents).unwrap();
        }
        Self(dir)
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn settings_layer_embedded_then_files_then_environment_then_overrides() {
    let dir = ConfigDir::with_files(&[
        (
            "default.toml",
            "b = \"default file\"\nc = \"default file\"\nd = \"default file\"\ne = \"default file\"\n",
        ),
        (
            "test.toml",
            "c = \"environment file\"\nd = \"environment file\"\ne = \"environment file\"\n",
        ),
        // Another environment's file is not read.
        ("production.toml", "a = \"production\"\n"),
    ]);
    let sources = ConfigSources::new(EMBEDDED)
        .with_config_dir(&dir.0)
        .with_environment("test")
        .with_env_var("WAYPOINT__D", "variable")
        .with_env_var("WAYPOINT__E", "variable")
        .with_env_var("WAYPOINT__POSTGRES__MAX_CONNECTIONS", "7")
        .with_override("e", "override")
        .with_override("postgres.url", "postgres://override@db:5432");

    let layered: Layered = settings::load(&sources).unwrap();

    assert_eq!(layered.a, "embedded");
    assert_eq!(layered.b, "default file");
    assert_eq!(layered.c, "environment file");
    assert_eq!(layered.d, "variable");
    assert_eq!(layered.e, "override");
    assert_eq!(layered.postgres.max_connections, 7);
    assert_eq!(layered.postgres.url, "postgres://override@db:5432");
}

#[test]
fn settings_without_files_use_the_embedded_default() {
    let sources = ConfigSources::new(EMBEDDED)
        .with_config_dir(std::env::temp_dir().join(format!("missing-{}", unique_suffix())));

    let layered: Layered = settings::load(&sources).unwrap();

    assert_eq!(
        [layered.a, layered.e],
        ["embedded".to_owned(), "embedded".to_owned()]
    );
    assert_eq!(layered.postgres.max_connections, 5);
}

#[test]
fn settings_that_do_not_fit_the_type_are_refused() {
    let sources = ConfigSources::new(EMBEDDED)
        .with_config_dir(std::env::temp_dir().join(format!("missing-{}", unique_suffix())))
        .with_override("postgres.max_connections", "many");

    let error = settings::load::<Layered>(&sources).unwrap_err();

    assert!(matches!(error, SettingsError::Invalid(_)), "{error:?}");
}

#[test]
fn debug_output_hides_passwords() {
    let postgres = PostgresSettings {
        url: "postgres://waypoint:pg-secret@db:5432".to_owned(),
        max_connections: 4,
    };
    let rabbitmq = RabbitMqSettings {
        url: "amqp://guest:amqp-secret@rabbit:5672/%2f".to_owned(),
        prefix: String::new(),
    };
    let redis = RedisSettings {
        url: "redis://:redis-secret@cache:6379/0".to_owned(),
        key_prefix: "waypoint:".to_owned(),
    };
    let sources = ConfigSources::new(EMBEDDED)
        .with_env_var("WAYPOINT__POSTGRES__URL", "postgres://u:env-secret@db")
        .with_override("redis.url", "redis://:override-secret@cache");

    let printed = format!("{postgres:?} {rabbitmq:?} {redis:?} {sources:?}");

    for secret in [
        "pg-secret",
        "amqp-secret",
        "redis-secret",
        "env-secret",
        "override-secret",
    ] {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
    for shown in [
        "postgres://waypoint:***@db:5432",
        "amqp://guest:***@rabbit:5672/%2f",
        "redis://:***@cache:6379/0",
        "WAYPOINT__POSTGRES__URL",
        "redis.url",
    ] {
        assert!(printed.contains(shown), "{shown} missing: {printed}");
    }
}

#[test]
fn instance_ids_name_the_service_and_differ() {
    let first = instance_id("reviews");
    let second = instance_id("reviews");

    assert!(first.starts_with("reviews-"), "{first}");
    assert_ne!(first, second);
}

// ---------------------------------------------------------------------------------------------
// Discovery

/// A registry under a key prefix of its own, whose keys are removed when the test ends.
struct TestRegistry {
    registry: Registry,
    prefix: String,
}

impl TestRegistry {
    async fn connect() -> Self {
        let prefix = format!("t_{}:", unique_suffix());
        let registry = Registry::connect(&RedisSettings {
            url: redis_url(),
            key_prefix: prefix.clone(),
        })
        .await
        .expect("connect to the test Redis (is it running?)");
        Self { registry, prefix }
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    async fn index_members(&self, service: &str) -> Vec<String> {
        let mut members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(format!("{}discovery:{service}", self.prefix))
            .query_async(&mut self.redis().await)
            .await
            .unwrap();
        members.sort_unstable();
        members
    }

    /// Registers a fresh instance of `service` advertising `port`.
    async fn register(
        &self,
        service: &str,
        port: u16,
        settings: &DiscoverySettings,
    ) -> (InstanceInfo, Registration) {
        let info = instance(service, port);
        let registration = self.registry.register(info.clone(), settings).await;
        (info, registration)
    }

    /// Checks that `service`, its only instance gone, has left no trace a reader would see.
    async fn assert_forgotten(&self, service: &str) {
        assert!(self.registry.instances(service).await.unwrap().is_empty());
        assert!(
            self.index_members(service).await.is_empty(),
            "the index still names an instance of {service}"
        );
        assert!(self.registry.services().await.unwrap().is_empty());
    }

    async fn remove_keys(&self) {
        let mut redis = self.redis().await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut redis)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut redis)
                .await
                .unwrap();
        }
    }
}

fn instance(service: &str, port: u16) -> InstanceInfo {
    InstanceInfo {
        service: service.to_owned(),
        instance_id: instance_id(service),
        address: format!("http://127.0.0.1:{port}"),
        version: "1.2.3".to_owned(),
        started_at: time::OffsetDateTime::now_utc(),
        config_version: None,
    }
}

fn discovery(heartbeat_interval_ms: u64, ttl_ms: u64) -> DiscoverySettings {
    DiscoverySettings {
        heartbeat_interval_ms,
        ttl_ms,
        advertise_host: "127.0.0.1".to_owned(),
    }
}

#[tokio::test]
async fn a_registered_instance_is_listed_until_it_deregisters() {
    let test = TestRegistry::connect().await;

    let (info, registration) = test.register("reviews", 4001, &discovery(50, 5_000)).await;

    assert_eq!(test.registry.instances("reviews").await.unwrap(), [info]);
    assert_eq!(test.registry.services().await.unwrap(), ["reviews"]);

    registration.set_config_version(3);
    poll::until(
        "the heartbeat to report config version 3",
        DEADLINE,
        || async {
            let listed = test.registry.instances("reviews").await.unwrap();
            (listed.first()?.config_version == Some(3)).then_some(())
        },
    )
    .await;

    registration.deregister().await.unwrap();

    test.assert_forgotten("reviews").await;
    test.remove_keys().await;
}

#[tokio::test]
async fn an_instance_whose_heartbeat_stops_disappears_after_its_ttl() {
    let test = TestRegistry::connect().await;
    let (info, registration) = test.register("places", 4002, &discovery(50, 300)).await;
    assert_eq!(test.registry.instances("places").await.unwrap(), [info]);

    // A crash: the heartbeat stops and nothing deregisters.
    drop(registration);

    poll::until("the entry to expire", DEADLINE, || async {
        test.registry
            .instances("places")
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    test.assert_forgotten("places").await;
    test.remove_keys().await;
}

#[tokio::test]
async fn a_heartbeat_keeps_an_instance_alive_past_its_ttl() {
    let test = TestRegistry::connect().await;
    let (info, registration) = test.register("ratings", 4003, &discovery(50, 400)).await;
    let key = format!("{}discovery:ratings:{}", test.prefix, info.instance_id);
    let mut redis = test.redis().await;

    // A TTL seen falling and then rising again was refreshed by a heartbeat.
    let deadline = poll::Deadline::after(DEADLINE, "a heartbeat to refresh the TTL");
    let mut lowest = i64::MAX;
    loop {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
        assert!(ttl > 0, "the entry exists with a TTL, got {ttl}");
        if ttl > lowest {
            break;
        }
        lowest = ttl;
        deadline.tick().await;
    }

    assert_eq!(test.registry.instances("ratings").await.unwrap(), [info]);
    registration.deregister().await.unwrap();
    test.remove_keys().await;
}

#[tokio::test]
async fn two_instances_of_a_service_are_both_listed() {
    let test = TestRegistry::connect().await;
    let settings = discovery(100, 5_000);
    let first = instance("review-feed", 4004);
    let second = instance("review-feed", 4005);
    let other = instance("place-directory", 4006);

    let registrations = [
        test.registry.register(first.clone(), &settings).await,
        test.registry.register(second.clone(), &settings).await,
        test.registry.register(other.clone(), &settings).await,
    ];

    let mut expected = vec![first, second];
    expected.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    assert_eq!(
        test.registry.instances("review-feed").await.unwrap(),
        expected
    );
    assert_eq!(
        test.registry.instances("place-directory").await.unwrap(),
        [other]
    );
    assert_eq!(
        test.registry.services().await.unwrap(),
        ["place-directory", "review-feed"]
    );
    for registration in registrations {
        registration.deregister().await.unwrap();
    }
    test.remove_keys().await;
}

// ---------------------------------------------------------------------------------------------
// Health and metrics over HTTP

/// The health router served on a free port until the returned token is cancelled.
struct TestServer {
    base: String,
    shutdown: CancellationToken,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    async fn start(readiness: Readiness) -> Self {
        let listener = http::bind(&HttpSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
        })
        .await
        .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = service_kit::health::router(readiness, service_kit::metrics::install());
        let shutdown = CancellationToken::new();
        let served = tokio::spawn(http::serve(listener, router, shutdown.clone()));
        Self {
            base,
            shutdown,
            served,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(format!("{}{path}", self.base)).await.unwrap()
    }

    async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Stops the server and checks that it shut down cleanly.
    async fn stop(self) {
        self.shutdown.cancel();
        self.served.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn live_answers_ok() {
    let server = TestServer::start(Readiness::new()).await;

    let (status, body) = server.get_json("/health/live").await;

    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({ "status": "ok" }));
    server.stop().await;
}

#[tokio::test]
async fn ready_answers_200_when_every_check_passes() {
    let readiness = Readiness::new();
    readiness.add_check("postgres", || async { Ok(()) });
    readiness.add_detailed_check("projection", || async {
        CheckResult::passed().with_detail(serde_json::json!({ "lag_events": 0 }))
    });
    let server = TestServer::start(readiness).await;

    let (status, body) = server.get_json("/health/ready").await;

    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({
            "status": "ready",
            "checks": {
                "postgres": { "ok": true },
                "projection": { "ok": true, "detail": { "lag_events": 0 } },
            },
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn ready_answers_503_naming_the_failing_check() {
    let readiness = Readiness::new();
    readiness.add_check("postgres", || async { Ok(()) });
    let server = TestServer::start(readiness.clone()).await;
    // Added after the router was built: clones share their checks.
    readiness.add_check("redis", || async { Err("connection refused".to_owned()) });

    let (status, body) = server.get_json("/health/ready").await;

    assert_eq!(status, 503);
    assert_eq!(
        body,
        serde_json::json!({
            "status": "not_ready",
            "checks": {
                "postgres": { "ok": true },
                "redis": { "ok": false, "error": "connection refused" },
            },
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn a_check_that_hangs_fails_after_the_timeout() {
    let readiness = Readiness::new();
    readiness.add_check("rabbitmq", std::future::pending);
    let server = TestServer::start(readiness).await;

    let (status, body) = server.get_json("/health/ready").await;

    assert_eq!(status, 503);
    assert_eq!(body["checks"]["rabbitmq"]["ok"], false);
    let error = body["checks"]["rabbitmq"]["error"].as_str().unwrap();
    assert!(error.contains("timed out"), "{error}");
    server.stop().await;
}

#[tokio::test]
async fn metrics_render_what_was_recorded() {
    let handle = service_kit::metrics::install();
    let service = unique_suffix();
    metrics::counter!("waypoint_commands_total", "service" => service.clone(), "outcome" => "accepted")
        .increment(2);
    metrics::histogram!("waypoint_command_duration_seconds", "service" => service.clone())
        .record(0.003);
    let server = TestServer::start(Readiness::new()).await;

    let response = server.get("/metrics").await;
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE].clone();
    let body = response.text().await.unwrap();

    assert_eq!(content_type, "text/plain; version=0.0.4");
    let counter = body
        .lines()
        .find(|line| line.starts_with("waypoint_commands_total{") && line.contains(&service))
        .unwrap_or_else(|| panic!("no counter for {service} in:\n{body}"));
    assert!(counter.contains(r#"outcome="accepted""#), "{counter}");
    assert!(counter.ends_with(" 2"), "{counter}");
    let bucket =
        format!(r#"waypoint_command_duration_seconds_bucket{{service="{service}",le="0.005"}} 1"#);
    assert!(body.contains(&bucket), "no {bucket} in:\n{body}");
    // Every install returns the same recorder.
    assert!(handle.render().contains(&service));
    assert!(service_kit::metrics::install().render().contains(&service));
    server.stop().await;
}

#[tokio::test]
async fn sigterm_cancels_the_shutdown_token() {
    let token = CancellationToken::new();
    // Installs the handler before returning, so the signal below cannot end the test process.
    shutdown::cancel_on_signal(token.clone());

    let sent = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());

    poll::until("SIGTERM to cancel the token", DEADLINE, || async {
        token.is_cancelled().then_some(())
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Database

#[tokio::test]
async fn connect_creating_creates_a_missing_database_once_under_a_race() {
    let settings = PostgresSettings {
        url: admin_url(),
        max_connections: 2,
    };
    let name = format!("{TEST_DATABASE_PREFIX}{}", unique_suffix());

    let (first, second, third) = tokio::join!(
        database::connect_creating(&settings, &name),
        database::connect_creating(&settings, &name),
        database::connect_creating(&settings, &name),
    );
    let pools = [first.unwrap(), second.unwrap(), third.unwrap()];
    let again = database::connect_creating(&settings, &name).await.unwrap();

    for pool in pools.iter().chain([&again]) {
        let (current,): (String,) = sqlx::query_as("SELECT current_database()")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(current, name);
        pool.close().await;
    }
    let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
    admin
        .execute(AssertSqlSafe(format!(
            r#"DROP DATABASE "{name}" WITH (FORCE)"#
        )))
        .await
        .unwrap();
}

#[tokio::test]
async fn connect_creating_refuses_a_name_it_cannot_quote_safely() {
    let settings = PostgresSettings {
        url: admin_url(),
        max_connections: 1,
    };

    let error = database::connect_creating(&settings, r#"x"; DROP DATABASE postgres; --"#)
        .await
        .unwrap_err();

    assert!(
        matches!(error, database::DatabaseError::InvalidName(_)),
        "{error:?}"
    );
}
