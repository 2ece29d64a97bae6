//! A review's photos live in object storage, uploaded through the gateway: the service only
//! asks each photo's owner, and hands `decide` the ones the actor may not attach.

use command_handler::host::HostError;
use events::{MemberId, PhotoId};
use futures::future::try_join_all;
use photo_store::{PhotoSettings, PhotoStore, PhotoStoreError};
use serde::Deserialize;
use tracing::warn;

use crate::domain::MAX_PHOTOS;

/// The service's own settings, beside the sections the host reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ReviewsSettings {
    pub photos: PhotoSettings,
}

/// The photo store, with its bucket created if missing. Storage that is down at start-up does
/// not keep the service from starting: commands with photos are answered `unavailable` until it
/// is back, and everything else works.
pub async fn connect(settings: &PhotoSettings) -> Result<PhotoStore, HostError> {
    let photos = PhotoStore::new(settings).map_err(|error| HostError::Setup(error.to_string()))?;
    if let Err(error) = photos.ensure_bucket().await {
        warn!(%error, bucket = %settings.bucket, "the photo bucket could not be ensured; photos are checked once storage is back");
    }
    Ok(photos)
}

/// The photos among `photo_ids` that are not in storage as `author`'s uploads. Each distinct
/// photo is asked once, all at the same time.
pub(crate) async fn unverified(
    store: &PhotoStore,
    author: MemberId,
    photo_ids: &[PhotoId],
) -> Result<Vec<PhotoId>, PhotoStoreError> {
    // `decide` refuses a longer list on its own, so a command never causes more HEADs.
    if photo_ids.len() > MAX_PHOTOS {
        return Ok(Vec::new());
    }
    let mut distinct = photo_ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let owners = try_join_all(distinct.iter().map(|&photo_id| store.owner(photo_id))).await?;
    Ok(distinct
        .into_iter()
        .zip(owners)
        .filter(|(_, owner)| *owner != Some(author))
        .map(|(photo_id, _)| photo_id)
        .collect())
}
