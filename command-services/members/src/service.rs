//! The members service's command handler.
//!
//! # Layout
//!
//! - [`MembersService`]: one method per command; each gathers what `decide` needs (a parsed
//!   registration, a password check, a photo's owner) and runs it through the runner.
//! - `authenticate`: the login check, answered without being recorded.
//! - `credentials`: the private table, read before deciding and written in the transaction.
//! - `passwords`: argon2id on the blocking pool.
//! - [`MembersSettings`]: the `[auth]` allow-list and the `[photos]` store.

mod authenticate;
mod credentials;
mod passwords;
mod settings;

use command_handler::host::{Host, HostError};
use command_handler::{Aggregate, CommandMeta, CommandRunner, CommandService, HandlerError};
use events::members::{ChangePassword, MemberCommand, MemberEvent, Register, SetAvatar, stream_id};
use events::{CommandEnvelope, CommandReply, ErrorCode, MemberId, Rejection};
use photo_store::PhotoStore;
use sqlx::PgPool;
use time::OffsetDateTime;
use tracing::warn;

use crate::domain::{Context, Email, Member, MemberDecision, Password, Registration, decide};
use credentials::CredentialsWrite;
use passwords::Passwords;
use settings::Admins;
pub use settings::{AuthSettings, MembersSettings};

impl Aggregate for Member {
    type Event = MemberEvent;

    fn evolve(self, event: &MemberEvent) -> Self {
        Member::evolve(self, event)
    }
}

/// Handles `members.*` commands.
#[derive(Debug, Clone)]
pub struct MembersService {
    runner: CommandRunner,
    /// The service's database, where the credentials table lives.
    pool: PgPool,
    passwords: Passwords,
    admins: Admins,
    photos: PhotoStore,
}

impl MembersService {
    /// Migrates the credentials table and builds the photo store's client. Object storage is
    /// not contacted: only `SetAvatar` needs it, and the other commands work while it is down.
    pub async fn new(host: &Host, settings: MembersSettings) -> Result<Self, HostError> {
        let admins =
            Admins::new(&settings.auth).map_err(|reason| invalid_settings("auth", reason))?;
        let photos =
            PhotoStore::new(&settings.photos).map_err(|error| invalid_settings("photos", error))?;
        migrate(host.pool()).await?;
        Ok(Self {
            runner: host.runner(),
            pool: host.pool().clone(),
            passwords: Passwords::new(),
            admins,
            photos,
        })
    }

    async fn register(
        &self,
        meta: &CommandMeta,
        context: &Context,
        register: &Register,
    ) -> Result<CommandReply, HandlerError> {
        let registration = match Registration::parse(register) {
            Ok(registration) => registration,
            Err(rejection) => return self.runner.refuse(meta, rejection).await,
        };
        let write = CredentialsWrite::Create {
            member_id: context.member_id,
            email: registration.email.clone(),
            password_hash: self.passwords.hash(&registration.password).await?,
            admin: self.admins.includes(&registration.email),
        };
        self.execute(
            meta,
            context,
            MemberDecision::Register(registration),
            &write,
        )
        .await
    }

    async fn change_password(
        &self,
        meta: &CommandMeta,
        context: &Context,
        change: &ChangePassword,
    ) -> Result<CommandReply, HandlerError> {
        let (current_password_matches, new_password) =
            match credentials::by_member(&self.pool, context.member_id).await? {
                Some(account) => {
                    let matches = self
                        .passwords
                        .verify(&change.current_password, Some(&account.password_hash))
                        .await?;
                    (
                        matches,
                        Password::parse(&change.new_password, &stored_email(&account.email)?),
                    )
                }
                // No credentials, no registration (the two are written together): `decide`
                // refuses on who the actor is before it reads either answer.
                None => (false, Err("there is no such member".to_owned())),
            };
        let write = match (&new_password, current_password_matches) {
            (Ok(password), true) => CredentialsWrite::PasswordHash {
                member_id: context.member_id,
                password_hash: self.passwords.hash(password).await?,
            },
            _ => CredentialsWrite::Nothing,
        };
        let decision = MemberDecision::ChangePassword {
            current_password_matches,
            new_password,
        };
        self.execute(meta, context, decision, &write).await
    }

