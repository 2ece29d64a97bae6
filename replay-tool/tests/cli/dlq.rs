//! `waypoint dlq`: a poison message is listed and shown with its reason and attempts; once
//! its cause is fixed, requeued and applied; a message that can never work, dropped.

use std::time::Duration;

use message_bus::{OutgoingMessage, headers};
use replay_tool::Outcome;
use serde_json::Value;
use system_testkit::{Projection, Service, TestApp};

use crate::support::waypoint;

const DEADLINE: Duration = Duration::from_secs(30);

/// `dlq show <queue> --json` once it holds `count` dead letters.
async fn shown(app: &TestApp, queue: &str, count: usize) -> Value {
    testkit::poll::until(
        &format!("{count} dead letter(s) in {queue}"),
        DEADLINE,
        || async {
            let ran = waypoint(app, &["dlq", "show", queue, "--json"]).await;
            let document = ran.json();
            (document["dead_letters"].as_array()?.len() == count).then_some(document)
        },
    )
    .await
}

fn listed(app: &TestApp, document: &Value, source: &str) -> Option<u64> {
    let queue = format!("{}.waypoint.dead-letters.{source}", app.system.prefix);
    document["queues"]
        .as_array()?
        .iter()
        .find(|row| row["queue"] == queue.as_str())?["messages"]
        .as_u64()
}

#[tokio::test]
async fn a_message_that_failed_for_a_fixable_cause_is_requeued_and_applied() {
    let app = TestApp::with_services().await;
    let reviews = app.pool_of(Service::Reviews).await;
    // The reviews service cannot record places while its table is away: each try fails, and
    // after the runner's last attempt the place event is dead-lettered.
    sqlx::query("ALTER TABLE known_places RENAME TO known_places_away")
        .execute(&reviews)
        .await
        .unwrap();
    let session = app.register().await;
    let place_id = app.add_place(&session, "Harbour Café").await;

    let document = shown(&app, "local-copies.reviews", 1).await;
    let letter = &document["dead_letters"][0];
    assert_eq!(letter["routing_key"], "places.PlaceAdded", "{letter:#}");
    assert_eq!(letter["attempts"], 5, "{letter:#}");
    assert!(
        letter["reason"].as_str().unwrap().contains("known_places"),
        "{letter:#}"
    );
    assert_eq!(
        letter["failed_in"],
        format!("{}.waypoint.events.reviews", app.system.prefix).as_str()
    );
    assert_eq!(letter["payload"]["payload"]["place_id"], place_id.as_str());
    assert!(letter["dead_lettered_at"].is_string());
    // Showing leaves it where it was.
    let list = waypoint(&app, &["dlq", "list", "--json"]).await;
    assert_eq!(listed(&app, &list.json(), "local-copies.reviews"), Some(1));
    let table = waypoint(&app, &["dlq", "show", "local-copies.reviews"]).await;
    assert!(
        table.stdout.contains("places.PlaceAdded"),
        "{}",
        table.stdout
    );

    // Fixed, requeued: the reviews service now knows the place.
    sqlx::query("ALTER TABLE known_places_away RENAME TO known_places")
        .execute(&reviews)
        .await
        .unwrap();
    let ran = waypoint(
        &app,
        &["dlq", "requeue", "local-copies.reviews", "--all", "--json"],
    )
    .await;
    assert!(matches!(ran.outcome, Ok(Outcome::Ok)), "{ran:?}");
    let requeued = ran.json();
    assert_eq!(
        requeued["messages"].as_array().unwrap().len(),
        1,
        "{requeued:#}"
    );
    testkit::poll::until("the requeued place to be applied", DEADLINE, || async {
        let open: Option<bool> =
            sqlx::query_scalar("SELECT open FROM known_places WHERE place_id = $1::uuid")
                .bind(&place_id)
                .fetch_optional(&reviews)
                .await
                .unwrap();
        (open == Some(true)).then_some(())
    })
    .await;
    let document = shown(&app, "local-copies.reviews", 0).await;
    assert_eq!(document["messages"], 0);

    app.finish().await;
}

#[tokio::test]
async fn a_message_that_is_no_event_is_shown_and_dropped() {
    let app = TestApp::with_services().await;
    let feed = app.start_projection(Projection::ReviewFeed).await;
    let queue = app.system.names().events_queue("review-feed");
    let mut ids = Vec::new();
    for body in ["not an event", "{\"nor\": \"this\"}"] {
        let poison = OutgoingMessage::new("", queue.clone(), body.as_bytes().to_vec())
            .with_header(headers::ORIGINAL_ROUTING_KEY, "reviews.ReviewWritten");
        ids.push(poison.message_id.to_string());
        app.system.bus().publisher().publish(poison).await.unwrap();
    }

    let document = shown(&app, "projection.review-feed", 2).await;
    let letters = document["dead_letters"].as_array().unwrap();
    assert_eq!(letters[0]["message_id"], ids[0].as_str());
    assert_eq!(letters[0]["payload"], "not an event");
    assert_eq!(letters[1]["payload"]["nor"], "this");
    for letter in letters {
        assert_eq!(letter["attempts"], 1, "{letter:#}");
        assert_eq!(letter["routing_key"], "reviews.ReviewWritten");
        assert!(
            letter["reason"]
                .as_str()
                .unwrap()
                .contains("not a recorded event"),
            "{letter:#}"
        );
    }
    // `--limit` shows fewer, and takes none away.
    let one = waypoint(
        &app,
        &[
            "dlq",
            "show",
            "projection.review-feed",
            "--limit",
            "1",
            "--json",
        ],
    )
    .await;
    let one = one.json();
    assert_eq!(one["dead_letters"].as_array().unwrap().len(), 1);
    assert_eq!(one["messages"], 2);

    // An id that is not there is an error; nothing is dropped.
    let unknown = waypoint(
        &app,
        &[
            "dlq",
            "drop",
            "projection.review-feed",
            "0195f1a2-8c1e-7d33-b0a4-3f5e2c9d8a71",
        ],
    )
    .await;
    assert!(
        unknown
            .outcome
            .unwrap_err()
            .problem
            .contains("no dead letter")
    );

    // Dropping the second by id leaves the first, in its place.
    let dropped = waypoint(
        &app,
        &["dlq", "drop", "projection.review-feed", &ids[1], "--json"],
    )
    .await;
    assert!(matches!(dropped.outcome, Ok(Outcome::Ok)), "{dropped:?}");
    assert_eq!(dropped.json()["poison_resolved"], 1);
    let document = shown(&app, "projection.review-feed", 1).await;
    assert_eq!(document["dead_letters"][0]["message_id"], ids[0].as_str());

    let all = waypoint(&app, &["dlq", "drop", "projection.review-feed", "--all"]).await;
    assert!(matches!(all.outcome, Ok(Outcome::Ok)), "{all:?}");
    assert!(
        all.stdout.contains("Dropped 1 dead letter(s)"),
        "{}",
        all.stdout
    );
    let list = waypoint(&app, &["dlq", "list", "--json"]).await;
    assert_eq!(
        listed(&app, &list.json(), "projection.review-feed"),
        Some(0)
    );
    let poisoned: i64 = sqlx::query_scalar("SELECT count(*) FROM projection_poisoned")
        .fetch_one(&app.projection_pool("review-feed").await)
        .await
        .unwrap();
    assert_eq!(poisoned, 0, "dropping resolves the model's poison records");

    let missing = waypoint(&app, &["dlq", "show", "projection.nothing"]).await;
    assert!(missing.outcome.unwrap_err().hint.is_some());

    feed.stop().await;
    app.finish().await;
}
