//! The one place where the engine's concurrent core gets its locks and atomics.
//!
//! Under `--cfg loom` the same names resolve to loom's model-checked versions, so
//! the loom models in `tests/loom.rs` exercise the real allocator code. Keep every
//! lock and atomic of the concurrent core behind this module.

#[cfg(not(loom))]
pub(crate) use parking_lot::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::MutexGuard;

/// loom's mutex with parking_lot's signature (no poisoning), so callers are the same.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        // A poisoned lock means another model thread panicked: the model already failed.
        self.0.lock().expect("loom mutex poisoned")
    }
}