    async fn set_avatar(
        &self,
        meta: &CommandMeta,
        context: &Context,
        set: &SetAvatar,
    ) -> Result<CommandReply, HandlerError> {
        let photo_owned = match context.actor.member_id {
            Some(actor) => match self.photos.owner(set.photo_id).await {
                Ok(owner) => owner == Some(actor),
                Err(error) => {
                    warn!(%error, photo_id = %set.photo_id, "cannot check an avatar's owner");
                    let rejection = Rejection::new(
                        ErrorCode::Unavailable,
                        "photo storage is unavailable; try again later",
                    );
                    return self.runner.refuse(meta, rejection).await;
                }
            },
            // Refused by `decide` whatever the photo; storage need not be asked.
            None => false,
        };
        let decision = MemberDecision::SetAvatar {
            photo_id: set.photo_id,
            photo_owned,
        };
        self.execute(meta, context, decision, &CredentialsWrite::Nothing)
            .await
    }

    async fn execute(
        &self,
        meta: &CommandMeta,
        context: &Context,
        decision: MemberDecision,
        write: &CredentialsWrite,
    ) -> Result<CommandReply, HandlerError> {
        self.runner
            .execute::<Member, _, _>(
                meta,
                &stream_id(context.member_id),
                |member| decide(member, &decision, context),
                write,
            )
            .await
    }
}

impl CommandService for MembersService {
    type Command = MemberCommand;

    async fn handle(
        &self,
        envelope: CommandEnvelope<MemberCommand>,
    ) -> Result<CommandReply, HandlerError> {
        let meta = CommandMeta::of(&envelope);
        // A new member takes the command's id, so a redelivered Register names the same member.
        let new_id = MemberId::from(meta.command_id);
        let member_id = match (&envelope.payload, envelope.actor.member_id) {
            (MemberCommand::Register(_), _) => new_id,
            (_, Some(actor)) => actor,
            // An anonymous actor is refused by `decide` before the state is looked at.
            (_, None) => new_id,
        };
        let context = Context {
            actor: envelope.actor.clone(),
            now: OffsetDateTime::now_utc(),
            member_id,
        };
        match &envelope.payload {
            MemberCommand::Register(register) => self.register(&meta, &context, register).await,
            MemberCommand::ChangeNickname(change) => {
                let decision = MemberDecision::ChangeNickname(change.clone());
                self.execute(&meta, &context, decision, &CredentialsWrite::Nothing)
                    .await
            }
            MemberCommand::ChangePassword(change) => {
                self.change_password(&meta, &context, change).await
            }
            MemberCommand::SetAvatar(set) => self.set_avatar(&meta, &context, set).await,
            MemberCommand::Deactivate(_) => {
                let write = CredentialsWrite::Deactivate { member_id };
                self.execute(&meta, &context, MemberDecision::Deactivate, &write)
                    .await
            }
            MemberCommand::Authenticate(login) => self.authenticate(login).await,
        }
    }
}

/// Creates or upgrades the credentials table. The event store keeps its own migrations in the
/// same database.
async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}

/// A stored address parsed as it was at registration. It parsed then, so failing now means the
/// rules changed under stored data: a fault to report, not the member's to fix.
fn stored_email(email: &str) -> Result<Email, HandlerError> {
    Email::parse(email).map_err(|reason| {
        HandlerError::Service(format!("a stored email no longer parses: {reason}"))
    })
}

/// Settings that cannot work stop the service at start-up, named by their section.
fn invalid_settings(section: &str, reason: impl std::fmt::Display) -> HostError {
    HostError::Setup(format!("invalid settings in [{section}]: {reason}"))
}
