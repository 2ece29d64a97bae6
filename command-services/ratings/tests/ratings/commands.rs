//! Every command's reply and stored events, and deduplication by command id.

use command_testkit::{envelope, member};
use events::ratings::RatingCommand;
use events::{ErrorCode, PlaceId};

use super::support::{Fixture, rate, rejection, remove, success, types};

/// The stars a stored `PlaceRated` carries.
fn stars(event: &event_store::RecordedEvent) -> u64 {
    let payload: serde_json::Value = serde_json::from_str(event.payload.get()).unwrap();
    payload["stars"].as_u64().unwrap()
}

#[tokio::test]
async fn rating_re_rating_and_removing_reply_and_store_their_events() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = fixture.open_place().await;
    let rater = member();

    let rated = success(fixture.send(rate(place_id, 4), &rater).await);
    let re_rated = success(fixture.send(rate(place_id, 2), &rater).await);
    let removed = success(fixture.send(remove(place_id), &rater).await);

    let stream = events::ratings::stream_id(rater.member_id.unwrap(), place_id);
    for reply in [&rated, &re_rated, &removed] {
        assert_eq!(reply.stream_id, stream);
        assert_eq!(reply.consistency_token.source, "ratings");
    }
    let versions = [rated.version, re_rated.version, removed.version];
    assert_eq!(versions, [1, 2, 3]);
    let stored = fixture.stored(&rater, place_id).await;
    assert_eq!(
        types(&stored),
        [
            "ratings.PlaceRated",
            "ratings.PlaceRated",
            "ratings.RatingRemoved"
        ]
    );
    assert_eq!([stars(&stored[0]), stars(&stored[1])], [4, 2]);
    instance.stop().await;
    fixture.cleanup().await;
}

#[tokio::test]
async fn rating_again_with_the_same_stars_succeeds_and_appends_nothing() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = fixture.open_place().await;
    let rater = member();

    let first = success(fixture.send(rate(place_id, 3), &rater).await);
    let again = success(fixture.send(rate(place_id, 3), &rater).await);

    assert_eq!(again.version, first.version);
    assert_eq!(fixture.stored(&rater, place_id).await.len(), 1);
    instance.stop().await;
    fixture.cleanup().await;
}

#[tokio::test]
async fn removing_a_rating_that_does_not_exist_is_not_found() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let rater = member();
    let place_id = PlaceId::generate();

    let refused = rejection(fixture.send(remove(place_id), &rater).await);

    assert_eq!(refused.code, ErrorCode::NotFound);
    assert!(fixture.stored(&rater, place_id).await.is_empty());
    instance.stop().await;
    fixture.cleanup().await;
}

#[tokio::test]
async fn a_redelivered_command_gets_its_first_reply_and_appends_nothing() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = fixture.open_place().await;
    let rater = member();
    let command = envelope(RatingCommand::from(rate(place_id, 5)), &rater);

    let first = fixture.system.send(&command).await;
    let again = fixture.system.send(&command).await;

    assert_eq!(first, again);
    assert_eq!(success(first).version, 1);
    assert_eq!(fixture.stored(&rater, place_id).await.len(), 1);
    instance.stop().await;
    fixture.cleanup().await;
}
