//! Standalone mode against the real servers: it starts everything, serves a member's first
//! steps end to end, stops, and starts again over the state it left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Shared with the scenario suite, which uses the rest of it.
#[allow(dead_code)]
mod support;

use reqwest::{Client, StatusCode};
use serde_json::json;
use standalone::Standalone;
use standalone::parts::Part;

use crate::support::{Slice, call};

#[tokio::test(flavor = "multi_thread")]
async fn everything_starts_serves_stops_and_starts_again_over_its_own_state() {
    let slice = Slice::new();
    let client = Client::new();

    let system = Standalone::start(slice.sources()).await.expect("it starts");
    let api = format!("http://{}/api/v1", system.gateway());
    for part in Part::COMMAND_SERVICES.into_iter().chain(Part::PROJECTIONS) {
        let address = system.address_of(part).expect("every part is running");
        let ready = client
            .get(format!("http://{address}/health/ready"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), StatusCode::OK, "{}", part.name());
    }
    let banner = standalone::banner(&system);
    assert!(banner.contains(&format!("{api}/openapi.json")), "{banner}");

    let registered = call(client.post(format!("{api}/auth/register")).json(&json!({
        "email": "first@example.com",
        "password": "a long enough password",
        "nickname": "first",
    })))
    .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:?}",
        registered.body
    );
    let token = registered.body["access_token"].as_str().unwrap().to_owned();

    // Photos go to the local folder and come back streamed.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[7; 64]);
    let photo = call(
        client
            .post(format!("{api}/photos"))
            .bearer_auth(&token)
            .header("content-type", "image/png")
            .body(png.clone()),
    )
    .await;
    assert_eq!(photo.status, StatusCode::CREATED, "{:?}", photo.body);
    let photo_id = photo.body["photo_id"].as_str().unwrap();
    let served = client
        .get(format!("{api}/photos/{photo_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.unwrap().as_ref(), png.as_slice());
    assert!(
        std::fs::read_dir(&slice.photos).unwrap().next().is_some(),
        "the photo is in the configured folder"
    );

    let added = call(
        client
            .post(format!("{api}/places"))
            .bearer_auth(&token)
            .json(&json!({ "name": "Harbour Café", "category": "cafe", "address": "1 Quay" })),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let place_id = added.body["place_id"].as_str().unwrap().to_owned();
    let consistency = added.header("x-consistency-token").unwrap().to_owned();
    let place = call(
        client
            .get(format!("{api}/places/{place_id}"))
            .header("x-consistency-token", &consistency),
    )
    .await;
    assert_eq!(place.status, StatusCode::OK, "{:?}", place.body);
    assert_eq!(place.body["name"], "Harbour Café");

    system.stop().await;
    let stopped = client.get(format!("{api}/places/{place_id}")).send().await;
    assert!(stopped.is_err(), "nothing answers once stopped");

    // Again, over the databases and queues the first run left: nothing is created twice and
    // everything is still there.
    let system = Standalone::start(slice.sources())
        .await
        .expect("it starts over its own state");
    let api = format!("http://{}/api/v1", system.gateway());
    let login = call(client.post(format!("{api}/auth/login")).json(&json!({
        "email": "first@example.com",
        "password": "a long enough password",
    })))
    .await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    let place = call(client.get(format!("{api}/places/{place_id}"))).await;
    assert_eq!(place.status, StatusCode::OK, "{:?}", place.body);
    assert_eq!(place.body["name"], "Harbour Café");

    system.stop().await;
    slice.clean_up().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_part_that_cannot_start_is_named_and_stops_the_start() {
    let slice = Slice::new();
    // Not a name PostgreSQL allows unquoted: refused before anything connects.
    let sources = slice
        .sources()
        .with_override("databases.prefix", "bad name;");
    let error = Standalone::start(sources)
        .await
        .expect_err("no database, no start");
    let message = error.to_string();
    assert!(message.contains("did not start"), "{message}");
    assert!(
        Part::COMMAND_SERVICES
            .iter()
            .any(|part| message.starts_with(part.name())),
        "{message}"
    );
    slice.clean_up().await;
}
