//! Guichet's engine: the event model, the lock-sharded seat allocator, the
//! waiting room, and the write-ahead log they share.
//!
//! Map:
//! - [`commit`]: the contract between a change and the log (receipts, refusals);
//! - [`spec`]: the event as a promoter writes it, and its validation;
//! - [`layout`]: the venue compiled to indices (shards are the lock unit);
//! - [`valid`]: an event the engine can run: spec checked, venue compiled;
//! - [`inventory`]: holds, purchases, cancellations; records and `apply`;
//! - [`payments`]: payments started, confirmed, failed or refunded; webhook deliveries seen;
//! - [`personal`]: buyers' email and name, sealed per payment; erased by deleting the key;
//! - [`confirmations`]: a cancellation's one-time code, emailed to the buyer (signed, never stored);
//! - [`emails`]: what to email a buyer about an order (queued in the outbox; the address is looked up at send time);
//! - [`outbox`]: side effects (refunds, email) recorded before they are attempted, retried with backoff;
//! - [`room`]: the waiting room: lobby, lottery, admission, heartbeats;
//! - [`credentials`]: staff and machine tokens: roles, scopes, hashed secrets;
//! - [`tokens`]: the waiting room's signed queue and access tokens, and their key ring;
//! - [`tickets`]: e-ticket codes, Ed25519-signed, checked offline by scanners;
//! - [`checkins`]: tickets let in at the door, once each, counted by door and section;
//! - [`wal`], [`codec`]: the write-ahead log and the bytes of its records;
//! - [`event`]: one event's inventory and room, and the log records they write;
//! - [`store`]: the durable engine's registry: events over one log, keys, snapshots taken;
//! - [`store::recovery`]: an engine back from its data directory: snapshot, replay, torn tail, restart;
//! - [`maintenance`]: the sweeper and periodic snapshots;
//! - [`json_fields`]: integral numbers and absent-not-null fields in request bodies;
//! - [`clock`], [`entropy`], [`time`], [`ids`], [`limits`]: the vocabulary.
//! - [`demo`]: the Amphithéâtre Cogeco demo event.

pub mod checkins;
pub mod clock;
pub mod codec;
pub mod commit;
pub mod confirmations;
pub mod credentials;
pub mod demo;
pub mod drawing;
pub mod emails;
pub mod entropy;
pub mod event;
pub mod hall;
pub mod ids;
pub mod inventory;
pub mod json_fields;
pub mod layout;
pub mod limits;
pub mod maintenance;
pub mod outbox;
pub mod payments;
pub mod personal;
pub mod room;
pub mod spec;
pub mod store;
mod sync;
pub mod tickets;
pub mod time;
pub mod tokens;
pub mod valid;
pub mod wal;
