//! A buyer's personal data (email, name), given at checkout: kept encrypted
//! under a key of its own, so erasing the buyer deletes the key and leaves
//! nothing readable in the log or a snapshot.
//!
//! The key table is a directory of the data directory (`personal-keys/`),
//! one small file per key (`<key id>.key`, 32 bytes, mode 0600): a checkout
//! writes one file and an erasure deletes one, whatever the number of
//! buyers (one file rewritten whole would cost a checkout the size of every
//! buyer's key). Order on disk, so a crash never leaves an acknowledged
//! checkout's data without its key nor an erased buyer readable: the key is
//! written (file and directory synced) before the record that needs it is
//! logged; an erasure deletes the key (directory synced) before its record
//! is logged. A key whose record a crash cut off is removed when the engine
//! opens ([`Engine::remove_unused_personal_keys`]).
//!
//! So that a checkout does not wait for those syncs, the upkeep thread
//! keeps up to `SPARE_PERSONAL_KEYS` keys written ahead
//! ([`Engine::make_spare_personal_keys`]); a checkout takes one, already
//! durable, and writes its own only when none is left. Spare keys seal
//! nothing: at open they are unused keys like any other, removed, and made
//! again.
//!
//! An order's data is found through its payment (`payment_ref` is the
//! payment id, and the payment must have made this very order), never
//! through anything the buyer or a shop could name.

use std::collections::HashSet;

use super::payments::CheckoutError;
use super::Engine;
use crate::commit::{Receipt, SinkError};
use crate::event::{Event, EventNumber, WalRecordRef};
use crate::ids::OrderId;
use crate::inventory::Order;
use crate::limits::{PERSONAL_DATA_KEPT_AFTER_SHOW_S, SPARE_PERSONAL_KEYS};
use crate::payments::{Payment, PaymentId, PaymentState};
pub use crate::personal::BuyerContact;
use crate::personal::{
    ContactKey, ErasedBy, KeyId, PersonalBook, PersonalData, PersonalError, PersonalRecord, PersonalState,
    SealedContact,
};
use crate::wal::storage::Storage;

/// The key table's directory, inside the data directory.
pub const KEY_TABLE_DIR: &str = "personal-keys";

/// What an order's personal data is: never given, kept (sealed), or erased.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersonalDataState {
    None,
    Kept,
    Erased,
}

impl PersonalDataState {
    /// Its name in the API.
    pub fn name(&self) -> &'static str {
        match self {
            PersonalDataState::None => "none",
            PersonalDataState::Kept => "kept",
            PersonalDataState::Erased => "erased",
        }
    }
}

impl Engine {
    /// Keeps what the buyer of `payment` gave, sealed under a new key (once
    /// per payment: data given again with a checkout already under way
    /// changes nothing and answers `Receipt::NONE`).
    pub fn keep_personal_data(&self, payment: &Payment, data: &PersonalData) -> Result<Receipt, CheckoutError> {
        {
            let book = self.personal.lock();
            if book.get(&payment.id).is_some() {
                return Ok(Receipt::NONE);
            }
            if book.is_full() {
                return Err(PersonalError::TooMany.into());
            }
        }
        let (key_id, key) = match self.spare_personal_keys.lock().pop() {
            Some(spare) => spare,
            None => {
                let (key_id, key) = self.new_personal_key();
                // Written durably before any record names it, and outside the lock.
                self.write_personal_key(key_id, &key)?;
                (key_id, key)
            }
        };
        let nonce = self.new_nonce();
        let sealed = SealedContact::seal(data, key_id, &key, nonce);
        let mut book = self.personal.lock();
        // Checked again under the lock: another checkout may have kept this
        // payment's data, or taken the last place, while the key was written
        // (apply would refuse the record, after it is in the log).
        let (kept, full) = (book.get(&payment.id).is_some(), book.is_full());
        if kept || full {
            drop(book);
            self.delete_personal_key(key_id)?;
            return if kept { Ok(Receipt::NONE) } else { Err(PersonalError::TooMany.into()) };
        }
        let at = self.clock.now();
        let record = PersonalRecord::Kept { payment: payment.id.clone(), event: payment.event, sealed, at };
        Ok(self.log_personal(&mut book, &record)?)
    }

    /// The contact of the buyer of `order`, if one was given and not erased.
    pub fn buyer_contact(&self, event: &Event, order: OrderId) -> Option<BuyerContact> {
        self.personal_data(event, order)?.contact()
    }

