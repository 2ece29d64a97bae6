//! Register: the new member, the email reservation, field errors, the admin allow-list.

use command_testkit::envelope;
use events::members::{MemberCommand, MemberEvent, MemberRegistered};
use events::{Actor, CommandReply, ErrorCode, Event, MemberId, Role};

use super::support::{ADMIN_EMAIL, Fixture, NewMember, fields, member_id_of, rejection, success};

#[tokio::test]
async fn a_registration_names_the_member_after_its_command_and_stores_the_public_event() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let new = NewMember::generate();
    let command = envelope(MemberCommand::from(new.register()), &Actor::anonymous());

    let reply = fixture.send_envelope(&command).await;

    let member_id = member_id_of(&reply);
    assert_eq!(
        member_id,
        MemberId::from(uuid::Uuid::from(command.command_id))
    );
    assert_eq!(success(&reply).version, 1);
    let stored = fixture.events_of(member_id).await;
    assert_eq!(stored.len(), 1);
    let mut payload = serde_json::Deserializer::from_str(stored[0].payload.get());
    let event = MemberEvent::decode(&stored[0].event_type, 1, &mut payload).unwrap();
    let MemberEvent::MemberRegistered(MemberRegistered { nickname, .. }) = event else {
        panic!("expected MemberRegistered, got {event:?}");
    };
    assert_eq!(nickname, new.nickname);
    fixture.finish(instance).await;
}

#[tokio::test]
async fn a_redelivered_registration_gets_its_first_reply_and_appends_nothing() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let command = envelope(
        MemberCommand::from(NewMember::generate().register()),
        &Actor::anonymous(),
    );

    let first = fixture.send_envelope(&command).await;
    let again = fixture.send_envelope(&command).await;

    assert_eq!(first, again);
    assert_eq!(fixture.events_of(member_id_of(&first)).await.len(), 1);
    fixture.finish(instance).await;
}

#[tokio::test]
async fn an_email_taken_in_another_letter_case_is_refused_on_the_email_field() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let first = NewMember::generate();
    fixture.register(&first).await;
    let again = NewMember::with_email(&format!("  {}  ", first.email.to_uppercase()));
    let command = envelope(MemberCommand::from(again.register()), &Actor::anonymous());

    let reply = fixture.send_envelope(&command).await;

    let refused = rejection(&reply);
    assert_eq!(refused.code, ErrorCode::Conflict);
    assert_eq!(fields(refused), ["email"]);
    let would_be = MemberId::from(uuid::Uuid::from(command.command_id));
    assert!(fixture.events_of(would_be).await.is_empty());
    let pool = fixture.db.pool(1).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM credentials")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    fixture.finish(instance).await;
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_make_exactly_one_member() {
    let fixture = Fixture::new().await;
    // Two instances of four workers each: the registrations really run side by side.
    let instances = [
        fixture.start_instance().await,
        fixture.start_instance().await,
    ];
    let email = NewMember::generate().email;
    let spellings = [
        email.clone(),
        email.to_lowercase(),
        email.to_uppercase(),
        format!(" {email} "),
    ];
    let commands = spellings.map(|spelling| {
        envelope(
            MemberCommand::from(NewMember::with_email(&spelling).register()),
            &Actor::anonymous(),
        )
    });

    let replies = tokio::join!(
        fixture.send_envelope(&commands[0]),
        fixture.send_envelope(&commands[1]),
        fixture.send_envelope(&commands[2]),
        fixture.send_envelope(&commands[3]),
    );
    let replies = [replies.0, replies.1, replies.2, replies.3];

    let accepted: Vec<&CommandReply> = replies
        .iter()
        .filter(|reply| matches!(reply, CommandReply::Success(_)))
        .collect();
    assert_eq!(accepted.len(), 1, "{replies:?}");
    for reply in replies
        .iter()
        .filter(|reply| !matches!(reply, CommandReply::Success(_)))
    {
        assert_eq!(fields(rejection(reply)), ["email"]);
    }
    let mut registered = 0;
    for command in &commands {
        let member_id = MemberId::from(uuid::Uuid::from(command.command_id));
        registered += fixture.events_of(member_id).await.len();
    }
    assert_eq!(registered, 1);
    let [first, second] = instances;
    first.stop().await;
    fixture.finish(second).await;
}

#[tokio::test]
async fn every_invalid_field_is_reported_and_nothing_is_stored() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let invalid = NewMember {
        password: "short".to_owned(),
        nickname: "Admin ✓".to_owned(),
        ..NewMember::generate()
    };
    let command = envelope(MemberCommand::from(invalid.register()), &Actor::anonymous());

    let reply = fixture.send_envelope(&command).await;

    let refused = rejection(&reply);
    assert_eq!(refused.code, ErrorCode::Validation);
    assert_eq!(fields(refused), ["password", "nickname"]);
    let would_be = MemberId::from(uuid::Uuid::from(command.command_id));
    assert!(fixture.events_of(would_be).await.is_empty());
    // The refusal is recorded: a redelivery gets it without parsing again.
    assert_eq!(
        fixture
            .store
            .command_reply(command.command_id.into())
            .await
            .unwrap(),
        Some(reply)
    );
    fixture.finish(instance).await;
}

#[tokio::test]
async fn an_address_on_the_allow_list_registers_an_admin_and_any_other_a_member() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let root = NewMember::with_email(&ADMIN_EMAIL.to_lowercase());
    let ordinary = NewMember::generate();
    let root_id = fixture.register(&root).await.member_id.unwrap();
    let ordinary_id = fixture.register(&ordinary).await.member_id.unwrap();

    let as_root = fixture.authenticate(&root.email, &root.password).await;
    let as_ordinary = fixture
        .authenticate(&ordinary.email, &ordinary.password)
        .await;

    let root_member = success(&as_root).member.clone().unwrap();
    assert_eq!(root_member.member_id, root_id);
    assert_eq!(root_member.roles, [Role::Member, Role::Admin]);
    let ordinary_member = success(&as_ordinary).member.clone().unwrap();
    assert_eq!(ordinary_member.member_id, ordinary_id);
    assert_eq!(ordinary_member.roles, [Role::Member]);
    fixture.finish(instance).await;
}
