//! Field errors name the field the client sent; who may act at all.

use command_testkit::member;
use events::{Actor, ErrorCode};
use uuid::Uuid;

use super::support::{Fixture, fields, rate, rejection};

#[tokio::test]
async fn stars_outside_1_to_5_are_a_field_error_on_stars() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = fixture.open_place().await;
    let rater = member();

    for stars in [0, 6] {
        let refused = rejection(fixture.send(rate(place_id, stars), &rater).await);

        assert_eq!(refused.code, ErrorCode::Validation, "{stars} stars");
        assert_eq!(fields(&refused), ["stars"], "{stars} stars");
    }
    assert!(fixture.stored(&rater, place_id).await.is_empty());
    instance.stop().await;
    fixture.cleanup().await;
}

#[tokio::test]
async fn fractional_stars_are_a_field_error_on_stars() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = fixture.open_place().await;
    let rater = member();
    let command_id = Uuid::now_v7();
    let body = serde_json::json!({
        "command_id": command_id,
        "command_type": "ratings.RatePlace",
        "payload": { "place_id": place_id, "stars": 4.5 },
        "actor": rater,
        "correlation_id": Uuid::now_v7(),
    });

    let reply = fixture
        .system
        .send_raw("ratings", command_id, serde_json::to_vec(&body).unwrap())
        .await;

    let refused = rejection(reply);
    assert_eq!(refused.code, ErrorCode::Validation);
    assert_eq!(fields(&refused), ["stars"]);
    assert!(fixture.stored(&rater, place_id).await.is_empty());
    instance.stop().await;
    fixture.cleanup().await;
}

#[tokio::test]
async fn an_anonymous_actor_is_unauthenticated() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let place_id = fixture.open_place().await;

    let refused = rejection(fixture.send(rate(place_id, 4), &Actor::anonymous()).await);

    assert_eq!(refused.code, ErrorCode::Unauthenticated);
    instance.stop().await;
    fixture.cleanup().await;
}
