//! Queries through the gateway to real read models in-process: round-robin over instances,
//! the breaker with its stale fallback, read-your-writes, and checked ids and parameters.

use std::time::{Duration, Instant};

use command_testkit::{envelope, member};
use events::places::{AddPlace, Category, PlaceAdded, PlaceCommand, PlaceEvent};
use events::{CommandReply, MemberId, PlaceId};
use reqwest::StatusCode;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::{Answer, Projection, Service, TestApp, answer, assert_problem};

/// How long a test waits for something that happens in the background.
const DEADLINE: Duration = Duration::from_secs(30);

/// Adds a place as the places service's relay would publish it, for the read models that are
/// running (their queues exist) to apply.
async fn publish_place(app: &TestApp) -> PlaceId {
    let place_id = PlaceId::from(Uuid::now_v7());
    app.system
        .publish_next(PlaceEvent::from(PlaceAdded {
            place_id,
            name: "Lighthouse Museum".to_owned(),
            category: Category::Museum,
            address: "3 Pier".to_owned(),
            description: "Lenses and storms.".to_owned(),
            added_by: MemberId::from(Uuid::now_v7()),
            added_at: OffsetDateTime::now_utc(),
        }))
        .await;
    place_id
}

/// A GET through the gateway with extra request headers.
async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = app.http.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.send().await.expect("the gateway answers")).await
}

/// Polls `path` until it answers 200 and `accept` likes the answer.
async fn until_ok(
    app: &TestApp,
    what: &str,
    path: &str,
    accept: impl Fn(&Answer) -> bool,
) -> Answer {
    testkit::poll::until(what, DEADLINE, || async {
        let answer = app.get(path, None).await;
        (answer.status == StatusCode::OK && accept(&answer)).then_some(answer)
    })
    .await
}

