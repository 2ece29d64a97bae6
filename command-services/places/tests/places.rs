//! The places service through the real bus, with commands built as the gateway builds them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use command_handler::host::Host;
use command_testkit::{RunningService, TestSystem, envelope, member};
use event_store::EventStore;
use events::places::{AddPlace, ClosePlace, PlaceCommand, UpdatePlace};
use events::{Actor, CommandReply, ErrorCode, PlaceId};
use places::{HOST_OPTIONS, PlacesService};
use service_kit::discovery::Registry;
use testkit::database::TestDatabase;
use uuid::Uuid;

struct Fixture {
    system: TestSystem,
    db: TestDatabase,
    store: EventStore,
}

impl Fixture {
    async fn new() -> Self {
        let system = TestSystem::new().await;
        let db = TestDatabase::create().await;
        let store = EventStore::new(db.pool(2).await, events::places::SERVICE);
        Self { system, db, store }
    }

    async fn start_instance(&self) -> RunningService {
        let host = Host::start(self.system.host_settings(&self.db), HOST_OPTIONS)
            .await
            .expect("the places host starts");
        let service = PlacesService::new(&host);
        RunningService::start(host, service)
    }

    async fn send(&self, command: impl Into<PlaceCommand>, actor: &Actor) -> CommandReply {
        self.system.send(&envelope(command.into(), actor)).await
    }
}

fn cafe() -> AddPlace {
    AddPlace {
        name: "Café Nord".to_owned(),
        category: "cafe".to_owned(),
        address: "1 Harbour Street".to_owned(),
        description: "Good coffee.".to_owned(),
    }
}

fn place_id_of(reply: &CommandReply) -> PlaceId {
    let CommandReply::Success(success) = reply else {
        panic!("expected success, got {reply:?}");
    };
    let uuid = success
        .stream_id
        .strip_prefix("place-")
        .expect("a place stream");
    PlaceId::from(Uuid::parse_str(uuid).unwrap())
}

#[tokio::test]
async fn every_command_replies_and_stores_its_events() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let owner = member();

    let added = fixture.send(cafe(), &owner).await;
    let place_id = place_id_of(&added);
    let updated = fixture
        .send(
            UpdatePlace {
                place_id,
                name: Some("Café Sud".to_owned()),
                category: None,
                address: None,
                description: None,
            },
            &owner,
        )
        .await;
    let closed = fixture.send(ClosePlace { place_id }, &owner).await;

    for reply in [&added, &updated, &closed] {
        assert!(matches!(reply, CommandReply::Success(_)), "{reply:?}");
    }
    let stream = events::places::stream_id(place_id);
    let stored = fixture.store.load(&stream, 1).await.unwrap();
    let types: Vec<&str> = stored.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "places.PlaceAdded",
            "places.PlaceUpdated",
            "places.PlaceClosed"
        ]
    );
    let CommandReply::Success(last) = closed else {
        unreachable!()
    };
    assert_eq!(last.version, 3);
    assert_eq!(last.consistency_token.source, "places");
    instance.stop().await;
    fixture.system.cleanup().await;
}

#[tokio::test]
async fn a_redelivered_command_gets_its_first_reply_and_appends_nothing() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let command = envelope(PlaceCommand::from(cafe()), &member());

    let first = fixture.system.send(&command).await;
    let again = fixture.system.send(&command).await;

    assert_eq!(first, again);
    let stream = events::places::stream_id(place_id_of(&first));
    assert_eq!(fixture.store.load(&stream, 1).await.unwrap().len(), 1);
    instance.stop().await;
    fixture.system.cleanup().await;
}

#[tokio::test]
async fn invalid_fields_are_each_reported_and_nothing_is_stored() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let command = AddPlace {
        name: "  ".to_owned(),
        category: "casino".to_owned(),
        ..cafe()
    };

    let reply = fixture.send(command, &member()).await;

    let CommandReply::Rejection(rejection) = reply else {
        panic!("expected a rejection, got {reply:?}");
    };
    assert_eq!(rejection.code, ErrorCode::Validation);
    let fields: Vec<&str> = rejection.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["name", "category"]);
    let head = fixture
        .store
        .read_all(events::Checkpoint::ORIGIN, 10)
        .await
        .unwrap();
    assert!(head.is_empty());
    instance.stop().await;
    fixture.system.cleanup().await;
}

#[tokio::test]
async fn a_malformed_payload_names_the_offending_field() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let command_id = Uuid::now_v7();
    let body = serde_json::json!({
        "command_id": command_id,
        "command_type": "places.ClosePlace",
        "payload": { "place_id": "not-a-uuid" },
        "actor": member(),
        "correlation_id": Uuid::now_v7(),
    });

    let reply = fixture
        .system
        .send_raw("places", command_id, serde_json::to_vec(&body).unwrap())
        .await;

    let CommandReply::Rejection(rejection) = reply else {
        panic!("expected a rejection, got {reply:?}");
    };
    assert_eq!(rejection.code, ErrorCode::Validation);
    assert_eq!(rejection.errors[0].field, "place_id");
    instance.stop().await;
    fixture.system.cleanup().await;
}

#[tokio::test]
async fn a_deactivated_member_is_refused_once_the_event_has_arrived() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let actor = member();
    let member_id = actor.member_id.unwrap();
    let pool = fixture.db.pool(1).await;
    fixture.system.deactivate(&pool, member_id).await;
    let reply = fixture.send(cafe(), &actor).await;

    let CommandReply::Rejection(rejection) = reply else {
        panic!("expected a rejection, got {reply:?}");
    };
    assert_eq!(rejection.code, ErrorCode::Forbidden);
    instance.stop().await;
    fixture.system.cleanup().await;
}

#[tokio::test]
async fn an_instance_registers_serves_health_and_metrics_and_deregisters_on_shutdown() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let settings = fixture.system.host_settings(&fixture.db);
    let registry = Registry::connect(&settings.redis).await.unwrap();
    fixture.send(cafe(), &member()).await;

    let registered = registry.instances("places").await.unwrap();
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].instance_id, instance.instance_id);
    assert_eq!(
        registered[0].address,
        format!("http://127.0.0.1:{}", instance.http.port())
    );
    let http = reqwest::Client::new();
    let base = format!("http://{}", instance.http);
    let live = http
        .get(format!("{base}/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let ready = http
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let checks: serde_json::Value = ready.json().await.unwrap();
    assert!(checks["checks"]["postgres"]["ok"].as_bool().unwrap());
    assert!(checks["checks"]["rabbitmq"]["ok"].as_bool().unwrap());
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"waypoint_commands_total{service="places",command="places.AddPlace",outcome="ok"}"#
        ),
        "{metrics}"
    );

    instance.stop().await;
    assert!(registry.instances("places").await.unwrap().is_empty());
    fixture.system.cleanup().await;
}

#[tokio::test]
async fn an_instance_declares_the_local_copy_queues_of_every_service_that_keeps_copies() {
    let fixture = Fixture::new().await;
    // Only places runs: the reviews and ratings services have never started.
    let instance = fixture.start_instance().await;

    let added = fixture.send(cafe(), &member()).await;
    place_id_of(&added);

    for service in ["reviews", "ratings"] {
        let queue = fixture.system.names().events_queue(service);
        testkit::poll::until(
            &format!("the PlaceAdded waiting in {queue}"),
            std::time::Duration::from_secs(30),
            || async {
                let described = testkit::rabbitmq::queue(&queue).await?;
                (described["messages"].as_u64() == Some(1)).then_some(())
            },
        )
        .await;
    }
    instance.stop().await;
    fixture.system.cleanup().await;
}
