use events::{
    AuthenticatedMember, Checkpoint, CommandReply, ConsistencyToken, ErrorCode, MemberId,
    Rejection, Role, Success,
};
use serde_json::Value;

use crate::read_fixture;

fn assert_wire_format(reply: &CommandReply, fixture: &str) {
    let fixture: Value = read_fixture("replies", fixture);
    assert_eq!(&serde_json::to_value(reply).unwrap(), &fixture);
    assert_eq!(
        &serde_json::from_value::<CommandReply>(fixture).unwrap(),
        reply
    );
}

#[test]
fn ok_reply() {
    let token = ConsistencyToken::new("reviews", Checkpoint::new(734_219, 5821));
    let reply = Success::new("review-0195a3b3-0f21-7a03-b4c5-d6e7f8091a2b", 1, token).into();
    assert_wire_format(&reply, "ok.json");
}

#[test]
fn ok_reply_to_authenticate_names_the_member() {
    let member_id: MemberId = "0195a3b2-7c4e-7d21-9f3a-1b2c3d4e5f60".parse().unwrap();
    let token = ConsistencyToken::new("members", Checkpoint::new(1022, 77));
    let reply = Success::new(events::members::stream_id(member_id), 3, token)
        .with_member(AuthenticatedMember {
            member_id,
            roles: vec![Role::Member, Role::Admin],
        })
        .into();
    assert_wire_format(&reply, "ok-authenticated.json");
}

#[test]
fn error_reply() {
    let reply = CommandReply::rejected(ErrorCode::Conflict, "you have already reviewed this place");
    assert_wire_format(&reply, "error.json");
    assert_eq!(reply.into_result().unwrap_err().code, ErrorCode::Conflict);
}

#[test]
fn error_reply_with_field_errors() {
    let reply = Rejection::new(ErrorCode::Validation, "the review is invalid")
        .with_field_error("title", "must not be empty")
        .with_field_error("photo_ids", "at most 10 photos")
        .into();
    assert_wire_format(&reply, "error-validation.json");
}

#[test]
fn every_error_code_is_snake_case_on_the_wire() {
    let codes = [
        (ErrorCode::Validation, "validation"),
        (ErrorCode::Conflict, "conflict"),
        (ErrorCode::NotFound, "not_found"),
        (ErrorCode::Forbidden, "forbidden"),
        (ErrorCode::Unauthenticated, "unauthenticated"),
        (ErrorCode::Unavailable, "unavailable"),
    ];
    for (code, wire) in codes {
        assert_eq!(serde_json::to_value(code).unwrap(), wire);
    }
}
