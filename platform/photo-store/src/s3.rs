//! The S3 backend: `photos/<photo_id>` with the image's content type and its uploader in the
//! user metadata `owner` (`x-amz-meta-owner`). MinIO and s3s-fs both keep user metadata and
//! return it on HEAD (the round-trip test holds s3s-fs to it), so the owner needs no object of
//! its own and one HEAD answers both "does it exist" and "whose is it".

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use events::{MemberId, PhotoId};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, BackoffConfig, GetOptions, ObjectStore, PutOptions, PutPayload,
    RetryConfig,
};
use tracing::warn;

use crate::PhotoStoreError;
use crate::bucket::Bucket;
use crate::settings::PhotoSettings;
use crate::store::{
    Backend, Download, OpenedPhoto, UNKNOWN_CONTENT_TYPE, absent_as_none, key, stream_of,
};
use crate::transport::PlainHttp;

/// The user metadata (`x-amz-meta-owner`) that names the member who uploaded a photo.
const OWNER: Attribute = Attribute::Metadata(Cow::Borrowed("owner"));

/// S3 caps a presigned URL's life at seven days.
const LONGEST_PRESIGNED: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug)]
pub(crate) struct S3Backend {
    objects: AmazonS3,
    bucket: Bucket,
}

impl S3Backend {
    pub(crate) fn new(settings: &PhotoSettings) -> Result<Self, PhotoStoreError> {
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
        Ok(Self { objects, bucket })
    }
}

#[async_trait]
impl Backend for S3Backend {
    async fn prepare(&self) -> Result<(), PhotoStoreError> {
        self.bucket.ensure().await
    }

    async fn put(
        &self,
        photo_id: PhotoId,
        owner: MemberId,
        content_type: &str,
        bytes: Bytes,
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

    /// One HEAD request.
    async fn owner(&self, photo_id: PhotoId) -> Result<Option<MemberId>, PhotoStoreError> {
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

    async fn open(&self, photo_id: PhotoId) -> Result<Option<OpenedPhoto>, PhotoStoreError> {
        let found = self
            .objects
            .get_opts(&key(photo_id), GetOptions::default())
            .await;
        let Some(found) = absent_as_none(found)? else {
            return Ok(None);
        };
        let content_type = found
            .attributes
            .get(&Attribute::ContentType)
            .map_or(UNKNOWN_CONTENT_TYPE, |content_type| content_type.as_ref())
            .to_owned();
        Ok(Some(OpenedPhoto {
            content_type,
            size: found.meta.size,
            body: stream_of(found),
        }))
    }

    /// A HEAD first: a link to a photo that is not there would send the client to storage's
    /// own error page instead of a 404 it can act on.
    async fn download(
        &self,
        photo_id: PhotoId,
        valid_for: Duration,
    ) -> Result<Option<Download>, PhotoStoreError> {
        let path = key(photo_id);
        let head = GetOptions::default().with_head(true);
        if absent_as_none(self.objects.get_opts(&path, head).await)?.is_none() {
            return Ok(None);
        }
        let url = self
            .objects
            .signed_url(http::Method::GET, &path, valid_for.min(LONGEST_PRESIGNED))
            .await
            .map_err(PhotoStoreError::unavailable)?;
        Ok(Some(Download::Redirect(url.into())))
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
