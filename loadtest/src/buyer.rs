//! One virtual buyer, as a person on a phone would behave: arrives at the
//! planned instant, joins the queue, polls when the server says, takes seats
//! once admitted, thinks, pays (or walks away). Through a server restart it
//! retries with the same tokens and the same idempotency keys: a join, a hold
//! and a purchase each carry one, reused on every retry of that request, so a
//! retry whose first answer was lost leaves no ghost place or second hold.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Value};

use crate::api::{Api, Call, Endpoint, Reply, TransportError};
use crate::plan::{BuyerPlan, Choice, Draws};

/// How many times a buyer tries for seats before giving up.
const HOLD_ATTEMPTS: u32 = 4;
/// Longest pause between retries when the server does not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Join keys come from their own stream of the buyer's seeded draws (the
/// buyer's other draws stay as they were): the seed with this mixed in.
const JOIN_KEY_STREAM: u64 = 0x6a6f_696e_2d6b_6579; // "join-key"
/// A key still in flight (a retry racing its first try): ask again after this.
const IN_FLIGHT_RETRY: Duration = Duration::from_millis(200);

/// The venue as buyers see it: where they can ask for seats.
pub struct Venue {
    pub reserved_sections: Vec<String>,
    pub ga_sections: Vec<String>,
    pub tiers: Vec<String>,
}

/// Live counts for the progress display.
#[derive(Default)]
pub struct Tally {
    pub arrived: AtomicU64,
    pub queued: AtomicU64,
    pub admitted: AtomicU64,
    pub bought: AtomicU64,
    pub tickets: AtomicU64,
    pub finished: AtomicU64,
    /// Queue answers (a join's or a poll's) that said admitted without the access token.
    pub admitted_without_token: AtomicU64,
}

/// What every buyer shares.
pub struct Context {
    pub api: Arc<Api>,
    pub event_id: String,
    /// Distinguishes this run's payment references and idempotency keys.
    pub run_tag: String,
    pub start: Instant,
    pub deadline: Instant,
    pub venue: Venue,
    pub sold_out_patience: Duration,
    pub tally: Tally,
}

/// How a buyer's visit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum End {
    Bought,
    SoldOut,
    LeftQueue,
    AbandonedAtCheckout,
    NoSeatsFound,
    HoldExpired,
    AccessExpired,
    PlaceLost,
    Closed,
    OutOfTime,
    Refused,
}

impl End {
    pub fn name(self) -> &'static str {
        match self {
            End::Bought => "bought",
            End::SoldOut => "sold out",
            End::LeftQueue => "left the queue",
            End::AbandonedAtCheckout => "abandoned at checkout",
            End::NoSeatsFound => "no seats found",
            End::HoldExpired => "hold expired",
            End::AccessExpired => "access expired",
            End::PlaceLost => "place lost",
            End::Closed => "closed",
            End::OutOfTime => "run over",
            End::Refused => "refused",
        }
    }
}

/// A ticket as an order lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seat {
    pub section: String,
    pub row: Option<String>,
    pub number: Option<u64>,
}

impl Seat {
    pub fn from_ticket(ticket: &Value) -> Self {
        Seat {
            section: ticket["section"].as_str().unwrap_or("").to_owned(),
            row: ticket["row"].as_str().map(str::to_owned),
            number: ticket["number"].as_u64(),
        }
    }
}

/// An order the server acknowledged to this buyer (201 or 200).
#[derive(Clone, Debug)]
pub struct Acknowledged {
    pub order_id: String,
    pub ticket_ids: Vec<String>,
    pub seats: Vec<Seat>,
}

/// Everything the audit and the report need from one buyer.
#[derive(Clone, Debug)]
pub struct BuyerRecord {
    pub plan: BuyerPlan,
    pub joined_at: Option<Duration>,
    /// The server's buyer number (join order), read from the queue token.
    pub buyer_number: Option<u64>,
    /// The server put the buyer in the lobby (before the on-sale).
    pub in_lobby: bool,
    pub eta_at_join_s: Option<u64>,
    /// The first ETA the buyer was shown (at the join, or at the first poll
    /// out of the lobby), and when.
    pub first_eta: Option<(Duration, u64)>,
    /// When the server first said the places would likely not reach the
    /// buyer (`sold_out_likely`) or were gone (`sold_out`).
    pub warned_at: Option<Duration>,
    pub admitted_at: Option<Duration>,
    /// When the buyer gave up finding places (ended with "no seats found").
    pub gave_up_at: Option<Duration>,
    /// Holds refused because the seats picked on the map were taken meanwhile.
    pub conflicts: u32,
    /// Holds refused because the section or tier had too few places left.
    pub too_few_left: u32,
    /// The payment reference (also the idempotency key) of the purchase, once tried.
    pub purchase_attempted: Option<String>,
    pub order: Option<Acknowledged>,
    pub end: End,
}

