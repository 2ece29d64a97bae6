//! One test's Waypoint: the gateway on port 0 with this test's broker prefix, Redis prefix and
//! bucket, and whichever services and projections the test starts, each on its own database.
//! For tests of the whole system through its public faces (the gateway, the CLI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use command_handler::host::Host;
use command_testkit::{RunningService, TestSystem};
use gateway::{Application, DEFAULT_SETTINGS, GatewaySettings};
use message_bus::CancellationToken;
use projection::ReadModel;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use service_kit::settings::ConfigSources;
use testkit::database::{TEST_DATABASE_PREFIX, TestDatabase};
use tokio::task::JoinHandle;

/// The local S3 server (`cargo xtask services` starts it).
pub const LOCAL_S3: &str = "http://127.0.0.1:9000";

/// The four command services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Members,
    Places,
    Reviews,
    Ratings,
}

impl Service {
    pub const ALL: [Self; 4] = [Self::Members, Self::Places, Self::Reviews, Self::Ratings];

    pub fn name(self) -> &'static str {
        match self {
            Self::Members => "members",
            Self::Places => "places",
            Self::Reviews => "reviews",
            Self::Ratings => "ratings",
        }
    }
}

/// The projections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    ReviewFeed,
    PlaceDirectory,
    MemberProfile,
    TopReviewers,
}

impl Projection {
    pub const ALL: [Self; 4] = [
        Self::ReviewFeed,
        Self::PlaceDirectory,
        Self::MemberProfile,
        Self::TopReviewers,
    ];

    /// The read model's name: its queue, its database and its `projection` metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReviewFeed => review_feed::ReviewFeed::NAME,
            Self::PlaceDirectory => place_directory::PlaceDirectory::NAME,
            Self::MemberProfile => member_profile::MemberProfile::NAME,
            Self::TopReviewers => top_reviewers::TopReviewers::NAME,
        }
    }
}

/// A projection instance serving in this process.
#[derive(Debug)]
pub struct RunningProjection {
    pub http: SocketAddr,
    pub instance_id: String,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningProjection {
    /// Graceful: it deregisters and stops answering.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// The gateway serving in this process.
#[derive(Debug)]
pub struct RunningGateway {
    pub address: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningGateway {
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// A signed-in member, as `/auth/register` or `/auth/login` answered.
#[derive(Debug, Clone)]
pub struct Session {
    pub member_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub email: String,
    pub password: String,
}

/// An answer: status, headers and the body as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The problem's `code`, for error answers.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

#[derive(Debug)]
pub struct TestApp {
    pub system: TestSystem,
    /// This test's photo bucket.
    pub bucket: String,
    /// The settings the gateway starts with; change them before [`TestApp::start_gateway`].
    pub settings: GatewaySettings,
    pub http: reqwest::Client,
    suffix: String,
    gateway: Option<RunningGateway>,
    services: BTreeMap<Service, Vec<RunningService>>,
}

impl TestApp {
    /// This test's slice of the infrastructure; nothing is running yet.
    pub async fn new() -> Self {
        let system = TestSystem::new().await;
        let suffix = testkit::unique_suffix();
        let bucket = format!("t-{suffix}");
        let settings = gateway_settings(&system, &bucket);
        Self {
            system,
            bucket,
            settings,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            suffix,
            gateway: None,
            services: BTreeMap::new(),
        }
    }

    /// The gateway and the four command services: enough for commands and auth.
    pub async fn with_services() -> Self {
        let mut app = Self::new().await;
        for service in Service::ALL {
            app.start_service(service).await;
        }
        app.start_gateway().await;
        app
    }

    pub async fn start_gateway(&mut self) {
        let application = Application::build(self.settings.clone())
            .await
            .expect("the gateway starts");
        let address = application.address().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                application
                    .run_until_stopped(shutdown)
                    .await
                    .expect("the gateway stops cleanly");
            }
        });
        self.gateway = Some(RunningGateway {
            address,
            shutdown,
            task,
        });
    }

    pub async fn stop_gateway(&mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.stop().await;
        }
    }

    /// The database a service's store lives in, for this test.
    pub fn database_of(&self, service: Service) -> String {
        format!("{TEST_DATABASE_PREFIX}{}_{}", self.suffix, service.name())
    }

