//! [`RateLimiter`]: GCRA in Redis, both of a request's limits decided by one script call, with
//! limits that can be swapped while the gateway runs.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use events::MemberId;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::RateLimitSettings;

/// The decisions, counted by outcome in `gateway_rate_limit_decisions_total`.
pub const DECISIONS_METRIC: &str = "gateway_rate_limit_decisions_total";

/// Settings that cannot be a limit; the old limits stay in force.
#[derive(Debug, thiserror::Error)]
#[error("rate_limit.{field}: {problem}")]
pub struct InvalidRateLimit {
    field: &'static str,
    problem: &'static str,
}

/// What a request may do, and what its tightest limit has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed(Quota),
    Limited {
        quota: Quota,
        retry_after: Duration,
    },
    /// Redis could not be asked in time, and `rate_limit.fail_open` lets requests through.
    FailedOpen,
    /// Redis could not be asked in time, and `rate_limit.fail_open` is false.
    FailedClosed,
    /// Neither an address nor a member to count the request against (a router served without
    /// connection info); nothing was asked.
    Unkeyed,
}

/// The `RateLimit-*` figures of the tightest limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The burst: requests that may arrive at once.
    pub limit: u32,
    /// Requests that may still be sent right now.
    pub remaining: u32,
    /// Until the limit is whole again.
    pub reset: Duration,
}

/// A sustained rate, as GCRA keeps it: the time one request costs and how many may come at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rate {
    interval_us: u64,
    burst: u32,
}

impl Rate {
    fn new(
        per_s: f64,
        burst: u32,
        fields: (&'static str, &'static str),
    ) -> Result<Self, InvalidRateLimit> {
        // At most a million a second keeps the interval at one microsecond or more.
        if !(per_s.is_finite() && per_s > 0.0 && per_s <= 1e6) {
            return Err(InvalidRateLimit {
                field: fields.0,
                problem: "must be a number above 0 and at most 1000000",
            });
        }
        if burst == 0 {
            return Err(InvalidRateLimit {
                field: fields.1,
                problem: "must be at least 1",
            });
        }
        // In range by the check above: 1 ≤ 1e6 / per_s.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let interval_us = (1e6 / per_s).round().max(1.0) as u64;
        Ok(Self { interval_us, burst })
    }
}

/// Everything `set_settings` can change, read once per request.
#[derive(Debug, PartialEq, Eq)]
struct Policy {
    ip: Rate,
    member: Rate,
    fail_open: bool,
    timeout: Duration,
}

impl Policy {
    fn new(settings: &RateLimitSettings) -> Result<Self, InvalidRateLimit> {
        if settings.timeout_ms == 0 {
            return Err(InvalidRateLimit {
                field: "timeout_ms",
                problem: "must be at least 1",
            });
        }
        Ok(Self {
            ip: Rate::new(
                settings.per_ip_per_s,
                settings.per_ip_burst,
                ("per_ip_per_s", "per_ip_burst"),
            )?,
            member: Rate::new(
                settings.per_member_per_s,
                settings.per_member_burst,
                ("per_member_per_s", "per_member_burst"),
            )?,
            fail_open: settings.fail_open,
            timeout: Duration::from_millis(settings.timeout_ms),
        })
    }
}

/// Per-address and per-member limits, shared by every gateway instance through Redis.
pub struct RateLimiter {
    policy: ArcSwap<Policy>,
    script: Script,
    redis: ConnectionManager,
    ip_key_prefix: String,
    member_key_prefix: String,
    /// Whether the last call failed, so an outage is logged when it starts and ends rather
    /// than once per request.
    failing: AtomicBool,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("policy", &self.policy.load())
            .field("ip_key_prefix", &self.ip_key_prefix)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// Keys go under `key_prefix`. With `rate_limit.redis_url` set the counters live in that
    /// Redis, connected on first use, so the gateway starts even while it is down; otherwise
    /// they share the gateway's connection (`redis`).
    pub async fn new(
        settings: &RateLimitSettings,
        redis: ConnectionManager,
        key_prefix: &str,
    ) -> anyhow::Result<Self> {
        let policy = Policy::new(settings)?;
        let redis = match &settings.redis_url {
            Some(url) => own_connection(url, policy.timeout)?,
            None => redis,
        };
        Ok(Self {
            policy: ArcSwap::from_pointee(policy),
            script: Script::new(include_str!("gcra.lua")),
            redis,
            ip_key_prefix: format!("{key_prefix}ratelimit:ip:"),
            member_key_prefix: format!("{key_prefix}ratelimit:member:"),
            failing: AtomicBool::new(false),
        })
    }

