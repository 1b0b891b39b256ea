//! An event the engine can run: its spec checked, its instants parsed, its
//! venue compiled. Above both `spec` and `layout`, so neither imports the other.

use crate::layout::VenueLayout;
use crate::spec::{EventSpec, SpecErrors};
use crate::time::UnixTimeMs;

/// A spec that passed validation, with its times parsed and its layout compiled.
#[derive(Clone, Debug)]
pub struct ValidEvent {
    pub spec: EventSpec,
    pub starts_at: UnixTimeMs,
    pub on_sale_at: UnixTimeMs,
    pub refund_until: Option<UnixTimeMs>,
    pub layout: VenueLayout,
}

impl EventSpec {
    /// Checks every field ([`EventSpec::check`]); on success compiles the venue layout.
    pub fn validate(&self) -> Result<ValidEvent, SpecErrors> {
        let times = self.check()?;
        Ok(ValidEvent {
            layout: VenueLayout::compile(self),
            spec: self.clone(),
            starts_at: times.starts_at,
            on_sale_at: times.on_sale_at,
            refund_until: times.refund_until,
        })
    }
}
