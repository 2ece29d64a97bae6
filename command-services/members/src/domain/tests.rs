#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::members::{
    AvatarChanged, ChangeNickname, MemberDeactivated, MemberEvent, MemberRegistered,
    NicknameChanged, Register,
};
use events::{Actor, ErrorCode, MemberId, PhotoId, Rejection, Role, Secret};
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);
const EARLIER: OffsetDateTime = datetime!(2026-01-01 08:00 UTC);

fn given(events: impl IntoIterator<Item = MemberEvent>) -> Member {
    events
        .into_iter()
        .fold(Member::default(), |state, event| state.evolve(&event))
}

fn when(
    state: &Member,
    command: MemberDecision,
    context: &Context,
) -> Result<Vec<MemberEvent>, Rejection> {
    decide(state, &command, context)
}

/// The member acting on themselves, as the runtime builds it for every command but Register.
fn as_self(member_id: MemberId) -> Context {
    Context {
        actor: Actor::member(member_id, vec![Role::Member]),
        now: NOW,
        member_id,
    }
}

fn registered(member_id: MemberId, nickname: &str, at: OffsetDateTime) -> MemberEvent {
    MemberRegistered {
        member_id,
        nickname: nickname.to_owned(),
        registered_at: at,
    }
    .into()
}

fn nickname_changed(member_id: MemberId, nickname: &str, at: OffsetDateTime) -> MemberEvent {
    NicknameChanged {
        member_id,
        nickname: nickname.to_owned(),
        changed_at: at,
    }
    .into()
}

fn avatar_changed(member_id: MemberId, photo_id: PhotoId, at: OffsetDateTime) -> MemberEvent {
    AvatarChanged {
        member_id,
        photo_id,
        changed_at: at,
    }
    .into()
}

fn deactivated(member_id: MemberId, at: OffsetDateTime) -> MemberEvent {
    MemberDeactivated {
        member_id,
        deactivated_at: at,
    }
    .into()
}

/// A member who registered earlier and is active.
fn active(member_id: MemberId) -> Member {
    given([registered(member_id, "Ada", EARLIER)])
}

/// A member who registered and deactivated earlier.
fn gone(member_id: MemberId) -> Member {
    given([
        registered(member_id, "Ada", EARLIER),
        deactivated(member_id, EARLIER),
    ])
}

fn change_nickname(nickname: &str) -> MemberDecision {
    MemberDecision::ChangeNickname(ChangeNickname {
        nickname: nickname.to_owned(),
    })
}

fn change_password(current_password_matches: bool, new_password: &str) -> MemberDecision {
    let email = Email::parse("ada@example.com").unwrap();
    MemberDecision::ChangePassword {
        current_password_matches,
        new_password: Password::parse(&Secret::new(new_password), &email),
    }
}

fn register_command(email: &str, password: &str, nickname: &str) -> Register {
    Register {
        email: email.to_owned(),
        password: Secret::new(password),
        nickname: nickname.to_owned(),
    }
}

fn registration(nickname: &str) -> MemberDecision {
    let command = register_command("Ada@Example.com", "correct horse battery", nickname);
    MemberDecision::Register(Registration::parse(&command).unwrap())
}

/// Every command a registered member can send, each of which must pass the same actor checks.
fn member_commands() -> Vec<MemberDecision> {
    vec![
        change_nickname("Grace"),
        change_password(true, "a new long password"),
        set_avatar(PhotoId::generate(), true),
        MemberDecision::Deactivate,
    ]
}

fn code(result: Result<Vec<MemberEvent>, Rejection>) -> ErrorCode {
    result.expect_err("the command must be rejected").code
}

fn invalid_fields(result: Result<Vec<MemberEvent>, Rejection>) -> Vec<String> {
    let rejection = result.expect_err("the command must be rejected");
    assert_eq!(rejection.code, ErrorCode::Validation, "{rejection:?}");
    rejection
        .errors
        .into_iter()
        .map(|error| error.field)
        .collect()
}

fn chars(n: usize) -> String {
    "a".repeat(n)
}

// --- Email ---

#[test]
fn email_is_trimmed_keeps_its_spelling_and_normalizes_to_lowercase() {
    let email = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
    assert_eq!(email.as_str(), "Ada.Lovelace@Example.COM");
    assert_eq!(email.normalized(), "ada.lovelace@example.com");
}