    /// What the buyer of `order` gave (an address, a name), if kept and readable.
    pub fn personal_data(&self, event: &Event, order: OrderId) -> Option<PersonalData> {
        let order = event.inventory.order(order)?;
        let payment = self.payment_of_order(event, &order)?;
        let sealed = match &self.personal.lock().get(&payment)?.state {
            PersonalState::Kept { sealed, .. } => sealed.clone(),
            PersonalState::Erased { .. } => return None,
        };
        let key = self.read_personal_key(sealed.key)?;
        sealed.open(&key)
    }

    /// Whether `order`'s buyer gave personal data, and whether it is still kept.
    pub fn personal_data_state(&self, event: &Event, order: &Order) -> PersonalDataState {
        let Some(payment) = self.payment_of_order(event, order) else { return PersonalDataState::None };
        match self.personal.lock().get(&payment).map(|entry| &entry.state) {
            None => PersonalDataState::None,
            Some(PersonalState::Kept { .. }) => PersonalDataState::Kept,
            Some(PersonalState::Erased { .. }) => PersonalDataState::Erased,
        }
    }

    /// Erases the personal data of `order`'s buyer: its key is deleted
    /// (durably), then the erasure is logged. Erasing again, or an order
    /// without data, changes nothing. Returns the state after, and what to
    /// await (`None`: the order does not exist).
    pub fn erase_personal_data(
        &self,
        event: &Event,
        order: OrderId,
        by: ErasedBy,
    ) -> Result<Option<(PersonalDataState, Receipt)>, CheckoutError> {
        let Some(order) = event.inventory.order(order) else { return Ok(None) };
        let Some(payment) = self.payment_of_order(event, &order) else {
            return Ok(Some((PersonalDataState::None, self.after_everything_logged(Receipt::NONE))));
        };
        let receipt = self.erase_payment_data(&payment, by)?;
        Ok(Some((self.personal_data_state(event, &order), self.after_everything_logged(receipt))))
    }

    /// Erases the data of every event's buyers once `PERSONAL_DATA_KEPT_AFTER_SHOW_S`
    /// has passed since its show started; returns how many buyers'.
    pub fn erase_expired_personal_data(&self) -> Result<usize, CheckoutError> {
        let now = self.clock.now();
        let events = self.personal.lock().events_with_data_kept();
        let mut erased = 0;
        for number in events {
            let Some(event) = self.event_by_number(EventNumber(number)) else { continue };
            if now < event.valid.starts_at.plus_s(PERSONAL_DATA_KEPT_AFTER_SHOW_S) {
                continue;
            }
            let payments = self.personal.lock().kept_of_event(number);
            for payment in payments {
                if self.erase_payment_data(&payment, ErasedBy::Retention)? != Receipt::NONE {
                    erased += 1;
                }
            }
        }
        Ok(erased)
    }

    /// Deletes a payment's key, then logs the erasure (`Receipt::NONE`: nothing kept).
    fn erase_payment_data(&self, payment: &PaymentId, by: ErasedBy) -> Result<Receipt, CheckoutError> {
        let key = match self.personal.lock().get(payment).map(|entry| &entry.state) {
            Some(PersonalState::Kept { sealed, .. }) => sealed.key,
            _ => return Ok(Receipt::NONE),
        };
        self.delete_personal_key(key)?;
        let mut book = self.personal.lock();
        if !matches!(book.get(payment).map(|entry| &entry.state), Some(PersonalState::Kept { .. })) {
            return Ok(Receipt::NONE);
        }
        let record = PersonalRecord::Erased { payment: payment.clone(), at: self.clock.now(), by };
        Ok(self.log_personal(&mut book, &record)?)
    }

    /// The payment that made this very order, if any (a shop's own
    /// `payment_ref` naming someone else's payment finds nothing).
    fn payment_of_order(&self, event: &Event, order: &Order) -> Option<PaymentId> {
        let book = self.payments.lock();
        let payment = book.get(&order.payment_ref)?;
        let made_this_order = payment.event == event.number.0
            && matches!(payment.state, PaymentState::Confirmed { order: made, .. } if made == order.id);
        made_this_order.then(|| payment.id.clone())
    }

