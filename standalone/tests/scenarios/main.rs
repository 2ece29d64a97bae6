//! End-to-end scenarios against a whole standalone Waypoint, through its public API over real
//! HTTP, as a client uses it: reads wait for the writes they follow through consistency tokens,
//! commands answered 202 are followed through `GET /commands/{id}`, and nothing sleeps.
//!
//! Each test starts a Waypoint of its own (its own databases, broker names, Redis keys, ports
//! and photo folder), stops it and cleans up at the end.
//!
//! - `happy_path`: a member's whole journey, step by step.
//! - `ratings_away`: the ratings service stops; ratings are queued, reviews go on.
//! - `feed_away`: the review feed stops; its answers are served stale, its breaker opens.
//! - `broker_outage`: every broker connection drops mid-traffic; nothing accepted is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker_outage;
mod feed_away;
mod happy_path;
mod ratings_away;
#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use events::PlaceId;
use local_copies::KnownPlace;
use service_kit::settings::PostgresSettings;
use standalone::Standalone;
use standalone::parts::Part;
use tokio::sync::{RwLock, Semaphore, SemaphorePermit};

use crate::support::Slice;
use crate::support::client::Api;

/// Every gateway sets `gateway_breaker_state` to closed when it starts, and the metrics
/// recorder is one per process: a test that watches the gauge holds this exclusively while it
/// does, and every start holds it shared, so no other test's gateway resets the gauge meanwhile.
static GATEWAY_GAUGES: RwLock<()> = RwLock::const_new(());

/// A whole Waypoint holds some 50 PostgreSQL connections (each part's pools, and each
/// projection's on the four stores): more of them at once than this would crowd a server's
/// default limit of 100.
static SYSTEMS_AT_ONCE: Semaphore = Semaphore::const_new(2);

/// How long a scenario waits for something the system does in the background.
const PATIENCE: Duration = support::client::PATIENCE;

/// One test's whole Waypoint, and a client of its API.
struct Scenario {
    slice: Slice,
    system: Standalone,
    api: Api,
    _turn: SemaphorePermit<'static>,
}

impl Scenario {
    /// Starts a Waypoint of this test's own, with `settings` (dotted keys, as in the parts'
    /// settings files) over the tests' usual ones.
    async fn start(settings: &[(&str, &str)]) -> Self {
        let turn = SYSTEMS_AT_ONCE
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let slice = Slice::new();
        let mut sources = slice
            .sources()
            // Scenarios poll; the rate limits have tests of their own.
            .with_override("rate_limit.per_ip_per_s", "100000")
            .with_override("rate_limit.per_ip_burst", "100000")
            .with_override("rate_limit.per_member_per_s", "100000")
            .with_override("rate_limit.per_member_burst", "100000")
            // A part started again listens on another port: the gateway finds it quickly.
            .with_override("upstreams.refresh_ms", "100")
            // Nine parts, each with pools on its own database and (projections) on the four
            // stores: small pools keep several of these systems within one PostgreSQL's
            // connection limit, and a scenario's traffic needs no more.
            .with_override("postgres.max_connections", "3");
        for (key, value) in settings {
            sources = sources.with_override(*key, *value);
        }
        let system = {
            let _starting = GATEWAY_GAUGES.read().await;
            Standalone::start(sources).await.expect("Waypoint starts")
        };
        let api = Api::new(system.gateway());
        Self {
            slice,
            system,
            api,
            _turn: turn,
        }
    }

    /// Stops everything and removes what the test left on the shared servers.
    async fn finish(self) {
        let Self {
            slice,
            system,
            _turn,
            ..
        } = self;
        system.stop().await;
        slice.clean_up().await;
    }

    /// Waits until `service` knows `place_id` as `status`. A command service decides on its
    /// own copy of the places service's events, which trails it: a review sent the moment
    /// after its place was added or closed may still be decided on the place as it was.
    async fn until_known(&self, service: Part, place_id: &str, status: KnownPlace) {
        let database = self.system.settings().database_of(service.name());
        let url = PostgresSettings {
            url: support::server_url(),
            max_connections: 1,
        }
        .database_url(&database);
        let copy = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("connect to the service's database");
        let place_id: PlaceId = place_id.parse().expect("a place id");
        command_testkit::wait_for_place(&copy, place_id, status).await;
        copy.close().await;
    }

    /// Polls every running part's `/health/ready` until it answers 200.
    async fn until_ready(&self) {
        let http = reqwest::Client::new();
        for part in Part::COMMAND_SERVICES
            .into_iter()
            .chain(Part::PROJECTIONS)
            .chain([Part::Gateway])
        {
            let address = self.system.address_of(part).expect("the part runs");
            let url = format!("http://{address}/health/ready");
            testkit::poll::until(&format!("{} to be ready", part.name()), PATIENCE, || {
                let ready = http.get(&url).send();
                async move { ready.await.ok()?.status().is_success().then_some(()) }
            })
            .await;
        }
    }
}

/// Eight bytes of PNG signature are what the gateway checks; the rest is the photo.
fn png(filler: u8) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[filler; 64]);
    png
}
