//! The demo event: the Céline Dion benefit concert at the Amphithéâtre Cogeco,
//! Trois-Rivières (3,500 reserved seats, about 200 of them in loges, and a
//! 5,500-place lawn). The spec is the file `docs/examples/celine-dion-trois-rivieres.json`.

use crate::spec::EventSpec;
use crate::valid::ValidEvent;

/// The demo spec as JSON, exactly as `POST /v1/events` takes it.
pub const DEMO_EVENT_JSON: &str = include_str!("../../docs/examples/celine-dion-trois-rivieres.json");

/// The demo event, parsed and validated.
pub fn demo_event() -> ValidEvent {
    let spec: EventSpec = serde_json::from_str(DEMO_EVENT_JSON).expect("the shipped demo event parses");
    spec.validate().expect("the shipped demo event is valid")
}
