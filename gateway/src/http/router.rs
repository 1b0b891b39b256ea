//! The routes of the v1 API, matched by path (matchit), then by method.

use hyper::Method;

/// Every route the server answers, named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    Events,
    Event,
    EventRoom,
    EventStats,
    EventOrders,
    Queue,
    QueueStatus,
    Seats,
    Holds,
    Hold,
    HoldPurchase,
    Order,
    OrderCancel,
    OrderCalendar,
    OrderTickets,
    TicketKey,
    Metrics,
    Healthz,
    Readyz,
    Tokens,
    Token,
    HoldCheckout,
    PaymentWebhook,
    PaymentTestConfirm,
    OrderPersonalData,
    OrderCancelRequests,
    OrderLookup,
    EventCheckIns,
    EventHall,
}

/// Each route's path (matchit syntax) and the methods it takes.
pub const ROUTES: &[(Route, &str, &[Method])] = &[
    (Route::Events, "/v1/events", &[Method::GET, Method::POST]),
    (Route::Event, "/v1/events/{event_id}", &[Method::GET]),
    (Route::EventRoom, "/v1/events/{event_id}/room", &[Method::PATCH]),
    (Route::EventStats, "/v1/events/{event_id}/stats", &[Method::GET]),
    (Route::EventOrders, "/v1/events/{event_id}/orders", &[Method::GET]),
    (Route::Queue, "/v1/events/{event_id}/queue", &[Method::POST, Method::DELETE]),
    (Route::QueueStatus, "/v1/events/{event_id}/queue/status", &[Method::GET]),
    (Route::Seats, "/v1/events/{event_id}/seats", &[Method::GET]),
    (Route::Holds, "/v1/events/{event_id}/holds", &[Method::POST]),
    (Route::Hold, "/v1/holds/{hold_id}", &[Method::GET, Method::DELETE]),
    (Route::HoldPurchase, "/v1/holds/{hold_id}/purchase", &[Method::POST]),
    (Route::Order, "/v1/orders/{order_id}", &[Method::GET]),
    (Route::OrderCancel, "/v1/orders/{order_id}/cancel", &[Method::POST]),
    (Route::OrderCalendar, "/v1/orders/{order_id}/calendar", &[Method::GET]),
    (Route::OrderTickets, "/v1/orders/{order_id}/tickets.pdf", &[Method::GET]),
    (Route::TicketKey, "/v1/tickets/public-key", &[Method::GET]),
    (Route::Metrics, "/metrics", &[Method::GET]),
    (Route::Healthz, "/healthz", &[Method::GET]),
    (Route::Readyz, "/readyz", &[Method::GET]),
    (Route::Tokens, "/v1/tokens", &[Method::GET, Method::POST]),
    (Route::Token, "/v1/tokens/{token_id}", &[Method::DELETE]),
    (Route::HoldCheckout, "/v1/holds/{hold_id}/checkout", &[Method::POST]),
    (Route::PaymentWebhook, "/v1/payments/webhook", &[Method::POST]),
    (Route::PaymentTestConfirm, "/v1/payments/{payment_id}/test-confirm", &[Method::POST]),
    (Route::OrderPersonalData, "/v1/orders/{order_id}/personal-data", &[Method::DELETE]),
    (Route::OrderCancelRequests, "/v1/orders/{order_id}/cancel-requests", &[Method::POST]),
    (Route::OrderLookup, "/v1/orders/lookup", &[Method::POST]),
    (Route::EventCheckIns, "/v1/events/{event_id}/checkins", &[Method::GET, Method::POST]),
    (Route::EventHall, "/v1/events/{event_id}/hall", &[Method::GET]),
];

impl Route {
    /// The route's place in `ROUTES` (which lists them in declaration order).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Each route's label for metrics (its path), in the order of `Route::index`.
pub fn metric_labels() -> impl Iterator<Item = &'static str> {
    ROUTES.iter().map(|(_, path, _)| *path)
}

pub struct Router {
    /// Each path's place in `ROUTES`.
    paths: matchit::Router<usize>,
}

/// A matched route and the one path parameter it may have.
pub struct Matched {
    pub route: Route,
    pub param: Option<String>,
    pub methods: &'static [Method],
}

impl Router {
    pub fn new() -> Self {
        let mut paths = matchit::Router::new();
        for (index, (_, path, _)) in ROUTES.iter().enumerate() {
            paths.insert(*path, index).expect("the route table has no conflicts");
        }
        Self { paths }
    }

    pub fn find(&self, path: &str) -> Option<Matched> {
        let found = self.paths.at(path).ok()?;
        let (route, _, methods) = ROUTES.get(*found.value)?;
        let param = found.params.iter().next().map(|(_, value)| value.to_owned());
        Some(Matched { route: *route, param, methods })
    }
}

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_listed_in_declaration_order() {
        for (index, (route, _, _)) in ROUTES.iter().enumerate() {
            assert_eq!(route.index(), index, "{route:?}");
        }
    }
}
