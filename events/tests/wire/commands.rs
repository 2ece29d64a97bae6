use std::collections::BTreeSet;

use events::members::{self, MemberCommand};
use events::places::{self, PlaceCommand};
use events::ratings::{self, RatingCommand};
use events::reviews::{self, ReviewCommand};
use events::{
    Actor, Command, CommandDecodeError, CommandEnvelope, CommandId, MemberId, PlaceId, Role, Secret,
};
use serde_json::Value;
use uuid::Uuid;

use crate::{read_fixture, read_fixtures};

/// Decodes a fixture envelope's payload as `C` and checks it encodes back to the same JSON.
fn round_trip<C: Command>(file: &str, fixture: &Value) {
    let raw: CommandEnvelope<Value> = serde_json::from_value(fixture.clone()).unwrap();
    let envelope: CommandEnvelope<C> = raw
        .decode()
        .unwrap_or_else(|e| panic!("{file}: {e}: {:?}", std::error::Error::source(&e)));
    assert_eq!(
        envelope.payload.wire_name(),
        envelope.command_type,
        "{file}"
    );
    assert_eq!(
        &serde_json::to_value(&envelope).unwrap(),
        fixture,
        "{file} does not re-encode to itself"
    );
}

#[test]
fn every_command_type_matches_its_fixture() {
    let mut covered = BTreeSet::new();
    for (file, fixture) in read_fixtures("commands") {
        let command_type = fixture["command_type"].as_str().unwrap().to_owned();
        assert_eq!(file, format!("{command_type}.json"), "misnamed fixture");

        match command_type.split_once('.').unwrap().0 {
            members::SERVICE => round_trip::<MemberCommand>(&file, &fixture),
            places::SERVICE => round_trip::<PlaceCommand>(&file, &fixture),
            reviews::SERVICE => round_trip::<ReviewCommand>(&file, &fixture),
            ratings::SERVICE => round_trip::<RatingCommand>(&file, &fixture),
            other => panic!("{file}: unknown service {other}"),
        }
        covered.insert(command_type);
    }

    let all = [
        MemberCommand::ALL_WIRE_NAMES,
        PlaceCommand::ALL_WIRE_NAMES,
        ReviewCommand::ALL_WIRE_NAMES,
        RatingCommand::ALL_WIRE_NAMES,
    ]
    .concat();
    let missing: Vec<_> = all
        .iter()
        .filter(|name| !covered.contains(**name))
        .collect();
    assert!(
        missing.is_empty(),
        "command types without a fixture: {missing:?}"
    );
}

#[test]
fn a_new_envelope_takes_its_type_from_the_command() {
    let member_id = MemberId::generate();
    let command = ratings::RatePlace {
        place_id: PlaceId::generate(),
        stars: 5,
    };
    let envelope = CommandEnvelope::new(
        CommandId::generate(),
        RatingCommand::from(command),
        Actor::member(member_id, vec![Role::Member]),
        Uuid::now_v7(),
    )
    .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

    assert_eq!(envelope.command_type, "ratings.RatePlace");
    assert_eq!(envelope.command_type, ratings::RatePlace::WIRE_NAME);
    assert_eq!(RatingCommand::SERVICE, ratings::SERVICE);
    assert!(envelope.actor.has_role(Role::Member));
    assert!(!envelope.actor.has_role(Role::Admin));

    let raw: CommandEnvelope<Value> =
        serde_json::from_value(serde_json::to_value(&envelope).unwrap()).unwrap();
    assert_eq!(raw.decode::<RatingCommand>().unwrap(), envelope);
}

#[test]
fn an_anonymous_actor_has_no_member_and_no_roles() {
    let fixture = read_fixture("commands", "members.Register.json");
    let anonymous = serde_json::to_value(Actor::anonymous()).unwrap();
    assert_eq!(fixture["actor"], anonymous);
}

#[test]
fn debug_output_never_shows_a_password() {
    let password = "correct horse battery staple";
    let register = MemberCommand::from(members::Register {
        email: "ada@example.org".to_owned(),
        password: Secret::new(password),
        nickname: "ada".to_owned(),
    });
    let envelope = CommandEnvelope::new(
        CommandId::generate(),
        register,
        Actor::anonymous(),
        Uuid::nil(),
    );

    let debug = format!("{envelope:?} {envelope:#?}");
    assert!(!debug.contains(password), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");

    // Redaction is for logs only: the service still receives the password.
    let payload = serde_json::to_value(&envelope.payload).unwrap();
    assert_eq!(payload["password"], password);
}

#[test]
fn decoding_an_unknown_command_type_fails() {
    let mut raw: CommandEnvelope<Value> =
        serde_json::from_value(read_fixture("commands", "reviews.DeleteReview.json")).unwrap();
    raw.command_type = "reviews.LikeReview".to_owned();

    let error = raw.decode::<ReviewCommand>().unwrap_err();
    assert!(
        matches!(&error, CommandDecodeError::UnknownType { wire_name } if wire_name == "reviews.LikeReview"),
        "{error:?}"
    );
}

#[test]
fn decoding_a_bad_payload_fails_with_the_cause() {
    let error = RatingCommand::decode(
        "ratings.RatePlace",
        serde_json::json!({ "place_id": Uuid::nil(), "stars": 300 }),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            CommandDecodeError::Payload {
                wire_name: "ratings.RatePlace",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(std::error::Error::source(&error).is_some());
}

#[test]
fn review_photos_may_be_omitted() {
    let command = ReviewCommand::decode(
        "reviews.WriteReview",
        serde_json::json!({ "place_id": Uuid::nil(), "title": "Fine", "body": "Just fine." }),
    )
    .unwrap();
    let ReviewCommand::WriteReview(write) = command else {
        panic!("decoded {command:?}");
    };
    assert!(write.photo_ids.is_empty());
}