    /// Once fewer than half of `SPARE_PERSONAL_KEYS` are spare, writes up
    /// to `at_most` keys ahead, durably and in one batch (the upkeep thread
    /// calls it); returns how many it made.
    pub fn make_spare_personal_keys(&self, at_most: usize) -> Result<usize, PersonalError> {
        let spare = self.spare_personal_keys.lock().len();
        let wanted = (SPARE_PERSONAL_KEYS - spare).min(at_most);
        if spare >= SPARE_PERSONAL_KEYS / 2 || wanted == 0 {
            return Ok(0);
        }
        let keys: Vec<(KeyId, ContactKey)> = (0..wanted).map(|_| self.new_personal_key()).collect();
        let first = keys[0].0; // `wanted` is at least 1
        let files: Vec<(String, Vec<u8>)> = keys.iter().map(|(id, key)| (key_file(*id), key.0.to_vec())).collect();
        // Durable before a checkout can take one: it may seal data at once.
        let written = self.personal_keys.write_new_files(&files);
        written.map_err(|error| key_table_error(&*self.personal_keys, first, error))?;
        let made = keys.len();
        self.spare_personal_keys.lock().extend(keys);
        Ok(made)
    }

    /// Deletes the spare keys (at shutdown); none is taken after.
    pub(crate) fn discard_spare_personal_keys(&self) -> Result<(), PersonalError> {
        let spare = std::mem::take(&mut *self.spare_personal_keys.lock());
        spare.into_iter().try_for_each(|(key_id, _)| self.delete_personal_key(key_id))
    }

    fn new_personal_key(&self) -> (KeyId, ContactKey) {
        let (mut id, mut key) = ([0; 16], [0; 32]);
        self.options.entropy.fill(&mut id);
        self.options.entropy.fill(&mut key);
        (KeyId(id), ContactKey(key))
    }

    fn new_nonce(&self) -> [u8; 24] {
        let mut nonce = [0; 24];
        self.options.entropy.fill(&mut nonce);
        nonce
    }

    fn write_personal_key(&self, id: KeyId, key: &ContactKey) -> Result<(), PersonalError> {
        let written = self.personal_keys.write_atomically(&key_file(id), &key.0);
        written.map_err(|error| key_table_error(&*self.personal_keys, id, error))
    }

    fn read_personal_key(&self, id: KeyId) -> Option<ContactKey> {
        let bytes = self.personal_keys.read(&key_file(id)).ok()?;
        Some(ContactKey(bytes.try_into().ok()?))
    }

    /// Deletes a key, durably; one already gone is fine.
    fn delete_personal_key(&self, id: KeyId) -> Result<(), PersonalError> {
        match self.personal_keys.remove(&key_file(id)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(key_table_error(&*self.personal_keys, id, error))
            }
            _ => Ok(()),
        }
    }

    fn log_personal(&self, book: &mut PersonalBook, record: &PersonalRecord) -> Result<Receipt, SinkError> {
        let receipt = self.log.submit(&WalRecordRef::Personal { record })?;
        if let Err(error) = book.apply(record) {
            panic!("apply refused a personal-data change the engine had checked ({error})");
        }
        Ok(receipt)
    }

    /// Removes the keys no kept data needs: written for a checkout whose
    /// record a crash cut off (never acknowledged), or left by a failed
    /// write. Run when the engine opens, before any traffic. Returns how many.
    pub(crate) fn remove_unused_personal_keys(&self) -> std::io::Result<usize> {
        let in_use: HashSet<String> = self.personal.lock().keys_in_use().into_iter().map(key_file).collect();
        let mut removed = 0;
        for name in self.personal_keys.list()? {
            if !in_use.contains(&name) {
                self.personal_keys.remove(&name)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    pub(crate) fn replay_personal(&self, record: &PersonalRecord) -> Result<(), String> {
        self.personal.lock().apply(record).map_err(|e| e.0)
    }

    pub(crate) fn restore_personal(&self, bytes: &[u8]) -> Result<(), String> {
        let entries = crate::codec::decode(bytes).map_err(|e| format!("personal section: {e}"))?;
        *self.personal.lock() = PersonalBook::restore(entries);
        Ok(())
    }
}

fn key_file(id: KeyId) -> String {
    format!("{}.key", id.hex())
}

fn key_table_error(storage: &dyn Storage, id: KeyId, error: std::io::Error) -> PersonalError {
    tracing::error!(file = %storage.describe(&key_file(id)), "personal-data key table: {error}");
    PersonalError::KeyTable(error.to_string())
}
