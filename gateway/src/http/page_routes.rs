//! The routes of the pages for people (HTML and what it loads), kept apart
//! from the v1 API's table so the OpenAPI check can read both without the
//! rest of the gateway. Every one answers GET only.

/// Each page route's path, in the router's syntax.
pub const PAGE_ROUTES: &[&str] = &[
    "/",
    "/e/{event_id}",
    "/admin",
    "/assets/{name}",
    "/qr/{code}",
    "/o/{order_id}",
    "/pay/test/{payment_id}",
    "/door/{event_id}",
];
