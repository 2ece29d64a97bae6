//! Login throttling: failed logins are counted per account and per client address over a
//! window; too many locks that account or address out for a while. Keys (P = the prefix):
//! `P login-failures:<scope>` counts, `P login-lockout:<scope>` locks, where the scope is
//! `account:<sha-256 of the normalised email>` (no addresses in Redis) or `ip:<address>`.

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use redis::Script;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use super::LoginThrottleSettings;
use super::sessions::hex;

/// The address the request came from, when the server knows it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        Ok(Self(address))
    }
}

/// Counts and locks for one key prefix.
#[derive(Clone)]
pub struct LoginThrottle {
    redis: ConnectionManager,
    prefix: String,
    settings: LoginThrottleSettings,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("prefix", &self.prefix)
            .field("settings", &self.settings)
            .finish()
    }
}

/// The scopes of one login attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    account: String,
    address: Option<String>,
}

impl Attempt {
    pub fn new(email: &str, address: Option<IpAddr>) -> Self {
        let normalised = email.trim().to_lowercase();
        Self {
            account: hex(&Sha256::digest(normalised.as_bytes())),
            address: address.map(|address| address.to_canonical().to_string()),
        }
    }
}

impl LoginThrottle {
    pub fn new(redis: ConnectionManager, prefix: &str, settings: LoginThrottleSettings) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            settings,
        }
    }

    /// `(failures, lockout)` keys of one scope.
    fn keys(&self, kind: &str, scope: &str) -> (String, String) {
        (
            format!("{}login-failures:{kind}:{scope}", self.prefix),
            format!("{}login-lockout:{kind}:{scope}", self.prefix),
        )
    }

    /// How long until `attempt` may be tried, if its account or address is locked out.
    pub async fn locked_for(&self, attempt: &Attempt) -> redis::RedisResult<Option<Duration>> {
        let mut pipe = redis::pipe();
        pipe.pttl(self.keys("account", &attempt.account).1);
        if let Some(address) = &attempt.address {
            pipe.pttl(self.keys("ip", address).1);
        }
        let mut redis = self.redis.clone();
        let remaining: Vec<i64> = pipe.query_async(&mut redis).await?;
        // PTTL is negative for a key that does not exist.
        let longest = remaining.into_iter().max().unwrap_or(-1);
        Ok((longest > 0).then(|| Duration::from_millis(longest.unsigned_abs())))
    }

    /// Counts a failed attempt against its account and address, locking either out when it
    /// reaches its limit.
    pub async fn failed(&self, attempt: &Attempt) -> redis::RedisResult<()> {
        let (account_failures, account_lockout) = self.keys("account", &attempt.account);
        let mut invocation = FAILED.prepare_invoke();
        invocation
            .key(account_failures)
            .key(account_lockout)
            .arg(self.settings.window_s.max(1))
            .arg(self.settings.lockout_s.max(1))
            .arg(self.settings.max_failures_per_account.max(1));
        if let Some(address) = &attempt.address {
            let (failures, lockout) = self.keys("ip", address);
            invocation
                .key(failures)
                .key(lockout)
                .arg(self.settings.max_failures_per_ip.max(1));
        }
        let mut redis = self.redis.clone();
        invocation.invoke_async::<()>(&mut redis).await
    }

    /// A successful login forgives the account's failures; the address's stay, so one good
    /// account does not reset a guessing run against others.
    pub async fn succeeded(&self, attempt: &Attempt) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        redis::cmd("DEL")
            .arg(self.keys("account", &attempt.account).0)
            .query_async(&mut redis)
            .await
    }
}

/// KEYS: pairs of (failures, lockout); ARGV: window (s), lockout (s), then one limit per pair.
/// Counting and locking in one script: two failures at once cannot both slip under the limit.
static FAILED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local window = tonumber(ARGV[1])
local lockout = tonumber(ARGV[2])
for pair = 1, #KEYS / 2 do
  local failures = KEYS[pair * 2 - 1]
  local count = redis.call('INCR', failures)
  if count == 1 then redis.call('EXPIRE', failures, window) end
  if count >= tonumber(ARGV[pair + 2]) then
    redis.call('SET', KEYS[pair * 2], '1', 'EX', lockout)
    redis.call('DEL', failures)
  end
end
return 0
",
    )
});
