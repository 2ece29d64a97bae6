//! Photos through the gateway: uploads checked by their bytes and size, downloads by presigned
//! link (S3) or streamed (local directory), ownership as the members service sees it.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::support::{Answer, Service, Session, TestApp, answer, assert_problem};

/// 1×1 images as ImageMagick and cwebp write them, so that they decode as well as sniff.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAMAAAAoyzS7AAAAA1BMVEUzqncb3tbvAAAACklEQVQI12NgAAAAAgAB4iG8MwAAAABJRU5ErkJggg==";
const JPEG: &str = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAoHBwgHBgoICAgLCgoLDhgQDg0NDh0VFhEYIx8lJCIfIiEmKzcvJik0KSEiMEExNDk7Pj4+JS5ESUM8SDc9Pjv/2wBDAQoLCw4NDhwQEBw7KCIoOzs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozv/wAARCAABAAEDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAH/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFQEBAQAAAAAAAAAAAAAAAAAAAwb/xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oADAMBAAIRAxEAPwCgDSb/2Q==";
const WEBP: &str = "UklGRh4AAABXRUJQVlA4TBEAAAAvAAAAAAdQ1c70rv+BiOh/AAA=";

fn image(base64: &str) -> Vec<u8> {
    STANDARD.decode(base64).unwrap()
}

