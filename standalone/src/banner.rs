//! What standalone mode prints once everything is up: where to go next.

use std::fmt::Write;

use photo_store::PhotoBackend;

use crate::Standalone;
use crate::parts::Part;

/// The URLs of the API, its documentation, the broker's UI, the photo storage and every part's
/// `/metrics`, as lines for a terminal.
pub fn banner(system: &Standalone) -> String {
    let settings = system.settings();
    let api = format!("http://{}", system.gateway());
    let photos = match settings.photos.backend {
        PhotoBackend::Local => settings.photos.local_dir.display().to_string(),
        PhotoBackend::S3 => format!("{}/{}", settings.photos.endpoint, settings.photos.bucket),
    };
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        text,
        "Waypoint is up: ready in {} ms\n",
        system.started_in().as_millis()
    );
    for (what, value) in [
        ("API", format!("{api}/api/v1")),
        ("OpenAPI", format!("{api}/api/v1/openapi.json")),
        ("JWKS", format!("{api}/.well-known/jwks.json")),
        ("RabbitMQ UI", settings.rabbitmq.management_url.clone()),
        ("Photos", photos),
    ] {
        let _ = writeln!(text, "  {what:<12} {value}");
    }
    let _ = writeln!(text, "\n  Health and metrics (/health/ready, /metrics):");
    for part in Part::COMMAND_SERVICES
        .into_iter()
        .chain(Part::PROJECTIONS)
        .chain([Part::Gateway])
    {
        if let Some(address) = system.address_of(part) {
            let _ = writeln!(text, "    {:<16} http://{address}", part.name());
        }
    }
    let _ = writeln!(text, "\nCtrl-C stops it.");
    text
}
