//! The promoter's list of an event's orders (`GET /v1/events/{id}/orders`):
//! pages of JSON, or every order as CSV written as it is made, both
//! filtered by `q` on the server: every word of it must appear in the
//! order's id, payment reference, places (section, row, seat), or the
//! buyer's email and name (read, for the orders that keep them, only when
//! the rest does not match). The search runs off the async workers.

use std::sync::Arc;

use bytes::Bytes;
use guichet_engine::event::Event;
use guichet_engine::ids::OrderId;
use guichet_engine::inventory::{Order, OrderCursor, OrderStatus, Receipt};
use guichet_engine::store::Engine;
use http_body_util::channel::Channel;
use http_body_util::Either;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::events::folded;
use crate::http::app::App;
use crate::http::auth::{require_staff, Permission};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::query_pairs;
use crate::http::response::{json_response, HttpResponse};
use crate::http::views;

/// The most orders one page of JSON returns.
const MAX_ORDERS_PAGE: usize = 1_000;
/// The longest search, in characters.
const MAX_QUERY_CHARS: usize = 200;
/// Orders read from the inventory at a time while searching or exporting.
const ORDERS_PER_CHUNK: usize = 5_000;
/// Chunks of CSV the export may have written ahead of a slow reader.
const CSV_CHUNKS_AHEAD: usize = 4;

/// What the query string asks for.
struct ListQuery {
    after: Option<OrderCursor>,
    limit: Option<usize>,
    words: Vec<String>,
    csv: bool,
}

pub async fn list_orders(app: &App, id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    require_staff(app, request, Permission::ReadEvent, Some(&event))?;
    let query = parse_query(request)?;
    // Only what is durable: every order up to there is applied, so no page skips one.
    let durable = app.engine.durable_so_far();
    if query.csv {
        return Ok(csv_export(app.engine.clone(), event, query, durable));
    }
    let limit = query.limit.unwrap_or(100);
    let (engine, searched) = (app.engine.clone(), event.clone());
    let page = tokio::task::spawn_blocking(move || {
        let matcher = Matcher { engine: &engine, event: &searched, words: &query.words };
        matcher.find(query.after, limit + 1, durable, usize::MAX).0
    })
    .await
    .map_err(|error| {
        tracing::error!(%error, "the order search stopped");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "search_failed", "the search could not run")
    })?;
    let next = (page.len() > limit).then(|| {
        let last = OrderCursor::of(&page[limit - 1]);
        format!("{:x}.{:x}", last.receipt.0, last.order.0)
    });
    let orders: Vec<Value> =
        page.iter().take(limit).map(|order| views::staff_order_json(&app.engine, &event, order)).collect();
    Ok(json_response(StatusCode::OK, &json!({ "orders": orders, "next": next })))
}

fn parse_query(request: &Request<Incoming>) -> ApiResult<ListQuery> {
    let mut query = ListQuery { after: None, limit: None, words: Vec::new(), csv: false };
    for (key, value) in query_pairs(request.uri().query()) {
        let bad = |message: String| ApiError::bad_request("invalid_query", message).with("field", key.clone());
        match key.as_str() {
            "after" => {
                query.after =
                    Some(parse_cursor(&value).ok_or_else(|| bad("after is not a cursor this server gave".into()))?)
            }
            "limit" => {
                let limit = value.parse().ok().filter(|l| (1..=MAX_ORDERS_PAGE).contains(l));
                query.limit = Some(limit.ok_or_else(|| bad(format!("limit must be 1 to {MAX_ORDERS_PAGE}")))?);
            }
            "q" => {
                if value.chars().count() > MAX_QUERY_CHARS {
                    return Err(bad(format!("q is at most {MAX_QUERY_CHARS} characters")));
                }
                query.words = folded(&value).split_whitespace().map(str::to_owned).collect();
            }
            "format" => {
                query.csv = match value.as_str() {
                    "json" => false,
                    "csv" => true,
                    _ => return Err(bad("format is json or csv".into())),
                }
            }
            other => return Err(bad(format!("unknown query parameter {other:?}"))),
        }
    }
    Ok(query)
}

/// A page cursor: `<log position>.<order id>`, each 1 to 16 hex digits and
/// nothing else (`from_str_radix` alone would take a leading `+`), as the
/// spec's pattern says.
fn parse_cursor(text: &str) -> Option<OrderCursor> {
    let (receipt, order) = text.split_once('.')?;
    let hex = |part: &str| {
        let digits = (1..=16).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_hexdigit());
        digits.then(|| u64::from_str_radix(part, 16).ok()).flatten()
    };
    Some(OrderCursor { receipt: Receipt(hex(receipt)?), order: OrderId(hex(order)?) })
}

/// Decides which orders a search keeps.
struct Matcher<'a> {
    engine: &'a Engine,
    event: &'a Event,
    words: &'a [String],
}

