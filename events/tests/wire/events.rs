use std::collections::BTreeSet;

use events::members::MemberEvent;
use events::places::PlaceEvent;
use events::ratings::RatingEvent;
use events::reviews::ReviewEvent;
use events::{DecodeError, Event, members, places, ratings, reviews};
use serde_json::{Value, json};

use crate::read_fixtures;

/// Decodes a fixture as `E`, checks that it encodes back to the same JSON, and returns its
/// stream id.
fn round_trip<E: Event>(file: &str, fixture: &Value) -> String {
    let wire_name = fixture["type"].as_str().unwrap();
    let schema_version = u16::try_from(fixture["schema_version"].as_u64().unwrap()).unwrap();
    let event = E::decode(wire_name, schema_version, &fixture["payload"])
        .unwrap_or_else(|e| panic!("{file}: {e}: {:?}", std::error::Error::source(&e)));

    let encoded = json!({
        "type": event.wire_name(),
        "schema_version": event.schema_version(),
        "payload": serde_json::to_value(&event).unwrap(),
    });
    assert_eq!(&encoded, fixture, "{file} does not re-encode to itself");
    event.stream_id()
}

fn expected_stream_id(service: &str, payload: &Value) -> String {
    let id = |field: &str| payload[field].as_str().unwrap().to_owned();
    match service {
        members::SERVICE => format!("member-{}", id("member_id")),
        places::SERVICE => format!("place-{}", id("place_id")),
        reviews::SERVICE => format!("review-{}", id("review_id")),
        ratings::SERVICE => format!("rating-{}-{}", id("member_id"), id("place_id")),
        other => panic!("unknown service {other}"),
    }
}

#[test]
fn every_event_type_matches_its_fixture() {
    let mut covered = BTreeSet::new();
    for (file, fixture) in read_fixtures("") {
        let wire_name = fixture["type"].as_str().unwrap().to_owned();
        let version = &fixture["schema_version"];
        assert_eq!(
            file,
            format!("{wire_name}.v{version}.json"),
            "misnamed fixture"
        );

        let (service, _) = wire_name.split_once('.').unwrap();
        let stream_id = match service {
            members::SERVICE => round_trip::<MemberEvent>(&file, &fixture),
            places::SERVICE => round_trip::<PlaceEvent>(&file, &fixture),
            reviews::SERVICE => round_trip::<ReviewEvent>(&file, &fixture),
            ratings::SERVICE => round_trip::<RatingEvent>(&file, &fixture),
            other => panic!("{file}: unknown service {other}"),
        };
        assert_eq!(
            stream_id,
            expected_stream_id(service, &fixture["payload"]),
            "{file}"
        );
        covered.insert(wire_name);
    }

    let missing: Vec<_> = all_wire_names()
        .into_iter()
        .filter(|name| !covered.contains(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "event types without a fixture: {missing:?}"
    );
}

fn all_wire_names() -> Vec<&'static str> {
    [
        MemberEvent::ALL_WIRE_NAMES,
        PlaceEvent::ALL_WIRE_NAMES,
        ReviewEvent::ALL_WIRE_NAMES,
        RatingEvent::ALL_WIRE_NAMES,
    ]
    .concat()
}

#[test]
fn wire_names_are_unique_and_prefixed_by_their_service() {
    fn check<E: Event>() {
        for name in E::ALL_WIRE_NAMES {
            let (service, event_type) = name.split_once('.').unwrap();
            assert_eq!(service, E::SERVICE, "{name}");
            assert!(event_type.starts_with(char::is_uppercase), "{name}");
        }
    }
    check::<MemberEvent>();
    check::<PlaceEvent>();
    check::<ReviewEvent>();
    check::<RatingEvent>();

    let names = all_wire_names();
    let unique: BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
}

#[test]
fn wire_name_constants_match_the_enum() {
    assert_eq!(reviews::ReviewWritten::WIRE_NAME, "reviews.ReviewWritten");
    assert_eq!(reviews::ReviewWritten::SCHEMA_VERSION, 1);
    assert_eq!(MemberEvent::SERVICE, members::SERVICE);
    assert_eq!(RatingEvent::SERVICE, "ratings");
}

fn written_payload() -> Value {
    crate::read_fixture("", "reviews.ReviewWritten.v1.json")["payload"].clone()
}

#[test]
fn decoding_an_unknown_type_fails() {
    let error = ReviewEvent::decode("reviews.ReviewLiked", 1, written_payload()).unwrap_err();
    assert!(
        matches!(&error, DecodeError::UnknownType { wire_name } if wire_name == "reviews.ReviewLiked"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "unknown event type `reviews.ReviewLiked`"
    );

    // Another service's event is unknown too: each enum speaks for its own service only.
    let error = MemberEvent::decode("reviews.ReviewWritten", 1, written_payload()).unwrap_err();
    assert!(
        matches!(error, DecodeError::UnknownType { .. }),
        "{error:?}"
    );
}

#[test]
fn decoding_an_unsupported_schema_version_fails() {
    for version in [0, 2] {
        let error =
            ReviewEvent::decode("reviews.ReviewWritten", version, written_payload()).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::UnsupportedSchemaVersion {
                    wire_name: "reviews.ReviewWritten",
                    schema_version,
                    supported: 1,
                } if schema_version == version
            ),
            "{error:?}"
        );
    }
}

#[test]
fn decoding_a_payload_that_breaks_the_schema_fails_with_the_cause() {
    let mut payload = written_payload();
    payload.as_object_mut().unwrap().remove("author_id");

    let error = ReviewEvent::decode("reviews.ReviewWritten", 1, payload).unwrap_err();
    assert!(
        matches!(
            error,
            DecodeError::Payload {
                wire_name: "reviews.ReviewWritten",
                ..
            }
        ),
        "{error:?}"
    );
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(cause.contains("author_id"), "{cause}");
}

#[test]
fn category_strings_match_the_wire() {
    for category in places::Category::ALL {
        assert_eq!(serde_json::to_value(category).unwrap(), category.as_str());
        assert_eq!(category.as_str().parse(), Ok(category));
    }
    assert_eq!(
        "Cafe".parse::<places::Category>(),
        Err(places::UnknownCategory("Cafe".to_owned()))
    );
}

#[test]
fn a_payload_with_a_field_this_build_does_not_know_still_decodes() {
    // How an optional field is added without a new schema version: consumers built before it
    // read the event and ignore the field.
    let mut payload = written_payload();
    payload
        .as_object_mut()
        .unwrap()
        .insert("mood".to_owned(), json!("cheerful"));

    let decoded = ReviewEvent::decode("reviews.ReviewWritten", 1, payload).unwrap();

    let known = ReviewEvent::decode("reviews.ReviewWritten", 1, written_payload()).unwrap();
    assert_eq!(decoded, known);
}