#[test]
fn email_accepts_ordinary_addresses() {
    assert!(Email::parse("ada+reviews@mail.example.co.uk").is_ok());
    assert!(Email::parse("o'brien@example.ie").is_ok());
    assert!(Email::parse("zoë@exämple.de").is_ok());
}

#[test]
fn email_rejects_what_mail_cannot_be_sent_to() {
    let cases = [
        ("", "empty"),
        ("   ", "empty after trimming"),
        ("ada.example.com", "no @"),
        ("ada@@example.com", "two @"),
        (
            "\"ada@home\"@example.com",
            "an @ even in a quoted local part",
        ),
        ("@example.com", "no local part"),
        ("ada@", "no domain"),
        ("ada@localhost", "a domain without a dot"),
        ("ada lovelace@example.com", "a space in the local part"),
        ("\"ada lovelace\"@example.com", "a space even when quoted"),
        ("ada@exa mple.com", "a space in the domain"),
        ("Ada <ada@example.com>", "a display name"),
        ("ada@[192.168.0.1]", "an IP literal"),
        ("ada@example..com", "an empty domain label"),
        ("ada..l@example.com", "two dots in a row"),
    ];
    for (raw, why) in cases {
        assert!(Email::parse(raw).is_err(), "{raw:?} has {why}");
    }
}

#[test]
fn email_local_part_may_have_64_characters_not_65() {
    assert!(Email::parse(&format!("{}@example.com", chars(64))).is_ok());
    assert_eq!(
        Email::parse(&format!("{}@example.com", chars(65))),
        Err("the part before the @ must be at most 64 characters".to_owned())
    );
}

#[test]
fn email_may_have_254_characters_not_255() {
    // Every label stays well under its own limit of 63, so only the total length can fail.
    let address = |length: usize| {
        let last_label = chars(length - 222);
        format!(
            "{}@{}.{}.{}.{last_label}.com",
            chars(64),
            chars(50),
            chars(50),
            chars(50)
        )
    };
    assert_eq!(address(254).len(), 254);
    assert_eq!(address(255).len(), 255);
    assert!(Email::parse(&address(254)).is_ok());
    assert_eq!(
        Email::parse(&address(255)),
        Err("must be at most 254 characters".to_owned())
    );
}

// --- Password ---

fn ada() -> Email {
    Email::parse("ada@example.com").unwrap()
}

#[test]
fn password_has_10_to_128_characters() {
    assert!(Password::parse(&Secret::new(chars(9)), &ada()).is_err());
    assert!(Password::parse(&Secret::new(chars(10)), &ada()).is_ok());
    assert!(Password::parse(&Secret::new(chars(128)), &ada()).is_ok());
    assert!(Password::parse(&Secret::new(chars(129)), &ada()).is_err());
}

#[test]
fn password_length_counts_characters_not_bytes() {
    assert!(Password::parse(&Secret::new("é".repeat(10)), &ada()).is_ok());
    assert!(Password::parse(&Secret::new("é".repeat(129)), &ada()).is_err());
}

#[test]
fn password_is_not_trimmed() {
    let password = Password::parse(&Secret::new("  secret  "), &ada()).unwrap();
    assert_eq!(password.expose(), "  secret  ");
    assert!(Password::parse(&Secret::new(" secret  "), &ada()).is_err());
}

#[test]
fn password_must_not_be_the_email_in_any_case() {
    let email = Email::parse("Ada.Lovelace@Example.com").unwrap();
    assert_eq!(
        Password::parse(&Secret::new("ada.lovelace@EXAMPLE.com"), &email),
        Err("must not be your email address".to_owned())
    );
}

#[test]
fn password_does_not_print_itself() {
    let password = Password::parse(&Secret::new("hunter2hunter2"), &ada()).unwrap();
    let registration = Registration::parse(&register_command(
        "ada@example.com",
        "hunter2hunter2",
        "Ada",
    ))
    .unwrap();
    assert_eq!(format!("{password:?}"), "Password([redacted])");
    assert!(!format!("{registration:?}").contains("hunter2"));
}

// --- Nickname ---

#[test]
fn nickname_is_trimmed_and_has_2_to_30_characters() {
    assert_eq!(Nickname::parse("  Ada  ").unwrap().as_str(), "Ada");
    assert!(Nickname::parse("   ").is_err());
    assert!(Nickname::parse(" a ").is_err());
    assert!(Nickname::parse("ab").is_ok());
    assert!(Nickname::parse(&chars(30)).is_ok());
    assert!(Nickname::parse(&chars(31)).is_err());
    assert!(Nickname::parse(&"ß".repeat(30)).is_ok());
}

