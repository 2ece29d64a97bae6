//! Where the photos live.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Where photos are kept (the `[photos]` section of every service that reads or writes them).
/// The gateway and the services that check owners must share these, so that they see one store.
#[derive(Clone, Deserialize)]
pub struct PhotoSettings {
    /// `s3` unless set, so settings written before the local backend existed still mean S3.
    #[serde(default)]
    pub backend: PhotoBackend,
    /// The directory of the `local` backend, created if missing; unused by `s3`.
    #[serde(default = "default_local_dir")]
    pub local_dir: PathBuf,
    /// The server's base URL, e.g. `http://127.0.0.1:9000`; buckets are addressed by path.
    pub endpoint: String,
    /// Signed into every request; MinIO and s3s-fs accept any region they were not told to
    /// refuse.
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// Must be true for an `http://` endpoint: plain HTTP is a deliberate choice, never a default.
    pub allow_http: bool,
    /// How long a presigned download link works (S3 only; the local backend streams). 0 streams
    /// from S3 too, for storage that clients cannot reach. Only the gateway serves downloads.
    #[serde(default = "default_presign_ttl_s")]
    pub presign_ttl_s: u64,
}

/// Which kind of storage holds the photos.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoBackend {
    /// An S3-compatible server (MinIO, s3s-fs): downloads are presigned redirects.
    #[default]
    S3,
    /// A directory on this machine, for standalone mode: downloads are streamed.
    Local,
}

fn default_presign_ttl_s() -> u64 {
    300
}

fn default_local_dir() -> PathBuf {
    PathBuf::from("data/photos")
}

impl fmt::Debug for PhotoSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhotoSettings")
            .field("backend", &self.backend)
            .field("local_dir", &self.local_dir)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key", &self.access_key)
            .field("secret_key", &"[redacted]")
            .field("allow_http", &self.allow_http)
            .field("presign_ttl_s", &self.presign_ttl_s)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn s3_section() -> serde_json::Value {
        serde_json::json!({
            "endpoint": "http://127.0.0.1:9000",
            "region": "us-east-1",
            "bucket": "waypoint-photos",
            "access_key": "waypoint",
            "secret_key": "waypoint-secret",
            "allow_http": true,
        })
    }

    #[test]
    fn a_section_written_before_the_local_backend_still_means_s3() {
        let settings: PhotoSettings = serde_json::from_value(s3_section()).unwrap();

        assert_eq!(settings.backend, PhotoBackend::S3);
    }

    #[test]
    fn the_local_backend_is_chosen_by_name() {
        let mut section = s3_section();
        section["backend"] = "local".into();
        section["local_dir"] = "/srv/waypoint/photos".into();

        let settings: PhotoSettings = serde_json::from_value(section).unwrap();

        assert_eq!(settings.backend, PhotoBackend::Local);
        assert_eq!(settings.local_dir, PathBuf::from("/srv/waypoint/photos"));
    }
}
