//! Each event's hall drawing as the JSON `GET …/hall` answers, made once:
//! the spec never changes, the drawing is public, and computing thousands
//! of seats for every request would let anyone spend the sale's CPU.

use std::collections::HashMap;

use bytes::Bytes;
use guichet_engine::drawing::HallDrawing;
use guichet_engine::event::Event;
use guichet_engine::limits::MAX_EVENTS;
use parking_lot::Mutex;

/// The drawings made so far, by event number: one per event at most.
#[derive(Default)]
pub struct Drawings {
    by_event: Mutex<HashMap<u32, Bytes>>,
}

impl Drawings {
    /// `event`'s drawing as JSON, with its id.
    pub fn of(&self, event: &Event) -> Bytes {
        if let Some(made) = self.by_event.lock().get(&event.number.0) {
            return made.clone();
        }
        let mut drawing = serde_json::to_value(HallDrawing::of(&event.valid.spec)).unwrap_or_default();
        drawing["event_id"] = event.id().into();
        let made = Bytes::from(serde_json::to_vec(&drawing).unwrap_or_default());
        let mut by_event = self.by_event.lock();
        debug_assert!(by_event.len() <= MAX_EVENTS, "one drawing per event");
        by_event.insert(event.number.0, made.clone());
        made
    }
}
