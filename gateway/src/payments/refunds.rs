//! The refund worker: drains the engine's outbox of refunds, and of
//! cancellations of payments whose hold ended, through each payment's
//! provider. An attempt's outcome is recorded in the log (done,
//! retried with backoff, or failed for good); an attempt cut short by a
//! crash is made again after the restart with the same idempotency key, so
//! the provider refunds once. Its state is in the metrics
//! (`guichet_outbox_entries`).

use std::sync::Arc;
use std::time::Duration;

use guichet_engine::outbox::OutboxEntry;
use guichet_engine::store::payment_upkeep::{CancelRequest, CANCEL_KIND};
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
            let outcome = refund(&providers, &entry).await;
            record(&engine, &entry, outcome).await;
        }
        for entry in engine.outbox_due(CANCEL_KIND, REFUNDS_PER_POLL) {
            let outcome = cancel(&providers, &entry).await;
            record(&engine, &entry, outcome).await;
        }
    }
}

async fn refund(providers: &Providers, entry: &OutboxEntry) -> Result<(), ProviderError> {
    let request = serde_json::from_slice::<RefundRequest>(&entry.payload)
        .map_err(|error| ProviderError::permanent(format!("unreadable refund entry: {error}")))?;
    match providers.get(request.provider) {
        Some(provider) => provider.refund(&request, &entry.idempotency_key).await,
        None => Err(ProviderError::retry(format!("provider {} is not configured", request.provider.name()))),
    }
}

async fn cancel(providers: &Providers, entry: &OutboxEntry) -> Result<(), ProviderError> {
    let request = serde_json::from_slice::<CancelRequest>(&entry.payload)
        .map_err(|error| ProviderError::permanent(format!("unreadable cancellation entry: {error}")))?;
    match providers.get(request.provider) {
        Some(provider) => provider.cancel(&request, &entry.idempotency_key).await,
        None => Err(ProviderError::retry(format!("provider {} is not configured", request.provider.name()))),
    }
}

/// Records an attempt's outcome in the log.
async fn record(engine: &Engine, entry: &OutboxEntry, outcome: Result<(), ProviderError>) {
    let (result, permanent) = match outcome {
        Ok(()) => (Ok(()), false),
        Err(error) => {
            tracing::warn!(key = %entry.idempotency_key, attempts = entry.attempts + 1, "{} failed: {}", entry.kind, error.message);
            (Err(error.message), error.permanent)
        }
    };
    match engine.outbox_attempted(entry.id, result, permanent) {
        Ok(receipt) => {
            if let Err(error) = engine.durable(receipt).await {
                tracing::error!("recording an outbox attempt: {error}");
            }
        }
        Err(error) => tracing::error!("recording a refund attempt: {error}"),
    }
}
