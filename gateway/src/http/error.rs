//! Every refusal as HTTP, in one place: engine errors become a status, a
//! stable `code`, a sentence for a person, and extra fields where they help
//! (`field`, `seats`). Clients branch on `code`.

use bytes::Bytes;
use guichet_engine::confirmations::ConfirmationError;
use guichet_engine::credentials::CredentialError;
use guichet_engine::inventory::{InventoryError, SinkError};
use guichet_engine::payments::PaymentError;
use guichet_engine::personal::PersonalError;
use guichet_engine::room::RoomError;
use guichet_engine::store::{BuyerRequestError, CheckoutError, CreateEventError};
use guichet_engine::tokens::TokenError;
use guichet_engine::wal::WalError;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde_json::{json, Map, Value};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub extra: Map<String, Value>,
    pub retry_after_s: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), extra: Map::new(), retry_after_s: None }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds.max(1));
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message).retry_after(1)
    }

    pub fn into_response(self) -> crate::http::response::HttpResponse {
        let mut error = Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.into());
        error.extend(self.extra);
        let body = serde_json::to_vec(&json!({ "error": error })).unwrap_or_default();
        let mut response = Response::new(crate::http::response::whole(Bytes::from(body)));
        *response.status_mut() = self.status;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(seconds) = self.retry_after_s {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub(crate) fn log_error(error: &SinkError) -> ApiError {
    match error {
        SinkError::Full => ApiError::unavailable(error.code(), "the server is saving changes as fast as it can; retry"),
        SinkError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, error.code(), error.to_string()),
        SinkError::Poisoned(_) | SinkError::Encode(_) => {
            ApiError::unavailable(error.code(), "the server cannot save changes right now").retry_after(30)
        }
    }
}

impl From<InventoryError> for ApiError {
    fn from(error: InventoryError) -> Self {
        use InventoryError::*;
        let message = error.to_string();
        let field = error.field().map(str::to_owned);
        let mut api = match &error {
            BadQuantity { .. }
            | UnknownSection { .. }
            | UnknownRow { .. }
            | UnknownSeat { .. }
            | UnknownTier { .. }
            | NotReservedSeating { .. }
            | NotGeneralAdmission { .. }
            | DuplicateSeat { .. }
            | OverBuyerLimit { .. }
            | TooManyOrders
            | TooManyHoldKeys { .. }
            | IdempotencyKeyReused => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.code(), message),
            SeatsUnavailable { seats } | NotBlocked { seats } => {
                ApiError::new(StatusCode::CONFLICT, error.code(), message)
                    .with("seats", serde_json::to_value(seats).unwrap_or_default())
            }
            NotEnoughAvailable { available, .. } => {
                ApiError::new(StatusCode::CONFLICT, error.code(), message).with("available", *available)
            }
            HoldNotActive { .. } => ApiError::new(StatusCode::CONFLICT, error.code(), message),
            HoldExpired => ApiError::new(StatusCode::GONE, error.code(), message),
            UnknownHold | UnknownOrder => ApiError::not_found(error.code(), message),
            NotYours | RefundPeriodOver => ApiError::forbidden(error.code(), message),
            BadIdempotencyKey | BadPaymentRef => ApiError::bad_request(error.code(), message),
            TooManyBuyers => ApiError::unavailable(error.code(), message),
            Log(sink) => log_error(sink),
        };
        if let Some(field) = field {
            api = api.with("field", field);
        }
        api
    }
}

impl From<PaymentError> for ApiError {
    fn from(error: PaymentError) -> Self {
        let message = error.to_string();
        match &error {
            PaymentError::NoProvider
            | PaymentError::PaymentRequired
            | PaymentError::PaymentNotPending { .. }
            | PaymentError::TooManyOpenPayments => ApiError::new(StatusCode::CONFLICT, error.code(), message),
            PaymentError::UnknownPayment => ApiError::not_found(error.code(), message),
            PaymentError::TooManyPayments => ApiError::unavailable(error.code(), message).retry_after(60),
            PaymentError::BadProviderId => ApiError::bad_request(error.code(), message),
            PaymentError::ProviderRefMismatch => {
                ApiError::new(StatusCode::BAD_GATEWAY, error.code(), message).retry_after(60)
            }
        }
    }
}

impl From<CheckoutError> for ApiError {
    fn from(error: CheckoutError) -> Self {
        match error {
            CheckoutError::Payment(error) => error.into(),
            CheckoutError::Inventory(error) => error.into(),
            CheckoutError::Outbox(error) => ApiError::unavailable(error.code(), error.to_string()).retry_after(60),
            CheckoutError::Log(sink) => log_error(&sink),
            CheckoutError::Personal(error) => error.into(),
        }
    }
}

