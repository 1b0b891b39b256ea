//! One virtual buyer, as a person on a phone would behave: arrives at the
//! planned instant, joins the queue, polls when the server says, takes seats
//! once admitted, thinks, pays (or walks away). Through a server restart it
//! retries with the same tokens and the same idempotency keys: a join, a hold
//! and a purchase each carry one, reused on every retry of that request, so a
//! retry whose first answer was lost leaves no ghost place or second hold.
//!
//! The shared `context` and the `record` each buyer leaves are their own
//! modules; a `visit` in progress (with its HTTP retries) goes through the
//! `queue`, then `shopping`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use hyper::Method;

use crate::api::{Call, Endpoint};
use crate::plan::{BuyerPlan, Draws};

mod context;
mod queue;
mod record;
mod shopping;
mod visit;

pub use context::{Context, Tally, Venue};
pub use record::{BuyerRecord, End, Seat};
use visit::{Step, Visit};

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

impl Visit {
    /// The whole visit: queue, shopping, and giving the place back if nothing was bought.
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
            let path = self.queue_path();
            let _ = self.send(Call::new(Endpoint::Leave, Method::DELETE, &path).token(&queue_token)).await;
        }
        Ok(end)
    }
}

// Only the audit's tests build an acknowledged order by hand.
#[cfg(test)]
pub use record::Acknowledged;