/// The value of the series `name{labels…}` on the gateway's `/metrics`.
async fn metric(app: &TestApp, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| {
            labels
                .iter()
                .all(|(label, value)| line.contains(&format!("{label}=\"{value}\"")))
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

/// Successful tries the gateway made on one instance.
async fn tries_on(app: &TestApp, instance_id: &str) -> f64 {
    let labels = [("instance", instance_id), ("outcome", "ok")];
    metric(app, "gateway_upstream_tries_total", &labels)
        .await
        .unwrap_or(0.0)
}

async fn breaker_state(app: &TestApp) -> Option<f64> {
    let labels = [("upstream", "place-directory")];
    metric(app, "gateway_breaker_state", &labels).await
}

#[tokio::test]
async fn queries_take_turns_over_two_instances_and_survive_one_stopping() {
    let mut app = TestApp::new().await;
    let one = app.start_projection(Projection::PlaceDirectory).await;
    let two = app.start_projection(Projection::PlaceDirectory).await;
    app.start_gateway().await;
    let place_id = publish_place(&app).await;
    let path = format!("/api/v1/places/{place_id}");
    let through = until_ok(&app, "the place through the gateway", &path, |_| true).await;
    let direct = answer(
        app.http
            .get(format!("http://{}/places/{place_id}", two.http))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        through.body, direct.body,
        "the read model's answer as it gave it"
    );
    assert_eq!(through.header("etag"), direct.header("etag"));
    assert_eq!(through.header("waypoint-freshness"), Some("fresh"));
    testkit::poll::until("the gateway to know both instances", DEADLINE, || async {
        app.get(&path, None).await;
        let both = tries_on(&app, &one.instance_id).await > 0.0
            && tries_on(&app, &two.instance_id).await > 0.0;
        both.then_some(())
    })
    .await;

    let before = (
        tries_on(&app, &one.instance_id).await,
        tries_on(&app, &two.instance_id).await,
    );
    for _ in 0..20 {
        assert_eq!(app.get(&path, None).await.status, StatusCode::OK);
    }
    let after = (
        tries_on(&app, &one.instance_id).await,
        tries_on(&app, &two.instance_id).await,
    );
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (10.0, 10.0),
        "each instance answers every other request"
    );

    // Requests that reach the stopped instance before the gateway hears it left are retried
    // on the other one: no client sees a failure, or even a stale answer.
    one.stop().await;
    for _ in 0..20 {
        let answer = app.get(&path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(answer.header("x-waypoint-stale"), None);
    }
    two.stop().await;
    app.finish().await;
}

#[tokio::test]
async fn the_breaker_opens_serves_stale_answers_and_closes_after_a_restart() {
    let mut app = TestApp::new().await;
    app.settings.breaker.window = 4;
    app.settings.breaker.minimum_calls = 2;
    app.settings.breaker.open_ms = 300;
    let first = app.start_projection(Projection::PlaceDirectory).await;
    app.start_gateway().await;
    let place_id = publish_place(&app).await;
    let path = format!("/api/v1/places/{place_id}");
    let fresh = until_ok(&app, "the place through the gateway", &path, |_| true).await;
    assert_eq!(breaker_state(&app).await, Some(0.0), "closed");

    first.stop().await;
    let stale = until_ok(&app, "a stale answer", &path, |answer| {
        answer.header("x-waypoint-stale").is_some()
    })
    .await;
    assert_eq!(stale.header("x-waypoint-stale"), Some("true"));
    assert_eq!(stale.header("warning"), Some("110 - \"Response is Stale\""));
    assert_eq!(stale.body, fresh.body, "the last good answer");
    assert_eq!(stale.header("etag"), fresh.header("etag"));
    testkit::poll::until("the breaker to open", DEADLINE, || async {
        app.get(&path, None).await;
        (breaker_state(&app).await == Some(2.0)).then_some(())
    })
    .await;

    let never_asked = format!("/api/v1/places/{}", PlaceId::from(Uuid::now_v7()));
    assert_problem(&app.get(&never_asked, None).await, 503, "unavailable");

    let second = app.start_projection(Projection::PlaceDirectory).await;
    let recovered = until_ok(&app, "a fresh answer after the restart", &path, |answer| {
        answer.header("x-waypoint-stale").is_none()
    })
    .await;
    assert_eq!(recovered.body, fresh.body);
    assert_eq!(recovered.header("waypoint-freshness"), Some("fresh"));
    assert_eq!(breaker_state(&app).await, Some(0.0), "the probe closed it");
    let still_unknown = app.get(&never_asked, None).await;
    assert_eq!(
        still_unknown.status,
        StatusCode::NOT_FOUND,
        "answered again"
    );
    second.stop().await;
    app.finish().await;
}

#[tokio::test]
async fn a_query_with_a_commands_token_sees_that_write_at_once() {
    let mut app = TestApp::new().await;
    app.start_service(Service::Places).await;
    let directory = app.start_projection(Projection::PlaceDirectory).await;
    app.start_gateway().await;
    let add = envelope(
        PlaceCommand::from(AddPlace {
            name: "Harbour Café".to_owned(),
            category: "cafe".to_owned(),
            address: "1 Quay".to_owned(),
            description: String::new(),
        }),
        &member(),
    );

    let CommandReply::Success(success) = app.system.send(&add).await else {
        panic!("the place is added");
    };
    let token = success.consistency_token.to_string();
    // A new place takes its command's id.
    let path = format!("/api/v1/places/{}", Uuid::from(add.command_id));

    // A token of a source the directory does not read (members) is no reason to wait.
    let started = Instant::now();
    let tokens = format!("members.999999999.1, {token}");
    let seen = get_with(&app, &path, &[("X-Consistency-Token", &tokens)]).await;
    assert_eq!(seen.status, StatusCode::OK, "{:?}", seen.body);
    assert_eq!(seen.body["name"], "Harbour Café");
    assert_eq!(seen.header("waypoint-freshness"), Some("fresh"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no wait ran out"
    );

    let by_parameter = app.get(&format!("{path}?consistency={token}"), None).await;
    assert_eq!(by_parameter.status, StatusCode::OK);
    assert_eq!(by_parameter.header("waypoint-freshness"), Some("fresh"));
    directory.stop().await;
    app.finish().await;
}

#[tokio::test]
async fn each_query_reaches_its_read_model() {
    let mut app = TestApp::new().await;
    let directory = app.start_projection(Projection::PlaceDirectory).await;
    let feed = app.start_projection(Projection::ReviewFeed).await;
    let profiles = app.start_projection(Projection::MemberProfile).await;
    app.start_gateway().await;
    let place_id = publish_place(&app).await;

    let reviews = until_ok(
        &app,
        "the place's reviews",
        &format!("/api/v1/places/{place_id}/reviews?sort=stars&limit=5"),
        |_| true,
    )
    .await;
    assert_eq!(reviews.body["items"], serde_json::json!([]));
    // The directory applies the same event on its own schedule.
    let search = until_ok(
        &app,
        "the place in the directory",
        "/api/v1/places?q=lighthouse&sort=rating",
        |answer| answer.body["items"][0] != serde_json::Value::Null,
    )
    .await;
    assert_eq!(search.body["items"][0]["place_id"], place_id.to_string());

    // Each of these the read model itself answers: it knows no such thing.
    let unknown = Uuid::now_v7();
    for path in [
        format!("/api/v1/members/{unknown}"),
        format!("/api/v1/members/{unknown}/reviews"),
        format!("/api/v1/reviews/{unknown}"),
        format!("/api/v1/places/{unknown}"),
    ] {
        assert_problem(&app.get(&path, None).await, 404, "not_found");
    }
    for projection in [directory, feed, profiles] {
        projection.stop().await;
    }
    app.finish().await;
}

#[tokio::test]
async fn ids_and_parameters_are_checked_and_the_read_models_refusals_passed_on() {
    let mut app = TestApp::new().await;
    let directory = app.start_projection(Projection::PlaceDirectory).await;
    app.start_gateway().await;

    for (path, parameter) in [
        ("/api/v1/places/42", "place_id"),
        ("/api/v1/places/42/reviews", "place_id"),
        ("/api/v1/reviews/not-a-review", "review_id"),
        ("/api/v1/members/x/reviews", "member_id"),
        ("/api/v1/members/x", "member_id"),
        ("/api/v1/places?colour=red", "colour"),
        ("/api/v1/places?limit=5&limit=6", "limit"),
        ("/api/v1/places?consistency=places.1", "consistency"),
    ] {
        let refused = app.get(path, None).await;
        assert_problem(&refused, 400, "bad_request");
        assert_eq!(refused.body["errors"][0]["field"], parameter, "{path}");
    }
    let bad_header = get_with(&app, "/api/v1/places", &[("X-Consistency-Token", "nope")]).await;
    assert_eq!(bad_header.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_header.body["errors"][0]["field"], "X-Consistency-Token");

    // The read model judges the values: its problem comes back as it gave it.
    for limit in ["ten", "1000"] {
        let refused = app
            .get(&format!("/api/v1/places?limit={limit}"), None)
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "limit={limit}");
        assert_eq!(
            refused.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(refused.body["errors"][0]["field"], "limit", "limit={limit}");
    }
    let listed = app.get("/api/v1/places?limit=5&sort=rating", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    assert!(listed.body["items"].is_array());

    assert_problem(
        &app.get("/api/v1/members/me", None).await,
        401,
        "unauthenticated",
    );
    directory.stop().await;
    app.finish().await;
}

#[tokio::test]
async fn a_callers_own_view_is_never_kept_for_a_stale_answer() {
    let mut app = TestApp::new().await;
    app.start_service(Service::Members).await;
    let profiles = app.start_projection(Projection::MemberProfile).await;
    app.start_gateway().await;
    let session = app.register().await;
    let token = Some(session.access_token.as_str());
    let own = testkit::poll::until("the member's own profile", DEADLINE, || async {
        let answer = app.get("/api/v1/members/me", token).await;
        (answer.status == StatusCode::OK).then_some(answer)
    })
    .await;
    assert_eq!(own.body["member_id"], session.member_id.as_str());

    profiles.stop().await;
    let without_the_model = app.get("/api/v1/members/me", token).await;

    assert_problem(&without_the_model, 503, "unavailable");
    app.finish().await;
}
