//! Authenticate, and what a member's password and deactivation do to it.

use command_testkit::envelope;
use events::members::{Authenticate, ChangeNickname, ChangePassword, Deactivate, MemberCommand};
use events::{Actor, CommandReply, ErrorCode, Role, Secret};

use super::support::{Fixture, NewMember, fields, member_id_of, rejection, success};

fn change_password(current: &str, new: &str) -> ChangePassword {
    ChangePassword {
        current_password: Secret::new(current),
        new_password: Secret::new(new),
    }
}

#[tokio::test]
async fn the_right_password_names_the_member_and_every_failure_looks_the_same() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let new = NewMember::generate();
    let member = fixture.register(&new).await;

    let accepted = fixture
        .authenticate(&new.email.to_uppercase(), &new.password)
        .await;
    let unknown_email = fixture
        .authenticate("nobody@example.com", &new.password)
        .await;
    let wrong_password = fixture.authenticate(&new.email, "a wrong password").await;
    let not_an_email = fixture.authenticate("nobody", &new.password).await;

    let authenticated = success(&accepted).member.clone().unwrap();
    assert_eq!(authenticated.member_id, member.member_id.unwrap());
    assert_eq!(authenticated.roles, [Role::Member]);
    assert_eq!(success(&accepted).version, 1);
    let refused = rejection(&unknown_email);
    assert_eq!(refused.code, ErrorCode::Unauthenticated);
    assert_eq!(refused.message, "invalid email or password");
    assert!(refused.errors.is_empty());
    assert_eq!(wrong_password, unknown_email);
    assert_eq!(not_an_email, unknown_email);
    fixture.finish(instance).await;
}

#[tokio::test]
async fn after_a_password_change_only_the_new_password_logs_in() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let new = NewMember::generate();
    let member = fixture.register(&new).await;
    let new_password = "an entirely new password";

    let wrong_current = fixture
        .send(change_password("not the password", new_password), &member)
        .await;
    let changed = fixture
        .send(change_password(&new.password, new_password), &member)
        .await;

    let refused = rejection(&wrong_current);
    assert_eq!(refused.code, ErrorCode::Validation);
    assert_eq!(fields(refused), ["current_password"]);
    assert_eq!(success(&changed).version, 1, "no event, so no new version");
    let with_old = fixture.authenticate(&new.email, &new.password).await;
    assert_eq!(rejection(&with_old).code, ErrorCode::Unauthenticated);
    let with_new = fixture.authenticate(&new.email, new_password).await;
    assert_eq!(
        success(&with_new).member.as_ref().unwrap().member_id,
        member.member_id.unwrap()
    );
    fixture.finish(instance).await;
}

#[tokio::test]
async fn a_new_password_breaking_the_rules_is_refused_with_its_field() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let new = NewMember::generate();
    let member = fixture.register(&new).await;

    let too_short = fixture
        .send(change_password(&new.password, "short"), &member)
        .await;
    let the_email = fixture
        .send(
            change_password(&new.password, &new.email.to_lowercase()),
            &member,
        )
        .await;

    for reply in [&too_short, &the_email] {
        assert_eq!(fields(rejection(reply)), ["new_password"], "{reply:?}");
    }
    let still_old = fixture.authenticate(&new.email, &new.password).await;
    assert!(
        matches!(still_old, CommandReply::Success(_)),
        "{still_old:?}"
    );
    fixture.finish(instance).await;
}

#[tokio::test]
async fn a_deactivated_member_cannot_log_in() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let new = NewMember::generate();
    let member = fixture.register(&new).await;
    let unknown_email = fixture
        .authenticate("nobody@example.com", &new.password)
        .await;

    let deactivated = fixture.send(Deactivate {}, &member).await;
    let login = fixture.authenticate(&new.email, &new.password).await;

    assert_eq!(success(&deactivated).version, 2);
    assert_eq!(login, unknown_email);
    let pool = fixture.db.pool(1).await;
    let marked: bool = sqlx::query_scalar(
        "SELECT deactivated_at IS NOT NULL FROM credentials WHERE member_id = $1",
    )
    .bind(uuid::Uuid::from(member.member_id.unwrap()))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(marked, "the credentials refuse the member by themselves");
    fixture.finish(instance).await;
}

#[tokio::test]
async fn a_login_check_is_never_recorded_so_a_redelivery_checks_again() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let new = NewMember::generate();
    let member = fixture.register(&new).await;
    let login = envelope(
        MemberCommand::from(Authenticate {
            email: new.email.clone(),
            password: Secret::new(new.password.clone()),
        }),
        &Actor::anonymous(),
    );

    let first = fixture.send_envelope(&login).await;
    let recorded = fixture
        .store
        .command_reply(login.command_id.into())
        .await
        .unwrap();
    fixture
        .send(
            change_password(&new.password, "an entirely new password"),
            &member,
        )
        .await;
    let redelivered = fixture.send_envelope(&login).await;

    assert!(matches!(first, CommandReply::Success(_)), "{first:?}");
    assert_eq!(recorded, None);
    assert_eq!(rejection(&redelivered).code, ErrorCode::Unauthenticated);
    fixture.finish(instance).await;
}

#[tokio::test]
async fn neither_the_email_nor_the_password_nor_its_hash_is_in_an_event_or_a_reply() {
    let fixture = Fixture::new().await;
    let instance = fixture.start_instance().await;
    let new = NewMember::generate();
    let register = envelope(MemberCommand::from(new.register()), &Actor::anonymous());
    let registered = fixture.send_envelope(&register).await;
    let member = Actor::member(member_id_of(&registered), vec![Role::Member]);
    let member_id = member.member_id.unwrap();
    let first_hash = fixture.password_hash(member_id).await;
    let new_password = "an entirely new password";
    let commands = [
        envelope(
            MemberCommand::from(change_password(&new.password, new_password)),
            &member,
        ),
        envelope(
            MemberCommand::from(ChangeNickname {
                nickname: "Someone Else".to_owned(),
            }),
            &member,
        ),
        envelope(
            MemberCommand::from(Authenticate {
                email: new.email.clone(),
                password: Secret::new(new_password),
            }),
            &Actor::anonymous(),
        ),
    ];
    let mut replies = vec![registered];
    for command in &commands {
        replies.push(fixture.send_envelope(command).await);
    }
    let second_hash = fixture.password_hash(member_id).await;
    assert_ne!(first_hash, second_hash);

    assert!(
        replies
            .iter()
            .all(|reply| matches!(reply, CommandReply::Success(_))),
        "{replies:?}"
    );
    let mut published = Vec::new();
    for reply in &replies {
        published.push(serde_json::to_string(reply).unwrap());
    }
    for command_id in
        std::iter::once(register.command_id).chain(commands.iter().map(|c| c.command_id))
    {
        if let Some(stored) = fixture
            .store
            .command_reply(command_id.into())
            .await
            .unwrap()
        {
            published.push(serde_json::to_string(&stored).unwrap());
        }
    }
    for event in fixture.events_of(member_id).await {
        published.push(serde_json::to_string(&event).unwrap());
    }
    // Four replies, three of them stored (not the login's), and two events.
    assert_eq!(published.len(), 4 + 3 + 2);
    let secrets = [
        new.email.to_lowercase(),
        new.password.clone(),
        new_password.to_owned(),
        first_hash,
        second_hash,
    ];
    for text in &published {
        for secret in &secrets {
            assert!(
                !text.to_lowercase().contains(&secret.to_lowercase()),
                "{text} contains {secret}"
            );
        }
    }
    fixture.finish(instance).await;
}