    /// A small pool on `service`'s database (its store, its local copies).
    pub async fn pool_of(&self, service: Service) -> sqlx::PgPool {
        let server = service_kit::settings::PostgresSettings {
            url: testkit::database::admin_url(),
            max_connections: 2,
        };
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&server.database_url(&self.database_of(service)))
            .await
            .expect("connect to a service's database")
    }

    /// `service`'s event store, to check what a command appended.
    pub async fn store_of(&self, service: Service) -> event_store::EventStore {
        event_store::EventStore::new(self.pool_of(service).await, service.name())
    }

    /// The database of the projection called `name` (`review-feed`, ...), for this test.
    pub fn projection_database(&self, name: &str) -> String {
        format!(
            "{TEST_DATABASE_PREFIX}{}_{}",
            self.suffix,
            name.replace('-', "_")
        )
    }

    /// The database of the dynamic configuration's versions (`waypoint config`), for this test.
    pub fn config_database(&self) -> String {
        format!("{TEST_DATABASE_PREFIX}{}_config", self.suffix)
    }

    /// A small pool on the database of the projection called `name`.
    pub async fn projection_pool(&self, name: &str) -> sqlx::PgPool {
        let server = service_kit::settings::PostgresSettings {
            url: testkit::database::admin_url(),
            max_connections: 2,
        };
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&server.database_url(&self.projection_database(name)))
            .await
            .expect("connect to a projection's database")
    }

    fn source_databases(&self) -> BTreeMap<String, String> {
        Service::ALL
            .into_iter()
            .map(|service| (service.name().to_owned(), self.database_of(service)))
            .collect()
    }

    /// Starts one more instance of `service`.
    pub async fn start_service(&mut self, service: Service) {
        let database = TestDatabase {
            name: self.database_of(service),
            url: String::new(),
        };
        let settings = self.system.host_settings(&database);
        let photos = photo_settings(&self.bucket);
        let running = match service {
            Service::Members => {
                let host = Host::start(settings, members::HOST_OPTIONS).await.unwrap();
                let members = members::MembersSettings {
                    auth: members::AuthSettings::default(),
                    photos,
                };
                let service = members::MembersService::new(&host, members).await.unwrap();
                RunningService::start(host, service)
            }
            Service::Places => {
                let host = Host::start(settings, places::HOST_OPTIONS).await.unwrap();
                let service = places::PlacesService::new(&host);
                RunningService::start(host, service)
            }
            Service::Reviews => {
                let host = Host::start(settings, reviews::HOST_OPTIONS).await.unwrap();
                let store = photo_store::PhotoStore::new(&photos).unwrap();
                let service = reviews::ReviewsService::new(&host, store).await.unwrap();
                RunningService::start(host, service)
            }
            Service::Ratings => {
                let host = Host::start(settings, ratings::HOST_OPTIONS).await.unwrap();
                let service = ratings::RatingsService::new(&host);
                RunningService::start(host, service)
            }
        };
        self.services.entry(service).or_default().push(running);
    }

    /// Where the first running instance of `service` serves `/health/*` and `/metrics`.
    pub fn service_http(&self, service: Service) -> SocketAddr {
        self.services
            .get(&service)
            .and_then(|instances| instances.first())
            .map(|instance| instance.http)
            .unwrap_or_else(|| panic!("{} is not running", service.name()))
    }

    /// Stops every instance of `service` gracefully.
    pub async fn stop_service(&mut self, service: Service) {
        for instance in self.services.remove(&service).unwrap_or_default() {
            instance.stop().await;
        }
    }

    /// Starts an instance of `projection`, built from this test's stores.
    pub async fn start_projection(&self, projection: Projection) -> RunningProjection {
        match projection {
            Projection::ReviewFeed => {
                self.serve_projection(review_feed::ReviewFeed, review_feed::router)
                    .await
            }
            Projection::PlaceDirectory => {
                self.serve_projection(place_directory::PlaceDirectory, place_directory::router)
                    .await
            }
            Projection::MemberProfile => {
                self.serve_projection(member_profile::MemberProfile, member_profile::router)
                    .await
            }
            Projection::TopReviewers => {
                self.serve_projection(top_reviewers::TopReviewers, top_reviewers::router)
                    .await
            }
        }
    }

    async fn serve_projection<M: ReadModel>(
        &self,
        model: M,
        router: fn(projection::query::QueryContext) -> axum::Router,
    ) -> RunningProjection {
        let database = TestDatabase {
            name: self.projection_database(M::NAME),
            url: String::new(),
        };
        let settings =
            projection_testkit::settings(&self.system.prefix, &database, self.source_databases());
        let host = projection::host::Host::start(settings, model, "test")
            .await
            .expect("the projection starts");
        let http = host.http_address().unwrap();
        let instance_id = host.instance_id().to_owned();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                host.serve(router, shutdown)
                    .await
                    .expect("the projection stops cleanly");
            }
        });
        let running = RunningProjection {
            http,
            instance_id,
            shutdown,
            task,
        };
        let ready = format!("http://{http}/health/ready");
        testkit::poll::until("the projection is ready", Duration::from_secs(20), || {
            let ready = ready.clone();
            let http = self.http.clone();
            async move {
                let response = http.get(&ready).send().await.ok()?;
                response.status().is_success().then_some(())
            }
        })
        .await;
        running
    }

    /// `http://127.0.0.1:<port><path>` of the running gateway.
    pub fn url(&self, path: &str) -> String {
        let gateway = self.gateway.as_ref().expect("the gateway is running");
        format!("http://{}{path}", gateway.address)
    }

    /// Sends a request to the gateway; `token` as a bearer token, `body` as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.expect("the gateway answers")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    /// Registers a new member with random details and returns the session.
    pub async fn register(&self) -> Session {
        let suffix = testkit::unique_suffix();
        let email = format!("m-{suffix}@example.com");
        let password = format!("pw-{suffix}-long-enough");
        let answer = self
            .call(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(json!({
                    "email": email,
                    "password": password,
                    "nickname": format!("n{}", &suffix[..8]),
                })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        session_from(&answer, email, password)
    }

    /// Adds an open place through the gateway as `session`'s member; its id.
    pub async fn add_place(&self, session: &Session, name: &str) -> String {
        let answer = self
            .call(
                Method::POST,
                "/api/v1/places",
                Some(&session.access_token),
                Some(json!({ "name": name, "category": "cafe", "address": "1 Quay Street" })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["place_id"]
            .as_str()
            .unwrap_or_else(|| panic!("`place_id` in {:?}", answer.body))
            .to_owned()
    }

    /// Stops everything this test started and removes its broker objects.
    pub async fn finish(mut self) {
        self.stop_gateway().await;
        let services: Vec<Service> = self.services.keys().copied().collect();
        for service in services {
            self.stop_service(service).await;
        }
        self.system.cleanup().await;
    }
}

/// The session in an `/auth/register`, `/auth/login` or `/auth/refresh` answer.
pub fn session_from(answer: &Answer, email: String, password: String) -> Session {
    let field = |name: &str| {
        answer.body[name]
            .as_str()
            .unwrap_or_else(|| panic!("`{name}` in {:?}", answer.body))
            .to_owned()
    };
    Session {
        member_id: field("member_id"),
        access_token: field("access_token"),
        refresh_token: field("refresh_token"),
        email,
        password,
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// The embedded defaults with this test's prefixes, bucket and port 0.
fn gateway_settings(system: &TestSystem, bucket: &str) -> GatewaySettings {
    let mut settings: GatewaySettings =
        service_kit::settings::load(&ConfigSources::new(DEFAULT_SETTINGS)).unwrap();
    settings.http.port = 0;
    settings.rabbitmq.url = testkit::rabbitmq::amqp_url();
    settings.rabbitmq.prefix = system.prefix.clone();
    settings.redis.url = testkit::redis_url();
    settings.redis.key_prefix = system.redis_prefix.clone();
    settings.photos = photo_settings(bucket);
    // Quick to notice a new or vanished instance.
    settings.upstreams.refresh_ms = 100;
    settings
}

pub fn photo_settings(bucket: &str) -> photo_store::PhotoSettings {
    photo_store::PhotoSettings {
        backend: photo_store::PhotoBackend::S3,
        local_dir: std::path::PathBuf::new(),
        endpoint: LOCAL_S3.to_owned(),
        region: "us-east-1".to_owned(),
        bucket: bucket.to_owned(),
        access_key: "waypoint".to_owned(),
        secret_key: "waypoint-secret".to_owned(),
        allow_http: true,
        presign_ttl_s: 300,
    }
}

/// Asserts that `answer` is an RFC 9457 problem with `status` and `code`, with every member a
/// client relies on.
pub fn assert_problem(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status.as_u16(), status, "{:?}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        Some("application/problem+json"),
        "{:?}",
        answer.headers
    );
    assert_eq!(answer.code(), code, "{:?}", answer.body);
    assert_eq!(answer.body["status"], status, "{:?}", answer.body);
    for member in ["type", "title", "detail"] {
        let text = answer.body[member].as_str().unwrap_or_default();
        assert!(!text.is_empty(), "no `{member}` in {:?}", answer.body);
    }
}
