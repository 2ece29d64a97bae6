//! Authentication, and only here in the system: EdDSA access tokens, sessions in Redis,
//! rotating refresh tokens, login throttling.
//!
//! # Layout
//!
//! - `keys.rs`: the Ed25519 key ring (the first key signs, all verify) and the JWKS.
//! - `tokens.rs`: access tokens, issued and verified.
//! - `sessions.rs`: sessions, refresh tokens and their families in Redis.
//! - `throttle.rs`: failed logins counted per account and per address, and lockouts.
//! - `routes.rs`: `/auth/*`.
//! - `identity.rs`: [`Identity`] and the extractors handlers take it with.
//!
//! Metrics: `gateway_auth_total{outcome}` with `issued`, `refreshed`, `reuse_detected`,
//! `rejected` and `throttled`.

mod identity;
mod keys;
mod routes;
mod sessions;
mod throttle;
mod tokens;

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use events::{ConsistencyToken, MemberId};
use redis::aio::ConnectionManager;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

pub use identity::{Identity, MaybeMember, Member};

use self::keys::KeyRing;
use self::routes::TokenPair;
use self::sessions::{Owner, RefreshToken, Rotation, Sessions};
use self::throttle::{Attempt, LoginThrottle};
use self::tokens::AccessTokens;
use crate::error::ApiError;
use crate::state::AppState;

/// The one answer to every refused token: which check failed is for the log, not the caller.
const REFUSED_TOKEN: &str = "the access token is not valid, or its session has ended";

/// The `[auth]` section.
#[derive(Clone, Deserialize)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_s: u64,
    pub refresh_ttl_s: u64,
    pub refresh_grace_s: u64,
    /// Ed25519 private keys (PKCS#8 PEM), newest first.
    pub signing_keys: Vec<String>,
    pub login_throttle: LoginThrottleSettings,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_ttl_s", &self.access_ttl_s)
            .field("refresh_ttl_s", &self.refresh_ttl_s)
            .field("refresh_grace_s", &self.refresh_grace_s)
            .field(
                "signing_keys",
                &format!("[{} redacted]", self.signing_keys.len()),
            )
            .field("login_throttle", &self.login_throttle)
            .finish()
    }
}

/// The `[auth.login_throttle]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginThrottleSettings {
    pub max_failures_per_account: u32,
    pub max_failures_per_ip: u32,
    pub window_s: u64,
    pub lockout_s: u64,
}

/// Tokens, sessions and throttles.
#[derive(Debug)]
pub struct Auth {
    tokens: AccessTokens,
    sessions: Sessions,
    throttle: LoginThrottle,
}

impl Auth {
    pub async fn new(
        settings: &AuthSettings,
        redis: ConnectionManager,
        key_prefix: &str,
    ) -> anyhow::Result<Self> {
        let keys = KeyRing::new(&settings.signing_keys)?;
        Ok(Self {
            tokens: AccessTokens::new(
                keys,
                &settings.issuer,
                &settings.audience,
                Duration::from_secs(settings.access_ttl_s),
            ),
            sessions: Sessions::new(
                redis.clone(),
                key_prefix,
                Duration::from_secs(settings.refresh_ttl_s),
                Duration::from_secs(settings.refresh_grace_s),
            ),
            throttle: LoginThrottle::new(redis, key_prefix, settings.login_throttle.clone()),
        })
    }

