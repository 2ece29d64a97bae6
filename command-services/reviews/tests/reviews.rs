//! The reviews service through the real bus, with commands built as the gateway builds them,
//! its local copies fed by place and member events, and photos in a bucket of each test's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use command_handler::host::Host;
use command_testkit::{RunningService, TestSystem, admin, envelope, member};
use event_store::EventStore;
use events::reviews::{DeleteReview, EditReview, ReviewCommand, ReviewWritten, WriteReview};
use events::{Actor, CommandReply, ErrorCode, PhotoId, PlaceId, Rejection, ReviewId};
use photo_store::{PhotoSettings, PhotoStore};
use reviews::{HOST_OPTIONS, ReviewsService, ReviewsSettings};
use service_kit::settings::ConfigSources;
use sqlx::PgPool;
use testkit::database::TestDatabase;
use uuid::Uuid;

struct Fixture {
    system: TestSystem,
    db: TestDatabase,
    pool: PgPool,
    store: EventStore,
    photos: PhotoStore,
}

impl Fixture {
    async fn new() -> Self {
        let system = TestSystem::new().await;
        let db = TestDatabase::create().await;
        let pool = db.pool(2).await;
        let store = EventStore::new(pool.clone(), events::reviews::SERVICE);
        let photos = PhotoStore::new(&photo_settings(default_photos().endpoint)).unwrap();
        photos.ensure_bucket().await.unwrap();
        Self {
            system,
            db,
            pool,
            store,
            photos,
        }
    }

    async fn start_instance(&self) -> RunningService {
        self.start_instance_with(self.photos.clone()).await
    }

    async fn start_instance_with(&self, photos: PhotoStore) -> RunningService {
        let host = Host::start(self.system.host_settings(&self.db), HOST_OPTIONS)
            .await
            .expect("the reviews host starts");
        let service = ReviewsService::new(&host, photos)
            .await
            .expect("the reviews service migrates");
        RunningService::start(host, service)
    }

    async fn send(&self, command: impl Into<ReviewCommand>, actor: &Actor) -> CommandReply {
        self.system.send(&envelope(command.into(), actor)).await
    }

    /// A place the local copy knows as open.
    async fn open_place(&self) -> PlaceId {
        self.system.open_place(&self.pool).await
    }

    async fn close_place(&self, place_id: PlaceId) {
        self.system.close_place(&self.pool, place_id).await;
    }

    async fn deactivate(&self, actor: &Actor) {
        let member_id = actor.member_id.unwrap();
        self.system.deactivate(&self.pool, member_id).await;
    }

    /// A photo in storage, uploaded by `owner` as the gateway would.
    async fn upload(&self, owner: &Actor) -> PhotoId {
        let photo_id = PhotoId::generate();
        self.photos
            .put(
                photo_id,
                owner.member_id.unwrap(),
                "image/jpeg",
                b"\xff\xd8\xff not really the rest of a JPEG".to_vec(),
            )
            .await
            .unwrap();
        photo_id
    }

    async fn write(&self, place_id: PlaceId, actor: &Actor) -> CommandReply {
        self.send(review_of(place_id), actor).await
    }

