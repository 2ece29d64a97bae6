//! [`PhotoStore`]: one handle over whichever backend the settings name. Each backend keeps a
//! photo as one object at `photos/<photo_id>` and records its uploader beside it; callers never
//! learn which backend they talk to, except that a download is either a redirect or a stream.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use events::{MemberId, PhotoId};
use futures::TryStreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;

use crate::PhotoStoreError;
use crate::local::LocalBackend;
use crate::s3::S3Backend;
use crate::settings::{PhotoBackend, PhotoSettings};

/// What a download answers when the object has no content type.
pub(crate) const UNKNOWN_CONTENT_TYPE: &str = "application/octet-stream";

/// A photo's bytes as they are read from storage.
pub type PhotoStream = BoxStream<'static, Result<Bytes, PhotoStoreError>>;

/// A stored photo, opened for reading.
pub struct OpenedPhoto {
    /// As recorded at upload (the type its bytes showed).
    pub content_type: String,
    pub size: u64,
    pub body: PhotoStream,
}

impl fmt::Debug for OpenedPhoto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedPhoto")
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// How a client gets a photo's bytes.
#[derive(Debug)]
pub enum Download {
    /// From storage itself: this URL works without credentials for the time asked for.
    Redirect(String),
    /// Through the caller, which sends these bytes on.
    Stream(OpenedPhoto),
}

/// What each kind of storage does. "No such photo" is `Ok(None)`; a failure to ask is an error.
#[async_trait]
pub(crate) trait Backend: fmt::Debug + Send + Sync {
    /// Creates the bucket or directory unless it exists.
    async fn prepare(&self) -> Result<(), PhotoStoreError>;

    async fn put(
        &self,
        photo_id: PhotoId,
        owner: MemberId,
        content_type: &str,
        bytes: Bytes,
    ) -> Result<(), PhotoStoreError>;

    async fn owner(&self, photo_id: PhotoId) -> Result<Option<MemberId>, PhotoStoreError>;

    async fn open(&self, photo_id: PhotoId) -> Result<Option<OpenedPhoto>, PhotoStoreError>;

    /// Storage that can hand out its own links does; the rest stream.
    async fn download(
        &self,
        photo_id: PhotoId,
        _valid_for: Duration,
    ) -> Result<Option<Download>, PhotoStoreError> {
        Ok(self.open(photo_id).await?.map(Download::Stream))
    }
}

/// The photos' store. Cloning is cheap: clones share one backend (and its connection pool).
#[derive(Debug, Clone)]
pub struct PhotoStore {
    backend: Arc<dyn Backend>,
}

impl PhotoStore {
    /// Builds the client. For S3 nothing is sent until the first call; the local backend
    /// creates its directory here, since it cannot be opened without one.
    pub fn new(settings: &PhotoSettings) -> Result<Self, PhotoStoreError> {
        let backend: Arc<dyn Backend> = match settings.backend {
            PhotoBackend::S3 => Arc::new(S3Backend::new(settings)?),
            PhotoBackend::Local => Arc::new(LocalBackend::new(&settings.local_dir)?),
        };
        Ok(Self { backend })
    }

    /// Creates the bucket (or the directory) unless it exists.
    pub async fn ensure_bucket(&self) -> Result<(), PhotoStoreError> {
        self.backend.prepare().await
    }

    /// Stores a photo with its content type and owner, replacing any photo under the same id.
    pub async fn put(
        &self,
        photo_id: PhotoId,
        owner: MemberId,
        content_type: &str,
        bytes: impl Into<Bytes>,
    ) -> Result<(), PhotoStoreError> {
        self.backend
            .put(photo_id, owner, content_type, bytes.into())
            .await
    }

    /// Who uploaded the photo; `None` when there is no such photo.
    pub async fn owner(&self, photo_id: PhotoId) -> Result<Option<MemberId>, PhotoStoreError> {
        self.backend.owner(photo_id).await
    }

    /// The photo's content type and bytes, read whole; `None` when there is no such photo.
    pub async fn get(
        &self,
        photo_id: PhotoId,
    ) -> Result<Option<(String, Vec<u8>)>, PhotoStoreError> {
        let Some(opened) = self.backend.open(photo_id).await? else {
            return Ok(None);
        };
        let capacity = usize::try_from(opened.size).unwrap_or_default();
        let bytes = opened
            .body
            .try_fold(Vec::with_capacity(capacity), |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await?;
        Ok(Some((opened.content_type, bytes)))
    }

    /// How a client can fetch the photo: a link valid for `valid_for` where storage can sign
    /// one (S3), else the bytes to send on (local). A zero `valid_for` asks for the bytes from
    /// every backend: for storage that clients cannot reach themselves. `None` when there is
    /// no such photo.
    pub async fn download(
        &self,
        photo_id: PhotoId,
        valid_for: Duration,
    ) -> Result<Option<Download>, PhotoStoreError> {
        if valid_for.is_zero() {
            return Ok(self.backend.open(photo_id).await?.map(Download::Stream));
        }
        self.backend.download(photo_id, valid_for).await
    }
}

/// Where a photo's bytes are, in every backend.
pub(crate) fn key(photo_id: PhotoId) -> Path {
    Path::from(format!("photos/{photo_id}"))
}

/// `NotFound` is an answer; every other failure means the answer is unknown.
pub(crate) fn absent_as_none<T>(
    result: object_store::Result<T>,
) -> Result<Option<T>, PhotoStoreError> {
    match result {
        Ok(found) => Ok(Some(found)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(error) => Err(PhotoStoreError::unavailable(error)),
    }
}

/// An object's bytes as a stream whose failures are this crate's.
pub(crate) fn stream_of(found: object_store::GetResult) -> PhotoStream {
    Box::pin(found.into_stream().map_err(PhotoStoreError::unavailable))
}