    /// New limits, fail-open choice and timeout, in force from the next request. The Redis
    /// address is fixed at start and not changed here.
    pub fn set_settings(&self, settings: RateLimitSettings) -> Result<(), InvalidRateLimit> {
        self.policy.store(Arc::new(Policy::new(&settings)?));
        Ok(())
    }

    /// Decides one request, charging its address and its member (when known) in one round
    /// trip, and counts the outcome.
    pub async fn check(&self, client: Option<IpAddr>, member: Option<MemberId>) -> Decision {
        let decision = self.decide(client, member).await;
        let outcome = match decision {
            Decision::Allowed(_) => "allowed",
            Decision::Limited { .. } => "limited",
            Decision::FailedOpen => "failed_open",
            Decision::FailedClosed => "failed_closed",
            Decision::Unkeyed => return decision,
        };
        metrics::counter!(DECISIONS_METRIC, "outcome" => outcome).increment(1);
        decision
    }

    async fn decide(&self, client: Option<IpAddr>, member: Option<MemberId>) -> Decision {
        if client.is_none() && member.is_none() {
            return Decision::Unkeyed;
        }
        let policy = self.policy.load();
        let mut invocation = self.script.prepare_invoke();
        if let Some(client) = client {
            invocation
                .key(format!("{}{}", self.ip_key_prefix, ClientKey(client)))
                .arg(policy.ip.interval_us)
                .arg(policy.ip.burst);
        }
        if let Some(member) = member {
            invocation
                .key(format!("{}{member}", self.member_key_prefix))
                .arg(policy.member.interval_us)
                .arg(policy.member.burst);
        }
        let mut redis = self.redis.clone();
        let answer = tokio::time::timeout(
            policy.timeout,
            invocation.invoke_async::<(i64, i64, i64, i64, i64)>(&mut redis),
        )
        .await;
        let failure = match answer {
            Ok(Ok((allowed, limit, remaining, reset_ms, retry_after_ms))) => {
                self.recovered();
                let quota = Quota {
                    limit: clamp(limit),
                    remaining: clamp(remaining),
                    reset: millis(reset_ms),
                };
                return if allowed == 1 {
                    Decision::Allowed(quota)
                } else {
                    Decision::Limited {
                        quota,
                        retry_after: millis(retry_after_ms),
                    }
                };
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {:?}", policy.timeout),
        };
        self.failed(&failure, policy.fail_open);
        if policy.fail_open {
            Decision::FailedOpen
        } else {
            Decision::FailedClosed
        }
    }

    fn failed(&self, error: &str, fail_open: bool) {
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error,
                fail_open,
                "the rate limiter cannot reach Redis; requests are {}",
                if fail_open { "let through" } else { "refused" }
            );
        }
    }

    fn recovered(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("the rate limiter reaches Redis again");
        }
    }
}

/// A connection of the limiter's own, made on first use and bounded by the decision timeout.
fn own_connection(url: &str, timeout: Duration) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1);
    Ok(ConnectionManager::new_lazy_with_config(client, config)?)
}

/// What an address is counted as. An IPv6 client usually holds a whole /64 and can pick any
/// address in it, so the /64 is what is limited; an IPv4 address mapped into IPv6 is the IPv4
/// address it maps.
struct ClientKey(IpAddr);

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => write!(f, "{v4}"),
                None => {
                    let [a, b, c, d, ..] = v6.segments();
                    write!(f, "{a:x}:{b:x}:{c:x}:{d:x}::/64")
                }
            },
        }
    }
}