    /// The type of every event the service has stored, oldest first. Read from the table:
    /// `EventStore::read_all` holds back commits that an open transaction might still precede.
    async fn stored_types(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT event_type FROM events ORDER BY position")
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    async fn stop(self, instance: RunningService) {
        instance.stop().await;
        self.system.cleanup().await;
    }
}

/// The service's default `[photos]` settings: the local S3 server.
fn default_photos() -> PhotoSettings {
    let settings: ReviewsSettings =
        service_kit::settings::load(&ConfigSources::new(reviews::DEFAULT_SETTINGS)).unwrap();
    settings.photos
}

/// The default photo settings with `endpoint`, in a bucket of the test's own.
fn photo_settings(endpoint: String) -> PhotoSettings {
    PhotoSettings {
        endpoint,
        bucket: format!("t-{}", testkit::unique_suffix()),
        ..default_photos()
    }
}

fn review_of(place_id: PlaceId) -> WriteReview {
    WriteReview {
        place_id,
        title: "Best flat white in town".to_owned(),
        body: "Friendly staff, quiet in the mornings.".to_owned(),
        photo_ids: Vec::new(),
    }
}

fn edit_of(review_id: ReviewId) -> EditReview {
    EditReview {
        review_id,
        title: "Still the best flat white".to_owned(),
        body: "Busier now, but worth it.".to_owned(),
        photo_ids: Vec::new(),
    }
}

fn review_id_of(reply: &CommandReply) -> ReviewId {
    let CommandReply::Success(success) = reply else {
        panic!("expected success, got {reply:?}");
    };
    let uuid = success
        .stream_id
        .strip_prefix("review-")
        .expect("a review stream");
    ReviewId::from(Uuid::parse_str(uuid).unwrap())
}

fn rejection(reply: CommandReply) -> Rejection {
    match reply {
        CommandReply::Rejection(rejection) => rejection,
        CommandReply::Success(_) => panic!("expected a rejection, got {reply:?}"),
    }
}

fn fields(rejection: &Rejection) -> Vec<&str> {
    rejection.errors.iter().map(|e| e.field.as_str()).collect()
}

#[tokio::test]
async fn every_command_replies_and_stores_its_events() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let author = member();
    let place_id = fixture.open_place().await;
    let photo_id = fixture.upload(&author).await;

    let written = fixture
        .send(
            WriteReview {
                photo_ids: vec![photo_id],
                ..review_of(place_id)
            },
            &author,
        )
        .await;
    let review_id = review_id_of(&written);
    let edited = fixture.send(edit_of(review_id), &author).await;
    let deleted = fixture.send(DeleteReview { review_id }, &author).await;

    for reply in [&written, &edited, &deleted] {
        assert!(matches!(reply, CommandReply::Success(_)), "{reply:?}");
    }
    let stored = fixture
        .store
        .load(&events::reviews::stream_id(review_id), 1)
        .await
        .unwrap();
    let types: Vec<&str> = stored.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "reviews.ReviewWritten",
            "reviews.ReviewEdited",
            "reviews.ReviewDeleted"
        ]
    );
    let first: ReviewWritten = serde_json::from_str(stored[0].payload.get()).unwrap();
    assert_eq!(first.place_id, place_id);
    assert_eq!(Some(first.author_id), author.member_id);
    assert_eq!(first.photo_ids, [photo_id]);
    let CommandReply::Success(last) = deleted else {
        unreachable!()
    };
    assert_eq!(last.version, 3);
    assert_eq!(last.consistency_token.source, "reviews");
    fixture.stop(instance).await;
}

#[tokio::test]
async fn a_redelivered_write_gets_its_first_reply_and_appends_nothing() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = fixture.open_place().await;
    let command = envelope(ReviewCommand::from(review_of(place_id)), &member());

    let first = fixture.system.send(&command).await;
    let again = fixture.system.send(&command).await;

    assert!(matches!(first, CommandReply::Success(_)), "{first:?}");
    assert_eq!(first, again);
    assert_eq!(fixture.stored_types().await, ["reviews.ReviewWritten"]);
    fixture.stop(instance).await;
}

#[tokio::test]
async fn a_second_review_of_the_same_place_is_a_conflict_and_stores_nothing() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let author = member();
    let place_id = fixture.open_place().await;
    let first = fixture.write(place_id, &author).await;

    let second = rejection(fixture.write(place_id, &author).await);
    let elsewhere = fixture.write(fixture.open_place().await, &author).await;
    let someone_else = fixture.write(place_id, &member()).await;

    review_id_of(&first);
    assert_eq!(second.code, ErrorCode::Conflict);
    assert_eq!(second.message, "you have already reviewed this place");
    review_id_of(&elsewhere);
    review_id_of(&someone_else);
    assert_eq!(fixture.stored_types().await.len(), 3);
    fixture.stop(instance).await;
}

