//! Where the photos live.

use std::fmt;

use serde::Deserialize;

/// An S3-compatible server and the bucket that holds the photos (the `[photos]` section of a
/// service's settings).
#[derive(Clone, Deserialize)]
pub struct PhotoSettings {
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
}

impl fmt::Debug for PhotoSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhotoSettings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key", &self.access_key)
            .field("secret_key", &"[redacted]")
            .field("allow_http", &self.allow_http)
            .finish()
    }
}