#[test]
fn nickname_allows_letters_of_any_script_digits_underscore_hyphen_and_spaces() {
    for raw in ["Zoë O-Brien_2", "Łukasz", "山田 太郎", "Ωmega 42"] {
        assert!(Nickname::parse(raw).is_ok(), "{raw:?} must be allowed");
    }
}

#[test]
fn nickname_rejects_punctuation_symbols_and_other_white_space() {
    for raw in [
        "ada!",
        "ada.l",
        "Admin ✓",
        "ada\tl",
        "ada\u{200b}l",
        "x²y",
        "a@b",
    ] {
        assert!(Nickname::parse(raw).is_err(), "{raw:?} must be rejected");
    }
}

// --- Registration ---

#[test]
fn registration_parses_every_field() {
    let registration = Registration::parse(&register_command(
        " ada@example.com ",
        "correct horse battery",
        " Ada ",
    ))
    .unwrap();
    assert_eq!(registration.email.as_str(), "ada@example.com");
    assert_eq!(registration.password.expose(), "correct horse battery");
    assert_eq!(registration.nickname.as_str(), "Ada");
}

#[test]
fn registration_reports_every_broken_field_at_once() {
    let rejection =
        Registration::parse(&register_command("not an email", "short", "!")).unwrap_err();
    assert_eq!(rejection.code, ErrorCode::Validation);
    let fields: Vec<_> = rejection
        .errors
        .iter()
        .map(|error| error.field.as_str())
        .collect();
    assert_eq!(fields, ["email", "password", "nickname"]);
}

#[test]
fn registration_rejects_the_email_as_password() {
    let rejection = Registration::parse(&register_command(
        "ada@example.com",
        "ADA@example.com",
        "Ada",
    ))
    .unwrap_err();
    let fields: Vec<_> = rejection
        .errors
        .iter()
        .map(|error| error.field.as_str())
        .collect();
    assert_eq!(fields, ["password"]);
}

// --- Register ---

fn anonymous(member_id: MemberId) -> Context {
    Context {
        actor: Actor::anonymous(),
        ..as_self(member_id)
    }
}

#[test]
fn an_anonymous_visitor_registers_a_new_member() {
    let member_id = MemberId::generate();
    let result = when(&given([]), registration("  Ada "), &anonymous(member_id));
    assert_eq!(result, Ok(vec![registered(member_id, "Ada", NOW)]));
}

#[test]
fn registering_an_existing_member_conflicts() {
    let member_id = MemberId::generate();
    for state in [active(member_id), gone(member_id)] {
        let result = when(&state, registration("Grace"), &anonymous(member_id));
        assert_eq!(code(result), ErrorCode::Conflict);
    }
}

// --- Who may act ---

#[test]
fn every_member_command_needs_a_signed_in_actor() {
    let member_id = MemberId::generate();
    // Checked before the state: an anonymous caller learns nothing about the member.
    for state in [given([]), active(member_id), gone(member_id)] {
        for command in member_commands() {
            let result = when(&state, command, &anonymous(member_id));
            assert_eq!(code(result), ErrorCode::Unauthenticated);
        }
    }
}

#[test]
fn every_member_command_needs_a_registered_member() {
    let member_id = MemberId::generate();
    for command in member_commands() {
        let result = when(&given([]), command, &as_self(member_id));
        assert_eq!(code(result), ErrorCode::NotFound);
    }
}

#[test]
fn a_deactivated_member_can_do_nothing() {
    let member_id = MemberId::generate();
    for command in member_commands() {
        let result = when(&gone(member_id), command, &as_self(member_id));
        assert_eq!(code(result), ErrorCode::Forbidden);
    }
}

#[test]
fn a_member_cannot_act_on_another_member() {
    let member_id = MemberId::generate();
    let someone_else = Context {
        actor: Actor::member(MemberId::generate(), vec![Role::Admin]),
        ..as_self(member_id)
    };
    for command in member_commands() {
        let result = when(&active(member_id), command, &someone_else);
        assert_eq!(code(result), ErrorCode::Forbidden);
    }
}

// --- ChangeNickname ---

#[test]
fn a_member_changes_their_nickname() {
    let member_id = MemberId::generate();
    let result = when(
        &active(member_id),
        change_nickname(" Countess "),
        &as_self(member_id),
    );
    assert_eq!(
        result,
        Ok(vec![nickname_changed(member_id, "Countess", NOW)])
    );
}

