//! Authors: the members service's public profile of each member. Reviews join it at query
//! time, so a change here shows on all of the member's reviews without touching them.

use events::MemberId;
use events::members::MemberEvent;
use projection::ApplyError;
use sqlx::PgConnection;
use uuid::Uuid;

pub(super) async fn apply(conn: &mut PgConnection, event: MemberEvent) -> Result<(), ApplyError> {
    let (member_id, change) = match event {
        MemberEvent::MemberRegistered(registered) => (
            registered.member_id,
            Change {
                nickname: Some(registered.nickname),
                ..Change::default()
            },
        ),
        MemberEvent::NicknameChanged(changed) => (
            changed.member_id,
            Change {
                nickname: Some(changed.nickname),
                ..Change::default()
            },
        ),
        MemberEvent::AvatarChanged(changed) => (
            changed.member_id,
            Change {
                avatar_photo_id: Some(changed.photo_id.into()),
                ..Change::default()
            },
        ),
        MemberEvent::MemberDeactivated(deactivated) => (
            deactivated.member_id,
            Change {
                deactivated: true,
                ..Change::default()
            },
        ),
    };
    Ok(upsert(conn, member_id, change).await?)
}

/// What one event says about a member; `None` keeps what is known.
#[derive(Debug, Default)]
struct Change {
    nickname: Option<String>,
    avatar_photo_id: Option<Uuid>,
    deactivated: bool,
}

/// An upsert, so a member's events apply whether or not the registration was applied (it may
/// have been set aside as poison); deactivation is never undone.
async fn upsert(
    conn: &mut PgConnection,
    member_id: MemberId,
    change: Change,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO authors AS a (member_id, nickname, avatar_photo_id, deactivated)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (member_id) DO UPDATE
            SET nickname = coalesce(EXCLUDED.nickname, a.nickname),
                avatar_photo_id = coalesce(EXCLUDED.avatar_photo_id, a.avatar_photo_id),
                deactivated = a.deactivated OR EXCLUDED.deactivated",
    )
    .bind(Uuid::from(member_id))
    .bind(change.nickname)
    .bind(change.avatar_photo_id)
    .bind(change.deactivated)
    .execute(conn)
    .await?;
    Ok(())
}