/// `POST /api/v1/photos` with `bytes` as the raw body.
async fn upload(app: &TestApp, token: Option<&str>, content_type: &str, bytes: Vec<u8>) -> Answer {
    let mut request = app
        .http
        .post(app.url("/api/v1/photos"))
        .header(CONTENT_TYPE, content_type)
        .body(bytes);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

/// A member's upload that must succeed; its id.
async fn uploaded(app: &TestApp, session: &Session, bytes: Vec<u8>) -> String {
    let stored = upload(app, Some(&session.access_token), "image/png", bytes).await;
    assert_eq!(stored.status, 201, "{:?}", stored.body);
    stored.body["photo_id"].as_str().unwrap().to_owned()
}

/// The gateway with the members service (for registration and avatars).
async fn app_with_members(configure: impl FnOnce(&mut TestApp)) -> TestApp {
    let mut app = TestApp::new().await;
    configure(&mut app);
    app.start_service(Service::Members).await;
    app.start_gateway().await;
    app
}

#[tokio::test]
async fn real_images_are_stored_and_served_through_a_presigned_link() {
    let app = app_with_members(|_| {}).await;
    let session = app.register().await;

    for (bytes, media_type) in [
        (image(PNG), "image/png"),
        (image(JPEG), "image/jpeg"),
        (image(WEBP), "image/webp"),
    ] {
        // The declared type is ignored: the bytes say what the image is.
        let stored = upload(
            &app,
            Some(&session.access_token),
            "application/octet-stream",
            bytes.clone(),
        )
        .await;
        assert_eq!(stored.status, 201, "{media_type}: {:?}", stored.body);
        let photo_id = stored.body["photo_id"].as_str().unwrap();
        let url = format!("/api/v1/photos/{photo_id}");
        assert_eq!(stored.body["url"], url.as_str());
        assert_eq!(stored.header("location"), Some(url.as_str()));

        let redirect = app.get(&url, None).await;

        assert_eq!(redirect.status, 307, "{media_type}");
        let link = redirect.header("location").unwrap();
        assert!(link.contains("X-Amz-Signature="), "{link}");
        let fetched = reqwest::get(link).await.unwrap();
        assert_eq!(fetched.status(), 200, "{media_type}");
        let served_type = fetched.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        assert_eq!(served_type, media_type);
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
    app.finish().await;
}

#[tokio::test]
async fn bodies_that_are_not_an_accepted_image_are_refused() {
    let app = app_with_members(|_| {}).await;
    let token = app.register().await.access_token;
    let limit = app.settings.limits.photo_bytes;
    let mut oversized = image(PNG);
    oversized.resize(limit + 1, 0);

    let too_large = upload(&app, Some(&token), "image/png", oversized).await;
    let disguised = upload(
        &app,
        Some(&token),
        "image/png",
        b"just some text, named photo.png".to_vec(),
    )
    .await;
    let svg = upload(
        &app,
        Some(&token),
        "image/svg+xml",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
    )
    .await;
    let empty = upload(&app, Some(&token), "image/png", Vec::new()).await;
    let anonymous = upload(&app, None, "image/png", image(PNG)).await;

    assert_problem(&too_large, 413, "payload_too_large");
    assert_problem(&disguised, 415, "unsupported_media_type");
    assert!(
        disguised.body["detail"]
            .as_str()
            .unwrap()
            .contains("JPEG, PNG or WebP")
    );
    assert_problem(&svg, 415, "unsupported_media_type");
    assert_problem(&empty, 400, "bad_request");
    assert!(empty.body["detail"].as_str().unwrap().contains("empty"));
    assert_problem(&anonymous, 401, "unauthenticated");
    app.finish().await;
}

#[tokio::test]
async fn unknown_and_malformed_photo_ids_are_problems() {
    let mut app = TestApp::new().await;
    app.start_gateway().await;

    let unknown = app
        .get(
            &format!("/api/v1/photos/{}", events::PhotoId::generate()),
            None,
        )
        .await;
    let malformed = app.get("/api/v1/photos/not-a-uuid", None).await;

    assert_problem(&unknown, 404, "not_found");
    assert_problem(&malformed, 400, "bad_request");
    assert_eq!(malformed.body["errors"][0]["field"], "photo_id");
    app.finish().await;
}

#[tokio::test]
async fn only_the_uploader_can_make_a_photo_their_avatar() {
    let app = app_with_members(|_| {}).await;
    let (ann, bob) = (app.register().await, app.register().await);
    let photo_id = uploaded(&app, &ann, image(PNG)).await;
    let body = json!({ "photo_id": photo_id });
    let path = "/api/v1/members/me/avatar";

    let taken = app
        .call(
            Method::PUT,
            path,
            Some(&bob.access_token),
            Some(body.clone()),
        )
        .await;
    let own = app
        .call(Method::PUT, path, Some(&ann.access_token), Some(body))
        .await;

    assert!(
        [403, 422].contains(&taken.status.as_u16()),
        "{:?}",
        taken.body
    );
    assert_eq!(own.status, 204, "{:?}", own.body);
    app.finish().await;
}

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn the_local_backend_streams_a_photo_with_its_type() {
    let directory =
        TempDir(std::env::temp_dir().join(format!("waypoint-photos-{}", testkit::unique_suffix())));
    let app = app_with_members(|app| {
        app.settings.photos.backend = photo_store::PhotoBackend::Local;
        app.settings.photos.local_dir = directory.0.clone();
    })
    .await;
    let session = app.register().await;
    let photo_id = uploaded(&app, &session, image(WEBP)).await;

    let response = app
        .http
        .get(app.url(&format!("/api/v1/photos/{photo_id}")))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "image/webp");
    assert_eq!(response.bytes().await.unwrap().as_ref(), image(WEBP));
    assert!(directory.0.join("photos").join(&photo_id).is_file());
    app.finish().await;
}

#[tokio::test]
async fn s3_photos_are_streamed_when_links_are_turned_off() {
    let app = app_with_members(|app| app.settings.photos.presign_ttl_s = 0).await;
    let session = app.register().await;
    let photo_id = uploaded(&app, &session, image(PNG)).await;

    let response = app
        .http
        .get(app.url(&format!("/api/v1/photos/{photo_id}")))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "image/png");
    assert_eq!(response.bytes().await.unwrap().as_ref(), image(PNG));
    app.finish().await;
}

#[tokio::test]
async fn storage_that_is_down_is_a_503_and_the_gateway_still_starts() {
    let app = app_with_members(|app| {
        app.settings.photos.endpoint = "http://127.0.0.1:1".to_owned();
    })
    .await;
    let token = app.register().await.access_token;

    let stored = upload(&app, Some(&token), "image/png", image(PNG)).await;
    let fetched = app
        .get(
            &format!("/api/v1/photos/{}", events::PhotoId::generate()),
            None,
        )
        .await;

    assert_problem(&stored, 503, "unavailable");
    assert_problem(&fetched, 503, "unavailable");
    app.finish().await;
}
