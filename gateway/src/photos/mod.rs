//! Photo uploads and downloads.

use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The `[photos]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct PhotoUploadSettings {
    pub backend: String,
    pub local_dir: String,
    pub presign_ttl_s: u64,
    #[serde(flatten)]
    pub s3: photo_store::PhotoSettings,
}

#[derive(Debug)]
pub struct Photos {}

impl Photos {
    pub async fn new(_settings: &PhotoUploadSettings) -> anyhow::Result<Self> {
        Ok(Self {})
    }
}

/// `/photos`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