#[tokio::test]
async fn two_reviews_of_one_place_sent_at_once_make_exactly_one() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let author = member();
    let place_id = fixture.open_place().await;
    let one = envelope(ReviewCommand::from(review_of(place_id)), &author);
    let other = envelope(ReviewCommand::from(review_of(place_id)), &author);

    let (one, other) = tokio::join!(fixture.system.send(&one), fixture.system.send(&other));

    let successes = [&one, &other]
        .into_iter()
        .filter(|reply| matches!(reply, CommandReply::Success(_)))
        .count();
    assert_eq!(successes, 1, "{one:?} {other:?}");
    let refused = [one, other]
        .into_iter()
        .find_map(|reply| match reply {
            CommandReply::Rejection(rejection) => Some(rejection),
            CommandReply::Success(_) => None,
        })
        .unwrap();
    assert_eq!(refused.code, ErrorCode::Conflict);
    assert_eq!(refused.message, "you have already reviewed this place");
    assert_eq!(fixture.stored_types().await, ["reviews.ReviewWritten"]);
    fixture.stop(instance).await;
}

#[tokio::test]
async fn after_deleting_their_review_a_member_may_review_the_place_again() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let author = member();
    let place_id = fixture.open_place().await;
    let review_id = review_id_of(&fixture.write(place_id, &author).await);
    let deleted = fixture.send(DeleteReview { review_id }, &author).await;

    let again = fixture.write(place_id, &author).await;

    assert!(matches!(deleted, CommandReply::Success(_)), "{deleted:?}");
    assert_ne!(review_id_of(&again), review_id);
    fixture.stop(instance).await;
}

#[tokio::test]
async fn only_the_author_edits_a_review() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let author = member();
    let place_id = fixture.open_place().await;
    let review_id = review_id_of(&fixture.write(place_id, &author).await);

    let by_someone_else = rejection(fixture.send(edit_of(review_id), &member()).await);
    let by_an_admin = rejection(fixture.send(edit_of(review_id), &admin()).await);
    let by_the_author = fixture.send(edit_of(review_id), &author).await;

    assert_eq!(by_someone_else.code, ErrorCode::Forbidden);
    assert_eq!(by_an_admin.code, ErrorCode::Forbidden);
    assert!(
        matches!(by_the_author, CommandReply::Success(_)),
        "{by_the_author:?}"
    );
    fixture.stop(instance).await;
}

#[tokio::test]
async fn the_author_or_an_admin_deletes_a_review_and_nobody_else() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = fixture.open_place().await;
    let review_id = review_id_of(&fixture.write(place_id, &member()).await);

    let by_someone_else = rejection(fixture.send(DeleteReview { review_id }, &member()).await);
    let by_an_admin = fixture.send(DeleteReview { review_id }, &admin()).await;

    assert_eq!(by_someone_else.code, ErrorCode::Forbidden);
    assert!(
        matches!(by_an_admin, CommandReply::Success(_)),
        "{by_an_admin:?}"
    );
    assert_eq!(
        fixture.stored_types().await,
        ["reviews.ReviewWritten", "reviews.ReviewDeleted"]
    );
    fixture.stop(instance).await;
}

#[tokio::test]
async fn a_review_of_an_unknown_place_is_refused_until_the_place_event_arrives() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let author = member();
    let place_id = PlaceId::generate();

    let before = rejection(fixture.write(place_id, &author).await);
    fixture.system.add_place(&fixture.pool, place_id).await;
    let after = fixture.write(place_id, &author).await;

    assert_eq!(before.code, ErrorCode::NotFound);
    review_id_of(&after);
    fixture.stop(instance).await;
}

#[tokio::test]
async fn a_closed_place_takes_no_new_or_changed_reviews_but_its_reviews_can_be_deleted() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let author = member();
    let place_id = fixture.open_place().await;
    let review_id = review_id_of(&fixture.write(place_id, &author).await);
    fixture.close_place(place_id).await;

    let new_review = rejection(fixture.write(place_id, &member()).await);
    let edit = rejection(fixture.send(edit_of(review_id), &author).await);
    let delete = fixture.send(DeleteReview { review_id }, &author).await;

    for refused in [&new_review, &edit] {
        assert_eq!(refused.code, ErrorCode::Validation);
        assert_eq!(fields(refused), ["place_id"]);
    }
    assert!(matches!(delete, CommandReply::Success(_)), "{delete:?}");
    fixture.stop(instance).await;
}

