//! The photo store against the local S3 server, each test in a bucket of its own, and in a
//! local directory, each test in a directory of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use events::{MemberId, PhotoId};
use futures::TryStreamExt;
use photo_store::{Download, PhotoBackend, PhotoSettings, PhotoStore, PhotoStoreError};

/// The local S3 server (`cargo xtask services` starts it) at `endpoint`, in a fresh bucket.
fn settings(endpoint: &str) -> PhotoSettings {
    PhotoSettings {
        backend: PhotoBackend::S3,
        local_dir: PathBuf::new(),
        endpoint: endpoint.to_owned(),
        region: "us-east-1".to_owned(),
        bucket: format!("t-{}", testkit::unique_suffix()),
        access_key: "waypoint".to_owned(),
        secret_key: "waypoint-secret".to_owned(),
        allow_http: true,
        presign_ttl_s: 300,
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

#[tokio::test]
async fn an_s3_download_is_a_presigned_link_that_works_without_credentials() {
    let store = fresh_store().await;
    let photo_id = PhotoId::generate();
    store
        .put(photo_id, MemberId::generate(), "image/png", IMAGE.to_vec())
        .await
        .unwrap();

    let download = store
        .download(photo_id, Duration::from_secs(60))
        .await
        .unwrap();

    let Some(Download::Redirect(url)) = download else {
        panic!("expected a link, got {download:?}");
    };
    assert!(url.starts_with(LOCAL_S3), "{url}");
    assert!(url.contains("X-Amz-Expires=60"), "{url}");
    let fetched = reqwest::get(&url).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), IMAGE);
    let missing = store
        .download(PhotoId::generate(), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(missing.is_none(), "{missing:?}");
}

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("waypoint-photos-{}", testkit::unique_suffix())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn local_settings(directory: &TempDir) -> PhotoSettings {
    PhotoSettings {
        backend: PhotoBackend::Local,
        local_dir: directory.0.join("nested"),
        ..settings("http://unused.invalid")
    }
}

#[tokio::test]
async fn the_local_backend_creates_its_directory_and_keeps_owner_type_and_bytes() {
    let directory = TempDir::new();
    let store = PhotoStore::new(&local_settings(&directory)).unwrap();
    store.ensure_bucket().await.unwrap();
    let (photo_id, owner) = (PhotoId::generate(), MemberId::generate());

    store
        .put(photo_id, owner, "image/webp", IMAGE.to_vec())
        .await
        .unwrap();

    assert_eq!(store.owner(photo_id).await.unwrap(), Some(owner));
    let (content_type, bytes) = store.get(photo_id).await.unwrap().unwrap();
    assert_eq!(
        (content_type.as_str(), bytes.as_slice()),
        ("image/webp", IMAGE)
    );
    let download = store
        .download(photo_id, Duration::from_secs(60))
        .await
        .unwrap();
    let Some(Download::Stream(opened)) = download else {
        panic!("expected the bytes, got {download:?}");
    };
    assert_eq!(opened.content_type, "image/webp");
    assert_eq!(opened.size, IMAGE.len() as u64);
    let streamed: Vec<Bytes> = opened.body.try_collect().await.unwrap();
    assert_eq!(streamed.concat(), IMAGE);
}

#[tokio::test]
async fn a_second_local_store_on_the_same_directory_sees_the_same_photos() {
    let directory = TempDir::new();
    let settings = local_settings(&directory);
    let uploader = PhotoStore::new(&settings).unwrap();
    let (photo_id, owner) = (PhotoId::generate(), MemberId::generate());
    uploader
        .put(photo_id, owner, "image/png", IMAGE.to_vec())
        .await
        .unwrap();

    let checker = PhotoStore::new(&settings).unwrap();

    assert_eq!(checker.owner(photo_id).await.unwrap(), Some(owner));
    assert_eq!(checker.owner(PhotoId::generate()).await.unwrap(), None);
    let missing = checker
        .download(PhotoId::generate(), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(missing.is_none(), "{missing:?}");
}

#[tokio::test]
async fn a_local_image_without_its_sidecar_belongs_to_nobody() {
    let directory = TempDir::new();
    let settings = local_settings(&directory);
    let store = PhotoStore::new(&settings).unwrap();
    let photo_id = PhotoId::generate();
    store
        .put(photo_id, MemberId::generate(), "image/png", IMAGE.to_vec())
        .await
        .unwrap();

    // What a crash between the image and its sidecar leaves, or a hand-edited sidecar.
    let sidecar = settings.local_dir.join(format!("photos/{photo_id}.meta"));
    std::fs::write(&sidecar, b"not json").unwrap();
    let garbled = store.owner(photo_id).await.unwrap();
    std::fs::remove_file(&sidecar).unwrap();
    let absent = store.owner(photo_id).await.unwrap();

    assert_eq!(garbled, None);
    assert_eq!(absent, None);
    assert_eq!(store.get(photo_id).await.unwrap(), None);
}

#[test]
fn a_local_directory_that_cannot_be_created_is_a_settings_error() {
    let directory = TempDir::new();
    std::fs::create_dir_all(&directory.0).unwrap();
    let file = directory.0.join("a-file");
    std::fs::write(&file, b"").unwrap();
    let settings = PhotoSettings {
        backend: PhotoBackend::Local,
        local_dir: file.join("photos"),
        ..settings(LOCAL_S3)
    };

    assert!(matches!(
        PhotoStore::new(&settings),
        Err(PhotoStoreError::Settings(_))
    ));
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
