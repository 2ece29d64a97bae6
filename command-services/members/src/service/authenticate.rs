//! `Authenticate`: the gateway's login check.
//!
//! It changes nothing, so it goes around the runner: nothing is appended and nothing is
//! recorded. A redelivery finds no stored reply and simply checks again, against the
//! credentials as they are then.

use command_handler::{HandlerError, Loaded};
use events::members::{Authenticate, stream_id};
use events::{AuthenticatedMember, CommandReply, ConsistencyToken, ErrorCode, Success};

use super::{MembersService, credentials};
use crate::domain::{Email, Member};

/// The one answer to every failed login, whatever failed: an unknown address, a wrong password
/// or a deactivated member. A difference would tell an attacker which addresses are members.
fn refused() -> CommandReply {
    CommandReply::rejected(ErrorCode::Unauthenticated, "invalid email or password")
}

impl MembersService {
    /// The member and their roles, or [`refused`]. The reply never carries the email or the hash.
    pub(super) async fn authenticate(
        &self,
        login: &Authenticate,
    ) -> Result<CommandReply, HandlerError> {
        // An address that does not parse cannot belong to anyone.
        let account = match Email::parse(&login.email) {
            Ok(email) => credentials::by_email(&self.pool, &email).await?,
            Err(_) => None,
        };
        // Verified even without an account (against a dummy hash): see `Passwords::verify`.
        let matches = self
            .passwords
            .verify(
                &login.password,
                account.as_ref().map(|a| a.password_hash.as_str()),
            )
            .await?;
        let Some(account) = account.filter(|account| matches && account.active) else {
            return Ok(refused());
        };
        let stream = stream_id(account.member_id);
        let store = self.runner.store();
        // Read for the reply's version; the stream and the row change in one transaction, so
        // the domain's rule agrees with the row's mark, and it keeps the last word.
        let member = Loaded::<Member>::from_store(store, &stream).await?;
        if !member.state.can_log_in() {
            return Ok(refused());
        }
        let token = ConsistencyToken::new(store.source().to_owned(), member.checkpoint);
        Ok(Success::new(stream, member.version, token)
            .with_member(AuthenticatedMember {
                member_id: account.member_id,
                roles: account.roles(),
            })
            .into())
    }
}