/// Runs one buyer to the end of the visit.
pub async fn visit(context: Arc<Context>, plan: BuyerPlan) -> BuyerRecord {
    tokio::time::sleep_until((context.start + plan.arrival).into()).await;
    context.tally.arrived.fetch_add(1, Ordering::Relaxed);
    let mut visit = Visit {
        draws: Draws::new(plan.seed, u64::from(plan.index)),
        record: BuyerRecord {
            plan,
            joined_at: None,
            buyer_number: None,
            in_lobby: false,
            eta_at_join_s: None,
            first_eta: None,
            warned_at: None,
            admitted_at: None,
            gave_up_at: None,
            conflicts: 0,
            too_few_left: 0,
            purchase_attempted: None,
            order: None,
            end: End::OutOfTime,
        },
        context: context.clone(),
    };
    visit.record.end = visit.run().await.unwrap_or(End::OutOfTime);
    context.tally.finished.fetch_add(1, Ordering::Relaxed);
    visit.record
}

struct Visit {
    context: Arc<Context>,
    record: BuyerRecord,
    draws: Draws,
}

/// The run's deadline passed: stop where we are.
struct OutOfTime;

type Step<T> = Result<T, OutOfTime>;

impl Visit {
    async fn run(&mut self) -> Step<End> {
        let Some(queue_token) = self.join().await? else { return Ok(End::Refused) };
        let access_token = match self.wait_in_line(&queue_token).await? {
            Ok(token) => token,
            Err(end) => return Ok(end),
        };
        self.record.admitted_at = Some(self.context.start.elapsed());
        self.context.tally.admitted.fetch_add(1, Ordering::Relaxed);
        let end = self.shop(&access_token).await?;
        if end != End::Bought && end != End::AccessExpired {
            // Gives the place back so the next buyer is admitted sooner.
            let path = format!("/v1/events/{}/queue", self.context.event_id);
            let _ = self.send(Call::new(Endpoint::Leave, Method::DELETE, &path).token(&queue_token)).await;
        }
        Ok(end)
    }

    async fn join(&mut self) -> Step<Option<String>> {
        let path = format!("/v1/events/{}/queue", self.context.event_id);
        let key = join_key(&self.record.plan);
        let reply = self.send(Call::new(Endpoint::Join, Method::POST, &path).idempotency_key(&key)).await?;
        // 200: a retry found the place its first try made (the answer was lost).
        if reply.status != 201 && reply.status != 200 {
            return Ok(None);
        }
        let body = reply.json();
        self.check_admitted_has_token(&body["status"]);
        let Some(token) = body["queue_token"].as_str() else { return Ok(None) };
        self.record.joined_at = Some(self.context.start.elapsed());
        self.record.buyer_number = buyer_number(token);
        self.record.in_lobby = body["status"]["state"] == "lobby";
        self.record.eta_at_join_s = body["status"]["eta_s"].as_u64();
        self.note_status(&body["status"]);
        self.context.tally.queued.fetch_add(1, Ordering::Relaxed);
        Ok(Some(token.to_owned()))
    }

