//! One test's members service: its own database, broker and Redis prefixes, and bucket.

use command_handler::host::Host;
use command_testkit::{RunningService, TestSystem, envelope};
use event_store::{EventStore, RecordedEvent};
use events::members::{Authenticate, MemberCommand, Register, stream_id};
use events::{Actor, CommandEnvelope, CommandReply, MemberId, Rejection, Role, Secret, Success};
use members::{AuthSettings, HOST_OPTIONS, MembersService, MembersSettings};
use photo_store::{PhotoSettings, PhotoStore};
use testkit::database::TestDatabase;
use uuid::Uuid;

/// On the allow-list of every test's service.
pub const ADMIN_EMAIL: &str = "Root@Waypoint.example";

/// The local S3 server (`cargo xtask services` starts it).
const LOCAL_S3: &str = "http://127.0.0.1:9000";

pub struct Fixture {
    pub system: TestSystem,
    pub db: TestDatabase,
    pub store: EventStore,
    bucket: String,
}

impl Fixture {
    pub async fn new() -> Self {
        let system = TestSystem::new().await;
        let db = TestDatabase::create().await;
        let store = EventStore::new(db.pool(2).await, events::members::SERVICE);
        Self {
            system,
            db,
            store,
            bucket: format!("t-{}", testkit::unique_suffix()),
        }
    }

    /// The service's settings: the admin allow-list and this test's bucket.
    pub fn settings(&self) -> MembersSettings {
        MembersSettings {
            auth: AuthSettings {
                admin_emails: vec![ADMIN_EMAIL.to_owned()],
            },
            photos: photo_settings(LOCAL_S3, &self.bucket),
        }
    }

    pub async fn host(&self) -> Host {
        Host::start(self.system.host_settings(&self.db), HOST_OPTIONS)
            .await
            .expect("the members host starts")
    }

    pub async fn start_instance(&self) -> RunningService {
        self.start_with(self.settings()).await
    }

    pub async fn start_with(&self, settings: MembersSettings) -> RunningService {
        let host = self.host().await;
        let service = MembersService::new(&host, settings)
            .await
            .expect("the members service starts");
        RunningService::start(host, service)
    }

    /// This test's bucket, created.
    pub async fn photos(&self) -> PhotoStore {
        let photos = PhotoStore::new(&self.settings().photos).unwrap();
        photos.ensure_bucket().await.unwrap();
        photos
    }

    pub async fn send(&self, command: impl Into<MemberCommand>, actor: &Actor) -> CommandReply {
        self.system.send(&envelope(command.into(), actor)).await
    }

    pub async fn send_envelope(&self, envelope: &CommandEnvelope<MemberCommand>) -> CommandReply {
        self.system.send(envelope).await
    }

    /// Registers `new` and returns them signed in, as the gateway's session would name them.
    pub async fn register(&self, new: &NewMember) -> Actor {
        let reply = self.send(new.register(), &Actor::anonymous()).await;
        Actor::member(member_id_of(&reply), vec![Role::Member])
    }

    pub async fn authenticate(&self, email: &str, password: &str) -> CommandReply {
        let login = Authenticate {
            email: email.to_owned(),
            password: Secret::new(password),
        };
        self.send(login, &Actor::anonymous()).await
    }

    pub async fn events_of(&self, member_id: MemberId) -> Vec<RecordedEvent> {
        self.store.load(&stream_id(member_id), 1).await.unwrap()
    }

    pub async fn event_types_of(&self, member_id: MemberId) -> Vec<String> {
        let events = self.events_of(member_id).await;
        events.into_iter().map(|event| event.event_type).collect()
    }

    /// The stored argon2 hash of a member's password.
    pub async fn password_hash(&self, member_id: MemberId) -> String {
        let pool = self.db.pool(1).await;
        sqlx::query_scalar("SELECT password_hash FROM credentials WHERE member_id = $1")
            .bind(Uuid::from(member_id))
            .fetch_one(&pool)
            .await
            .unwrap()
    }

    pub async fn finish(self, instance: RunningService) {
        instance.stop().await;
        self.system.cleanup().await;
    }
}

pub fn photo_settings(endpoint: &str, bucket: &str) -> PhotoSettings {
    PhotoSettings {
        backend: photo_store::PhotoBackend::S3,
        local_dir: std::path::PathBuf::new(),
        endpoint: endpoint.to_owned(),
        region: "us-east-1".to_owned(),
        bucket: bucket.to_owned(),
        access_key: "waypoint".to_owned(),
        secret_key: "waypoint-secret".to_owned(),
        allow_http: true,
        presign_ttl_s: 300,
    }
}

/// A registration with random, valid fields.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub email: String,
    pub password: String,
    pub nickname: String,
}

impl NewMember {
    pub fn generate() -> Self {
        let suffix = testkit::unique_suffix();
        Self {
            email: format!("Member.{suffix}@Example.com"),
            password: format!("a long password {suffix}"),
            nickname: format!("Member {}", &suffix[..8]),
        }
    }

    pub fn with_email(email: &str) -> Self {
        Self {
            email: email.to_owned(),
            ..Self::generate()
        }
    }

    pub fn register(&self) -> Register {
        Register {
            email: self.email.clone(),
            password: Secret::new(self.password.clone()),
            nickname: self.nickname.clone(),
        }
    }
}

pub fn success(reply: &CommandReply) -> &Success {
    match reply {
        CommandReply::Success(success) => success,
        CommandReply::Rejection(_) => panic!("expected success, got {reply:?}"),
    }
}

pub fn rejection(reply: &CommandReply) -> &Rejection {
    match reply {
        CommandReply::Rejection(rejection) => rejection,
        CommandReply::Success(_) => panic!("expected a rejection, got {reply:?}"),
    }
}

pub fn fields(rejection: &Rejection) -> Vec<&str> {
    rejection
        .errors
        .iter()
        .map(|error| error.field.as_str())
        .collect()
}

/// The member a successful `Register` created, from its stream id.
pub fn member_id_of(reply: &CommandReply) -> MemberId {
    let uuid = success(reply)
        .stream_id
        .strip_prefix("member-")
        .expect("a member stream");
    MemberId::from(Uuid::parse_str(uuid).unwrap())
}
