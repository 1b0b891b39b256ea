//! Buyers' personal data (an email address, a name), given at checkout:
//! checked, then sealed with XChaCha20-Poly1305 under a 256-bit key of its
//! own (one per payment). The log and snapshots keep only the sealed bytes
//! and the key's id; the key lives in the key table beside the log
//! (`store::personal`), so deleting it (erasure: crypto-shredding) leaves
//! nothing readable behind, whatever copies of the log remain.
//!
//! [`PersonalBook`] is plain state, changed only by [`PersonalBook::apply`],
//! live and on replay: for each payment, its sealed contact, or when and by
//! whom it was erased.

use std::collections::{BTreeMap, HashMap, HashSet};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use crate::commit::ApplyError;
use crate::credentials::CredentialId;
use crate::limits::{MAX_BUYER_NAME_BYTES, MAX_EMAIL_BYTES, MAX_PERSONAL_RECORDS};
use crate::payments::PaymentId;
use crate::time::UnixTimeMs;

/// Who to write to about an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuyerContact {
    pub email: String,
    pub name: Option<String>,
}

/// What a buyer gave at checkout (either may be absent), as sealed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalData {
    pub email: Option<String>,
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PersonalError {
    #[error("email: {0}")]
    InvalidEmail(String),
    #[error("name: {0}")]
    InvalidName(String),
    #[error("the engine keeps as much personal data as it can ({MAX_PERSONAL_RECORDS} buyers)")]
    TooMany,
    #[error("the personal-data key table could not be written: {0}")]
    KeyTable(String),
}

impl PersonalError {
    pub fn code(&self) -> &'static str {
        match self {
            PersonalError::InvalidEmail(_) => "invalid_email",
            PersonalError::InvalidName(_) => "invalid_name",
            PersonalError::TooMany => "too_much_personal_data",
            PersonalError::KeyTable(_) => "personal_data_unavailable",
        }
    }

    /// The request field at fault, if it is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            PersonalError::InvalidEmail(_) => Some("email"),
            PersonalError::InvalidName(_) => Some("name"),
            _ => None,
        }
    }
}

impl PersonalData {
    /// Checks what a buyer typed; `None` when nothing was given.
    pub fn checked(email: Option<String>, name: Option<String>) -> Result<Option<Self>, PersonalError> {
        if let Some(email) = &email {
            check_email(email).map_err(PersonalError::InvalidEmail)?;
        }
        if let Some(name) = &name {
            check_name(name).map_err(PersonalError::InvalidName)?;
        }
        Ok((email.is_some() || name.is_some()).then_some(PersonalData { email, name }))
    }

    /// The contact it makes, if it has an address.
    pub fn contact(self) -> Option<BuyerContact> {
        Some(BuyerContact { email: self.email?, name: self.name })
    }
}

/// An address as mail relays take it: one `@` between two non-empty parts,
/// no spaces or control characters (no header can be smuggled in).
fn check_email(email: &str) -> Result<(), String> {
    if email.len() > MAX_EMAIL_BYTES {
        return Err(format!("at most {MAX_EMAIL_BYTES} bytes"));
    }
    if email.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("no spaces or control characters".into());
    }
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => Ok(()),
        _ => Err("one @ between a name and a domain".into()),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_BUYER_NAME_BYTES {
        return Err(format!("at most {MAX_BUYER_NAME_BYTES} bytes"));
    }
    if name.trim().is_empty() {
        return Err("not empty".into());
    }
    if name.chars().any(char::is_control) {
        return Err("no control characters".into());
    }
    Ok(())
}

/// The id of a key in the key table (names its file; not secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyId(pub [u8; 16]);

impl KeyId {
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A 256-bit key that seals one buyer's data. Never logged, never in a snapshot.
pub struct ContactKey(pub [u8; 32]);

/// Personal data as the log keeps it: unreadable without its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedContact {
    pub key: KeyId,
    /// XChaCha20-Poly1305's 192-bit nonce, random (from the engine's entropy).
    pub nonce: [u8; 24],
    /// The JSON of [`PersonalData`], encrypted and authenticated (the key id as associated data).
    pub ciphertext: Vec<u8>,
}

