//! The photos' bucket. object_store reads and writes objects but does not manage buckets, so
//! the one request it lacks is signed with its SigV4 signer and sent over the same transport.

use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::client::{HttpClient, HttpRequest, HttpRequestBody};

use crate::PhotoStoreError;
use crate::settings::PhotoSettings;

/// The credential's `Debug` hides the secret key.
#[derive(Debug)]
pub(crate) struct Bucket {
    http: HttpClient,
    name: String,
    url: http::Uri,
    region: String,
    credential: AwsCredential,
}

impl Bucket {
    pub(crate) fn new(settings: &PhotoSettings, http: HttpClient) -> Result<Self, PhotoStoreError> {
        let url = format!(
            "{}/{}",
            settings.endpoint.trim_end_matches('/'),
            settings.bucket
        );
        let url = url
            .parse()
            .map_err(|error| PhotoStoreError::Settings(Box::new(error)))?;
        Ok(Self {
            http,
            name: settings.bucket.clone(),
            url,
            region: settings.region.clone(),
            credential: AwsCredential {
                key_id: settings.access_key.clone(),
                secret_key: settings.secret_key.clone(),
                token: None,
            },
        })
    }

    /// `CreateBucket`. A conflict means the bucket is already there (MinIO answers
    /// `BucketAlreadyOwnedByYou`, s3s-fs `BucketAlreadyExists`), which is what was asked for;
    /// two instances starting together may both try.
    pub(crate) async fn ensure(&self) -> Result<(), PhotoStoreError> {
        let mut request = HttpRequest::new(HttpRequestBody::empty());
        *request.method_mut() = http::Method::PUT;
        *request.uri_mut() = self.url.clone();
        AwsAuthorizer::new(&self.credential, "s3", &self.region)
            .try_authorize(&mut request, None)
            .map_err(PhotoStoreError::unavailable)?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(PhotoStoreError::unavailable)?;
        let status = response.status();
        if status.is_success() || status == http::StatusCode::CONFLICT {
            return Ok(());
        }
        Err(PhotoStoreError::BucketRefused {
            bucket: self.name.clone(),
            status: status.as_u16(),
        })
    }
}
