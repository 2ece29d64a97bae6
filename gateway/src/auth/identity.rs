//! Who is calling: put into the request's extensions by the authentication middleware once the
//! access token and its session have been checked, and taken out by handlers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use events::{Actor, ConsistencyToken, MemberId, Role};
use uuid::Uuid;

use crate::error::ApiError;

/// A member with a verified access token whose session is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub member_id: MemberId,
    pub session_id: Uuid,
    pub roles: Vec<Role>,
    /// The consistency tokens of the session's latest writes, one per source, as of this
    /// request: its queries wait for them.
    pub written: Vec<ConsistencyToken>,
}

impl Identity {
    /// The actor of the commands this member sends.
    pub fn actor(&self) -> Actor {
        Actor::member(self.member_id, self.roles.clone())
    }
}

/// Extracts the caller's [`Identity`]; 401 when the request carried no valid token.
#[derive(Debug, Clone)]
pub struct Member(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for Member {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .map(Self)
            .ok_or_else(|| ApiError::Unauthenticated("this needs a valid access token".to_owned()))
    }
}

/// The caller's [`Identity`] if the request carried a valid token, for routes open to all.
#[derive(Debug, Clone)]
pub struct MaybeMember(pub Option<Identity>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeMember {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<Identity>().cloned()))
    }
}
