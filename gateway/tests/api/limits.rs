//! Rate limits through the gateway: per address, per member, Redis unreachable (fail open or
//! closed), the decision metric, and limits changed while running.

use std::net::{IpAddr, Ipv4Addr};

use gateway::rate_limit::{Decision, RateLimitSettings, RateLimiter};
use redis::aio::ConnectionManager;

use crate::support::{Answer, Service, TestApp, assert_problem};

/// Any cheap route behind the limiter.
const ROUTE: &str = "/api/v1/openapi.json";

/// Nothing listens on port 1.
const UNREACHABLE_REDIS: &str = "redis://127.0.0.1:1";

/// One request every 10 s: no bucket refills while a test runs.
const SLOW: f64 = 0.1;

/// `gateway_rate_limit_decisions_total` by outcome, as `/metrics` shows it now. The recorder
/// is shared by the whole process, so tests compare before and after.
async fn decisions(app: &TestApp, outcome: &str) -> u64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("gateway_rate_limit_decisions_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.trim().parse().unwrap())
}

fn header_number(answer: &Answer, name: &str) -> u64 {
    answer
        .header(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", answer.headers))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn an_address_past_its_burst_is_refused_with_retry_after_and_every_answer_counts_down() {
    let mut app = TestApp::new().await;
    app.settings.rate_limit.per_ip_per_s = SLOW;
    app.settings.rate_limit.per_ip_burst = 3;
    app.start_gateway().await;
    let (allowed_before, limited_before) = (
        decisions(&app, "allowed").await,
        decisions(&app, "limited").await,
    );

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let answer = app.get(ROUTE, None).await;
        assert_eq!(answer.status, 200);
        assert_eq!(header_number(&answer, "ratelimit-limit"), 3);
        assert!(header_number(&answer, "ratelimit-reset") >= 1);
        remaining.push(header_number(&answer, "ratelimit-remaining"));
    }
    let refused = app.get(ROUTE, None).await;

    assert_eq!(remaining, [2, 1, 0]);
    assert_problem(&refused, 429, "rate_limited");
    let retry_after = header_number(&refused, "retry-after");
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    assert_eq!(header_number(&refused, "ratelimit-remaining"), 0);
    assert_eq!(decisions(&app, "allowed").await - allowed_before, 3);
    assert_eq!(decisions(&app, "limited").await - limited_before, 1);
    app.finish().await;
}

#[tokio::test]
async fn a_member_has_a_limit_of_their_own_beside_the_address_limit() {
    let mut app = TestApp::new().await;
    app.settings.rate_limit.per_member_per_s = SLOW;
    app.settings.rate_limit.per_member_burst = 2;
    app.start_service(Service::Members).await;
    app.start_gateway().await;
    let (ann, bob) = (app.register().await, app.register().await);

    let first = app.get(ROUTE, Some(&ann.access_token)).await;
    let second = app.get(ROUTE, Some(&ann.access_token)).await;
    let third = app.get(ROUTE, Some(&ann.access_token)).await;
    // Same address, other member, and nobody: the address still has room.
    let other_member = app.get(ROUTE, Some(&bob.access_token)).await;
    let anonymous = app.get(ROUTE, None).await;

    assert_eq!((first.status.as_u16(), second.status.as_u16()), (200, 200));
    assert_eq!(header_number(&first, "ratelimit-limit"), 2);
    assert_eq!(header_number(&second, "ratelimit-remaining"), 0);
    assert_problem(&third, 429, "rate_limited");
    assert_eq!(other_member.status, 200);
    assert_eq!(header_number(&other_member, "ratelimit-remaining"), 1);
    assert_eq!(anonymous.status, 200);
    let address_burst = u64::from(app.settings.rate_limit.per_ip_burst);
    assert_eq!(header_number(&anonymous, "ratelimit-limit"), address_burst);
    app.finish().await;
}

#[tokio::test]
async fn unreachable_redis_lets_requests_through_or_refuses_them_as_configured() {
    let mut app = TestApp::new().await;
    app.settings.rate_limit.redis_url = Some(UNREACHABLE_REDIS.to_owned());
    app.settings.rate_limit.fail_open = true;
    app.start_gateway().await;
    let (open_before, closed_before) = (
        decisions(&app, "failed_open").await,
        decisions(&app, "failed_closed").await,
    );

    let let_through = app.get(ROUTE, None).await;
    app.stop_gateway().await;
    app.settings.rate_limit.fail_open = false;
    app.start_gateway().await;
    let refused = app.get(ROUTE, None).await;

    assert_eq!(let_through.status, 200);
    assert_eq!(let_through.header("ratelimit-limit"), None, "nothing known");
    assert_problem(&refused, 503, "unavailable");
    assert_eq!(decisions(&app, "failed_open").await - open_before, 1);
    assert_eq!(decisions(&app, "failed_closed").await - closed_before, 1);
    app.finish().await;
}

#[tokio::test]
async fn new_settings_take_effect_on_the_next_request() {
    let settings = RateLimitSettings {
        per_ip_per_s: SLOW,
        per_ip_burst: 1,
        per_member_per_s: SLOW,
        per_member_burst: 1,
        fail_open: true,
        redis_url: None,
        timeout_ms: 1000,
    };
    let redis = ConnectionManager::new(redis::Client::open(testkit::redis_url()).unwrap())
        .await
        .unwrap();
    let prefix = format!("t_{}:", testkit::unique_suffix());
    let limiter = RateLimiter::new(&settings, redis, &prefix).await.unwrap();
    let client = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let first = limiter.check(client, None).await;
    let second = limiter.check(client, None).await;

    limiter
        .set_settings(RateLimitSettings {
            per_ip_burst: 5,
            ..settings
        })
        .unwrap();
    let after_change = limiter.check(client, None).await;

    assert!(matches!(first, Decision::Allowed(_)), "{first:?}");
    assert!(matches!(second, Decision::Limited { .. }), "{second:?}");
    let Decision::Allowed(quota) = after_change else {
        panic!("the new burst should admit it: {after_change:?}");
    };
    assert_eq!((quota.limit, quota.remaining), (5, 3));
}
