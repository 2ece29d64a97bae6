//! Sessions and refresh tokens in Redis (P = the key prefix):
//!
//! - `P sessions:<sid>`: a hash {member, roles, refresh, t:<source>...}; `refresh` is the
//!   hash of the session's one current refresh token; each `t:<source>` is the consistency
//!   token of the session's latest write to that source (read-your-writes, read with the
//!   session on every request, so it costs no extra round trip). It lives as long as a refresh token (sliding: each
//!   refresh extends it). Its existence is what makes an access token of the session valid.
//! - `P member-sessions:<member>`: the set of the member's session ids, for logout-all.
//! - `P refresh:<hash>`: the session a refresh token belongs to. A session is one token
//!   family: its tokens are the chain of rotations since login. A rotated token's record stays
//!   until its own lifetime ends, so presenting it again is recognised as reuse.
//! - `P refresh-grace:<hash>`: for `refresh_grace_s` after a rotation, the successor token
//!   sealed with the rotated one, so a client refreshing twice at once gets the same pair.
//!
//! Tokens are stored only as SHA-256 hashes: reading Redis does not yield a usable token.
//! Every change that reads and writes several keys is one Lua script, so it is atomic. The
//! scripts derive a session's keys from what they read, so they need one Redis server (or a
//! replicated primary), not a cluster that shards keys.
//!
//! A rotated token's record is kept for its full lifetime so that reuse is recognised even
//! weeks later; that costs one small key per refresh while the session lives.

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use events::{ConsistencyToken, MemberId, Role};
use redis::Script;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A session's field holding its latest consistency token from one source: `t:<source>`.
const TOKEN_FIELD: &str = "t:";

/// HSET only into a session that still exists: a write answered after a logout must not
/// recreate the session's hash.
static REMEMBER_WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end",
    )
});

/// An opaque refresh token: 256 random bits.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken([u8; 32]);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken([redacted])")
    }
}

impl RefreshToken {
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// The token as the client sent it; `None` when it cannot be one of ours.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        bytes.try_into().ok().map(Self)
    }

    /// What the client holds.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// What Redis holds.
    fn hash(&self) -> String {
        hex(&Sha256::digest(self.0))
    }

    /// A one-time pad derived from this token, for sealing its successor. It is a different
    /// hash from [`Self::hash`] (a distinct prefix), so Redis, which holds the hash, cannot
    /// derive the pad; only the client presenting this token can open the seal.
    fn pad(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"waypoint refresh-grace seal\0");
        hasher.update(self.0);
        hasher.finalize().into()
    }

    fn seal(&self, successor: &Self) -> String {
        URL_SAFE_NO_PAD.encode(xor(&successor.0, &self.pad()))
    }

    fn open(&self, sealed: &str) -> Option<Self> {
        let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(sealed).ok()?.try_into().ok()?;
        Some(Self(xor(&bytes, &self.pad())))
    }
}

/// Whose a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub member: MemberId,
    pub roles: Vec<Role>,
}

/// What presenting a refresh token came to.
#[derive(Debug)]
pub enum Rotation {
    /// The current token: replaced by `successor`.
    Rotated {
        sid: Uuid,
        owner: Owner,
        successor: RefreshToken,
    },
    /// Rotated moments ago (within the grace window): the same successor again.
    Replayed {
        sid: Uuid,
        owner: Owner,
        successor: RefreshToken,
    },
    /// Rotated long ago: someone else has the chain. The session and its family are revoked.
    Reused { sid: Uuid },
    /// Not ours, expired, or its session has ended.
    Unknown,
}

/// Sessions and refresh tokens for one key prefix.
#[derive(Clone)]
pub struct Sessions {
    redis: ConnectionManager,
    prefix: String,
    refresh_ttl: Duration,
    grace: Duration,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("prefix", &self.prefix)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("grace", &self.grace)
            .finish()
    }
}

