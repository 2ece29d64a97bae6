//! `/metrics` of every running part after a little traffic: the series ARCHITECTURE.md lists
//! and the Grafana dashboard draws are there, labelled with the part that recorded them, and
//! the counters of what happened have counted it.
//!
//! Every part runs in this one process and shares its one recorder, so each scrape holds the
//! whole process's series: each part's expectations pick its own series by their labels.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use events::PlaceId;
use local_copies::KnownPlace;
use message_bus::{OutgoingMessage, Publisher};
use nom_openmetrics::parser::prometheus;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use system_testkit::{Projection, Service, Session, TestApp};

/// How long a test waits for something that happens in the background.
const DEADLINE: Duration = Duration::from_secs(30);

/// What a series' value must be.
#[derive(Debug, Clone, Copy)]
enum Holds {
    AtLeast(f64),
    Equal(f64),
}

/// One sample of a scrape.
#[derive(Debug)]
struct Sampled {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sampled {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(label, _)| label == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A series a part must expose: its name, labels it must carry (others may be there too)
/// and its value. Several series matching is a sum, as `sum by` would give.
#[derive(Debug)]
struct Expected {
    name: &'static str,
    labels: Vec<(&'static str, String)>,
    holds: Holds,
}

fn series(name: &'static str, labels: &[(&'static str, &str)], holds: Holds) -> Expected {
    Expected {
        name,
        labels: labels
            .iter()
            .map(|(label, value)| (*label, (*value).to_owned()))
            .collect(),
        holds,
    }
}

impl Expected {
    /// The summed value of the matching series; a histogram is matched by its `_count`.
    fn value_in(&self, scrape: &[Sampled]) -> Option<f64> {
        scrape
            .iter()
            .filter(|sample| sample.name == self.name)
            .filter(|sample| {
                self.labels
                    .iter()
                    .all(|(label, value)| sample.label(label) == Some(value.as_str()))
            })
            .map(|sample| sample.value)
            .reduce(|sum, value| sum + value)
    }

