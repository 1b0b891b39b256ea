//! The refund worker: drains the engine's outbox of refunds through each
//! payment's provider. An attempt's outcome is recorded in the log (done,
//! retried with backoff, or failed for good); an attempt cut short by a
//! crash is made again after the restart with the same idempotency key, so
//! the provider refunds once. Its state is in the metrics
//! (`guichet_outbox_entries`).

use std::sync::Arc;
use std::time::Duration;

use guichet_engine::outbox::OutboxEntry;
use guichet_engine::store::payments::{RefundRequest, REFUND_KIND};
use guichet_engine::store::Engine;

use super::{ProviderError, Providers};

/// How often the worker looks for refunds due.
const REFUND_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Refunds attempted per look, one after the other.
const REFUNDS_PER_POLL: usize = 32;

/// Runs until the task is dropped.
pub async fn run(engine: Arc<Engine>, providers: Arc<Providers>) {
    let mut interval = tokio::time::interval(REFUND_POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        for entry in engine.outbox_due(REFUND_KIND, REFUNDS_PER_POLL) {
            attempt(&engine, &providers, &entry).await;
        }
    }
}

async fn attempt(engine: &Engine, providers: &Providers, entry: &OutboxEntry) {
    let outcome = match serde_json::from_slice::<RefundRequest>(&entry.payload) {
        Ok(request) => match providers.get(request.provider) {
            Some(provider) => provider.refund(&request, &entry.idempotency_key).await,
            None => Err(ProviderError::retry(format!("provider {} is not configured", request.provider.name()))),
        },
        Err(error) => Err(ProviderError::permanent(format!("unreadable refund entry: {error}"))),
    };
    let (result, permanent) = match outcome {
        Ok(()) => (Ok(()), false),
        Err(error) => {
            tracing::warn!(key = %entry.idempotency_key, attempts = entry.attempts + 1, "refund failed: {}", error.message);
            (Err(error.message), error.permanent)
        }
    };
    match engine.outbox_attempted(entry.id, result, permanent) {
        Ok(receipt) => {
            if let Err(error) = engine.durable(receipt).await {
                tracing::error!("recording a refund attempt: {error}");
            }
        }
        Err(error) => tracing::error!("recording a refund attempt: {error}"),
    }
}
