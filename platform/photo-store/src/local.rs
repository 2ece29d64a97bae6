//! The local backend, for standalone mode: files under one directory. object_store's local
//! store keeps no attributes, so each photo has a small sidecar, `photos/<photo_id>.meta`, with
//! its owner and content type. The sidecar is written after the image and is what makes the
//! photo exist: a crash between the two leaves an image nobody can claim, never a claim on an
//! image that is not there.

use std::path::Path as FsPath;

use async_trait::async_trait;
use bytes::Bytes;
use events::{MemberId, PhotoId};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::PhotoStoreError;
use crate::store::{Backend, OpenedPhoto, absent_as_none, key, stream_of};

#[derive(Debug)]
pub(crate) struct LocalBackend {
    files: LocalFileSystem,
}

/// What S3 keeps in an object's metadata.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    owner: MemberId,
    content_type: String,
}

impl LocalBackend {
    /// The directory is created here: object_store opens it by its canonical path, which a
    /// missing directory does not have.
    pub(crate) fn new(directory: &FsPath) -> Result<Self, PhotoStoreError> {
        std::fs::create_dir_all(directory)
            .map_err(|error| PhotoStoreError::Settings(Box::new(error)))?;
        let files = LocalFileSystem::new_with_prefix(directory)
            .map_err(|error| PhotoStoreError::Settings(Box::new(error)))?;
        Ok(Self { files })
    }

    async fn sidecar(&self, photo_id: PhotoId) -> Result<Option<Sidecar>, PhotoStoreError> {
        let found = self.files.get(&sidecar_key(photo_id)).await;
        let Some(found) = absent_as_none(found)? else {
            return Ok(None);
        };
        let bytes = found.bytes().await.map_err(PhotoStoreError::unavailable)?;
        match serde_json::from_slice(&bytes) {
            Ok(sidecar) => Ok(Some(sidecar)),
            Err(error) => {
                // Only the gateway writes sidecars: one that does not parse was edited by
                // hand, and the photo cannot be claimed.
                warn!(%photo_id, %error, "a photo with an unreadable sidecar counts as missing");
                Ok(None)
            }
        }
    }
}

#[async_trait]
impl Backend for LocalBackend {
    /// The directory was made when the store was built.
    async fn prepare(&self) -> Result<(), PhotoStoreError> {
        Ok(())
    }

    async fn put(
        &self,
        photo_id: PhotoId,
        owner: MemberId,
        content_type: &str,
        bytes: Bytes,
    ) -> Result<(), PhotoStoreError> {
        let sidecar = serde_json::to_vec(&Sidecar {
            owner,
            content_type: content_type.to_owned(),
        })
        .map_err(PhotoStoreError::unavailable)?;
        // Each put writes a temporary file and renames it, so readers never see half a file.
        self.files
            .put(&key(photo_id), PutPayload::from(bytes))
            .await
            .map_err(PhotoStoreError::unavailable)?;
        self.files
            .put(&sidecar_key(photo_id), PutPayload::from(sidecar))
            .await
            .map_err(PhotoStoreError::unavailable)?;
        Ok(())
    }

    async fn owner(&self, photo_id: PhotoId) -> Result<Option<MemberId>, PhotoStoreError> {
        Ok(self.sidecar(photo_id).await?.map(|sidecar| sidecar.owner))
    }

    async fn open(&self, photo_id: PhotoId) -> Result<Option<OpenedPhoto>, PhotoStoreError> {
        let Some(sidecar) = self.sidecar(photo_id).await? else {
            return Ok(None);
        };
        let found = self
            .files
            .get_opts(&key(photo_id), GetOptions::default())
            .await;
        let Some(found) = absent_as_none(found)? else {
            return Ok(None);
        };
        Ok(Some(OpenedPhoto {
            content_type: sidecar.content_type,
            size: found.meta.size,
            body: stream_of(found),
        }))
    }
}

fn sidecar_key(photo_id: PhotoId) -> Path {
    Path::from(format!("photos/{photo_id}.meta"))
}
