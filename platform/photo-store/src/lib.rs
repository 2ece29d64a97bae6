//! Photos in S3-compatible object storage (MinIO in compose, s3s-fs in tests), or in a local
//! directory (standalone mode).
//!
//! # Layout
//!
//! - [`PhotoSettings`] (`settings.rs`): the backend, then the directory or the server, bucket
//!   and credentials.
//! - [`PhotoStore`] (`store.rs`): one handle over the `Backend` trait. One object per photo at
//!   `photos/<photo_id>`, with its content type and its uploader recorded beside it. The
//!   gateway uploads and serves photos; command services only ask a photo's owner.
//! - `s3.rs`: the owner in the object's user metadata, read with one HEAD; downloads are
//!   presigned links.
//! - `local.rs`: the owner in a sidecar file; downloads are streamed by the caller.
//! - `bucket.rs`: creating the bucket, the one request object_store does not make.
//! - `transport.rs`: object_store's requests over the workspace's plain-HTTP `reqwest`.
//!
//! # Invariants
//!
//! - "No such photo" is an answer (`Ok(None)`); storage that cannot be reached or fails is an
//!   error, never a `None`, so a caller does not refuse a photo because storage is down.

mod bucket;
mod local;
mod s3;
mod settings;
mod store;
mod transport;

pub use settings::{PhotoBackend, PhotoSettings};
pub use store::{Download, OpenedPhoto, PhotoStore, PhotoStream};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum PhotoStoreError {
    /// The settings cannot work: a malformed endpoint, plain HTTP not allowed, a directory
    /// that cannot be created.
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