    fn holds_in(&self, scrape: &[Sampled]) -> bool {
        match (self.value_in(scrape), self.holds) {
            (None, _) => false,
            (Some(value), Holds::AtLeast(least)) => value >= least,
            (Some(value), Holds::Equal(expected)) => value == expected,
        }
    }
}

async fn scrape(app: &TestApp, url: &str) -> Vec<Sampled> {
    let response = app.http.get(url).send().await.expect("/metrics answers");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    let text = response.text().await.unwrap();
    // The format allows blank lines between families; the parser's grammar does not.
    let text: String = text
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    let (_, families) = prometheus(&text)
        .unwrap_or_else(|error| panic!("{url}: the exposition does not parse: {error:?}"));
    families
        .iter()
        .flat_map(|family| &family.samples)
        .map(|sample| Sampled {
            name: sample.name().to_owned(),
            labels: sample
                .labels()
                .iter()
                .map(|label| (label.name.to_owned(), label.value.clone()))
                .collect(),
            value: sample.number(),
        })
        .collect()
}

/// Scrapes `url` until every expectation holds; lag and poison gauges are measured in the
/// background, so they settle a moment after the traffic that moved them.
async fn scraped(app: &TestApp, part: &str, url: &str, expected: &[Expected]) {
    let started = Instant::now();
    loop {
        let scrape = scrape(app, url).await;
        let unmet: Vec<String> = expected
            .iter()
            .filter(|series| !series.holds_in(&scrape))
            .map(|series| format!("{series:?}, found {:?}", series.value_in(&scrape)))
            .collect();
        if unmet.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{part} at {url} after {DEADLINE:?}:\n{}",
            unmet.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A command through the gateway that must be applied (not merely accepted).
async fn command(app: &TestApp, session: &Session, method: Method, path: &str, body: Value) {
    let answer = app
        .call(method, path, Some(&session.access_token), Some(body))
        .await;
    assert!(
        matches!(answer.status, StatusCode::CREATED | StatusCode::NO_CONTENT),
        "{path}: {} {:?}",
        answer.status,
        answer.body
    );
}

/// Polls a query until it answers fresh: with the session's latest writes applied.
async fn fresh(app: &TestApp, session: &Session, path: &str) {
    testkit::poll::until(&format!("{path} to answer fresh"), DEADLINE, || async {
        let answer = app.get(path, Some(&session.access_token)).await;
        (answer.status == StatusCode::OK && answer.header("waypoint-freshness") == Some("fresh"))
            .then_some(())
    })
    .await;
}

/// The service whose local copies [`lose_a_local_copy`] makes dead-letter an event.
const LOST_LOCAL_COPY: Service = Service::Ratings;

/// Dead-letters one place event in [`LOST_LOCAL_COPY`]'s local copies: their table is away
/// while the place is added, so every try fails until the runner gives up.
async fn lose_a_local_copy(app: &TestApp, session: &Session) {
    let pool = app.pool_of(LOST_LOCAL_COPY).await;
    sqlx::query("ALTER TABLE known_places RENAME TO known_places_away")
        .execute(&pool)
        .await
        .unwrap();
    app.add_place(session, "Lost Café").await;
    let name = LOST_LOCAL_COPY.name();
    let url = format!("http://{}/metrics", app.service_http(LOST_LOCAL_COPY));
    let queue = app.system.names().events_queue(name);
    let dead_letter = series(
        "waypoint_dead_letters_total",
        &[("queue", &queue)],
        Holds::Equal(1.0),
    );
    scraped(app, name, &url, &[dead_letter]).await;
    sqlx::query("ALTER TABLE known_places_away RENAME TO known_places")
        .execute(&pool)
        .await
        .unwrap();
}

/// A message on `projection`'s queue that is no recorded event: the model records it as
/// poison and the runner dead-letters it.
async fn unreadable_message(app: &TestApp, projection: Projection) {
    let queue = app.system.names().events_queue(projection.name());
    let message = OutgoingMessage::new("", queue, b"not an event".to_vec()).mandatory(true);
    let confirmed = Publisher::new(app.system.bus().clone())
        .publish(message)
        .await
        .expect("the broker confirms");
    assert!(!confirmed.returned, "the projection's queue exists");
}

fn gateway_series() -> Vec<Expected> {
    use Holds::{AtLeast, Equal};
    let mut expected = vec![
        series(
            "gateway_http_requests_total",
            &[
                ("route", "/api/v1/places"),
                ("method", "POST"),
                ("status", "201"),
            ],
            AtLeast(1.0),
        ),
        series(
            "gateway_http_requests_total",
            &[
                ("route", "/api/v1/places/{place_id}/reviews"),
                ("method", "POST"),
                ("status", "201"),
            ],
            AtLeast(1.0),
        ),
        series(
            "gateway_http_request_duration_seconds_count",
            &[("route", "/api/v1/places/{place_id}"), ("method", "GET")],
            AtLeast(1.0),
        ),
        series("gateway_auth_total", &[("outcome", "issued")], AtLeast(1.0)),
        series(
            "gateway_rate_limit_decisions_total",
            &[("outcome", "allowed")],
            AtLeast(1.0),
        ),
        series(
            "gateway_upstream_calls_total",
            &[("upstream", "place-directory"), ("outcome", "success")],
            AtLeast(1.0),
        ),
    ];
    for service in Service::ALL {
        expected.push(series(
            "gateway_commands_total",
            &[("service", service.name()), ("outcome", "ok")],
            AtLeast(1.0),
        ));
    }
    for projection in Projection::ALL {
        // 0: closed.
        expected.push(series(
            "gateway_breaker_state",
            &[("upstream", projection.name())],
            Equal(0.0),
        ));
    }
    expected
}

fn service_series(app: &TestApp, service: Service) -> Vec<Expected> {
    use Holds::{AtLeast, Equal};
    let name = service.name();
    let names = app.system.names();
    let mut expected = vec![
        series(
            "waypoint_commands_total",
            &[("service", name), ("outcome", "ok")],
            AtLeast(1.0),
        ),
        series(
            "waypoint_command_duration_seconds_count",
            &[("service", name)],
            AtLeast(1.0),
        ),
        series("waypoint_appends_total", &[("service", name)], AtLeast(1.0)),
        series(
            "waypoint_appended_events_total",
            &[("service", name)],
            AtLeast(1.0),
        ),
        // Everything published, so the relay has caught up.
        series(
            "waypoint_relay_lag_events",
            &[("service", name)],
            Equal(0.0),
        ),
        series(
            "waypoint_relay_lag_seconds",
            &[("service", name)],
            Equal(0.0),
        ),
        series(
            "waypoint_dead_letters_total",
            &[("queue", &names.command_queue(name))],
            Equal(0.0),
        ),
    ];
    if service != Service::Members {
        // Its local copies of places and members; the ratings service's lost one event.
        let dead = if service == LOST_LOCAL_COPY { 1.0 } else { 0.0 };
        expected.push(series(
            "waypoint_dead_letters_total",
            &[("queue", &names.events_queue(name))],
            Equal(dead),
        ));
        for source in [Service::Places, Service::Members] {
            expected.push(series(
                "waypoint_local_copy_events_total",
                &[("source", source.name())],
                AtLeast(1.0),
            ));
        }
    }
    expected
}

fn projection_series(app: &TestApp, projection: Projection, poisoned: bool) -> Vec<Expected> {
    use Holds::{AtLeast, Equal};
    let name = projection.name();
    let poison = if poisoned { 1.0 } else { 0.0 };
    let queue = app.system.names().events_queue(name);
    let mut expected = vec![
        series(
            "waypoint_projection_applied_events_total",
            &[("projection", name)],
            AtLeast(1.0),
        ),
        series(
            "waypoint_projection_generation",
            &[("projection", name)],
            Equal(1.0),
        ),
        series(
            "waypoint_projection_poisoned_events",
            &[("projection", name)],
            Equal(poison),
        ),
        series(
            "waypoint_dead_letters_total",
            &[("queue", &queue)],
            Equal(poison),
        ),
    ];
    if poisoned {
        expected.push(series(
            "waypoint_projection_unreadable_messages_total",
            &[("projection", name)],
            Equal(1.0),
        ));
    }
    for source in Service::ALL {
        let labels = [("projection", name), ("source", source.name())];
        expected.push(series(
            "waypoint_projection_lag_events",
            &labels,
            Equal(0.0),
        ));
        expected.push(series(
            "waypoint_projection_lag_seconds",
            &labels,
            Equal(0.0),
        ));
    }
    expected
}

#[tokio::test]
async fn every_part_exposes_its_series_after_a_little_traffic() {
    let app = TestApp::with_services().await;
    let mut projections = Vec::new();
    for projection in Projection::ALL {
        projections.push((projection, app.start_projection(projection).await));
    }

    let session = app.register().await;
    lose_a_local_copy(&app, &session).await;
    let place_id = app.add_place(&session, "Harbour Café").await;
    // Reviews and ratings are refused for a place their services have not heard of yet.
    let place: PlaceId = place_id.parse().unwrap();
    for service in [Service::Reviews, Service::Ratings] {
        command_testkit::wait_for_place(&app.pool_of(service).await, place, KnownPlace::Open).await;
    }
    let reviews = format!("/api/v1/places/{place_id}/reviews");
    let review = json!({ "title": "Worth the detour", "body": "Good coffee, quiet corner." });
    command(&app, &session, Method::POST, &reviews, review).await;
    let rating = format!("/api/v1/places/{place_id}/rating");
    command(&app, &session, Method::PUT, &rating, json!({ "stars": 4 })).await;
    // Every read model has applied the writes once its query answers fresh.
    for path in [
        format!("/api/v1/places/{place_id}"),
        reviews,
        format!("/api/v1/members/{}", session.member_id),
        "/api/v1/members/top".to_owned(),
    ] {
        fresh(&app, &session, &path).await;
    }
    unreadable_message(&app, Projection::ReviewFeed).await;

    scraped(&app, "gateway", &app.url("/metrics"), &gateway_series()).await;
    for service in Service::ALL {
        let url = format!("http://{}/metrics", app.service_http(service));
        scraped(&app, service.name(), &url, &service_series(&app, service)).await;
    }
    for (projection, running) in &projections {
        let url = format!("http://{}/metrics", running.http);
        let poisoned = *projection == Projection::ReviewFeed;
        let expected = projection_series(&app, *projection, poisoned);
        scraped(&app, projection.name(), &url, &expected).await;
    }

    for (_, running) in projections {
        running.stop().await;
    }
    app.finish().await;
}
