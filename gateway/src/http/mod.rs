//! The HTTP API: routing, handlers, and what they share.

pub mod client_address;
pub mod error;
mod handlers;
pub mod limiter;
mod page_routes;
pub mod pages;
pub mod request;
pub mod router;
pub mod views;

use std::sync::Arc;

use guichet_engine::store::Engine;

pub use handlers::handle;

/// What every handler needs: the engine and the gateway's own settings.
pub struct App {
    pub engine: Arc<Engine>,
    pub admin_token: String,
    pub max_body_bytes: usize,
    pub metrics: crate::metrics::Metrics,
    pub join_limiter: limiter::WindowLimiter,
    /// Whose `X-Forwarded-For` names the client for the join budget.
    pub trusted_proxies: client_address::TrustedProxies,
    pub seat_call_limiter: limiter::WindowLimiter,
}
