//! One buyer's visit in progress, and the HTTP bits every step of it uses:
//! sending with retries (as told by 503 and 429, with backoff when the server
//! does not answer) and sleeping, both bounded by the run's deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::context::Context;
use super::record::BuyerRecord;
use crate::api::{Call, Endpoint, Reply, TransportError};
use crate::plan::Draws;

/// Longest pause between retries when the server does not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A buyer between arrival and the end of the visit.
pub struct Visit {
    pub context: Arc<Context>,
    pub record: BuyerRecord,
    pub draws: Draws,
}

/// The run's deadline passed: stop where we are.
pub struct OutOfTime;

/// One step of the visit: its outcome, unless the run ran out of time.
pub type Step<T> = Result<T, OutOfTime>;

impl Visit {
    /// Sends until the server answers with something other than 503 (or a
    /// 429 on anything but a status poll); waits as told, backs off when
    /// there is no answer at all (the server restarting).
    pub(super) async fn send(&self, call: Call<'_>) -> Step<Reply> {
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

    pub(super) async fn sleep(&self, pause: Duration) -> Step<()> {
        let until = Instant::now() + pause;
        if until >= self.context.deadline {
            tokio::time::sleep_until(self.context.deadline.into()).await;
            return Err(OutOfTime);
        }
        tokio::time::sleep_until(until.into()).await;
        Ok(())
    }
}