    /// The caller behind an `Authorization` header: a bearer token we signed, in its time,
    /// whose session is live.
    pub async fn identify(&self, authorization: &HeaderValue) -> Result<Identity, ApiError> {
        let token = bearer(authorization).ok_or_else(|| refused("not a bearer token"))?;
        let claims = self
            .tokens
            .verify(token)
            .map_err(|error| refused(&error.to_string()))?;
        let written = self
            .sessions
            .live_session(claims.sid, claims.sub)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| refused("the session has ended"))?;
        Ok(Identity {
            member_id: claims.sub,
            session_id: claims.sid,
            roles: claims.roles,
            written,
        })
    }

    /// Remembers a write of session `sid`, for its read-your-writes. Best effort: a Redis
    /// failure costs only the automatic wait, and the client still has the header.
    pub async fn remember_write(&self, sid: Uuid, token: &ConsistencyToken) {
        if let Err(error) = self.sessions.remember_write(sid, token).await {
            tracing::warn!(%error, "a session's consistency token could not be remembered");
        }
    }

    /// Signs `owner` in: a new session with its first token pair.
    async fn start_session(&self, owner: &Owner) -> Result<(Uuid, TokenPair), ApiError> {
        let (sid, refresh) = self.sessions.start(owner).await.map_err(unavailable)?;
        let pair = self.pair(sid, owner, &refresh)?;
        count("issued");
        Ok((sid, pair))
    }

    /// A new pair for a refresh token (see [`Sessions::rotate`]).
    async fn refresh(&self, presented: &str) -> Result<TokenPair, ApiError> {
        let refused = || ApiError::Unauthenticated("the refresh token is not valid".to_owned());
        let Some(token) = RefreshToken::parse(presented) else {
            count("rejected");
            return Err(refused());
        };
        match self.sessions.rotate(&token).await.map_err(unavailable)? {
            Rotation::Rotated {
                sid,
                owner,
                successor,
            }
            | Rotation::Replayed {
                sid,
                owner,
                successor,
            } => {
                count("refreshed");
                self.pair(sid, &owner, &successor)
            }
            Rotation::Reused { sid } => {
                count("reuse_detected");
                tracing::warn!(session = %sid, "a rotated refresh token was presented again: the session is revoked");
                Err(refused())
            }
            Rotation::Unknown => {
                count("rejected");
                Err(refused())
            }
        }
    }

    fn pair(
        &self,
        sid: Uuid,
        owner: &Owner,
        refresh: &RefreshToken,
    ) -> Result<TokenPair, ApiError> {
        let access_token = self
            .tokens
            .issue(owner.member, sid, &owner.roles)
            .map_err(|error| ApiError::Internal(error.into()))?;
        Ok(TokenPair {
            member_id: owner.member,
            access_token,
            refresh_token: refresh.encode(),
            expires_in: self.tokens.ttl().as_secs(),
        })
    }

    /// Ends one session now.
    async fn end_session(&self, sid: Uuid) -> Result<(), ApiError> {
        self.sessions.end(sid).await.map_err(unavailable)
    }

    /// Ends every session of `member` but `except` (a password change keeps the session that
    /// made it).
    pub async fn end_sessions(
        &self,
        member: MemberId,
        except: Option<Uuid>,
    ) -> Result<(), ApiError> {
        self.sessions
            .end_all(member, except)
            .await
            .map_err(unavailable)
    }

    /// 429 while the attempt's account or address is locked out.
    async fn check_throttle(&self, attempt: &Attempt) -> Result<(), ApiError> {
        match self
            .throttle
            .locked_for(attempt)
            .await
            .map_err(unavailable)?
        {
            None => Ok(()),
            Some(retry_after) => {
                count("throttled");
                Err(ApiError::TooManyRequests {
                    code: "login_throttled",
                    message: "too many failed logins; try again later".to_owned(),
                    retry_after,
                })
            }
        }
    }

    async fn login_failed(&self, attempt: &Attempt) -> Result<(), ApiError> {
        count("rejected");
        self.throttle.failed(attempt).await.map_err(unavailable)
    }

    /// Best effort: the login itself succeeded, and a leftover count only expires later.
    async fn login_succeeded(&self, attempt: &Attempt) {
        if let Err(error) = self.throttle.succeeded(attempt).await {
            tracing::warn!(%error, "a successful login's failure count could not be cleared");
        }
    }
}

/// `/auth/*`.
pub fn router() -> OpenApiRouter<AppState> {
    routes::router()
}

/// `/.well-known/jwks.json`, at the root.
pub fn jwks_router() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

/// The public keys that verify our access tokens.
async fn jwks(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        state.auth.tokens.keys().jwks(),
    )
        .into_response()
}

/// Checks a bearer token and its session, and puts the [`Identity`] into the request; a
/// request without a token goes on anonymous, one with a bad token is refused.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(authorization) = request.headers().get(header::AUTHORIZATION) else {
        return next.run(request).await;
    };
    match state.auth.identify(authorization).await {
        Ok(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

/// The token of `Bearer <token>`; the scheme is case-insensitive (RFC 9110).
fn bearer(authorization: &HeaderValue) -> Option<&str> {
    let value = authorization.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn refused(why: &str) -> ApiError {
    tracing::debug!(why, "an access token was refused");
    count("rejected");
    ApiError::Unauthenticated(REFUSED_TOKEN.to_owned())
}

/// Redis cannot say: refuse rather than let anything unchecked through.
fn unavailable(error: redis::RedisError) -> ApiError {
    tracing::warn!(%error, "sessions cannot be reached");
    ApiError::Unavailable("sign-in cannot be checked right now; retry shortly".to_owned())
}

fn count(outcome: &'static str) {
    metrics::counter!("gateway_auth_total", "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_scheme_carries_a_token() {
        let value = |text: &'static str| HeaderValue::from_static(text);
        assert_eq!(bearer(&value("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&value("bearer abc")), Some("abc"));
        assert_eq!(bearer(&value("Basic abc")), None);
        assert_eq!(bearer(&value("Bearer ")), None);
        assert_eq!(bearer(&value("Bearer")), None);
    }
}
