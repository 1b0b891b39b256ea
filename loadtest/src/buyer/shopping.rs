//! The shopping part of a visit, once admitted: picking seats (explicitly,
//! best available or general admission, looking at the seat map when told
//! too few are left), holding them, thinking, and paying or walking away.

use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::Method;
use serde_json::{json, Value};

use super::record::{Acknowledged, End, Seat};
use super::visit::{Step, Visit};
use crate::api::{Call, Endpoint, Reply};
use crate::plan::Choice;

/// How many times a buyer tries for seats before giving up.
const HOLD_ATTEMPTS: u32 = 4;
/// A key still in flight (a retry racing its first try): ask again after this.
const IN_FLIGHT_RETRY: Duration = Duration::from_millis(200);

impl Visit {
    /// Admitted: seats, checkout, payment.
    pub(super) async fn shop(&mut self, access_token: &str) -> Step<End> {
        self.sleep(self.record.plan.think_before_hold).await?;
        let Some(hold) = self.take_seats(access_token).await? else {
            self.record.gave_up_at = Some(self.context.start.elapsed());
            return Ok(End::NoSeatsFound);
        };
        let Some(hold_id) = hold["hold_id"].as_str().map(str::to_owned) else { return Ok(End::Refused) };
        self.sleep(self.record.plan.think_before_purchase).await?;
        if self.record.plan.abandon_at_checkout {
            // Half release the seats, half just close the tab and let the hold expire.
            if self.draws.percent(50) {
                let path = format!("/v1/holds/{hold_id}");
                self.send(Call::new(Endpoint::Release, Method::DELETE, &path).token(access_token)).await?;
            }
            return Ok(End::AbandonedAtCheckout);
        }
        self.purchase(access_token, &hold_id).await
    }

