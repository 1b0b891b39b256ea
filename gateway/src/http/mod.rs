//! The HTTP API: routing, handlers, and what they share.

pub(crate) mod app;
pub(crate) mod auth;
pub(crate) mod client_address;
pub(crate) mod drawings;
pub(crate) mod error;
pub(crate) mod handlers;
pub(crate) mod limiter;
pub mod page_routes;
pub(crate) mod pages;
pub(crate) mod request;
pub(crate) mod response;
pub mod router;
pub(crate) mod views;
