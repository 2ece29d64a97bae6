//! The OpenAPI document covers every route of the API.

use crate::support::TestApp;

/// Every public route, as the API table lists it.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/logout-all"),
    ("get", "/api/v1/members/me"),
    ("get", "/api/v1/members/{member_id}"),
    ("get", "/api/v1/members/top"),
    ("patch", "/api/v1/members/me"),
    ("put", "/api/v1/members/me/password"),
    ("put", "/api/v1/members/me/avatar"),
    ("delete", "/api/v1/members/me"),
    ("post", "/api/v1/places"),
    ("patch", "/api/v1/places/{place_id}"),
    ("delete", "/api/v1/places/{place_id}"),
    ("get", "/api/v1/places"),
    ("get", "/api/v1/places/{place_id}"),
    ("post", "/api/v1/places/{place_id}/reviews"),
    ("patch", "/api/v1/reviews/{review_id}"),
    ("delete", "/api/v1/reviews/{review_id}"),
    ("get", "/api/v1/places/{place_id}/reviews"),
    ("get", "/api/v1/members/{member_id}/reviews"),
    ("get", "/api/v1/reviews/{review_id}"),
    ("put", "/api/v1/places/{place_id}/rating"),
    ("delete", "/api/v1/places/{place_id}/rating"),
    ("post", "/api/v1/photos"),
    ("get", "/api/v1/photos/{photo_id}"),
    ("get", "/api/v1/commands/{command_id}"),
];

#[tokio::test]
async fn the_served_document_is_openapi_3_1_and_lists_every_route() {
    let mut app = TestApp::new().await;
    app.start_gateway().await;

    let answer = app.get("/api/v1/openapi.json", None).await;

    assert_eq!(answer.status, 200);
    let document = answer.body;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );
    let missing: Vec<String> = ROUTES
        .iter()
        .filter(|(method, path)| document["paths"][path][method].is_null())
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    assert!(missing.is_empty(), "not documented: {missing:?}");
    assert!(document["components"]["schemas"]["Problem"].is_object());
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    app.finish().await;
}

#[tokio::test]
async fn every_documented_operation_describes_its_errors() {
    let document = serde_json::to_value(gateway::openapi_document()).unwrap();
    let mut undocumented = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let has_error = responses.keys().any(|status| status.starts_with('4'));
            if !has_error {
                undocumented.push(format!("{method} {path}"));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "no error responses: {undocumented:?}"
    );
}