impl SealedContact {
    pub fn seal(data: &PersonalData, key_id: KeyId, key: &ContactKey, nonce: [u8; 24]) -> Self {
        let plaintext = serde_json::to_vec(data).expect("personal data serialises");
        let cipher = XChaCha20Poly1305::new(Key::from_slice(&key.0));
        let payload = Payload { msg: &plaintext, aad: &key_id.0 };
        let ciphertext =
            cipher.encrypt(XNonce::from_slice(&nonce), payload).expect("XChaCha20-Poly1305 seals any length we allow");
        SealedContact { key: key_id, nonce, ciphertext }
    }

    /// The data, if `key` is its key and the bytes are intact.
    pub fn open(&self, key: &ContactKey) -> Option<PersonalData> {
        let cipher = XChaCha20Poly1305::new(Key::from_slice(&key.0));
        let payload = Payload { msg: &self.ciphertext, aad: &self.key.0 };
        let plaintext = cipher.decrypt(XNonce::from_slice(&self.nonce), payload).ok()?;
        serde_json::from_slice(&plaintext).ok()
    }
}

/// Who erased a buyer's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErasedBy {
    Staff(CredentialId),
    /// The retention limit (`PERSONAL_DATA_KEPT_AFTER_SHOW_S` after the show).
    Retention,
}

/// Every change to the personal data, as written to the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersonalRecord {
    /// A payment's buyer gave personal data (its key is in the key table,
    /// written durably before this record).
    Kept { payment: PaymentId, event: u32, sealed: SealedContact, at: UnixTimeMs },
    /// Its key was deleted (before this record): the data is gone for good.
    Erased { payment: PaymentId, at: UnixTimeMs, by: ErasedBy },
}

/// A payment's personal data: sealed, or erased (then nothing of it is kept).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersonalState {
    Kept { sealed: SealedContact, at: UnixTimeMs },
    Erased { at: UnixTimeMs, by: ErasedBy },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalEntry {
    pub event: u32,
    pub state: PersonalState,
}

/// Every payment's personal data, and the payments with data still kept, by event.
#[derive(Debug, Default)]
pub struct PersonalBook {
    entries: HashMap<PaymentId, PersonalEntry>,
    kept_by_event: BTreeMap<u32, HashSet<PaymentId>>,
}

