//! Creating events: live from a promoter's spec (one record that names the
//! creator, for the events and the credentials alike), and from the log's
//! or a snapshot's spec during recovery; both register the event the same way.

use std::sync::Arc;

use super::{CreateEventError, Engine};
use crate::commit::{ApplyError, Receipt, SinkError};
use crate::credentials::{CredentialError, CredentialId, CredentialRecord};
use crate::event::{Event, EventNumber, PollPolicy, WalRecordRef};
use crate::limits::MAX_EVENTS;
use crate::spec::EventSpec;
use crate::time::UnixTimeMs;
use crate::valid::ValidEvent;

impl Engine {
    /// Builds an event from its logged spec and registers it under `number`.
    pub(crate) fn add_event(
        &self,
        number: EventNumber,
        spec_json: &str,
        created_at: UnixTimeMs,
        lottery_seed: [u8; 32],
    ) -> Result<Arc<Event>, ApplyError> {
        let spec: EventSpec = serde_json::from_str(spec_json).map_err(|e| ApplyError(format!("event spec: {e}")))?;
        let valid = spec.validate().map_err(|e| ApplyError(e.to_string()))?;
        let mut ordered = self.ordered.lock();
        if number.0 as usize != ordered.len() {
            return Err(ApplyError(format!("event number {} out of order (expected {})", number.0, ordered.len())));
        }
        Ok(self.register(&mut ordered, number, valid, created_at, lottery_seed))
    }

    fn register(
        &self,
        ordered: &mut Vec<Arc<Event>>,
        number: EventNumber,
        valid: ValidEvent,
        created_at: UnixTimeMs,
        lottery_seed: [u8; 32],
    ) -> Arc<Event> {
        let policy = PollPolicy {
            heartbeat_grace_s: self.options.heartbeat_grace_s,
            poll_tolerance_percent: self.options.poll_tolerance_percent,
        };
        let (clock, log) = (self.clock.clone(), self.log.clone());
        let event = Arc::new(Event::new(number, valid, created_at, lottery_seed, policy, clock, log));
        self.events.insert(event.id().into(), event.clone());
        ordered.push(event.clone());
        event
    }

    /// Creates an event as the environment's admin; durable once the receipt is.
    pub fn create_event(&self, spec: &EventSpec) -> Result<(Arc<Event>, Receipt), CreateEventError> {
        self.create_event_by(spec, CredentialId::ENV_ADMIN)
    }

    /// Creates an event for credential `by` (a promoter owns what it creates):
    /// one record, for the events and the credentials alike.
    pub fn create_event_by(
        &self,
        spec: &EventSpec,
        by: CredentialId,
    ) -> Result<(Arc<Event>, Receipt), CreateEventError> {
        let valid = spec.validate()?;
        let spec_json = serde_json::to_string(spec).expect("an event spec serialises");
        let mut ordered = self.ordered.lock();
        if self.events.contains_key(spec.id.as_str()) {
            return Err(CreateEventError::Exists(spec.id.clone()));
        }
        if ordered.len() >= MAX_EVENTS {
            return Err(CreateEventError::TooManyEvents);
        }
        let number = EventNumber(ordered.len() as u32);
        let at = self.clock.now();
        let mut lottery_seed = [0; 32];
        self.options.entropy.fill(&mut lottery_seed);
        let record =
            WalRecordRef::EventCreatedBy { event: number, at, lottery_seed, spec_json: &spec_json, created_by: by };
        let owned = CredentialRecord::EventOwned { id: by, event: spec.id.clone() };
        let receipt =
            self.credentials.change(|_| Ok(Some(owned)), |_| self.log.submit(&record)).map_err(
                |error| match error {
                    CredentialError::Log(sink) => CreateEventError::Log(sink),
                    other => CreateEventError::Log(SinkError::Encode(other.to_string())),
                },
            )?;
        Ok((self.register(&mut ordered, number, valid, at, lottery_seed), receipt))
    }
}
