//! The contract between a change and the log, shared by every part that
//! writes records (the inventory, the waiting room, the engine): a record
//! handed to the log gets a [`Receipt`] to await durability on, or a
//! [`SinkError`] and the change is not made; a record read back that does not
//! fit the state is an [`ApplyError`]. It sits below the parts it serves, so
//! the log and the waiting room need not reach into the seat allocator.

/// A record's position in the log; waiting on it means waiting until the
/// record (and every one before it) is durable. `Receipt::NONE` needs no wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Receipt(pub u64);

impl Receipt {
    pub const NONE: Self = Self(0);
}

/// Why a record could not be taken; the change is then not made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    #[error("the write-ahead log's queue is full")]
    Full,
    #[error("the write-ahead log failed and accepts nothing more: {0}")]
    Poisoned(String),
    #[error("the record cannot be encoded: {0}")]
    Encode(String),
    #[error("the record is {bytes} bytes, over the log's limit of {max}")]
    TooLarge { bytes: usize, max: usize },
}

impl SinkError {
    /// The API's code for it: the one catalogue of codes is the engine's.
    pub fn code(&self) -> &'static str {
        match self {
            SinkError::Full => "log_full",
            SinkError::TooLarge { .. } => "record_too_large",
            SinkError::Poisoned(_) | SinkError::Encode(_) => "log_failed",
        }
    }
}

/// A record that does not fit the state it is applied to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ApplyError(pub String);
