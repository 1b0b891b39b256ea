//! The queue part of a visit: joining (with a join key drawn from the run's
//! seed), polling as the server says until admitted, leaving when patience
//! or the places run out; and reading the buyer's number from its token.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::Value;

use super::record::End;
use super::visit::{Step, Visit};
use crate::api::{Call, Endpoint};
use crate::plan::{BuyerPlan, Draws};

/// Join keys come from their own stream of the buyer's seeded draws (the
/// buyer's other draws stay as they were): the seed with this mixed in.
const JOIN_KEY_STREAM: u64 = 0x6a6f_696e_2d6b_6579; // "join-key"

impl Visit {
    pub(super) async fn join(&mut self) -> Step<Option<String>> {
        let path = self.queue_path();
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
    pub(super) async fn wait_in_line(&mut self, queue_token: &str) -> Step<Result<String, End>> {
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

    /// The event's queue, where buyers join and leave.
    pub(super) fn queue_path(&self) -> String {
        format!("/v1/events/{}/queue", self.context.event_id)
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
