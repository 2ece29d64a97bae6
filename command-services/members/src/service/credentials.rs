//! The `credentials` table: the email reservation, the password hash and the admin flag.
//!
//! Reads happen before deciding; every write goes through [`CredentialsWrite`], inside the
//! transaction that appends the command's events or records its reply.

use command_handler::PrivateWrite;
use events::members::MemberEvent;
use events::{ErrorCode, MemberId, Rejection, Role};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::domain::Email;

/// The email's reservation; named in the migration.
const EMAIL_UNIQUE: &str = "credentials_email_unique";
/// PostgreSQL's `unique_violation`.
const UNIQUE_VIOLATION: &str = "23505";

/// One member's row.
#[derive(Debug, Clone)]
pub(super) struct Account {
    pub(super) member_id: MemberId,
    /// As the member typed it.
    pub(super) email: String,
    pub(super) password_hash: String,
    pub(super) admin: bool,
    pub(super) active: bool,
}

impl Account {
    pub(super) fn roles(&self) -> Vec<Role> {
        if self.admin {
            vec![Role::Member, Role::Admin]
        } else {
            vec![Role::Member]
        }
    }
}

/// An [`Account`]'s row, found by the condition `$where`.
macro_rules! select_account {
    ($where:literal) => {
        concat!(
            "SELECT member_id, email, password_hash, admin, deactivated_at IS NULL AS active
             FROM credentials WHERE ",
            $where
        )
    };
}

pub(super) async fn by_email(pool: &PgPool, email: &Email) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query(select_account!("email_normalized = $1"))
        .bind(email.normalized())
        .fetch_optional(pool)
        .await?
        .map(|row| account(&row))
        .transpose()
}

pub(super) async fn by_member(
    pool: &PgPool,
    member_id: MemberId,
) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query(select_account!("member_id = $1"))
        .bind(Uuid::from(member_id))
        .fetch_optional(pool)
        .await?
        .map(|row| account(&row))
        .transpose()
}

fn account(row: &sqlx::postgres::PgRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        member_id: MemberId::from(row.try_get::<Uuid, _>("member_id")?),
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        admin: row.try_get("admin")?,
        active: row.try_get("active")?,
    })
}

/// What a command changes in the table. It is written only when `decide` accepted the
/// command, in the same transaction as its events (or its reply, when it has none).
#[derive(Debug, Clone)]
pub(super) enum CredentialsWrite {
    Nothing,
    /// `Register`: the reservation of the email, refused if another member holds it.
    Create {
        member_id: MemberId,
        email: Email,
        password_hash: String,
        admin: bool,
    },
    /// `ChangePassword`: it has no public event, so this row is its whole effect.
    PasswordHash {
        member_id: MemberId,
        password_hash: String,
    },
    /// `Deactivate`: from now on the member cannot log in.
    Deactivate {
        member_id: MemberId,
    },
}

impl PrivateWrite<MemberEvent> for CredentialsWrite {
    async fn write(
        &self,
        conn: &mut PgConnection,
        _events: &[MemberEvent],
    ) -> Result<Result<(), Rejection>, sqlx::Error> {
        match self {
            Self::Nothing => Ok(Ok(())),
            Self::Create {
                member_id,
                email,
                password_hash,
                admin,
            } => {
                let inserted = sqlx::query(
                    "INSERT INTO credentials (member_id, email, email_normalized, password_hash, admin)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(Uuid::from(*member_id))
                .bind(email.as_str())
                .bind(email.normalized())
                .bind(password_hash)
                .bind(admin)
                .execute(conn)
                .await;
                match inserted {
                    Ok(_) => Ok(Ok(())),
                    Err(error) => reservation_refused(&error).map(Err).ok_or(error),
                }
            }
            Self::PasswordHash {
                member_id,
                password_hash,
            } => {
                sqlx::query("UPDATE credentials SET password_hash = $2 WHERE member_id = $1")
                    .bind(Uuid::from(*member_id))
                    .bind(password_hash)
                    .execute(conn)
                    .await?;
                Ok(Ok(()))
            }
            Self::Deactivate { member_id } => {
                sqlx::query(
                    "UPDATE credentials SET deactivated_at = now()
                     WHERE member_id = $1 AND deactivated_at IS NULL",
                )
                .bind(Uuid::from(*member_id))
                .execute(conn)
                .await?;
                Ok(Ok(()))
            }
        }
    }
}

/// The answer to a registration that lost the race for its email (or for its member id, when
/// the same command is being handled twice at once: the runner then answers with the first
/// delivery's reply).
fn reservation_refused(error: &sqlx::Error) -> Option<Rejection> {
    let sqlx::Error::Database(database) = error else {
        return None;
    };
    if database.code().as_deref() != Some(UNIQUE_VIOLATION) {
        return None;
    }
    Some(if database.constraint() == Some(EMAIL_UNIQUE) {
        Rejection::new(
            ErrorCode::Conflict,
            "the email address is already registered",
        )
        .with_field_error("email", "is already registered")
    } else {
        Rejection::new(ErrorCode::Conflict, "the member is already registered")
    })
}
