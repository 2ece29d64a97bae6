//! Turning Ctrl-C and SIGTERM into a cancelled token that every task of a service watches.

use std::future::Future;
use tokio_util::sync::CancellationToken;

/// Cancels `token` on Ctrl-C or (on Unix) SIGTERM, which is how Kubernetes and Docker ask a
/// container to stop. Call it inside a Tokio runtime.
///
/// The Unix handlers are in place when this returns, so a signal that arrives early is not
/// met by the default action, which would end the process without a graceful shutdown.
pub fn cancel_on_signal(token: CancellationToken) {
    let signalled = signalled();
    tokio::spawn(async move {
        tokio::select! {
            () = token.cancelled() => {}
            () = signalled => {
                tracing::info!("shutdown signal received; stopping gracefully");
                token.cancel();
            }
        }
    });
}

/// Completes on the first SIGINT or SIGTERM. A handler that cannot be installed is logged and
/// left out rather than taken as a signal, which would stop the service at once.
#[cfg(unix)]
fn signalled() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let listeners: Vec<_> = [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
    ]
    .into_iter()
    .filter_map(|(kind, name)| match signal(kind) {
        Ok(listener) => Some(listener),
        Err(error) => {
            tracing::warn!(%error, signal = name, "cannot listen for a shutdown signal");
            None
        }
    })
    .collect();
    async move {
        if listeners.is_empty() {
            return std::future::pending().await;
        }
        let received = listeners.into_iter().map(|mut listener| {
            Box::pin(async move {
                listener.recv().await;
            })
        });
        futures::future::select_all(received).await;
    }
}

#[cfg(not(unix))]
fn signalled() -> impl Future<Output = ()> + Send + 'static {
    async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}