impl Matcher<'_> {
    fn matches(&self, order: &Order) -> bool {
        if self.words.is_empty() {
            return true;
        }
        let mut text = folded(&self.searchable(order));
        if self.words.iter().all(|word| text.contains(word.as_str())) {
            return true;
        }
        // The buyer's contact is read from its sealed record: only when needed.
        let Some(personal) = self.engine.personal_data(self.event, order.id) else { return false };
        for part in [personal.email, personal.name].into_iter().flatten() {
            text.push(' ');
            text.push_str(&folded(&part));
        }
        self.words.iter().all(|word| text.contains(word.as_str()))
    }

    /// The order's id, payment reference and places, as one text.
    fn searchable(&self, order: &Order) -> String {
        let mut text = format!("{} {}", views::order_ref(self.event, order.id), order.payment_ref);
        for place in &order.places {
            let described = self.event.inventory.describe(place);
            text.push_str(&format!(" {} {}", described.section, described.tier));
            if let (Some(row), Some(number)) = (described.row, described.number) {
                text.push_str(&format!(" {row} {number} {}-{row}-{number}", described.section));
            }
        }
        text
    }

    /// Up to `want` matching orders after `after`, reading at most `chunks`
    /// chunks; and where the reading stopped (`None`: at the end).
    fn find(
        &self,
        mut after: Option<OrderCursor>,
        want: usize,
        durable: Receipt,
        chunks: usize,
    ) -> (Vec<Order>, Option<OrderCursor>) {
        let mut found = Vec::new();
        for _ in 0..chunks {
            let chunk = self.event.inventory.orders_page(after, ORDERS_PER_CHUNK, durable);
            for order in &chunk {
                after = Some(OrderCursor::of(order));
                if self.matches(order) {
                    found.push(order.clone());
                    if found.len() == want {
                        return (found, after);
                    }
                }
            }
            if chunk.len() < ORDERS_PER_CHUNK {
                return (found, None);
            }
        }
        (found, after)
    }
}

/// Every matching order as CSV (RFC 4180), written chunk by chunk as the
/// reader takes it: any number of orders, in bounded memory. `after` starts
/// it past a page's cursor, `limit` stops it after that many orders.
fn csv_export(engine: Arc<Engine>, event: Arc<Event>, query: ListQuery, durable: Receipt) -> HttpResponse {
    let (mut sender, body) = Channel::<Bytes>::new(CSV_CHUNKS_AHEAD);
    let filename = format!("attachment; filename=\"{}-orders.csv\"", event.id());
    let words = Arc::new(query.words);
    tokio::spawn(async move {
        let (mut after, mut left, mut header) = (query.after, query.limit.unwrap_or(usize::MAX), true);
        loop {
            let (engine, event, words) = (engine.clone(), event.clone(), words.clone());
            let made = tokio::task::spawn_blocking(move || {
                let matcher = Matcher { engine: &engine, event: &event, words: &words };
                let (orders, next) = matcher.find(after, left, durable, 1);
                (csv_lines(&engine, &event, &orders, header), orders.len(), next)
            })
            .await;
            let Ok((lines, written, next)) = made else { return };
            // The reader went away: stop.
            if sender.send_data(Bytes::from(lines)).await.is_err() {
                return;
            }
            left -= written;
            match next {
                Some(cursor) if left > 0 => (after, header) = (Some(cursor), false),
                _ => return,
            }
        }
    });
    let mut response = Response::new(Either::Right(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(value) = HeaderValue::from_str(&filename) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    response
}

const CSV_HEADER: [&str; 10] = [
    "order_id",
    "status",
    "created_at",
    "cancelled_at",
    "payment_ref",
    "tickets",
    "places",
    "total_cents",
    "currency",
    "personal_data",
];

fn csv_lines(engine: &Engine, event: &Event, orders: &[Order], header: bool) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    if header {
        let _ = writer.write_record(CSV_HEADER);
    }
    for order in orders {
        let places: Vec<String> = order
            .places
            .iter()
            .map(|place| {
                let described = event.inventory.describe(place);
                match (described.row, described.number) {
                    (Some(row), Some(number)) => format!("{} {row} {number}", described.section),
                    _ => format!("{} x{}", described.section, place.tickets()),
                }
            })
            .collect();
        let status = match order.status {
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Cancelled => "cancelled",
        };
        let record = [
            views::order_ref(event, order.id),
            status.to_owned(),
            order.created_at.to_rfc3339(),
            order.cancelled_at.map(|at| at.to_rfc3339()).unwrap_or_default(),
            spreadsheet_safe(&order.payment_ref),
            order.tickets.0.to_string(),
            places.join("; "),
            order.total_cents.to_string(),
            event.valid.spec.currency.clone(),
            engine.personal_data_state(event, order).name().to_owned(),
        ];
        let _ = writer.write_record(&record);
    }
    writer.into_inner().unwrap_or_default()
}

/// A field a buyer's client chose: one a spreadsheet would read as a
/// formula (`=`, `+`, `-`, `@`, a tab or a carriage return first) is
/// prefixed with `'`, so that opening the export runs nothing.
fn spreadsheet_safe(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_a_spreadsheet_would_run_is_made_text() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("pi_123"), "pi_123");
        assert_eq!(spreadsheet_safe(""), "");
    }
}