impl Sessions {
    pub fn new(
        redis: ConnectionManager,
        prefix: &str,
        refresh_ttl: Duration,
        grace: Duration,
    ) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            refresh_ttl,
            grace,
        }
    }

    fn session_key(&self, sid: Uuid) -> String {
        format!("{}sessions:{sid}", self.prefix)
    }

    fn ttl_s(&self) -> u64 {
        self.refresh_ttl.as_secs().max(1)
    }

    /// A new session for `owner`, with its first refresh token.
    pub async fn start(&self, owner: &Owner) -> redis::RedisResult<(Uuid, RefreshToken)> {
        let sid = Uuid::new_v4();
        let token = RefreshToken::generate();
        let mut redis = self.redis.clone();
        START
            .arg(&self.prefix)
            .arg(sid.to_string())
            .arg(owner.member.to_string())
            .arg(encode_roles(&owner.roles))
            .arg(token.hash())
            .arg(self.ttl_s())
            .invoke_async::<()>(&mut redis)
            .await?;
        Ok((sid, token))
    }

    /// Whether session `sid` is live and `member`'s, and if so the consistency tokens of its
    /// latest writes. One round trip: this runs on every authenticated request.
    pub async fn live_session(
        &self,
        sid: Uuid,
        member: MemberId,
    ) -> redis::RedisResult<Option<Vec<ConsistencyToken>>> {
        let mut redis = self.redis.clone();
        let fields: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.session_key(sid))
            .query_async(&mut redis)
            .await?;
        let member = member.to_string();
        if !fields
            .iter()
            .any(|(field, value)| field == "member" && *value == member)
        {
            return Ok(None);
        }
        let tokens = fields
            .iter()
            .filter(|(field, _)| field.starts_with(TOKEN_FIELD))
            .filter_map(|(_, value)| value.parse().ok())
            .collect();
        Ok(Some(tokens))
    }

    /// Keeps `token` as session `sid`'s latest write to its source, so the session's next
    /// queries wait for it. A session that has ended is not brought back.
    pub async fn remember_write(
        &self,
        sid: Uuid,
        token: &ConsistencyToken,
    ) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        REMEMBER_WRITE
            .key(self.session_key(sid))
            .arg(format!("{TOKEN_FIELD}{}", token.source))
            .arg(token.to_string())
            .invoke_async::<()>(&mut redis)
            .await
    }

    /// Presents `token`: rotates it, replays its rotation within the grace window, or revokes
    /// its family when it was rotated before that.
    pub async fn rotate(&self, token: &RefreshToken) -> redis::RedisResult<Rotation> {
        let successor = RefreshToken::generate();
        let mut redis = self.redis.clone();
        let grace_ms = u64::try_from(self.grace.as_millis()).unwrap_or(u64::MAX);
        let reply: Vec<String> = ROTATE
            .arg(&self.prefix)
            .arg(token.hash())
            .arg(successor.hash())
            .arg(token.seal(&successor))
            .arg(self.ttl_s())
            .arg(grace_ms)
            .invoke_async(&mut redis)
            .await?;
        let parsed = match reply.as_slice() {
            [outcome, sid, member, roles] if outcome == "rotated" => owner(member, roles)
                .zip(sid.parse().ok())
                .map(|(owner, sid)| Rotation::Rotated {
                    sid,
                    owner,
                    successor,
                }),
            [outcome, sid, member, roles, sealed] if outcome == "replayed" => owner(member, roles)
                .zip(sid.parse().ok())
                .zip(token.open(sealed))
                .map(|((owner, sid), successor)| Rotation::Replayed {
                    sid,
                    owner,
                    successor,
                }),
            [outcome, sid] if outcome == "reused" => {
                sid.parse().ok().map(|sid| Rotation::Reused { sid })
            }
            _ => None,
        };
        Ok(parsed.unwrap_or(Rotation::Unknown))
    }

    /// Ends session `sid` now: its access tokens and refresh tokens stop working.
    pub async fn end(&self, sid: Uuid) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        END_SESSION
            .arg(&self.prefix)
            .arg(sid.to_string())
            .invoke_async::<()>(&mut redis)
            .await
    }

    /// Ends every session of `member` but `except`.
    pub async fn end_all(&self, member: MemberId, except: Option<Uuid>) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        END_MEMBER_SESSIONS
            .arg(&self.prefix)
            .arg(member.to_string())
            .arg(except.map(|sid| sid.to_string()).unwrap_or_default())
            .invoke_async::<()>(&mut redis)
            .await
    }
}

/// ARGV: prefix, sid, member, roles, refresh hash, lifetime (s). Sessions that expired on
/// their own are dropped from the member's set here, so a member who signs in every day does
/// not grow it without bound.
static START: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p = ARGV[1]
local session = p .. 'sessions:' .. ARGV[2]
local set = p .. 'member-sessions:' .. ARGV[3]
local ttl = tonumber(ARGV[6])
for _, sid in ipairs(redis.call('SMEMBERS', set)) do
  if redis.call('EXISTS', p .. 'sessions:' .. sid) == 0 then redis.call('SREM', set, sid) end
