//! Instants as integer milliseconds since the Unix epoch, with RFC 3339 at the edges.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since 1970-01-01T00:00:00Z. Fixed-size, so it can go to disk as is.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnixTimeMs(pub u64);

/// Debug shows the instant, so dumps and logs read as times.
impl fmt::Debug for UnixTimeMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl UnixTimeMs {
    pub const ZERO: Self = Self(0);

    pub fn plus_ms(self, duration_ms: u64) -> Self {
        Self(self.0.saturating_add(duration_ms))
    }

    pub fn plus_s(self, duration_s: u32) -> Self {
        self.plus_ms(u64::from(duration_s) * 1000)
    }

    /// Milliseconds from `self` until `later`, zero if `later` is not later.
    pub fn ms_until(self, later: Self) -> u64 {
        later.0.saturating_sub(self.0)
    }

    /// Parses an RFC 3339 instant (any offset; converted to UTC). Instants
    /// before 1970 are refused: nothing on sale happens then.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimeParseError> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| TimeParseError::NotRfc3339)?;
        let ms = parsed.unix_timestamp_nanos() / 1_000_000;
        u64::try_from(ms).map(Self).map_err(|_| TimeParseError::BeforeEpoch)
    }

    /// Formats as RFC 3339 in UTC with a `Z`, to the millisecond when needed.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(instant) => instant.format(&Rfc3339).unwrap_or_else(|_| self.0.to_string()),
            Err(_) => self.0.to_string(),
        }
    }
}

impl fmt::Display for UnixTimeMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeParseError {
    #[error("must be an RFC 3339 instant such as 2026-12-05T15:00:00Z")]
    NotRfc3339,
    #[error("must not be before 1970-01-01T00:00:00Z")]
    BeforeEpoch,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_in_utc() {
        let instant = UnixTimeMs::parse_rfc3339("2026-12-05T10:00:00-05:00").unwrap();
        assert_eq!(instant.to_rfc3339(), "2026-12-05T15:00:00Z");
        assert_eq!(UnixTimeMs::parse_rfc3339(&instant.to_rfc3339()), Ok(instant));
    }

    #[test]
    fn rejects_what_is_not_an_instant() {
        assert_eq!(UnixTimeMs::parse_rfc3339("2026-12-05"), Err(TimeParseError::NotRfc3339));
        assert_eq!(UnixTimeMs::parse_rfc3339("1969-12-31T23:59:59Z"), Err(TimeParseError::BeforeEpoch));
    }
}
