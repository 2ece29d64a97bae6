//! The members service's events: the profile row itself.
//!
//! A member's events come in their commit order, so every change finds the row its
//! registration made.

use events::members::MemberEvent;
use projection::ApplyError;
use sqlx::PgConnection;
use uuid::Uuid;

pub(super) async fn apply(conn: &mut PgConnection, event: MemberEvent) -> Result<(), ApplyError> {
    let statement = match event {
        MemberEvent::MemberRegistered(registered) => sqlx::query(
            "INSERT INTO members (member_id, nickname, joined_at) VALUES ($1, $2, $3)
             ON CONFLICT (member_id) DO NOTHING",
        )
        .bind(Uuid::from(registered.member_id))
        .bind(registered.nickname)
        .bind(registered.registered_at),
        MemberEvent::NicknameChanged(changed) => {
            sqlx::query("UPDATE members SET nickname = $2 WHERE member_id = $1")
                .bind(Uuid::from(changed.member_id))
                .bind(changed.nickname)
        }
        MemberEvent::AvatarChanged(changed) => {
            sqlx::query("UPDATE members SET avatar = $2 WHERE member_id = $1")
                .bind(Uuid::from(changed.member_id))
                .bind(Uuid::from(changed.photo_id))
        }
        MemberEvent::MemberDeactivated(deactivated) => {
            sqlx::query("UPDATE members SET deactivated = true WHERE member_id = $1")
                .bind(Uuid::from(deactivated.member_id))
        }
    };
    statement.execute(conn).await?;
    Ok(())
}
