//! Authentication, and only here in the system: EdDSA access tokens, sessions in Redis,
//! rotating refresh tokens, login throttling.

mod identity;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use redis::aio::ConnectionManager;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

pub use identity::{Identity, MaybeMember, Member};

use crate::error::ApiError;
use crate::state::AppState;

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
pub struct Auth {}

impl Auth {
    pub async fn new(
        _settings: &AuthSettings,
        _redis: ConnectionManager,
        _key_prefix: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {})
    }

    /// Ends every session of `member` but `except` (a password change keeps the session that
    /// made it).
    pub async fn end_sessions(
        &self,
        _member: events::MemberId,
        _except: Option<Uuid>,
    ) -> Result<(), ApiError> {
        Ok(())
    }
}

/// `/auth/*`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// `/.well-known/jwks.json`, at the root.
pub fn jwks_router() -> Router<AppState> {
    Router::new()
}

/// Checks a bearer token and its session, and puts the [`Identity`] into the request; a
/// request without a token goes on anonymous, one with a bad token is refused.
pub async fn authenticate(
    State(_state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    next.run(request).await
}
