//! What the standalone tests share: a test's slice of the servers, and a client of the API as
//! an application would use it.
//!
//! # Layout
//! - [`Slice`]: this test's databases, broker names, Redis keys, ports and photo folder.
//! - [`call`]: one request, answered as status, headers and JSON.
//! - [`client`]: the typed client, which carries consistency tokens.

pub mod client;

use std::path::PathBuf;

use service_kit::settings::ConfigSources;
use standalone::settings::DEFAULT_SETTINGS;
use system_testkit::Answer;
use testkit::database::TEST_DATABASE_PREFIX;

/// This test's slice of the servers: its own databases, names, keys, ports and photo folder.
#[derive(Debug)]
pub struct Slice {
    database_prefix: String,
    broker_prefix: String,
    pub photos: PathBuf,
}

impl Slice {
    pub fn new() -> Self {
        let suffix = testkit::unique_suffix();
        Self {
            database_prefix: format!("{TEST_DATABASE_PREFIX}{suffix}_"),
            broker_prefix: testkit::rabbitmq::unique_prefix(),
            photos: std::env::temp_dir().join(format!("waypoint-photos-{suffix}")),
        }
    }

    pub fn sources(&self) -> ConfigSources {
        ConfigSources::new(DEFAULT_SETTINGS)
            .with_override("postgres.url", server_url())
            .with_override("rabbitmq.url", testkit::rabbitmq::amqp_url())
            .with_override("rabbitmq.prefix", &self.broker_prefix)
            .with_override("redis.url", testkit::redis_url())
            .with_override("redis.key_prefix", format!("{}:", self.broker_prefix))
            .with_override("databases.prefix", &self.database_prefix)
            .with_override("http.port", "0")
            .with_override("http.internal_ports", "any")
            .with_override("photos.local_dir", self.photos.to_string_lossy())
            // Every part of a debug build starting at once on a busy machine can take longer
            // than the gateway's usual wait; the 202 path has tests of its own.
            .with_override("commands.reply_timeout_ms", "30000")
    }

    /// Its broker objects and photos. Its databases carry the tests' prefix: like every test's,
    /// they are dropped before the next run (`cargo xtask test`), since dropping nine databases
    /// here would cost more than the test.
    pub async fn clean_up(self) {
        testkit::rabbitmq::delete_prefixed(&self.broker_prefix).await;
        let _ = std::fs::remove_dir_all(&self.photos);
    }
}

/// The server part of the tests' PostgreSQL URL: standalone names the databases itself.
pub fn server_url() -> String {
    let admin = testkit::database::admin_url();
    admin
        .rsplit_once('/')
        .map(|(server, _)| server.to_owned())
        .unwrap_or(admin)
}

/// Sends `request`; the gateway must answer.
pub async fn call(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the gateway answers");
    system_testkit::answer(response).await
}
