//! Adding a feature after the fact: a new read model started against a system that already
//! holds history, built with the CLI, while the rest keeps running.

use reqwest::{Method, StatusCode};
use serde_json::json;
use system_testkit::{Projection, Service, Session, TestApp};

use crate::support::{settings_for, waypoint_with};

async fn review_and_rate(app: &TestApp, member: &Session, place: &str, stars: u8) {
    let token = Some(member.access_token.as_str());
    let review = app
        .call(
            Method::POST,
            &format!("/api/v1/places/{place}/reviews"),
            token,
            Some(json!({"title": "Good", "body": "Would come back."})),
        )
        .await;
    assert_eq!(review.status, StatusCode::CREATED, "{:?}", review.body);
    let rating = app
        .call(
            Method::PUT,
            &format!("/api/v1/places/{place}/rating"),
            token,
            Some(json!({ "stars": stars })),
        )
        .await;
    assert_eq!(rating.status, StatusCode::NO_CONTENT, "{:?}", rating.body);
}

#[tokio::test]
async fn a_read_model_added_to_a_running_system_is_built_from_history_with_the_cli() {
    let app = TestApp::with_services().await;
    let busy = app.register().await;
    let occasional = app.register().await;
    let first = app.add_place(&busy, "Café Sperl").await;
    let second = app.add_place(&busy, "Café Hawelka").await;
    let reviews_copy = app.pool_of(Service::Reviews).await;
    for place in [&first, &second] {
        let place_id = place.parse().unwrap();
        command_testkit::wait_for_place(&reviews_copy, place_id, local_copies::KnownPlace::Open)
            .await;
    }
    review_and_rate(&app, &busy, &first, 4).await;
    review_and_rate(&app, &busy, &second, 2).await;
    review_and_rate(&app, &occasional, &first, 5).await;
    let mut settings = settings_for(&app);
    settings.projections.insert(
        "top-reviewers".to_owned(),
        app.projection_database("top-reviewers"),
    );

    // The new model starts against the history, and is then rebuilt with the CLI as an
    // operator would after changing it, while commands keep being answered.
    let instance = app.start_projection(Projection::TopReviewers).await;
    let rebuilt = waypoint_with(
        settings.clone(),
        &["--json", "rebuild", "top-reviewers", "--wait", "30"],
    )
    .await;
    let late = app.register().await;
    review_and_rate(&app, &late, &second, 3).await;

    assert!(
        matches!(rebuilt.outcome, Ok(replay_tool::Outcome::Ok)),
        "{:?}: {}",
        rebuilt.outcome,
        rebuilt.stdout
    );
    let report = rebuilt.json();
    assert!(
        report["events_per_second"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    let top = testkit::poll::until(
        "the ranking shows every reviewer",
        std::time::Duration::from_secs(20),
        || async {
            let answer = app.get("/api/v1/members/top", None).await;
            let items = answer.body["items"].as_array()?.clone();
            (items.len() == 3).then_some(items)
        },
    )
    .await;
    assert_eq!(top[0]["member_id"], busy.member_id.as_str());
    assert_eq!(top[0]["review_count"], 2);
    assert_eq!(top[0]["average_stars"].as_f64(), Some(3.0), "{top:?}");
    assert_eq!(top[1]["member_id"], occasional.member_id.as_str());
    assert_eq!(top[2]["member_id"], late.member_id.as_str());
    instance.stop().await;
    app.finish().await;
}
