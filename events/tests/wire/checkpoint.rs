use events::{Checkpoint, ConsistencyToken, ParseConsistencyTokenError};
use serde_json::json;

#[test]
fn checkpoints_order_by_transaction_then_position() {
    // A late commit of an early position comes after an earlier transaction's later position.
    let early_xid = Checkpoint::new(100, 900);
    let late_xid = Checkpoint::new(101, 3);
    assert!(early_xid < late_xid);
    assert!(Checkpoint::new(101, 3) < Checkpoint::new(101, 4));
    assert!(Checkpoint::ORIGIN < Checkpoint::new(0, 1));
    assert!(Checkpoint::ORIGIN < Checkpoint::new(1, 0));

    let mut sorted = vec![late_xid, Checkpoint::ORIGIN, early_xid];
    sorted.sort();
    assert_eq!(sorted, [Checkpoint::ORIGIN, early_xid, late_xid]);
}

#[test]
fn checkpoint_wire_format() {
    let checkpoint = Checkpoint::new(734_219, 5821);
    let json = json!({ "transaction_id": 734_219, "position": 5821 });
    assert_eq!(serde_json::to_value(checkpoint).unwrap(), json);
    assert_eq!(
        serde_json::from_value::<Checkpoint>(json).unwrap(),
        checkpoint
    );
}

#[test]
fn consistency_token_round_trips_through_its_header_form() {
    let tokens = [
        ConsistencyToken::new("reviews", Checkpoint::new(734_219, 5821)),
        ConsistencyToken::new("place-directory", Checkpoint::ORIGIN),
        ConsistencyToken::new("members", Checkpoint::new(u64::MAX, i64::MAX)),
    ];
    for token in tokens {
        let header = token.to_string();
        assert_eq!(header.parse::<ConsistencyToken>(), Ok(token), "{header}");
    }
    let token = ConsistencyToken::new("reviews", Checkpoint::new(734_219, 5821));
    assert_eq!(token.to_string(), "reviews.734219.5821");
}

#[test]
fn malformed_consistency_tokens_are_rejected() {
    for header in [
        "",
        "reviews",
        "reviews.1",
        "reviews.1.2.3",
        ".1.2",
        "Reviews.1.2",
        "rev iews.1.2",
        "reviews.x.2",
        "reviews.1.y",
        "reviews.-1.2",
        "reviews.1.",
        "reviews.18446744073709551616.1",
    ] {
        assert_eq!(
            header.parse::<ConsistencyToken>(),
            Err(ParseConsistencyTokenError),
            "{header:?}"
        );
    }
}
