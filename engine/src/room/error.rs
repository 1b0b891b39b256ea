//! What can go wrong in the waiting room, each with the stable code the API sends.

use super::join_keys::BadJoinKey;
use crate::commit::SinkError;
use crate::spec::FieldError;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("this queue token names no buyer of this event")]
    UnknownBuyer,
    #[error("polling too fast; wait {retry_after_ms} ms")]
    TooEarly { retry_after_ms: u64 },
    #[error("the waiting room is full")]
    Full,
    #[error("the event has started; the waiting room is closed")]
    Closed,
    #[error("{}", .0.rule())]
    BadJoinKey(BadJoinKey),
    #[error("the waiting room keeps as many join keys as it can; retry")]
    JoinKeysFull,
    #[error("{0}")]
    InvalidSetting(FieldError),
    #[error(transparent)]
    Log(#[from] SinkError),
}

impl RoomError {
    pub fn code(&self) -> &'static str {
        match self {
            // The token is well signed but names nobody here: to the client, an invalid token.
            RoomError::UnknownBuyer => "invalid_token",
            RoomError::TooEarly { .. } => "poll_too_fast",
            RoomError::Full => "room_full",
            RoomError::Closed => "room_closed",
            RoomError::BadJoinKey(_) => "bad_idempotency_key",
            RoomError::JoinKeysFull => "join_keys_full",
            RoomError::InvalidSetting(_) => "invalid_body",
            RoomError::Log(sink) => sink.code(),
        }
    }
}

impl From<BadJoinKey> for RoomError {
    fn from(bad: BadJoinKey) -> Self {
        RoomError::BadJoinKey(bad)
    }
}