    /// Counts a queue status that says admitted without its token (the audit fails on any).
    fn check_admitted_has_token(&self, status: &Value) {
        if status["state"] == "admitted" && !status["access_token"].is_string() {
            self.context.tally.admitted_without_token.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Polls until admitted (the access token) or the visit ends.
    async fn wait_in_line(&mut self, queue_token: &str) -> Step<Result<String, End>> {
        let path = format!("/v1/events/{}/queue/status", self.context.event_id);
        let joined = Instant::now();
        let mut sold_out_since: Option<Instant> = None;
        let mut poll_after = Duration::ZERO;
        loop {
            self.sleep(poll_after).await?;
            if sold_out_since.is_some_and(|since| since.elapsed() >= self.context.sold_out_patience) {
                self.send(Call::new(Endpoint::Leave, Method::DELETE, &self.queue_path()).token(queue_token)).await?;
                return Ok(Err(End::SoldOut));
            }
            if self.record.plan.abandon_in_queue_after.is_some_and(|after| joined.elapsed() >= after) {
                self.send(Call::new(Endpoint::Leave, Method::DELETE, &self.queue_path()).token(queue_token)).await?;
                return Ok(Err(End::LeftQueue));
            }
            let reply = self.send(Call::new(Endpoint::Status, Method::GET, &path).token(queue_token)).await?;
            if reply.status == 429 {
                poll_after = reply.retry_after.unwrap_or(Duration::from_secs(1));
                continue;
            }
            if reply.status != 200 {
                return Ok(Err(End::Refused));
            }
            let status = reply.json();
            self.note_status(&status);
            poll_after = Duration::from_millis(status["poll_after_ms"].as_u64().unwrap_or(1_000));
            self.check_admitted_has_token(&status);
            match status["state"].as_str().unwrap_or("") {
                "admitted" => match status["access_token"].as_str() {
                    Some(token) => return Ok(Ok(token.to_owned())),
                    None => return Ok(Err(End::Refused)),
                },
                "sold_out" => {
                    // Wakes when patience runs out (then leaves without polling
                    // early), or when the server says to poll, whichever is first.
                    let since = *sold_out_since.get_or_insert_with(Instant::now);
                    poll_after = poll_after.min(self.context.sold_out_patience.saturating_sub(since.elapsed()));
                }
                "lobby" | "waiting" => sold_out_since = None,
                "closed" => return Ok(Err(End::Closed)),
                "left" => return Ok(Err(End::LeftQueue)),
                "expired" => return Ok(Err(End::PlaceLost)),
                _ => return Ok(Err(End::Refused)),
            }
        }
    }

    /// Remembers the first ETA shown and the first warning that the places may not last.
    fn note_status(&mut self, status: &Value) {
        let now = self.context.start.elapsed();
        if let (None, Some(eta)) = (self.record.first_eta, status["eta_s"].as_u64()) {
            self.record.first_eta = Some((now, eta));
        }
        let warned = status["sold_out_likely"] == true || status["state"] == "sold_out";
        if warned && self.record.warned_at.is_none() {
            self.record.warned_at = Some(now);
        }
    }

    /// Admitted: seats, checkout, payment.
    async fn shop(&mut self, access_token: &str) -> Step<End> {
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

    fn queue_path(&self) -> String {
        format!("/v1/events/{}/queue", self.context.event_id)
    }

    /// Sends until the server answers with something other than 503 (or a
    /// 429 on anything but a status poll); waits as told, backs off when
    /// there is no answer at all (the server restarting).
    async fn send(&self, call: Call<'_>) -> Step<Reply> {
        let mut backoff = Duration::from_millis(100);
        loop {
            if Instant::now() >= self.context.deadline {
                return Err(OutOfTime);
            }
            match self.context.api.send(call.clone()).await {
                Ok(reply) if reply.status == 503 || (reply.status == 429 && call.endpoint != Endpoint::Status) => {
                    self.sleep(reply.retry_after.unwrap_or(Duration::from_secs(1))).await?;
                }
                Ok(reply) => return Ok(reply),
                Err(TransportError(_)) => {
                    self.sleep(backoff).await?;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn sleep(&self, pause: Duration) -> Step<()> {
        let until = Instant::now() + pause;
        if until >= self.context.deadline {
            tokio::time::sleep_until(self.context.deadline.into()).await;
            return Err(OutOfTime);
        }
        tokio::time::sleep_until(until.into()).await;
        Ok(())
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

/// A buyer's join key: 16 bytes (the 128 bits a join key must carry) from
/// the run's seeded draws, in base64url, so a repeated run sends the same keys.
fn join_key(plan: &BuyerPlan) -> String {
    use base64::Engine as _;
    let bytes: [u8; 16] = Draws::new(plan.seed ^ JOIN_KEY_STREAM, u64::from(plan.index)).bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The buyer's number in join order, as the queue token carries it (the
/// token's payload is readable; only its signature is secret).
pub fn buyer_number(queue_token: &str) -> Option<u64> {
    use base64::Engine as _;
    let payload_text = queue_token.split('.').next()?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload_text).ok()?;
    let bytes: [u8; 8] = payload.get(10..18)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}
