//! The one place where the engine's concurrent core gets its locks, atomics,
//! condition variables, channels and threads.
//!
//! Under `--cfg loom` the same names resolve to loom's model-checked versions,
//! so the loom models in `tests/loom.rs` exercise the real allocator and log
//! code. Keep every synchronisation primitive of the core behind this module.

#[cfg(not(loom))]
pub(crate) use parking_lot::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
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

/// A condition variable that takes and gives back the guard.
#[derive(Debug, Default)]
pub(crate) struct Condvar(#[cfg(not(loom))] parking_lot::Condvar, #[cfg(loom)] loom::sync::Condvar);

impl Condvar {
    #[cfg(not(loom))]
    pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0.wait(&mut guard);
        guard
    }

    #[cfg(loom)]
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0.wait(guard).expect("loom mutex poisoned")
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// A bounded multi-producer channel (crossbeam; loom's under the model, where
/// the bound is not modelled).
pub(crate) mod channel {
    #[cfg(not(loom))]
    pub(crate) use crossbeam::channel::{bounded, Receiver, Sender, TrySendError};

    #[cfg(loom)]
    pub(crate) use self::model::*;

    #[cfg(loom)]
    mod model {
        pub(crate) enum TrySendError<T> {
            #[allow(dead_code)]
            Full(T),
            Disconnected(T),
        }

        pub(crate) struct Sender<T>(loom::sync::mpsc::Sender<T>);
        pub(crate) struct Receiver<T>(loom::sync::mpsc::Receiver<T>);

        pub(crate) fn bounded<T>(_capacity: usize) -> (Sender<T>, Receiver<T>) {
            let (sender, receiver) = loom::sync::mpsc::channel();
            (Sender(sender), Receiver(receiver))
        }

        impl<T> Sender<T> {
            pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
                self.0.send(value).map_err(|error| TrySendError::Disconnected(error.0))
            }
        }

        impl<T> Receiver<T> {
            pub(crate) fn recv(&self) -> Result<T, ()> {
                self.0.recv().map_err(drop)
            }

            pub(crate) fn try_recv(&self) -> Result<T, ()> {
                self.0.try_recv().map_err(drop)
            }
        }
    }
}

/// Starts a named thread of the core (a loom thread under the model).
#[cfg(not(loom))]
pub(crate) fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(name.to_owned()).spawn(body)
}

#[cfg(loom)]
pub(crate) fn spawn(
    _name: &str,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<loom::thread::JoinHandle<()>> {
    Ok(loom::thread::spawn(body))
}
