//! What an inventory operation can refuse, as one typed enum with a stable
//! snake_case code per variant (the HTTP error catalogue maps from these).

use serde::Serialize;

use crate::commit::SinkError;

/// A seat named the way buyers name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeatLabel {
    pub section: String,
    pub row: String,
    pub number: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    #[error("{field}: quantity {requested} is out of range; it must be 1 to {max}")]
    BadQuantity { field: String, requested: u32, max: u32 },
    #[error("{field}: there is no section {id:?}")]
    UnknownSection { field: String, id: String },
    #[error("{field}: section {section:?} has no row {id:?}")]
    UnknownRow { field: String, section: String, id: String },
    #[error("{field}: row {row:?} of section {section:?} has no seat {number}")]
    UnknownSeat { field: String, section: String, row: String, number: u32 },
    #[error("{field}: there is no tier {id:?}")]
    UnknownTier { field: String, id: String },
    #[error("{field}: section {section:?} is general admission and has no numbered seats")]
    NotReservedSeating { field: String, section: String },
    #[error("{field}: section {section:?} has numbered seats; name them or ask for the best available")]
    NotGeneralAdmission { field: String, section: String },
    #[error("{field}: the same seat is named twice")]
    DuplicateSeat { field: String },
    #[error("the limit is {limit} tickets per buyer; you already hold or bought {counted} and asked for {requested}")]
    OverBuyerLimit { limit: u32, counted: u32, requested: u32 },
    #[error("{} of the requested seats are not available", seats.len())]
    SeatsUnavailable { seats: Vec<SeatLabel> },
    #[error("{requested} places together are not available; {available} are")]
    NotEnoughAvailable { requested: u32, available: u64 },
    #[error("the event has as many buyers as it can track")]
    TooManyBuyers,
    #[error("this buyer has as many orders as one buyer may have")]
    TooManyOrders,
    #[error("there is no such hold")]
    UnknownHold,
    #[error("there is no such order")]
    UnknownOrder,
    #[error("this hold or order belongs to another buyer")]
    NotYours,
    #[error("the hold expired; its seats are back on sale")]
    HoldExpired,
    #[error("the hold is no longer active ({why})")]
    HoldNotActive { why: &'static str },
    #[error("Idempotency-Key must be 1 to 128 printable ASCII characters")]
    BadIdempotencyKey,
    #[error("payment_ref must be 1 to 256 characters")]
    BadPaymentRef,
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    #[error("this buyer placed as many holds with an Idempotency-Key as one buyer may ({max})")]
    TooManyHoldKeys { max: usize },
    #[error("the refund period is over; only the promoter can cancel this order")]
    RefundPeriodOver,
    #[error("{} of the named seats are not blocked", seats.len())]
    NotBlocked { seats: Vec<SeatLabel> },
    #[error(transparent)]
    Log(#[from] SinkError),
}

impl InventoryError {
    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        use InventoryError::*;
        match self {
            BadQuantity { .. } => "bad_quantity",
            UnknownSection { .. } => "unknown_section",
            UnknownRow { .. } => "unknown_row",
            UnknownSeat { .. } => "unknown_seat",
            UnknownTier { .. } => "unknown_tier",
            NotReservedSeating { .. } => "not_reserved_seating",
            NotGeneralAdmission { .. } => "not_general_admission",
            DuplicateSeat { .. } => "duplicate_seat",
            OverBuyerLimit { .. } => "over_buyer_limit",
            SeatsUnavailable { .. } => "seats_unavailable",
            NotEnoughAvailable { .. } => "not_enough_available",
            TooManyBuyers => "too_many_buyers",
            TooManyOrders => "too_many_orders",
            UnknownHold => "unknown_hold",
            UnknownOrder => "unknown_order",
            NotYours => "not_yours",
            HoldExpired => "hold_expired",
            HoldNotActive { .. } => "hold_not_active",
            BadIdempotencyKey => "bad_idempotency_key",
            BadPaymentRef => "bad_payment_ref",
            IdempotencyKeyReused => "idempotency_key_reused",
            TooManyHoldKeys { .. } => "too_many_hold_keys",
            RefundPeriodOver => "refund_period_over",
            NotBlocked { .. } => "not_blocked",
            Log(sink) => sink.code(),
        }
    }

    /// The request field at fault, for errors about one field.
    pub fn field(&self) -> Option<&str> {
        use InventoryError::*;
        match self {
            BadQuantity { field, .. }
            | UnknownSection { field, .. }
            | UnknownRow { field, .. }
            | UnknownSeat { field, .. }
            | UnknownTier { field, .. }
            | NotReservedSeating { field, .. }
            | NotGeneralAdmission { field, .. }
            | DuplicateSeat { field } => Some(field),
            _ => None,
        }
    }
}