#[tokio::test]
async fn only_photos_the_author_uploaded_may_be_attached() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let author = member();
    let place_id = fixture.open_place().await;
    let own = fixture.upload(&author).await;
    let someone_elses = fixture.upload(&member()).await;
    let missing = PhotoId::generate();

    let refused = rejection(
        fixture
            .send(
                WriteReview {
                    photo_ids: vec![own, someone_elses, missing],
                    ..review_of(place_id)
                },
                &author,
            )
            .await,
    );
    let accepted = fixture
        .send(
            WriteReview {
                photo_ids: vec![own],
                ..review_of(place_id)
            },
            &author,
        )
        .await;

    assert_eq!(refused.code, ErrorCode::Validation);
    assert_eq!(fields(&refused), ["photo_ids[1]", "photo_ids[2]"]);
    review_id_of(&accepted);
    fixture.stop(instance).await;
}

#[tokio::test]
async fn more_than_ten_photos_are_refused_without_asking_storage() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = fixture.open_place().await;
    // Never uploaded: had they been asked for, each would also be reported on its own.
    let photo_ids = (0..11).map(|_| PhotoId::generate()).collect();

    let refused = rejection(
        fixture
            .send(
                WriteReview {
                    photo_ids,
                    ..review_of(place_id)
                },
                &member(),
            )
            .await,
    );

    assert_eq!(refused.code, ErrorCode::Validation);
    assert_eq!(fields(&refused), ["photo_ids"]);
    assert!(fixture.stored_types().await.is_empty());
    fixture.stop(instance).await;
}

#[tokio::test]
async fn invalid_fields_are_each_reported_and_nothing_is_stored() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = fixture.open_place().await;

    let refused = rejection(
        fixture
            .send(
                WriteReview {
                    title: " ".to_owned(),
                    body: "a".repeat(5_001),
                    ..review_of(place_id)
                },
                &member(),
            )
            .await,
    );

    assert_eq!(refused.code, ErrorCode::Validation);
    assert_eq!(fields(&refused), ["title", "body"]);
    assert!(fixture.stored_types().await.is_empty());
    fixture.stop(instance).await;
}

#[tokio::test]
async fn a_deactivated_author_is_refused_once_the_event_has_arrived() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let author = member();
    let place_id = fixture.open_place().await;
    fixture.deactivate(&author).await;

    let refused = rejection(fixture.write(place_id, &author).await);

    assert_eq!(refused.code, ErrorCode::Forbidden);
    assert!(fixture.stored_types().await.is_empty());
    fixture.stop(instance).await;
}

#[tokio::test]
async fn with_storage_down_photos_are_unavailable_not_refused_and_a_resend_succeeds_later() {
    let fixture = Fixture::new().await;
    let down = PhotoStore::new(&photo_settings("http://127.0.0.1:1".to_owned())).unwrap();
    let instance = fixture.start_instance_with(down).await;
    let author = member();
    let place_id = fixture.open_place().await;
    let photo_id = fixture.upload(&author).await;
    let with_photo = envelope(
        ReviewCommand::from(WriteReview {
            photo_ids: vec![photo_id],
            ..review_of(place_id)
        }),
        &author,
    );

    let while_down = rejection(fixture.system.send(&with_photo).await);
    let without_photos = fixture.write(fixture.open_place().await, &author).await;
    instance.stop().await;
    let instance = fixture.start_instance().await;
    let once_back = fixture.system.send(&with_photo).await;

    assert_eq!(while_down.code, ErrorCode::Unavailable);
    review_id_of(&without_photos);
    review_id_of(&once_back);
    fixture.stop(instance).await;
}
