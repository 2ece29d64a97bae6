//! Every command's reply and events, the avatar's photo, and what a deactivated member may do.

use command_testkit::envelope;
use events::members::{ChangeNickname, ChangePassword, Deactivate, MemberCommand, SetAvatar};
use events::{Actor, ErrorCode, MemberId, PhotoId, Secret};

use super::support::{
    Fixture, NewMember, fields, member_id_of, photo_settings, rejection, success,
};

const IMAGE: &[u8] = b"\x89PNG\r\n\x1a\n not really the rest of a PNG";

fn change_nickname(nickname: &str) -> ChangeNickname {
    ChangeNickname {
        nickname: nickname.to_owned(),
    }
}

#[tokio::test]
async fn every_command_replies_and_stores_its_events() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let photos = fixture.photos().await;
    let new = NewMember::generate();
    let registered = fixture.send(new.register(), &Actor::anonymous()).await;
    let member = Actor::member(member_id_of(&registered), vec![]);
    let member_id = member.member_id.unwrap();
    let photo_id = PhotoId::generate();
    photos
        .put(photo_id, member_id, "image/png", IMAGE.to_vec())
        .await
        .unwrap();

    let renamed = fixture.send(change_nickname("Countess"), &member).await;
    let password = ChangePassword {
        current_password: Secret::new(new.password.clone()),
        new_password: Secret::new("an entirely new password"),
    };
    let password_changed = fixture.send(password, &member).await;
    let avatar = fixture.send(SetAvatar { photo_id }, &member).await;
    let deactivated = fixture.send(Deactivate {}, &member).await;

    let versions: Vec<i64> = [
        &registered,
        &renamed,
        &password_changed,
        &avatar,
        &deactivated,
    ]
    .map(|reply| success(reply).version)
    .to_vec();
    assert_eq!(versions, [1, 2, 2, 3, 4]);
    assert_eq!(success(&deactivated).consistency_token.source, "members");
    assert_eq!(
        fixture.event_types_of(member_id).await,
        [
            "members.MemberRegistered",
            "members.NicknameChanged",
            "members.AvatarChanged",
            "members.MemberDeactivated",
        ]
    );
    let stored = fixture.events_of(member_id).await;
    let renamed_payload: serde_json::Value = serde_json::from_str(stored[1].payload.get()).unwrap();
    assert_eq!(renamed_payload["nickname"], "Countess");
    let avatar_payload: serde_json::Value = serde_json::from_str(stored[2].payload.get()).unwrap();
    assert_eq!(avatar_payload["photo_id"], photo_id.to_string());
    fixture.finish(instance).await;
}

#[tokio::test]
async fn an_avatar_must_be_a_stored_photo_of_the_member_themselves() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let photos = fixture.photos().await;
    let member = fixture.register(&NewMember::generate()).await;
    let member_id = member.member_id.unwrap();
    let (own, someone_elses) = (PhotoId::generate(), PhotoId::generate());
    photos
        .put(own, member_id, "image/png", IMAGE.to_vec())
        .await
        .unwrap();
    photos
        .put(
            someone_elses,
            MemberId::generate(),
            "image/png",
            IMAGE.to_vec(),
        )
        .await
        .unwrap();

    let taken = fixture
        .send(
            SetAvatar {
                photo_id: someone_elses,
            },
            &member,
        )
        .await;
    let missing = fixture
        .send(
            SetAvatar {
                photo_id: PhotoId::generate(),
            },
            &member,
        )
        .await;
    let accepted = fixture.send(SetAvatar { photo_id: own }, &member).await;

    for reply in [&taken, &missing] {
        let refused = rejection(reply);
        assert_eq!(refused.code, ErrorCode::Validation);
        assert_eq!(fields(refused), ["photo_id"]);
    }
    assert_eq!(success(&accepted).version, 2);
    assert_eq!(
        fixture.event_types_of(member_id).await,
        ["members.MemberRegistered", "members.AvatarChanged"]
    );
    fixture.finish(instance).await;
}

#[tokio::test]
async fn unreachable_photo_storage_answers_unavailable_and_records_nothing() {
    let fixture = Fixture::new().await;
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut settings = fixture.settings();
    settings.photos = photo_settings(&endpoint, &settings.photos.bucket);
    let instance = fixture.start_with(settings).await;
    let member = fixture.register(&NewMember::generate()).await;
    let command = envelope(
        MemberCommand::from(SetAvatar {
            photo_id: PhotoId::generate(),
        }),
        &member,
    );

    let reply = fixture.send_envelope(&command).await;

    assert_eq!(rejection(&reply).code, ErrorCode::Unavailable);
    let recorded = fixture
        .store
        .command_reply(command.command_id.into())
        .await
        .unwrap();
    assert_eq!(recorded, None, "a retry must be decided afresh");
    assert_eq!(fixture.events_of(member.member_id.unwrap()).await.len(), 1);
    fixture.finish(instance).await;
}

#[tokio::test]
async fn a_deactivated_members_commands_are_refused() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let photos = fixture.photos().await;
    let new = NewMember::generate();
    let member = fixture.register(&new).await;
    let member_id = member.member_id.unwrap();
    let photo_id = PhotoId::generate();
    photos
        .put(photo_id, member_id, "image/png", IMAGE.to_vec())
        .await
        .unwrap();
    fixture.send(Deactivate {}, &member).await;

    let commands: [MemberCommand; 4] = [
        change_nickname("Ghost").into(),
        ChangePassword {
            current_password: Secret::new(new.password.clone()),
            new_password: Secret::new("an entirely new password"),
        }
        .into(),
        SetAvatar { photo_id }.into(),
        Deactivate {}.into(),
    ];
    for command in commands {
        let reply = fixture.send(command, &member).await;
        assert_eq!(rejection(&reply).code, ErrorCode::Forbidden, "{reply:?}");
    }
    assert_eq!(
        fixture.event_types_of(member_id).await,
        ["members.MemberRegistered", "members.MemberDeactivated"]
    );
    fixture.finish(instance).await;
}

#[tokio::test]
async fn a_member_command_needs_a_signed_in_member() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;

    let reply = fixture
        .send(change_nickname("Anyone"), &Actor::anonymous())
        .await;

    assert_eq!(rejection(&reply).code, ErrorCode::Unauthenticated);
    fixture.finish(instance).await;
}
