//! What a host serves now: one generation's pool and the query router built on it, swapped
//! together when the host switches generations, and the gate that pauses the live consumer
//! between batches while it does.

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::Request;
use sqlx::PgPool;
use tokio::sync::{Mutex, OwnedMutexGuard};
use tower::ServiceExt;

use crate::generations::Generation;

/// The generation a host serves: the pool its queries read and its live consumer writes, and
/// the model's router built on that pool.
#[derive(Debug)]
pub(crate) struct Active {
    pub generation: Generation,
    pub pool: PgPool,
    pub router: Router,
}

#[derive(Debug, Clone)]
pub(crate) struct Serving {
    current: Arc<ArcSwap<Active>>,
    /// Held by the live consumer for each batch, and by a switch from its last catch-up to the
    /// swap: a batch is applied wholly to one generation, and none is applied to the old one
    /// once its successor has caught up.
    gate: Arc<Mutex<()>>,
}

impl Serving {
    pub fn new(active: Active) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(active)),
            gate: Arc::new(Mutex::new(())),
        }
    }

    pub fn current(&self) -> Arc<Active> {
        self.current.load_full()
    }

    /// Waits for the batch being applied, if any, and keeps the next one from starting until
    /// the guard is dropped.
    pub async fn pause(&self) -> OwnedMutexGuard<()> {
        Arc::clone(&self.gate).lock_owned().await
    }

    /// Serves `active` from the next request and the next batch on; returns what served.
    /// Requests already running finish on the generation they started on: the old pool closes
    /// when the last of them lets go of it.
    pub fn swap(&self, active: Active) -> Arc<Active> {
        self.current.swap(Arc::new(active))
    }

    /// `fixed` (health and metrics), and every other request to the router of whichever
    /// generation serves when it arrives. Handlers never see the switch: each generation's
    /// router is built with a `QueryContext` on that generation's pool.
    pub fn app(&self, fixed: Router) -> Router {
        let serving = self.clone();
        fixed.fallback(move |request: Request| {
            let router = serving.current().router.clone();
            async move { router.oneshot(request).await }
        })
    }
}
