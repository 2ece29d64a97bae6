//! Per-test fixture: a database, a private slice of the broker, and ways to feed the local
//! copies as the places and members relays would.

use command_handler::host::Host;
use command_testkit::{RunningService, TestSystem, envelope};
use event_store::{EventStore, RecordedEvent};
use events::ratings::{RatePlace, RatingCommand, RemoveRating};
use events::{Actor, CommandReply, MemberId, PlaceId, Rejection, Success};
use ratings::{HOST_OPTIONS, RatingsService};
use sqlx::PgPool;
use testkit::database::TestDatabase;

pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

pub struct Fixture {
    pub system: TestSystem,
    pub db: TestDatabase,
    /// The test's own sessions on the service's database.
    pub pool: PgPool,
    pub store: EventStore,
}

impl Fixture {
    pub async fn new() -> Self {
        let system = TestSystem::new().await;
        let db = TestDatabase::create().await;
        let pool = db.pool(3).await;
        let store = EventStore::new(pool.clone(), events::ratings::SERVICE);
        Self {
            system,
            db,
            pool,
            store,
        }
    }

    /// One more instance on the same database and queues: every call is another competing
    /// consumer.
    pub async fn start_instance(&self) -> RunningService {
        let host = Host::start(self.system.host_settings(&self.db), HOST_OPTIONS)
            .await
            .expect("the ratings host starts");
        let service = RatingsService::new(&host);
        RunningService::start(host, service)
    }

    pub async fn send(&self, command: impl Into<RatingCommand>, actor: &Actor) -> CommandReply {
        self.system.send(&envelope(command.into(), actor)).await
    }

    /// A new place the service's local copy knows as open.
    pub async fn open_place(&self) -> PlaceId {
        self.system.open_place(&self.pool).await
    }

    /// Publishes the place's `PlaceAdded` as the places relay would and waits until the local
    /// copy has it.
    pub async fn add_place(&self, place_id: PlaceId) {
        self.system.add_place(&self.pool, place_id).await;
    }

    pub async fn close_place(&self, place_id: PlaceId) {
        self.system.close_place(&self.pool, place_id).await;
    }

    pub async fn deactivate(&self, member_id: MemberId) {
        self.system.deactivate(&self.pool, member_id).await;
    }

    /// The stored events of `actor`'s rating of the place.
    pub async fn stored(&self, actor: &Actor, place_id: PlaceId) -> Vec<RecordedEvent> {
        let member_id = actor.member_id.expect("a member");
        let stream = events::ratings::stream_id(member_id, place_id);
        self.store.load(&stream, 1).await.unwrap()
    }

    pub async fn cleanup(self) {
        self.pool.close().await;
        self.system.cleanup().await;
    }
}

pub fn rate(place_id: PlaceId, stars: u8) -> RatePlace {
    RatePlace { place_id, stars }
}

pub fn remove(place_id: PlaceId) -> RemoveRating {
    RemoveRating { place_id }
}

pub fn success(reply: CommandReply) -> Success {
    match reply {
        CommandReply::Success(success) => success,
        CommandReply::Rejection(rejection) => panic!("expected success, got {rejection:?}"),
    }
}

pub fn rejection(reply: CommandReply) -> Rejection {
    match reply {
        CommandReply::Rejection(rejection) => rejection,
        CommandReply::Success(success) => panic!("expected a rejection, got {success:?}"),
    }
}

pub fn fields(rejection: &Rejection) -> Vec<&str> {
    rejection.errors.iter().map(|e| e.field.as_str()).collect()
}

/// The event types of a stream, oldest first.
pub fn types(stored: &[RecordedEvent]) -> Vec<&str> {
    stored.iter().map(|e| e.event_type.as_str()).collect()
}