#[test]
fn an_invalid_nickname_is_rejected() {
    let member_id = MemberId::generate();
    for raw in ["a", "ada!", &chars(31)] {
        let result = when(
            &active(member_id),
            change_nickname(raw),
            &as_self(member_id),
        );
        assert_eq!(invalid_fields(result), ["nickname"]);
    }
}

#[test]
fn the_same_nickname_again_changes_nothing() {
    let member_id = MemberId::generate();
    let state = given([
        registered(member_id, "Ada", EARLIER),
        nickname_changed(member_id, "Countess", EARLIER),
    ]);
    let result = when(&state, change_nickname(" Countess "), &as_self(member_id));
    assert_eq!(result, Ok(vec![]));
}

// --- ChangePassword ---

#[test]
fn a_password_change_emits_no_public_event() {
    let member_id = MemberId::generate();
    let command = change_password(true, "a new long password");
    assert_eq!(
        when(&active(member_id), command, &as_self(member_id)),
        Ok(vec![])
    );
}

#[test]
fn a_password_change_names_each_broken_field() {
    let member_id = MemberId::generate();
    let cases: [(bool, &str, &[&str]); 3] = [
        (false, "a new long password", &["current_password"]),
        (true, "short", &["new_password"]),
        (
            false,
            "ada@example.com",
            &["current_password", "new_password"],
        ),
    ];
    for (current_password_matches, new_password, fields) in cases {
        let command = change_password(current_password_matches, new_password);
        let result = when(&active(member_id), command, &as_self(member_id));
        assert_eq!(invalid_fields(result), fields);
    }
}

// --- SetAvatar ---

fn set_avatar(photo_id: PhotoId, photo_owned: bool) -> MemberDecision {
    MemberDecision::SetAvatar {
        photo_id,
        photo_owned,
    }
}

#[test]
fn a_member_sets_an_avatar_they_uploaded() {
    let member_id = MemberId::generate();
    let photo_id = PhotoId::generate();
    let result = when(
        &active(member_id),
        set_avatar(photo_id, true),
        &as_self(member_id),
    );
    assert_eq!(result, Ok(vec![avatar_changed(member_id, photo_id, NOW)]));
}

#[test]
fn an_avatar_must_be_the_members_own_photo() {
    let member_id = MemberId::generate();
    let command = set_avatar(PhotoId::generate(), false);
    let result = when(&active(member_id), command, &as_self(member_id));
    assert_eq!(invalid_fields(result), ["photo_id"]);
}

#[test]
fn the_same_avatar_again_changes_nothing_but_another_one_does() {
    let member_id = MemberId::generate();
    let (current, another) = (PhotoId::generate(), PhotoId::generate());
    let state = given([
        registered(member_id, "Ada", EARLIER),
        avatar_changed(member_id, current, EARLIER),
    ]);
    let again = when(&state, set_avatar(current, true), &as_self(member_id));
    assert_eq!(again, Ok(vec![]));
    let changed = when(&state, set_avatar(another, true), &as_self(member_id));
    assert_eq!(changed, Ok(vec![avatar_changed(member_id, another, NOW)]));
}

// --- Deactivate and login ---

#[test]
fn a_member_deactivates_themselves() {
    let member_id = MemberId::generate();
    let result = when(
        &active(member_id),
        MemberDecision::Deactivate,
        &as_self(member_id),
    );
    assert_eq!(result, Ok(vec![deactivated(member_id, NOW)]));
}

#[test]
fn only_an_active_member_can_log_in() {
    let member_id = MemberId::generate();
    assert!(!given([]).can_log_in());
    assert!(active(member_id).can_log_in());
    assert!(!gone(member_id).can_log_in());
}

#[test]
fn events_that_cannot_follow_the_state_change_nothing() {
    let member_id = MemberId::generate();
    let stray = [
        nickname_changed(member_id, "Eve", EARLIER),
        avatar_changed(member_id, PhotoId::generate(), EARLIER),
        deactivated(member_id, EARLIER),
    ];
    assert_eq!(given(stray.clone()), Member::default());
    let after_deactivation = gone(member_id);
    let mut late = stray.to_vec();
    late.push(registered(member_id, "Eve", EARLIER));
    assert_eq!(
        late.iter()
            .fold(gone(member_id), |state, event| state.evolve(event)),
        after_deactivation
    );
}