    async fn take_seats(&mut self, access_token: &str) -> Step<Option<Value>> {
        let mut choice = self.record.plan.choice;
        // Told too few are left where they asked, buyers look at the seat map
        // and ask where there is room for their party, as a person would.
        let mut look_at_map = false;
        for attempt in 0..HOLD_ATTEMPTS {
            let request = if look_at_map {
                match self.section_with_room(access_token).await? {
                    Some(request) => request,
                    None => return Ok(None),
                }
            } else {
                match choice {
                    Choice::Explicit => match self.pick_seats(access_token).await? {
                        Some(request) => request,
                        None => {
                            choice = Choice::BestAvailable;
                            continue;
                        }
                    },
                    Choice::BestAvailable => self.best_available_request(),
                    Choice::GeneralAdmission => match self.ga_request() {
                        Some(request) => request,
                        None => {
                            choice = Choice::BestAvailable;
                            continue;
                        }
                    },
                }
            };
            // Each attempt asks for other seats: a request of its own, with a key of its own.
            let key = format!("{}-{}-hold-{attempt}", self.context.run_tag, self.record.plan.index);
            let reply = self.hold(access_token, &request, &key).await?;
            match reply.status {
                200 | 201 => return Ok(Some(reply.json())),
                409 => {
                    if reply.error_code() == "seats_unavailable" {
                        self.record.conflicts += 1;
                    } else {
                        self.record.too_few_left += 1;
                        look_at_map = true;
                    }
                    // Someone else took them: look again; a GA buyer turns to seats.
                    if choice == Choice::GeneralAdmission {
                        choice = Choice::BestAvailable;
                    }
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Sends one hold request, again with the same key while its first try is in flight.
    async fn hold(&self, access_token: &str, request: &Value, key: &str) -> Step<Reply> {
        let path = format!("/v1/events/{}/holds", self.context.event_id);
        loop {
            let call = Call::new(Endpoint::Hold, Method::POST, &path).token(access_token).json(request);
            let reply = self.send(call.idempotency_key(key)).await?;
            if reply.status == 409 && reply.error_code() == "idempotency_key_in_flight" {
                self.sleep(IN_FLIGHT_RETRY).await?;
                continue;
            }
            return Ok(reply);
        }
    }

    /// The seat map, as the buyer sees it; `None` if it is refused.
    async fn seat_map(&mut self, access_token: &str) -> Step<Option<Value>> {
        let path = format!("/v1/events/{}/seats", self.context.event_id);
        let reply = self.send(Call::new(Endpoint::Seats, Method::GET, &path).token(access_token)).await?;
        Ok((reply.status == 200).then(|| reply.json()))
    }

    /// A run of adjacent available seats on the seat map, chosen at random.
    async fn pick_seats(&mut self, access_token: &str) -> Step<Option<Value>> {
        let Some(map) = self.seat_map(access_token).await? else { return Ok(None) };
        let wanted = self.record.plan.tickets as usize;
        let mut runs: Vec<(String, String, Vec<u64>)> = Vec::new();
        for section in map["sections"].as_array().into_iter().flatten() {
            let Some(section_id) = section["section"].as_str() else { continue };
            for row in section["rows"].as_array().into_iter().flatten() {
                let numbers: Vec<u64> =
                    row["available"].as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
                for window in numbers.windows(wanted) {
                    if window.windows(2).all(|pair| pair[0].checked_add(1) == Some(pair[1])) {
                        let row_id = row["row"].as_str().unwrap_or("").to_owned();
                        runs.push((section_id.to_owned(), row_id, window.to_vec()));
                    }
                }
            }
        }
        if runs.is_empty() {
            return Ok(None);
        }
        let (section, row, numbers) = &runs[self.draws.between(0, runs.len() as u64 - 1) as usize];
        let seats: Vec<Value> = numbers.iter().map(|n| json!({"section": section, "row": row, "number": n})).collect();
        Ok(Some(json!({ "seats": seats })))
    }

    /// Best available in a section the seat map shows with room for the
    /// whole party, chosen at random; `None` when no section has room.
    async fn section_with_room(&mut self, access_token: &str) -> Step<Option<Value>> {
        let Some(map) = self.seat_map(access_token).await? else { return Ok(None) };
        let quantity = u64::from(self.record.plan.tickets);
        let places_left = |section: &Value| match section["available"].as_u64() {
            Some(places) => places, // general admission
            None => section["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|row| row["available"].as_array().map_or(0, |seats| seats.len() as u64))
                .sum(),
        };
        let with_room: Vec<&str> = map["sections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|section| places_left(section) >= quantity)
            .filter_map(|section| section["section"].as_str())
            .collect();
        if with_room.is_empty() {
            return Ok(None);
        }
        let section = with_room[self.draws.between(0, with_room.len() as u64 - 1) as usize];
        Ok(Some(json!({ "section": section, "quantity": quantity })))
    }

    fn best_available_request(&mut self) -> Value {
        let venue = &self.context.venue;
        let quantity = self.record.plan.tickets;
        let targets = venue.reserved_sections.len() + venue.tiers.len();
        let pick = self.draws.between(0, targets.max(1) as u64 - 1) as usize;
        match venue.reserved_sections.get(pick) {
            Some(section) => json!({ "section": section, "quantity": quantity }),
            None => match venue.tiers.get(pick - venue.reserved_sections.len()) {
                Some(tier) => json!({ "tier": tier, "quantity": quantity }),
                None => json!({ "section": venue.ga_sections.first(), "quantity": quantity }),
            },
        }
    }

    fn ga_request(&mut self) -> Option<Value> {
        let sections = &self.context.venue.ga_sections;
        let section = sections.get(self.draws.between(0, sections.len().max(1) as u64 - 1) as usize)?;
        Some(json!({ "section": section, "quantity": self.record.plan.tickets }))
    }

    async fn purchase(&mut self, access_token: &str, hold_id: &str) -> Step<End> {
        if self.context.paid_through_test_provider {
            return self.pay_on_test_page(access_token, hold_id).await;
        }
        let key = format!("{}-{}", self.context.run_tag, self.record.plan.index);
        self.record.purchase_attempted = Some(key.clone());
        let path = format!("/v1/holds/{hold_id}/purchase");
        let body = json!({ "payment_ref": key });
        loop {
            let call = Call::new(Endpoint::Purchase, Method::POST, &path)
                .token(access_token)
                .json(&body)
                .idempotency_key(&key);
            let reply = self.send(call).await?;
            match reply.status {
                200 | 201 => {
                    let order = reply.json();
                    self.record.order = Some(acknowledged(&order));
                    self.context.tally.bought.fetch_add(1, Ordering::Relaxed);
                    let tickets = order["tickets"].as_array().map_or(0, Vec::len) as u64;
                    self.context.tally.tickets.fetch_add(tickets, Ordering::Relaxed);
                    return Ok(End::Bought);
                }
                // The same key still in flight (a retry racing the first try): ask again.
                409 if reply.error_code().contains("in_flight") => self.sleep(IN_FLIGHT_RETRY).await?,
                410 => return Ok(End::HoldExpired),
                401 => return Ok(End::AccessExpired),
                _ => return Ok(End::Refused),
            }
        }
    }
}

impl Visit {
    /// A paid event's way to an order: checkout (the payment; its id is the
    /// order's payment reference), then the test page's confirmation. Both
    /// calls count under `purchase` in the report.
    async fn pay_on_test_page(&mut self, access_token: &str, hold_id: &str) -> Step<End> {
        let path = format!("/v1/holds/{hold_id}/checkout");
        let mut call = Call::new(Endpoint::Purchase, Method::POST, &path).token(access_token);
        let contact = json!({ "email": format!("buyer-{}@loadtest.invalid", self.record.plan.index) });
        if self.context.buyer_email {
            call = call.json(&contact);
        }
        let reply = self.send(call).await?;
        let payment_id = match reply.status {
            200 => reply.json()["payment"]["payment_id"].as_str().unwrap_or("").to_owned(),
            410 => return Ok(End::HoldExpired),
            401 => return Ok(End::AccessExpired),
            _ => return Ok(End::Refused),
        };
        self.record.purchase_attempted = Some(payment_id.clone());
        let path = format!("/v1/payments/{payment_id}/test-confirm");
        let reply = self.send(Call::new(Endpoint::Purchase, Method::POST, &path).token(access_token)).await?;
        match reply.status {
            200 => {
                let answer = reply.json();
                // No order: the hold had ended, and the payment is refunded.
                if answer["order"].is_null() {
                    return Ok(End::HoldExpired);
                }
                let order = &answer["order"];
                self.record.order = Some(acknowledged(order));
                self.context.tally.bought.fetch_add(1, Ordering::Relaxed);
                let tickets = order["tickets"].as_array().map_or(0, Vec::len) as u64;
                self.context.tally.tickets.fetch_add(tickets, Ordering::Relaxed);
                Ok(End::Bought)
            }
            401 => Ok(End::AccessExpired),
            _ => Ok(End::Refused),
        }
    }
}

fn acknowledged(order: &Value) -> Acknowledged {
    let tickets = order["tickets"].as_array().cloned().unwrap_or_default();
    Acknowledged {
        order_id: order["order_id"].as_str().unwrap_or("").to_owned(),
        ticket_ids: tickets.iter().filter_map(|t| t["ticket_id"].as_str().map(str::to_owned)).collect(),
        seats: tickets.iter().map(Seat::from_ticket).collect(),
    }
}
