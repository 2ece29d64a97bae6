//! Photos: uploads checked by their bytes, and downloads. Storage is `photo_store`'s, shared
//! with the services that check a photo's owner.
//!
//! - `routes.rs`: `POST /photos` and `GET /photos/{photo_id}`.
//! - `sniff.rs`: the image type from the magic bytes.

mod routes;
mod sniff;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use events::{MemberId, PhotoId};
use photo_store::{Download, PhotoSettings, PhotoStore, PhotoStoreError};

pub use routes::router;
pub use sniff::ImageType;

use crate::error::ApiError;

/// The photo store as the routes use it: failures become problems.
#[derive(Debug)]
pub struct Photos {
    store: PhotoStore,
    presign_ttl: Duration,
    /// Whether the bucket is known to exist. Storage that is down at start-up does not keep
    /// the gateway from starting; the first upload after it is back makes the bucket.
    bucket_ready: AtomicBool,
}

impl Photos {
    /// Fails only on settings that cannot work; storage that does not answer yet is retried.
    pub async fn new(settings: &PhotoSettings) -> anyhow::Result<Self> {
        let store = PhotoStore::new(settings)?;
        let bucket_ready = match store.ensure_bucket().await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "photo storage is not ready; uploads retry it");
                false
            }
        };
        Ok(Self {
            store,
            presign_ttl: Duration::from_secs(settings.presign_ttl_s),
            bucket_ready: AtomicBool::new(bucket_ready),
        })
    }

    pub async fn put(
        &self,
        photo_id: PhotoId,
        owner: MemberId,
        image: ImageType,
        bytes: Bytes,
    ) -> Result<(), ApiError> {
        if !self.bucket_ready.load(Ordering::Relaxed) {
            self.store.ensure_bucket().await.map_err(unavailable)?;
            self.bucket_ready.store(true, Ordering::Relaxed);
        }
        self.store
            .put(photo_id, owner, image.media_type(), bytes)
            .await
            .map_err(unavailable)
    }

    /// A presigned link valid for `presign_ttl_s`, or the bytes; `None` for no such photo.
    pub async fn download(&self, photo_id: PhotoId) -> Result<Option<Download>, ApiError> {
        self.store
            .download(photo_id, self.presign_ttl)
            .await
            .map_err(unavailable)
    }

    pub fn presign_ttl(&self) -> Duration {
        self.presign_ttl
    }
}

/// The cause is logged here; the client learns only that it may retry.
fn unavailable(error: PhotoStoreError) -> ApiError {
    tracing::warn!(error = %error, "photo storage failed");
    ApiError::Unavailable("photo storage is unavailable; retry shortly".to_owned())
}