impl PersonalBook {
    pub fn get(&self, payment: &PaymentId) -> Option<&PersonalEntry> {
        self.entries.get(payment)
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= MAX_PERSONAL_RECORDS
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The events that still have personal data kept.
    pub fn events_with_data_kept(&self) -> Vec<u32> {
        self.kept_by_event.keys().copied().collect()
    }

    /// The payments of `event` whose data is still kept.
    pub fn kept_of_event(&self, event: u32) -> Vec<PaymentId> {
        self.kept_by_event.get(&event).map(|kept| kept.iter().cloned().collect()).unwrap_or_default()
    }

    /// Every key the kept data needs.
    pub fn keys_in_use(&self) -> HashSet<KeyId> {
        let sealed = self.entries.values().filter_map(|entry| match &entry.state {
            PersonalState::Kept { sealed, .. } => Some(sealed.key),
            PersonalState::Erased { .. } => None,
        });
        sealed.collect()
    }

    /// The one function that changes the book, live and on replay.
    pub fn apply(&mut self, record: &PersonalRecord) -> Result<(), ApplyError> {
        match record {
            PersonalRecord::Kept { payment, event, sealed, at } => {
                if self.entries.contains_key(payment) {
                    return Err(ApplyError(format!("payment {} has personal data already", payment.as_str())));
                }
                if self.is_full() {
                    return Err(ApplyError("the personal data book is full".into()));
                }
                let state = PersonalState::Kept { sealed: sealed.clone(), at: *at };
                self.insert(payment.clone(), PersonalEntry { event: *event, state });
            }
            PersonalRecord::Erased { payment, at, by } => {
                let entry = self.entries.get_mut(payment);
                let Some(entry) = entry.filter(|e| matches!(e.state, PersonalState::Kept { .. })) else {
                    return Err(ApplyError(format!("payment {} has no personal data kept", payment.as_str())));
                };
                entry.state = PersonalState::Erased { at: *at, by: *by };
                let event = entry.event;
                self.forget_kept(event, payment);
            }
        }
        Ok(())
    }

    fn insert(&mut self, payment: PaymentId, entry: PersonalEntry) {
        if matches!(entry.state, PersonalState::Kept { .. }) {
            self.kept_by_event.entry(entry.event).or_default().insert(payment.clone());
        }
        self.entries.insert(payment, entry);
    }

    fn forget_kept(&mut self, event: u32, payment: &PaymentId) {
        if let Some(kept) = self.kept_by_event.get_mut(&event) {
            kept.remove(payment);
            if kept.is_empty() {
                self.kept_by_event.remove(&event);
            }
        }
    }

    /// The book as plain data, for snapshots (by payment id).
    pub fn snapshot(&self) -> Vec<(PaymentId, PersonalEntry)> {
        let mut entries: Vec<_> = self.entries.iter().map(|(id, entry)| (id.clone(), entry.clone())).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    pub fn restore(entries: Vec<(PaymentId, PersonalEntry)>) -> Self {
        let mut book = PersonalBook::default();
        for (payment, entry) in entries {
            book.insert(payment, entry);
        }
        book
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> PersonalData {
        PersonalData { email: Some("ana@example.org".into()), name: Some("Ana Lévesque".into()) }
    }

    #[test]
    fn sealed_data_opens_with_its_key_only() {
        let id = KeyId([7; 16]);
        let sealed = SealedContact::seal(&data(), id, &ContactKey([1; 32]), [2; 24]);
        assert_eq!(sealed.open(&ContactKey([1; 32])), Some(data()));
        assert_eq!(sealed.open(&ContactKey([3; 32])), None, "another key opens nothing");
        let clear = serde_json::to_vec(&data()).unwrap();
        assert!(!sealed.ciphertext.windows(5).any(|w| w == b"ana@e"), "the address is not in clear");
        assert!(sealed.ciphertext.len() >= clear.len());
        let moved = SealedContact { key: KeyId([8; 16]), ..sealed };
        assert_eq!(moved.open(&ContactKey([1; 32])), None, "the key id is authenticated");
    }

    #[test]
    fn addresses_and_names_are_checked() {
        let email = |e: &str| PersonalData::checked(Some(e.into()), None).map_err(|e| e.code());
        assert!(email("ana@example.org").is_ok());
        assert!(email("ana@localhost").is_ok());
        for bad in ["ana", "@example.org", "ana@", "a@b@c", "ana @example.org", "ana@example.org\r\nBcc: x@y"] {
            assert_eq!(email(bad), Err("invalid_email"), "{bad:?}");
        }
        assert_eq!(email(&format!("{}@example.org", "a".repeat(250))), Err("invalid_email"));
        let name = |n: &str| PersonalData::checked(None, Some(n.into())).map_err(|e| e.code());
        assert!(name("Ana Lévesque").is_ok());
        for bad in ["", "  ", "Ana\nBcc", &"é".repeat(101)] {
            assert_eq!(name(bad), Err("invalid_name"), "{bad:?}");
        }
        assert_eq!(PersonalData::checked(None, None), Ok(None));
    }

    #[test]
    fn erasure_forgets_the_sealed_bytes_and_happens_once() {
        let mut book = PersonalBook::default();
        let payment = PaymentId("pay_1".into());
        let sealed = SealedContact::seal(&data(), KeyId([7; 16]), &ContactKey([1; 32]), [2; 24]);
        let kept = PersonalRecord::Kept { payment: payment.clone(), event: 3, sealed, at: UnixTimeMs(1) };
        book.apply(&kept).unwrap();
        assert!(book.apply(&kept).is_err(), "one contact per payment");
        assert_eq!(book.kept_of_event(3), vec![payment.clone()]);
        assert_eq!(book.keys_in_use().len(), 1);
        let erased = PersonalRecord::Erased { payment: payment.clone(), at: UnixTimeMs(2), by: ErasedBy::Retention };
        book.apply(&erased).unwrap();
        assert!(book.apply(&erased).is_err(), "erased once");
        assert!(book.kept_of_event(3).is_empty() && book.keys_in_use().is_empty());
        let restored = PersonalBook::restore(book.snapshot());
        assert_eq!(
            restored.get(&payment).unwrap().state,
            PersonalState::Erased { at: UnixTimeMs(2), by: ErasedBy::Retention }
        );
    }
}
