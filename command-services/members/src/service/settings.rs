//! The members service's own settings, beside the host's.

use std::collections::HashSet;

use photo_store::PhotoSettings;
use serde::Deserialize;

use crate::domain::Email;

/// The `[auth]` and `[photos]` sections.
#[derive(Debug, Clone, Deserialize)]
pub struct MembersSettings {
    pub auth: AuthSettings,
    /// Where avatars are looked up: a member may only pick a photo they uploaded.
    pub photos: PhotoSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthSettings {
    /// Members who register with one of these addresses, compared without regard to letter
    /// case, are administrators: how the first administrator comes to be.
    #[serde(default)]
    pub admin_emails: Vec<String>,
}

/// The allow-list, normalized the way the credentials table normalizes emails.
#[derive(Debug, Clone)]
pub(super) struct Admins(HashSet<String>);

impl Admins {
    /// Refuses an address nobody could register with: a typo in the list would otherwise
    /// leave the system without an administrator, silently.
    pub(super) fn new(settings: &AuthSettings) -> Result<Self, String> {
        settings
            .admin_emails
            .iter()
            .map(|raw| {
                Email::parse(raw)
                    .map(|email| email.normalized())
                    .map_err(|reason| format!("admin_emails: {raw:?} {reason}"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub(super) fn includes(&self, email: &Email) -> bool {
        self.0.contains(&email.normalized())
    }
}
