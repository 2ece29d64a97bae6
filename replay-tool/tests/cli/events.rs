//! `waypoint events`: a stream's history after commands through the gateway, and a service's
//! events filtered by type and by where to start.

use replay_tool::{Cli, Outcome};
use reqwest::Method;
use serde_json::{Value, json};
use system_testkit::TestApp;

use crate::support::waypoint;

fn events(document: &Value) -> &Vec<Value> {
    document["events"].as_array().unwrap()
}

#[tokio::test]
async fn a_places_history_with_its_ids_and_payloads() {
    let app = TestApp::with_services().await;
    let session = app.register().await;
    let place_id = app.add_place(&session, "Harbour Café").await;
    let changed = app
        .call(
            Method::PATCH,
            &format!("/api/v1/places/{place_id}"),
            Some(&session.access_token),
            Some(json!({ "name": "Harbour Café & Books" })),
        )
        .await;
    assert!(changed.status.is_success(), "{:?}", changed.body);
    let other_place = app.add_place(&session, "Lighthouse Bar").await;
    let stream = format!("place-{place_id}");

    // The stream, its store found from the id.
    let ran = waypoint(&app, &["events", &stream, "--json"]).await;
    assert!(matches!(ran.outcome, Ok(Outcome::Ok)), "{ran:?}");
    let history = ran.json();
    assert_eq!(history["service"], "places");
    let list = events(&history);
    let types: Vec<&str> = list
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["places.PlaceAdded", "places.PlaceUpdated"]);
    let versions: Vec<i64> = list
        .iter()
        .map(|e| e["stream_version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);
    for event in list {
        assert_eq!(event["stream_id"], stream.as_str());
        assert!(event["correlation_id"].is_string(), "{event:#}");
        assert!(event["causation_id"].is_string(), "{event:#}");
        assert!(event["recorded_at"].is_string(), "{event:#}");
        assert_eq!(
            event["actor"]["member_id"],
            session.member_id.as_str(),
            "{event:#}"
        );
    }
    assert_eq!(list[0]["payload"]["name"], "Harbour Café");
    assert_eq!(list[1]["payload"]["name"], "Harbour Café & Books");

    // As a table: abbreviated payloads, every type shown.
    let table = waypoint(&app, &["events", &stream]).await;
    assert!(
        table.stdout.contains("places.PlaceAdded v1"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("places.PlaceUpdated v1"),
        "{}",
        table.stdout
    );

    // The service's events, by type: both places were added, one was updated.
    let added = waypoint(
        &app,
        &[
            "events",
            "--service",
            "places",
            "--type",
            "PlaceAdded",
            "--json",
        ],
    )
    .await;
    let added = added.json();
    let streams: Vec<&str> = events(&added)
        .iter()
        .map(|e| {
            assert_eq!(e["event_type"], "places.PlaceAdded");
            e["stream_id"].as_str().unwrap()
        })
        .collect();
    assert_eq!(streams, [stream.clone(), format!("place-{other_place}")]);
    let limited = waypoint(
        &app,
        &["events", "--service", "places", "--limit", "1", "--json"],
    )
    .await;
    assert_eq!(events(&limited.json()).len(), 1);

    // From a checkpoint (exclusive), and from a time (inclusive).
    let first = list[0]["checkpoint"].as_str().unwrap();
    let after_first = waypoint(
        &app,
        &["events", "--service", "places", "--since", first, "--json"],
    )
    .await;
    let after_first = after_first.json();
    let types: Vec<&str> = events(&after_first)
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["places.PlaceUpdated", "places.PlaceAdded"]);
    let updated_at = list[1]["recorded_at"].as_str().unwrap();
    let since_update = waypoint(&app, &["events", &stream, "--since", updated_at, "--json"]).await;
    let since_update = since_update.json();
    assert_eq!(events(&since_update).len(), 1);
    assert_eq!(
        events(&since_update)[0]["event_type"],
        "places.PlaceUpdated"
    );
    // A position number is inclusive.
    let position = first.split('.').nth(1).unwrap();
    let from_position = waypoint(
        &app,
        &[
            "events",
            "--service",
            "places",
            "--since",
            position,
            "--json",
        ],
    )
    .await;
    assert_eq!(events(&from_position.json()).len(), 3);

    app.finish().await;
}

#[tokio::test]
async fn unknown_streams_and_bad_input_are_clear_errors() {
    let app = TestApp::with_services().await;
    let missing = waypoint(
        &app,
        &["events", "place-0195f1a2-8c1e-7d33-b0a4-3f5e2c9d8a71"],
    )
    .await;
    let error = missing.outcome.unwrap_err();
    assert!(error.problem.contains("no stream"), "{error}");
    assert!(error.hint.is_some());

    let unknown_kind = waypoint(&app, &["events", "basket-1"]).await;
    assert!(
        unknown_kind
            .outcome
            .unwrap_err()
            .problem
            .contains("which store")
    );

    let no_service = waypoint(&app, &["events", "--service", "baskets"]).await;
    let error = no_service.outcome.unwrap_err();
    assert!(error.hint.unwrap().contains("places"));

    // Usage errors are clap's (exit 2), before anything runs.
    use clap::Parser;
    for args in [
        &["waypoint", "events"][..],
        &[
            "waypoint",
            "events",
            "--service",
            "places",
            "--since",
            "yesterday",
        ],
        &[
            "waypoint",
            "events",
            "--service",
            "places",
            "--limit",
            "many",
        ],
    ] {
        let error = Cli::try_parse_from(args).unwrap_err();
        assert_eq!(error.exit_code(), 2, "{args:?}");
    }
    app.finish().await;
}