fn clamp(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

fn millis(value: i64) -> Duration {
    Duration::from_millis(u64::try_from(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn settings() -> RateLimitSettings {
        // One request every 5 s: slow enough that no test sees a bucket refill while it runs.
        RateLimitSettings {
            per_ip_per_s: 0.2,
            per_ip_burst: 3,
            per_member_per_s: 0.2,
            per_member_burst: 2,
            fail_open: true,
            redis_url: None,
            timeout_ms: 1000,
        }
    }

    async fn limiter(settings: &RateLimitSettings) -> RateLimiter {
        let client = redis::Client::open(testkit::redis_url()).unwrap();
        let redis = ConnectionManager::new(client).await.unwrap();
        let prefix = format!("t_{}:", testkit::unique_suffix());
        RateLimiter::new(settings, redis, &prefix).await.unwrap()
    }

    /// An address no other test uses, so each test has buckets of its own.
    fn random_ip() -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(rand::random::<u32>()))
    }

    fn quota(decision: Decision) -> Quota {
        match decision {
            Decision::Allowed(quota) | Decision::Limited { quota, .. } => quota,
            other => panic!("no quota in {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_burst_passes_then_the_next_request_waits_about_one_interval() {
        let limiter = limiter(&settings()).await;
        let client = Some(random_ip());

        let mut remaining = Vec::new();
        for _ in 0..3 {
            let decision = limiter.check(client, None).await;
            assert!(matches!(decision, Decision::Allowed(_)), "{decision:?}");
            remaining.push(quota(decision).remaining);
        }
        let refused = limiter.check(client, None).await;

        assert_eq!(remaining, [2, 1, 0]);
        let Decision::Limited { quota, retry_after } = refused else {
            panic!("expected a refusal, got {refused:?}");
        };
        assert_eq!((quota.limit, quota.remaining), (3, 0));
        assert!(
            retry_after > Duration::from_secs(4) && retry_after <= Duration::from_secs(5),
            "{retry_after:?}"
        );
        assert!(quota.reset > Duration::from_secs(10), "{quota:?}");
    }

    #[tokio::test]
    async fn the_tightest_limit_is_reported_and_a_refusal_charges_neither() {
        let limiter = limiter(&settings()).await;
        let (client, member) = (Some(random_ip()), Some(MemberId::generate()));

        let first = limiter.check(client, member).await;
        let second = limiter.check(client, member).await;
        let third = limiter.check(client, member).await;
        // The member's limit refused the third; the address was not charged for it.
        let anonymous = limiter.check(client, None).await;

        assert_eq!(quota(first).limit, 2, "the member's burst is the smaller");
        assert_eq!(quota(second).remaining, 0);
        assert!(matches!(third, Decision::Limited { .. }), "{third:?}");
        assert_eq!(quota(anonymous).remaining, 0, "{anonymous:?}");
        assert!(matches!(anonymous, Decision::Allowed(_)), "{anonymous:?}");
    }

    #[tokio::test]
    async fn invalid_settings_are_refused_and_the_old_ones_stay() {
        let limiter = limiter(&settings()).await;
        let broken = [
            RateLimitSettings {
                per_ip_per_s: 0.0,
                ..settings()
            },
            RateLimitSettings {
                per_member_per_s: f64::NAN,
                ..settings()
            },
            RateLimitSettings {
                per_member_burst: 0,
                ..settings()
            },
            RateLimitSettings {
                timeout_ms: 0,
                ..settings()
            },
        ];

        for settings in broken {
            let error = limiter.set_settings(settings).unwrap_err();
            assert!(error.to_string().starts_with("rate_limit."), "{error}");
        }
        let decision = limiter.check(Some(random_ip()), None).await;
        assert_eq!(quota(decision).limit, 3);
    }

    #[test]
    fn rates_become_whole_microsecond_intervals() {
        let rate = Rate::new(3.0, 1, ("a", "b")).unwrap();
        assert_eq!(rate.interval_us, 333_333);
        let fastest = Rate::new(1e6, 1, ("a", "b")).unwrap();
        assert_eq!(fastest.interval_us, 1);
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_by_its_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());

        assert_eq!(ClientKey(one).to_string(), "2001:db8:1:2::/64");
        assert_eq!(ClientKey(one).to_string(), ClientKey(same_64).to_string());
        assert_eq!(ClientKey(mapped).to_string(), "192.0.2.7");
        assert_eq!(
            ClientKey(IpAddr::V6(Ipv6Addr::LOCALHOST)).to_string(),
            "0:0:0:0::/64"
        );
    }
}
