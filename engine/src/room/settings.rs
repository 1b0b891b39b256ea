//! What shapes a room: its configuration, fixed for the event (`RoomConfig`),
//! and the settings the promoter changes live (`RoomSettings`, changed by a
//! `SettingsPatch` checked here against the event spec's ranges).

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_ADMIT_PER_MINUTE, MAX_MAX_ACTIVE, MIN_ADMIT_PER_MINUTE, MIN_MAX_ACTIVE};
use crate::spec::{out_of_range, FieldError};
use crate::time::UnixTimeMs;

/// How the room behaves; fixed for the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomConfig {
    /// The lobby's lottery happens then.
    pub on_sale_at: UnixTimeMs,
    /// Joining closes then (the show starts).
    pub closes_at: UnixTimeMs,
    pub access_ttl_s: u32,
    /// A waiting buyer silent for longer loses the place.
    pub heartbeat_grace_s: u32,
    /// A poll is accepted from this share of the advised interval on (so
    /// clients have room for network jitter); 0 accepts every poll, for load tests.
    pub poll_tolerance_percent: u8,
    pub seed: [u8; 32],
}

impl RoomConfig {
    /// A waiting buyer last seen before this instant (Unix ms) at `now` is silent.
    pub(super) fn silent_before_ms(&self, now: UnixTimeMs) -> u64 {
        now.0.saturating_sub(u64::from(self.heartbeat_grace_s) * 1000)
    }
}

/// What the promoter controls live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    pub admit_per_minute: u32,
    pub max_active: u32,
    pub paused: bool,
}

/// A change of settings: any of the three.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    pub admit_per_minute: Option<u32>,
    pub max_active: Option<u32>,
    pub paused: Option<bool>,
}

impl SettingsPatch {
    /// The ranges of the event spec's `room`, checked with its words: the
    /// first setting out of range, named.
    pub(super) fn check(&self) -> Result<(), FieldError> {
        let settings = [
            ("admit_per_minute", self.admit_per_minute, MIN_ADMIT_PER_MINUTE, MAX_ADMIT_PER_MINUTE),
            ("max_active", self.max_active, MIN_MAX_ACTIVE, MAX_MAX_ACTIVE),
        ];
        for (field, value, min, max) in settings {
            if let Some(message) = value.and_then(|value| out_of_range(value, min, max)) {
                return Err(FieldError { field: field.into(), message });
            }
        }
        Ok(())
    }

    /// `current` with this patch's settings in place of its own.
    pub(super) fn applied_to(&self, current: RoomSettings) -> RoomSettings {
        RoomSettings {
            admit_per_minute: self.admit_per_minute.unwrap_or(current.admit_per_minute),
            max_active: self.max_active.unwrap_or(current.max_active),
            paused: self.paused.unwrap_or(current.paused),
        }
    }
}