end
redis.call('HSET', session, 'member', ARGV[3], 'roles', ARGV[4], 'refresh', ARGV[5])
redis.call('EXPIRE', session, ttl)
redis.call('SET', p .. 'refresh:' .. ARGV[5], ARGV[2], 'EX', ttl)
redis.call('SADD', set, ARGV[2])
redis.call('EXPIRE', set, ttl)
return 0
",
    )
});

/// ARGV: prefix, presented hash, successor hash, sealed successor, lifetime (s), grace (ms).
/// Returns {"rotated", sid, member, roles}, {"replayed", sid, member, roles, sealed},
/// {"reused", sid} or {"unknown"}. One script, so two refreshes racing with one token are
/// ordered: the first rotates, the second sees a rotated token.
static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p = ARGV[1]
local presented = ARGV[2]
local sid = redis.call('GET', p .. 'refresh:' .. presented)
if not sid then return {'unknown'} end
local session = p .. 'sessions:' .. sid
local s = redis.call('HMGET', session, 'member', 'roles', 'refresh')
if not s[1] then return {'unknown'} end
if s[3] ~= presented then
  local sealed = redis.call('GET', p .. 'refresh-grace:' .. presented)
  if sealed then return {'replayed', sid, s[1], s[2], sealed} end
  redis.call('DEL', session)
  if s[3] then redis.call('DEL', p .. 'refresh:' .. s[3]) end
  redis.call('SREM', p .. 'member-sessions:' .. s[1], sid)
  return {'reused', sid}
end
local ttl = tonumber(ARGV[5])
redis.call('SET', p .. 'refresh:' .. ARGV[3], sid, 'EX', ttl)
redis.call('HSET', session, 'refresh', ARGV[3])
redis.call('EXPIRE', session, ttl)
redis.call('EXPIRE', p .. 'member-sessions:' .. s[1], ttl)
if tonumber(ARGV[6]) > 0 then
  redis.call('SET', p .. 'refresh-grace:' .. presented, ARGV[4], 'PX', ARGV[6])
end
return {'rotated', sid, s[1], s[2]}
",
    )
});

/// ARGV: prefix, sid.
static END_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p = ARGV[1]
local session = p .. 'sessions:' .. ARGV[2]
local s = redis.call('HMGET', session, 'member', 'refresh')
redis.call('DEL', session)
if s[2] then redis.call('DEL', p .. 'refresh:' .. s[2]) end
if s[1] then redis.call('SREM', p .. 'member-sessions:' .. s[1], ARGV[2]) end
return 0
",
    )
});

/// ARGV: prefix, member, the sid to keep (or "").
static END_MEMBER_SESSIONS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p = ARGV[1]
local set = p .. 'member-sessions:' .. ARGV[2]
for _, sid in ipairs(redis.call('SMEMBERS', set)) do
  if sid ~= ARGV[3] then
    local session = p .. 'sessions:' .. sid
    local refresh = redis.call('HGET', session, 'refresh')
    if refresh then redis.call('DEL', p .. 'refresh:' .. refresh) end
    redis.call('DEL', session)
    redis.call('SREM', set, sid)
  end
end
return 0
",
    )
});

fn encode_roles(roles: &[Role]) -> String {
    serde_json::to_string(roles).unwrap_or_else(|_| "[]".to_owned())
}

fn owner(member: &str, roles: &str) -> Option<Owner> {
    Some(Owner {
        member: member.parse().ok()?,
        roles: serde_json::from_str(roles).ok()?,
    })
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|index| a[index] ^ b[index])
}

/// Lowercase hex, for hashes in key names.
pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(64), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_256_bits_of_base64url() {
        let token = RefreshToken::generate();
        let text = token.encode();
        assert_eq!(text.len(), 43);
        assert_eq!(RefreshToken::parse(&text), Some(token));
        assert_eq!(RefreshToken::parse("not a token"), None);
        assert_eq!(
            RefreshToken::parse(&URL_SAFE_NO_PAD.encode([0u8; 16])),
            None
        );
    }

    #[test]
    fn only_the_predecessor_opens_a_sealed_successor() {
        let token = RefreshToken::generate();
        let successor = RefreshToken::generate();
        let sealed = token.seal(&successor);
        assert_eq!(token.open(&sealed), Some(successor.clone()));
        assert_ne!(RefreshToken::generate().open(&sealed), Some(successor));
    }

    #[test]
    fn the_stored_hash_is_not_the_pad() {
        let token = RefreshToken::generate();
        assert_ne!(token.hash(), hex(&token.pad()));
    }
}
