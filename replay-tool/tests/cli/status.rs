//! `waypoint status` against the whole system: healthy, then a poison message, then a
//! stopped projection.

use std::time::Duration;

use message_bus::{OutgoingMessage, headers};
use replay_tool::Outcome;
use serde_json::Value;
use system_testkit::{Projection, RunningProjection, TestApp};

use crate::support::{Ran, settings_for, waypoint, waypoint_with};

/// The broker's statistics (queue depths, consumers) are sampled every few seconds, and
/// later still on a busy broker.
const DEADLINE: Duration = Duration::from_secs(90);

const SECTIONS: [&str; 5] = [
    "instances",
    "projections",
    "queues",
    "dead_letters",
    "breakers",
];

/// The gateway, the four command services and the three projections.
pub async fn whole_system() -> (TestApp, Vec<RunningProjection>) {
    let app = TestApp::with_services().await;
    let mut running = Vec::new();
    for projection in [
        Projection::ReviewFeed,
        Projection::PlaceDirectory,
        Projection::MemberProfile,
    ] {
        running.push(app.start_projection(projection).await);
    }
    (app, running)
}

/// Runs `status --json` until `wanted` holds of its outcome and document.
async fn status_until(
    app: &TestApp,
    what: &str,
    wanted: impl Fn(&Ran, &Value) -> bool,
) -> (Ran, Value) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let ran = waypoint(app, &["status", "--json"]).await;
        let document = ran.json();
        if wanted(&ran, &document) {
            return (ran, document);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; last status: {document:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn problems(document: &Value) -> Vec<String> {
    document["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|problem| problem.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn status_is_healthy_then_names_a_dead_letter_and_a_stopped_projection() {
    let (app, mut projections) = whole_system().await;
    let session = app.register().await;
    app.add_place(&session, "Harbour Café").await;

    // Healthy: exit 0, every section present and healthy. (The broker's consumer counts lag
    // by its statistics interval.)
    let feed_queue = format!("{}.waypoint.events.review-feed", app.system.prefix);
    let consumers = |document: &Value| {
        document["queues"]["items"]
            .as_array()?
            .iter()
            .find(|queue| queue["name"] == feed_queue.as_str())?["consumers"]
            .as_u64()
    };
    let (_, healthy) = status_until(&app, "a healthy system", |ran, document| {
        matches!(ran.outcome, Ok(Outcome::Ok)) && consumers(document) >= Some(1)
    })
    .await;
    assert_eq!(healthy["healthy"], true, "{healthy:#}");
    assert!(problems(&healthy).is_empty());
    for section in SECTIONS {
        assert_eq!(healthy[section]["healthy"], true, "{section}: {healthy:#}");
        assert!(healthy[section]["items"].is_array(), "{section}");
    }
    let services: Vec<&str> = healthy["instances"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| instance["service"].as_str().unwrap())
        .collect();
    for expected in [
        "members",
        "places",
        "reviews",
        "ratings",
        "review-feed",
        "place-directory",
        "member-profile",
    ] {
        assert!(services.contains(&expected), "{expected} in {services:?}");
    }
    let directory_on_places = healthy["projections"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["projection"] == "place-directory" && row["source"] == "places")
        .unwrap_or_else(|| panic!("place-directory from places: {healthy:#}"));
    assert!(directory_on_places["head"].is_string());
    assert!(directory_on_places["seconds_behind"].as_f64().unwrap() < 30.0);
    // The tables for people show the same picture.
    let table = waypoint(&app, &["status"]).await;
    assert!(
        table.stdout.contains("Waypoint is healthy"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains(&feed_queue), "{}", table.stdout);

    // A message that is no event: dead-lettered by the review feed, which sets it aside.
    let poison = OutgoingMessage::new("", feed_queue.clone(), b"not an event".to_vec())
        .with_header(headers::ORIGINAL_ROUTING_KEY, "reviews.ReviewWritten");
    let poison_id = poison.message_id.to_string();
    app.system.bus().publisher().publish(poison).await.unwrap();
    let (ran, degraded) = status_until(&app, "the dead letter", |_, document| {
        document["dead_letters"]["healthy"] == false
    })
    .await;
    assert!(matches!(ran.outcome, Ok(Outcome::Degraded)));
    assert_eq!(degraded["healthy"], false);
    let dead_letter_queue = format!(
        "{}.waypoint.dead-letters.projection.review-feed",
        app.system.prefix
    );
    assert!(
        problems(&degraded)
            .iter()
            .any(|problem| problem.starts_with(&dead_letter_queue)),
        "{degraded:#}"
    );

    // Dropping it resolves the poison record too: healthy again.
    let dropped = waypoint(&app, &["dlq", "drop", "projection.review-feed", &poison_id]).await;
    assert!(matches!(dropped.outcome, Ok(Outcome::Ok)), "{dropped:?}");
    status_until(&app, "health after the drop", |ran, _| {
        matches!(ran.outcome, Ok(Outcome::Ok))
    })
    .await;

    // A stopped projection: degraded, and named.
    let feed = projections.remove(0);
    feed.stop().await;
    let (ran, stopped) = status_until(&app, "the stopped projection", |ran, _| {
        matches!(ran.outcome, Ok(Outcome::Degraded))
    })
    .await;
    assert!(matches!(ran.outcome, Ok(Outcome::Degraded)));
    assert!(
        problems(&stopped).contains(&"review-feed: no instance is running".to_owned()),
        "{stopped:#}"
    );

    for projection in projections {
        projection.stop().await;
    }
    app.finish().await;
}

#[tokio::test]
async fn unreachable_parts_are_degraded_not_a_crash() {
    let app = TestApp::new().await;
    let mut settings = settings_for(&app);
    settings.rabbitmq.management_url = "http://guest:guest@127.0.0.1:1".to_owned();
    settings.redis.url = "redis://127.0.0.1:1".to_owned();
    let ran = waypoint_with(settings, &["status", "--json"]).await;
    assert!(matches!(ran.outcome, Ok(Outcome::Degraded)), "{ran:?}");
    let document = ran.json();
    for section in ["instances", "queues", "dead_letters"] {
        assert_eq!(document[section]["healthy"], false, "{section}");
        assert!(document[section]["error"].is_string(), "{section}");
    }
    app.finish().await;
}