impl From<PersonalError> for ApiError {
    fn from(error: PersonalError) -> Self {
        let message = error.to_string();
        match error.field() {
            Some(field) => ApiError::bad_request(error.code(), message).with("field", field),
            None => ApiError::unavailable(error.code(), message).retry_after(60),
        }
    }
}

impl From<BuyerRequestError> for ApiError {
    fn from(error: BuyerRequestError) -> Self {
        let message = error.to_string();
        match error {
            BuyerRequestError::Inventory(error) => error.into(),
            BuyerRequestError::OrderCancelled
            | BuyerRequestError::NoBuyerEmail
            | BuyerRequestError::CancelRequestsExhausted => ApiError::new(StatusCode::CONFLICT, error.code(), message),
            BuyerRequestError::CancelRequestTooSoon { retry_after_s } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, error.code(), message).retry_after(retry_after_s)
            }
            BuyerRequestError::Confirmation(error) => error.into(),
            BuyerRequestError::Outbox(error) => ApiError::unavailable(error.code(), error.to_string()).retry_after(60),
            BuyerRequestError::Log(sink) => log_error(&sink),
        }
    }
}

impl From<ConfirmationError> for ApiError {
    fn from(error: ConfirmationError) -> Self {
        ApiError::forbidden(error.code(), error.to_string())
    }
}

impl From<RoomError> for ApiError {
    fn from(error: RoomError) -> Self {
        let message = error.to_string();
        match &error {
            RoomError::UnknownBuyer => ApiError::unauthorized(error.code(), message),
            RoomError::TooEarly { retry_after_ms } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, error.code(), message)
                    .retry_after(retry_after_ms.div_ceil(1000))
            }
            RoomError::Full => ApiError::unavailable(error.code(), message).retry_after(60),
            RoomError::Closed => ApiError::new(StatusCode::CONFLICT, error.code(), message),
            RoomError::BadJoinKey(_) => ApiError::bad_request(error.code(), message),
            RoomError::JoinKeysFull => ApiError::unavailable(error.code(), message).retry_after(60),
            RoomError::InvalidSetting(invalid) => {
                ApiError::bad_request(error.code(), message).with("field", invalid.field.clone())
            }
            RoomError::Log(sink) => log_error(sink),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        let code = error.code();
        match error {
            TokenError::OtherEvent => ApiError::forbidden(code, "this token is for another event"),
            TokenError::Expired => ApiError::unauthorized(code, "this token has expired"),
            TokenError::Revoked => ApiError::unauthorized(code, "this buyer left the queue; the access is gone"),
            TokenError::WrongKind => ApiError::unauthorized(code, "this route takes another kind of token"),
            other => ApiError::unauthorized(code, format!("the token is not valid ({})", other.reason())),
        }
    }
}

impl From<CreateEventError> for ApiError {
    fn from(error: CreateEventError) -> Self {
        let code = error.code();
        match error {
            CreateEventError::Invalid(errors) => {
                let first = errors.0.first().map(|e| e.field.clone()).unwrap_or_default();
                let all: Vec<Value> =
                    errors.0.iter().map(|e| json!({ "field": e.field, "message": e.message })).collect();
                ApiError::bad_request(code, errors.to_string()).with("field", first).with("errors", all)
            }
            CreateEventError::Exists(id) => {
                ApiError::new(StatusCode::CONFLICT, code, format!("an event with id {id:?} already exists"))
            }
            CreateEventError::TooManyEvents => {
                ApiError::unavailable(code, "this server holds as many events as it can")
            }
            CreateEventError::Log(sink) => log_error(&sink),
        }
    }
}

impl From<CredentialError> for ApiError {
    fn from(error: CredentialError) -> Self {
        let (code, message) = (error.code(), error.to_string());
        match error {
            CredentialError::Invalid | CredentialError::Expired | CredentialError::Revoked => {
                ApiError::unauthorized(code, message)
            }
            CredentialError::Unknown(_) => ApiError::not_found(code, message),
            CredentialError::BadRequest { field, .. } => ApiError::bad_request(code, message).with("field", field),
            CredentialError::TooMany => ApiError::new(StatusCode::CONFLICT, code, message),
            CredentialError::Log(sink) => log_error(&sink),
        }
    }
}

impl From<SinkError> for ApiError {
    fn from(error: SinkError) -> Self {
        log_error(&error)
    }
}

impl From<WalError> for ApiError {
    fn from(error: WalError) -> Self {
        ApiError::unavailable(
            error.code(),
            "the change could not be saved and may be lost; retry once the server is back",
        )
        .retry_after(30)
    }
}
