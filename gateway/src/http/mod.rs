//! The HTTP API: routing, handlers, and what they share.

pub(crate) mod client_address;
pub(crate) mod error;
mod handlers;
pub(crate) mod limiter;
pub mod page_routes;
pub(crate) mod pages;
pub(crate) mod request;
pub mod router;
pub(crate) mod views;

use std::sync::Arc;

use guichet_engine::store::Engine;

pub(crate) use handlers::handle;

/// What every handler needs: the engine and the gateway's own settings.
pub(crate) struct App {
    pub engine: Arc<Engine>,
    pub admin_token: String,
    pub max_body_bytes: usize,
    pub metrics: crate::metrics::Metrics,
    pub join_limiter: limiter::WindowLimiter,
    /// Whose `X-Forwarded-For` names the client for the join budget.
    pub trusted_proxies: client_address::TrustedProxies,
    pub seat_call_limiter: limiter::WindowLimiter,
}
