use events::reviews::ReviewEvent;
use events::{Checkpoint, Event, RecordedEvent, Role};
use serde_json::Value;

use crate::read_fixture;

#[test]
fn a_recorded_event_keeps_its_wire_format_and_its_payload_decodes() {
    let fixture = read_fixture("recorded", "reviews.ReviewWritten.json");

    let recorded: RecordedEvent<Value> = serde_json::from_value(fixture.clone()).unwrap();

    assert_eq!(serde_json::to_value(&recorded).unwrap(), fixture);
    assert_eq!(recorded.checkpoint, Checkpoint::new(734_219, 5821));
    assert_eq!(recorded.actor.as_ref().unwrap().roles, [Role::Member]);
    let event = ReviewEvent::decode(
        &recorded.event_type,
        recorded.schema_version,
        &recorded.payload,
    )
    .unwrap();
    assert_eq!(event.wire_name(), "reviews.ReviewWritten");
    assert_eq!(event.stream_id(), recorded.stream_id);
}
