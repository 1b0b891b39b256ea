//! What every handler needs: the engine, the gateway's own settings and
//! budgets, the metrics, and the lookups every route starts with (the time,
//! the event a path names, waiting for durability).

use std::sync::Arc;
use std::time::Duration;

use guichet_engine::event::{Event, EventNumber};
use guichet_engine::inventory::Receipt;
use guichet_engine::store::Engine;
use guichet_engine::time::UnixTimeMs;

use super::client_address::TrustedProxies;
use super::drawings::Drawings;
use super::error::{ApiError, ApiResult};
use super::limiter::{LookupLimiter, WindowLimiter};
use super::views;
use crate::mail_status::MailStatus;
use crate::metrics::Metrics;
use crate::payments::Providers;
use crate::spare_cpu::SpareCpu;

pub struct App {
    pub engine: Arc<Engine>,
    pub admin_token: String,
    pub max_body_bytes: usize,
    pub metrics: Metrics,
    pub join_limiter: WindowLimiter,
    /// Whose `X-Forwarded-For` names the client for the join budget.
    pub trusted_proxies: TrustedProxies,
    pub seat_call_limiter: WindowLimiter,
    /// "Find my order"'s budgets, per client address and per order.
    pub lookup_limiter: LookupLimiter,
    /// The payment providers (shared with the refund worker).
    pub providers: Arc<Providers>,
    /// The SMTP relay's state (shared with the mail worker).
    pub mail: Arc<MailStatus>,
    /// Where ticket PDFs are rendered (shared with the mail worker).
    pub spare: Arc<SpareCpu>,
    /// In cluster mode, how long a change may wait for the cluster's
    /// acknowledgement before the answer is 503 (`None`: alone, no limit
    /// beyond the request's own).
    pub replication_wait: Option<Duration>,
    /// Each event's hall drawing, made once.
    pub drawings: Drawings,
}

impl App {
    pub fn now(&self) -> UnixTimeMs {
        self.engine.clock().now()
    }

    /// The event with this id, or 404.
    pub fn event(&self, id: &str) -> ApiResult<Arc<Event>> {
        self.engine.event(id).ok_or_else(|| ApiError::not_found("unknown_event", format!("there is no event {id:?}")))
    }

    /// The event a hold or order reference names, and the id within it.
    pub fn event_of_ref(&self, text: &str, prefix: char, what: &'static str) -> ApiResult<(Arc<Event>, u64)> {
        let unknown = || {
            ApiError::not_found(
                if prefix == 'h' { "unknown_hold" } else { "unknown_order" },
                format!("there is no such {what}"),
            )
        };
        let (number, id) = views::parse_ref(text, prefix).ok_or_else(unknown)?;
        let event = self.engine.event_by_number(EventNumber(number)).ok_or_else(unknown)?;
        Ok((event, id))
    }

    /// Waits until the change behind `receipt` is durable (no thread blocks).
    /// In cluster mode a change the cluster has not confirmed in time is
    /// answered 503: it may still land, so the client retries with the same
    /// idempotency key, and never sees a 2xx for a change not replicated.
    pub async fn durable(&self, receipt: Receipt) -> ApiResult<()> {
        let durable = self.engine.durable(receipt);
        let Some(limit) = self.replication_wait else { return Ok(durable.await?) };
        match tokio::time::timeout(limit, durable).await {
            Ok(outcome) => Ok(outcome?),
            Err(_) => Err(ApiError::unavailable(
                "replication_unavailable",
                "the cluster has not confirmed the change yet: retry (with the same Idempotency-Key)",
            )),
        }
    }
}
