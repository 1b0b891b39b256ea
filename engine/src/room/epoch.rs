//! Time inside the room: per-buyer times are kept compact, as whole seconds
//! after the room's epoch (the event's creation), and the admission rate is
//! counted by such seconds.

use crate::time::UnixTimeMs;

/// The room's time zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Epoch(pub(super) UnixTimeMs);

impl Epoch {
    /// The first millisecond of a second after the epoch.
    pub(super) fn start_of_second(self, second: u64) -> UnixTimeMs {
        self.0.plus_ms(second.saturating_mul(1000))
    }

    /// The second after the epoch that `at` falls in.
    pub(super) fn second_of(self, at: UnixTimeMs) -> u64 {
        self.0.ms_until(at) / 1000
    }

    /// `at` as a compact offset, rounded up (an access never ends early).
    pub(super) fn offset_s(self, at: UnixTimeMs) -> u32 {
        u32::try_from(self.0.ms_until(at).div_ceil(1000)).unwrap_or(u32::MAX)
    }

    /// A compact offset as an instant.
    pub(super) fn at_offset(self, offset_s: u32) -> UnixTimeMs {
        self.0.plus_s(offset_s)
    }
}
