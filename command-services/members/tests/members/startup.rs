//! The service's settings: the embedded defaults, and settings that cannot work.

use command_handler::host::{HostError, HostSettings};
use members::{DEFAULT_SETTINGS, MembersService, MembersSettings};
use service_kit::settings::{ConfigSources, load};

use super::support::Fixture;

#[test]
fn the_embedded_defaults_load_with_an_empty_allow_list() {
    let sources = ConfigSources::new(DEFAULT_SETTINGS);

    let host: HostSettings = load(&sources).unwrap();
    let members: MembersSettings = load(&sources).unwrap();

    assert_eq!(host.http.port, 8101);
    assert_eq!(host.commands.database, "waypoint_members");
    assert!(members.auth.admin_emails.is_empty());
    assert_eq!(members.photos.endpoint, "http://127.0.0.1:9000");
}

#[tokio::test]
async fn an_allow_list_entry_nobody_could_register_with_stops_the_service() {
    let fixture = Fixture::new().await;
    let host = fixture.host().await;
    let mut settings = fixture.settings();
    settings
        .auth
        .admin_emails
        .push("root at waypoint".to_owned());

    let started = MembersService::new(&host, settings).await;

    let Err(HostError::Setup(error)) = started else {
        panic!("expected a settings error, got {started:?}");
    };
    assert!(error.to_string().contains("root at waypoint"), "{error}");
    fixture.system.cleanup().await;
}
