//! The local copies of places and members decide what may be rated, and by whom.

use command_testkit::member;
use events::{ErrorCode, PlaceId};

use super::support::{Fixture, fields, rate, rejection, success, types};

#[tokio::test]
async fn an_unknown_place_is_refused_until_its_place_added_arrives() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = PlaceId::generate();
    let rater = member();

    let before = rejection(fixture.send(rate(place_id, 4), &rater).await);
    assert_eq!(before.code, ErrorCode::NotFound);
    assert!(fixture.stored(&rater, place_id).await.is_empty());

    fixture.add_place(place_id).await;
    let after = success(fixture.send(rate(place_id, 4), &rater).await);

    assert_eq!(after.version, 1);
    assert_eq!(
        types(&fixture.stored(&rater, place_id).await),
        ["ratings.PlaceRated"]
    );
    instance.stop().await;
    fixture.cleanup().await;
}

#[tokio::test]
async fn a_closed_place_is_a_field_error_on_place_id() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = fixture.open_place().await;
    fixture.close_place(place_id).await;
    let rater = member();

    let refused = rejection(fixture.send(rate(place_id, 4), &rater).await);

    assert_eq!(refused.code, ErrorCode::Validation);
    assert_eq!(fields(&refused), ["place_id"]);
    assert!(fixture.stored(&rater, place_id).await.is_empty());
    instance.stop().await;
    fixture.cleanup().await;
}

#[tokio::test]
async fn a_deactivated_member_is_refused_once_the_event_has_arrived() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = fixture.open_place().await;
    let rater = member();
    fixture.deactivate(rater.member_id.unwrap()).await;

    let refused = rejection(fixture.send(rate(place_id, 4), &rater).await);

    assert_eq!(refused.code, ErrorCode::Forbidden);
    assert!(fixture.stored(&rater, place_id).await.is_empty());
    instance.stop().await;
    fixture.cleanup().await;
}
