//! Each event's hall drawing as the JSON `GET …/hall` answers, made once:
//! the spec never changes, the drawing is public, and computing thousands
//! of seats for every request would let anyone spend the sale's CPU.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use guichet_engine::drawing::HallDrawing;
use guichet_engine::event::Event;
use guichet_engine::limits::MAX_EVENTS;
use parking_lot::Mutex;

/// The drawings, by event number: one per event at most, each made by the
/// first request that needs it while the others wait for it.
#[derive(Default)]
pub struct Drawings {
    by_event: Mutex<HashMap<u32, Arc<OnceLock<Bytes>>>>,
}

impl Drawings {
    /// `event`'s drawing as JSON, with its id.
    pub fn of(&self, event: &Event) -> Bytes {
        let cell = {
            let mut by_event = self.by_event.lock();
            debug_assert!(by_event.len() <= MAX_EVENTS, "one drawing per event");
            by_event.entry(event.number.0).or_default().clone()
        };
        cell.get_or_init(|| {
            let mut drawing = serde_json::to_value(HallDrawing::of(&event.valid.spec)).unwrap_or_default();
            drawing["event_id"] = event.id().into();
            Bytes::from(serde_json::to_vec(&drawing).unwrap_or_default())
        })
        .clone()
    }
}
