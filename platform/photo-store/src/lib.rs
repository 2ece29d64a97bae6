//! Photos in S3-compatible object storage (MinIO in compose, s3s-fs in tests).
//!
//! # Layout
//!
//! - [`PhotoSettings`] (`settings.rs`): the server, bucket and credentials.
//! - [`PhotoStore`] (`store.rs`): one object per photo at `photos/<photo_id>`, with the image's
//!   content type and its uploader in the user metadata `owner`. The gateway uploads and
//!   serves photos; command services only ask a photo's owner, with one HEAD request.
//! - `bucket.rs`: creating the bucket, the one request object_store does not make.
//! - `transport.rs`: object_store's requests over the workspace's plain-HTTP `reqwest`.
//!
//! # Invariants
//!
//! - "No such photo" is an answer (`Ok(None)`); storage that cannot be reached or fails is an
//!   error, never a `None`, so a caller does not refuse a photo because storage is down.

mod bucket;
mod settings;
mod store;
mod transport;

pub use settings::PhotoSettings;
pub use store::PhotoStore;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum PhotoStoreError {
    /// The settings cannot work: a malformed endpoint, plain HTTP not allowed.
    #[error("photo storage settings: {0}")]
    Settings(#[source] BoxError),
    /// Storage did not answer, or failed: whether the photo exists is unknown.
    #[error("photo storage is unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// Storage answered, but would not create the bucket (bad credentials, say).
    #[error("photo storage refused to create bucket {bucket}: HTTP {status}")]
    BucketRefused { bucket: String, status: u16 },
}

impl PhotoStoreError {
    fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(error))
    }
}
