//! Binding and serving a service's HTTP router with graceful shutdown.

use crate::settings::HttpSettings;
use axum::Router;
use std::io;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Listens on `host:port`; port 0 takes any free port (read it back with `local_addr`).
pub async fn bind(settings: &HttpSettings) -> io::Result<TcpListener> {
    TcpListener::bind((settings.host.as_str(), settings.port)).await
}

/// Serves `router` until `shutdown` is cancelled, then stops accepting and lets requests in
/// flight finish before returning.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
