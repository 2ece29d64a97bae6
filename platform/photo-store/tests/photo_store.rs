//! The photo store against the local S3 server, each test in a bucket of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::{MemberId, PhotoId};
use photo_store::{PhotoSettings, PhotoStore, PhotoStoreError};

/// The local S3 server (`cargo xtask services` starts it) at `endpoint`, in a fresh bucket.
fn settings(endpoint: &str) -> PhotoSettings {
    PhotoSettings {
        endpoint: endpoint.to_owned(),
        region: "us-east-1".to_owned(),
        bucket: format!("t-{}", testkit::unique_suffix()),
        access_key: "waypoint".to_owned(),
        secret_key: "waypoint-secret".to_owned(),
        allow_http: true,
    }
}

const LOCAL_S3: &str = "http://127.0.0.1:9000";

async fn fresh_store() -> PhotoStore {
    fresh_store_with_settings().await.0
}

async fn fresh_store_with_settings() -> (PhotoStore, PhotoSettings) {
    let settings = settings(LOCAL_S3);
    let store = PhotoStore::new(&settings).unwrap();
    store.ensure_bucket().await.unwrap();
    (store, settings)
}

/// Starts with "\x89PNG", so it reads as what the gateway would have stored.
const IMAGE: &[u8] = b"\x89PNG\r\n\x1a\n not really the rest of a PNG";

#[tokio::test]
async fn a_stored_photo_keeps_its_owner_content_type_and_bytes() {
    let store = fresh_store().await;
    let (photo_id, owner) = (PhotoId::generate(), MemberId::generate());

    store
        .put(photo_id, owner, "image/png", IMAGE.to_vec())
        .await
        .unwrap();

    assert_eq!(store.owner(photo_id).await.unwrap(), Some(owner));
    let (content_type, bytes) = store.get(photo_id).await.unwrap().unwrap();
    assert_eq!(content_type, "image/png");
    assert_eq!(bytes, IMAGE);
}

#[tokio::test]
async fn a_missing_photo_is_none() {
    let store = fresh_store().await;
    let stored = PhotoId::generate();
    store
        .put(stored, MemberId::generate(), "image/png", IMAGE.to_vec())
        .await
        .unwrap();

    let missing = PhotoId::generate();

    assert_eq!(store.owner(missing).await.unwrap(), None);
    assert_eq!(store.get(missing).await.unwrap(), None);
}

#[tokio::test]
async fn ensuring_the_bucket_twice_is_fine() {
    let store = fresh_store().await;

    store.ensure_bucket().await.unwrap();
}

#[tokio::test]
async fn unreachable_storage_is_an_error_not_a_missing_photo() {
    let store = PhotoStore::new(&settings("http://127.0.0.1:1")).unwrap();
    let photo_id = PhotoId::generate();

    let owner = store.owner(photo_id).await;
    let got = store.get(photo_id).await;
    let bucket = store.ensure_bucket().await;

    assert!(
        matches!(owner, Err(PhotoStoreError::Unavailable(_))),
        "{owner:?}"
    );
    assert!(
        matches!(got, Err(PhotoStoreError::Unavailable(_))),
        "{got:?}"
    );
    assert!(
        matches!(bucket, Err(PhotoStoreError::Unavailable(_))),
        "{bucket:?}"
    );
}

#[tokio::test]
async fn wrong_credentials_are_an_error_not_a_missing_photo() {
    let (store, settings) = fresh_store_with_settings().await;
    let photo_id = PhotoId::generate();
    store
        .put(photo_id, MemberId::generate(), "image/png", IMAGE.to_vec())
        .await
        .unwrap();
    let mut wrong = settings;
    wrong.secret_key = "not-the-secret".to_owned();
    let intruder = PhotoStore::new(&wrong).unwrap();

    let owner = intruder.owner(photo_id).await;

    assert!(
        matches!(owner, Err(PhotoStoreError::Unavailable(_))),
        "{owner:?}"
    );
}

#[test]
fn plain_http_must_be_allowed_and_https_is_refused() {
    let mut plain = settings(LOCAL_S3);
    plain.allow_http = false;
    let https = settings("https://127.0.0.1:9000");

    assert!(matches!(
        PhotoStore::new(&plain),
        Err(PhotoStoreError::Settings(_))
    ));
    assert!(matches!(
        PhotoStore::new(&https),
        Err(PhotoStoreError::Settings(_))
    ));
}

#[test]
fn debug_hides_the_secret_key() {
    let shown = format!("{:?}", settings(LOCAL_S3));

    assert!(!shown.contains("waypoint-secret"), "{shown}");
    assert!(shown.contains("127.0.0.1:9000"), "{shown}");
}
