//! The review feed stops while the rest runs on: the gateway serves its last good answers
//! marked stale and its breaker opens; commands go on; once the feed is back it catches up
//! and the breaker closes.

use local_copies::KnownPlace;
use reqwest::StatusCode;
use serde_json::Value;
use standalone::parts::Part;

use crate::support::client::Api;
use crate::{GATEWAY_GAUGES, PATIENCE, Scenario};

/// `gateway_breaker_state{upstream="review-feed"}`: 0 closed, 1 half-open, 2 open.
async fn feed_breaker(api: &Api) -> Option<f64> {
    let metrics = reqwest::get(api.outside_api("/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    metrics
        .lines()
        .find(|line| {
            line.starts_with("gateway_breaker_state{") && line.contains("upstream=\"review-feed\"")
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

/// Queries `path` until the breaker shows `state`: a breaker only moves on calls.
async fn until_breaker(api: &Api, path: &str, state: f64, what: &str) {
    testkit::poll::until(what, PATIENCE, || async {
        api.get(path).await;
        (feed_breaker(api).await == Some(state)).then_some(())
    })
    .await;
}

fn review_ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .expect("a page of reviews")
        .iter()
        .map(|review| review["review_id"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn while_the_feed_is_away_its_last_answers_are_served_stale_and_its_breaker_opens() {
    let mut scenario = Scenario::start(&[
        // Quick to open on an upstream that is away, and quick to try it again.
        ("breaker.window", "4"),
        ("breaker.minimum_calls", "2"),
        ("breaker.open_ms", "300"),
    ])
    .await;
    let api = scenario.api.clone();
    let ann = api.sign_up("ann").await;
    let place = ann.add_place("Harbour Café").await;
    scenario
        .until_known(Part::Reviews, &place, KnownPlace::Open)
        .await;
    let first = ann.write_review(&place, "Worth the queue", &[]).await;
    let feed = format!("/places/{place}/reviews");
    let fresh = ann.read(&feed).await;
    assert_eq!(review_ids(&fresh.body), [first.as_str()]);

    let watching = GATEWAY_GAUGES.write().await;
    assert_eq!(
        feed_breaker(&api).await,
        Some(0.0),
        "closed while the feed answers"
    );
    scenario.system.stop_part(Part::ReviewFeed).await;

    // The last good answer is stored in the background: it may take a query or two.
    let stale = testkit::poll::until("a stale answer", PATIENCE, || async {
        let answer = api.get(&feed).await;
        answer
            .header("x-waypoint-stale")
            .is_some()
            .then_some(answer)
    })
    .await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.header("x-waypoint-stale"), Some("true"));
    assert_eq!(stale.header("warning"), Some("110 - \"Response is Stale\""));
    assert_eq!(stale.body, fresh.body, "the last good answer");
    until_breaker(&api, &feed, 2.0, "the breaker to open").await;

    // Commands do not need the feed.
    let bob = api.sign_up("bob").await;
    let second = bob.write_review(&place, "Late and loud", &[]).await;

    scenario
        .system
        .start_part(Part::ReviewFeed)
        .await
        .expect("the review feed starts again");
    let caught_up = bob.read(&feed).await;
    let mut shown = review_ids(&caught_up.body);
    shown.sort_unstable();
    let mut expected = [first.as_str(), second.as_str()];
    expected.sort_unstable();
    assert_eq!(shown, expected, "the feed caught up: {:?}", caught_up.body);
    assert_eq!(caught_up.header("x-waypoint-stale"), None);
    until_breaker(&api, &feed, 0.0, "the breaker to close").await;
    drop(watching);

    scenario.finish().await;
}
