//! What every handler shares. Each part is a cheap handle; cloning the state clones handles.

use std::sync::Arc;

use crate::auth::Auth;
use crate::commands::Dispatcher;
use crate::photos::Photos;
use crate::proxy::Proxy;
use crate::rate_limit::RateLimiter;
use crate::settings::BodyLimits;

#[derive(Debug, Clone)]
pub struct AppState {
    pub limits: BodyLimits,
    pub auth: Arc<Auth>,
    pub commands: Dispatcher,
    pub proxy: Arc<Proxy>,
    pub rate_limiter: Arc<RateLimiter>,
    pub photos: Arc<Photos>,
}
