//! Photos as objects: `photos/<photo_id>`, with the image's content type and its uploader in
//! the user metadata `owner` (`x-amz-meta-owner`). MinIO and s3s-fs both keep user metadata
//! and return it on HEAD (the round-trip test holds s3s-fs to it), so the owner needs no
//! object of its own and one HEAD answers both "does it exist" and "whose is it".

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use events::{MemberId, PhotoId};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, BackoffConfig, GetOptions, ObjectStore, PutOptions, PutPayload,
    RetryConfig,
};
use tracing::warn;

use crate::PhotoStoreError;
use crate::bucket::Bucket;
use crate::settings::PhotoSettings;
use crate::transport::PlainHttp;

/// The user metadata (`x-amz-meta-owner`) that names the member who uploaded a photo.
const OWNER: Attribute = Attribute::Metadata(Cow::Borrowed("owner"));

/// What a download answers when the object has no content type.
const UNKNOWN_CONTENT_TYPE: &str = "application/octet-stream";

/// The photos' bucket. Cloning is cheap: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct PhotoStore {
    objects: AmazonS3,
    bucket: Arc<Bucket>,
}

impl PhotoStore {
    /// Builds the client; nothing is sent until the first call.
    pub fn new(settings: &PhotoSettings) -> Result<Self, PhotoStoreError> {
        check_scheme(settings)?;
        let http = PlainHttp::new().map_err(|error| PhotoStoreError::Settings(Box::new(error)))?;
        let objects = AmazonS3Builder::new()
            .with_endpoint(&settings.endpoint)
            .with_region(&settings.region)
            .with_bucket_name(&settings.bucket)
            .with_access_key_id(&settings.access_key)
            .with_secret_access_key(&settings.secret_key)
            .with_allow_http(settings.allow_http)
            .with_retry(retry())
            .with_http_connector(http.clone())
            .build()
            .map_err(|error| PhotoStoreError::Settings(Box::new(error)))?;
        let bucket = Bucket::new(settings, http.client())?;
        Ok(Self {
            objects,
            bucket: Arc::new(bucket),
        })
    }

    /// Creates the bucket unless it exists.
    pub async fn ensure_bucket(&self) -> Result<(), PhotoStoreError> {
        self.bucket.ensure().await
    }

    /// Stores a photo, replacing any object under the same id.
    pub async fn put(
        &self,
        photo_id: PhotoId,
        owner: MemberId,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), PhotoStoreError> {
        let attributes = Attributes::from_iter([
            (Attribute::ContentType, content_type.to_owned()),
            (OWNER, owner.to_string()),
        ]);
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        self.objects
            .put_opts(&key(photo_id), PutPayload::from(bytes), options)
            .await
            .map_err(PhotoStoreError::unavailable)?;
        Ok(())
    }

    /// Who uploaded the photo, from a HEAD request; `None` when there is no such photo.
    pub async fn owner(&self, photo_id: PhotoId) -> Result<Option<MemberId>, PhotoStoreError> {
        let head = GetOptions::default().with_head(true);
        let Some(found) = absent_as_none(self.objects.get_opts(&key(photo_id), head).await)? else {
            return Ok(None);
        };
        let owner = found.attributes.get(&OWNER);
        match owner.and_then(|owner| owner.parse::<MemberId>().ok()) {
            Some(owner) => Ok(Some(owner)),
            None => {
                // Only the gateway writes photos, always with an owner: such an object was
                // put there by hand, and nobody may claim it.
                warn!(%photo_id, owner = ?owner.map(|owner| owner.as_ref()), "a photo without a readable owner counts as missing");
                Ok(None)
            }
        }
    }

    /// The photo's content type and bytes; `None` when there is no such photo.
    pub async fn get(
        &self,
        photo_id: PhotoId,
    ) -> Result<Option<(String, Vec<u8>)>, PhotoStoreError> {
        let Some(found) = absent_as_none(
            self.objects
                .get_opts(&key(photo_id), GetOptions::default())
                .await,
        )?
        else {
            return Ok(None);
        };
        let content_type = found
            .attributes
            .get(&Attribute::ContentType)
            .map_or(UNKNOWN_CONTENT_TYPE, |content_type| content_type.as_ref())
            .to_owned();
        let bytes = found.bytes().await.map_err(PhotoStoreError::unavailable)?;
        Ok(Some((content_type, bytes.to_vec())))
    }
}

fn key(photo_id: PhotoId) -> Path {
    Path::from(format!("photos/{photo_id}"))
}

/// `NotFound` is an answer; every other failure means the answer is unknown.
fn absent_as_none<T>(result: object_store::Result<T>) -> Result<Option<T>, PhotoStoreError> {
    match result {
        Ok(found) => Ok(Some(found)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(error) => Err(PhotoStoreError::unavailable(error)),
    }
}

/// Commands wait on these requests: a few quick retries ride out a restarting server, and a
/// server that stays down is reported within seconds rather than object_store's default minutes.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(5),
    }
}

/// The transport speaks plain HTTP only (see `transport`), and plain HTTP must be asked for.
fn check_scheme(settings: &PhotoSettings) -> Result<(), PhotoStoreError> {
    let refused = if !settings.endpoint.starts_with("http://") {
        "the endpoint must be an http:// URL: this build has no TLS client"
    } else if !settings.allow_http {
        "the endpoint is plain HTTP but allow_http is false"
    } else {
        return Ok(());
    };
    Err(PhotoStoreError::Settings(refused.into()))
}
