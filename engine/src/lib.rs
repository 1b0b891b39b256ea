//! Guichet's engine: the event model, the lock-sharded seat allocator, and
//! (as they arrive) the waiting room and the write-ahead log.
//!
//! Map:
//! - [`spec`]: the event as a promoter writes it, and its validation;
//! - [`layout`]: the venue compiled to indices (shards are the lock unit);
//! - [`inventory`]: holds, purchases, cancellations; records and `apply`;
//! - [`clock`], [`time`], [`ids`], [`limits`]: the vocabulary.
//! - [`demo`]: the Amphithéâtre Cogeco demo event.

pub mod clock;
pub mod codec;
pub mod demo;
pub mod ids;
pub mod inventory;
pub mod layout;
pub mod limits;
pub mod maintenance;
pub mod spec;
pub mod store;
mod sync;
pub mod time;
pub mod wal;
