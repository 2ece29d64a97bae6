//! The members service's events: each member's nickname and whether they are deactivated.
//!
//! Upserts, because a member's first review may arrive before their registration (the row is
//! made by whichever comes first), and so that a member's later events still apply when the
//! registration was set aside as poison. Deactivation is never undone.

use events::MemberId;
use events::members::MemberEvent;
use projection::ApplyError;
use sqlx::PgConnection;
use uuid::Uuid;

pub(super) async fn apply(conn: &mut PgConnection, event: MemberEvent) -> Result<(), ApplyError> {
    match event {
        MemberEvent::MemberRegistered(registered) => {
            nickname(conn, registered.member_id, &registered.nickname).await?;
        }
        MemberEvent::NicknameChanged(changed) => {
            nickname(conn, changed.member_id, &changed.nickname).await?;
        }
        MemberEvent::MemberDeactivated(deactivated) => {
            sqlx::query(
                "INSERT INTO members (member_id, deactivated) VALUES ($1, true)
                 ON CONFLICT (member_id) DO UPDATE SET deactivated = true",
            )
            .bind(Uuid::from(deactivated.member_id))
            .execute(conn)
            .await?;
        }
        // Not bound to the model's queue: the ranking shows no avatars.
        MemberEvent::AvatarChanged(_) => {}
    }
    Ok(())
}

async fn nickname(
    conn: &mut PgConnection,
    member_id: MemberId,
    nickname: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO members (member_id, nickname) VALUES ($1, $2)
         ON CONFLICT (member_id) DO UPDATE SET nickname = EXCLUDED.nickname",
    )
    .bind(Uuid::from(member_id))
    .bind(nickname)
    .execute(conn)
    .await?;
    Ok(())
}
