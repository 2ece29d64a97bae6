//! Running the CLI against one test's system.

use std::io::Write;
use std::sync::{Arc, Mutex};

use clap::Parser;
use replay_tool::{
    BrokerSettings, Cli, CliError, CliSettings, ConfigSettings, Context, Outcome, Output,
};
use service_kit::settings::{PostgresSettings, RedisSettings};
use system_testkit::{Service, TestApp};

/// The projections the CLI knows, by name.
pub const PROJECTIONS: [&str; 3] = ["review-feed", "place-directory", "member-profile"];

/// The CLI's settings for `app`'s system: its databases, broker prefix and Redis prefix.
pub fn settings_for(app: &TestApp) -> CliSettings {
    CliSettings {
        postgres: PostgresSettings {
            url: testkit::database::admin_url(),
            max_connections: 4,
        },
        rabbitmq: BrokerSettings {
            url: testkit::rabbitmq::amqp_url(),
            prefix: app.system.prefix.clone(),
            management_url: testkit::rabbitmq::management_url(),
        },
        redis: RedisSettings {
            url: testkit::redis_url(),
            key_prefix: app.system.redis_prefix.clone(),
        },
        stores: Service::ALL
            .into_iter()
            .map(|service| (service.name().to_owned(), app.database_of(service)))
            .collect(),
        projections: PROJECTIONS
            .into_iter()
            .map(|name| (name.to_owned(), app.projection_database(name)))
            .collect(),
        config: ConfigSettings {
            database: app.config_database(),
            author: "waypoint-test".to_owned(),
        },
    }
}

/// What one run of the CLI gave.
#[derive(Debug)]
pub struct Ran {
    pub outcome: Result<Outcome, CliError>,
    pub stdout: String,
}

impl Ran {
    /// The `--json` document the command printed.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.stdout))
    }
}

/// Runs `waypoint <args>` against `app`'s system, as `main` would.
pub async fn waypoint(app: &TestApp, args: &[&str]) -> Ran {
    waypoint_with(settings_for(app), args).await
}

/// Runs `waypoint <args>` with `settings` (a system with parts out of reach, say).
pub async fn waypoint_with(settings: CliSettings, args: &[&str]) -> Ran {
    let cli = Cli::try_parse_from(std::iter::once("waypoint").chain(args.iter().copied()))
        .unwrap_or_else(|error| panic!("usage: {error}"));
    let buffer = SharedBuffer::default();
    let mut output = Output::to_writer(cli.json, Box::new(buffer.clone()));
    let context = Context::new(settings);
    let outcome = replay_tool::run(cli, &context, &mut output).await;
    Ran {
        outcome,
        stdout: buffer.text(),
    }
}

/// A writer whose bytes the test reads afterwards.
#[derive(Debug, Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
