//! The one place where the engine's concurrent core gets its locks, atomics,
//! condition variables, channels and threads.
//!
//! Under `--cfg loom` the same names resolve to loom's model-checked versions,
//! so the loom models in `tests/loom.rs` exercise the real allocator and log
//! code. Keep every synchronisation primitive of the core behind this module.

#[cfg(not(loom))]
pub(crate) use parking_lot::{Mutex, MutexGuard, RwLock, RwLockWriteGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};

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

#[cfg(loom)]
impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

/// loom's reader-writer lock with parking_lot's signature.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);

#[cfg(loom)]
impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::RwLock::new(value))
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().expect("loom lock poisoned")
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().expect("loom lock poisoned")
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

    /// Under the model: a queue behind a loom mutex and condvar that, like
    /// crossbeam, wakes the receiver when the sender is dropped (loom's own
    /// mpsc does not).
    #[cfg(loom)]
    mod model {
        use std::collections::VecDeque;

        use loom::sync::{Arc, Condvar, Mutex};

        pub(crate) enum TrySendError<T> {
            #[allow(dead_code)]
            Full(T),
            Disconnected(T),
        }

        struct State<T> {
            queue: VecDeque<T>,
            sender_alive: bool,
            receiver_alive: bool,
        }

        struct Channel<T> {
            state: Mutex<State<T>>,
            ready: Condvar,
        }

        pub(crate) struct Sender<T>(Arc<Channel<T>>);
        pub(crate) struct Receiver<T>(Arc<Channel<T>>);

        pub(crate) fn bounded<T>(_capacity: usize) -> (Sender<T>, Receiver<T>) {
            let state = State { queue: VecDeque::new(), sender_alive: true, receiver_alive: true };
            let channel = Arc::new(Channel { state: Mutex::new(state), ready: Condvar::new() });
            (Sender(channel.clone()), Receiver(channel))
        }

        impl<T> Sender<T> {
            pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
                let mut state = self.0.state.lock().unwrap();
                if !state.receiver_alive {
                    return Err(TrySendError::Disconnected(value));
                }
                state.queue.push_back(value);
                self.0.ready.notify_all();
                Ok(())
            }
        }

        impl<T> Drop for Sender<T> {
            fn drop(&mut self) {
                self.0.state.lock().unwrap().sender_alive = false;
                self.0.ready.notify_all();
            }
        }

        impl<T> Receiver<T> {
            pub(crate) fn recv(&self) -> Result<T, ()> {
                let mut state = self.0.state.lock().unwrap();
                loop {
                    if let Some(value) = state.queue.pop_front() {
                        return Ok(value);
                    }
                    if !state.sender_alive {
                        return Err(());
                    }
                    state = self.0.ready.wait(state).unwrap();
                }
            }

            pub(crate) fn try_recv(&self) -> Result<T, ()> {
                self.0.state.lock().unwrap().queue.pop_front().ok_or(())
            }
        }

        impl<T> Drop for Receiver<T> {
            fn drop(&mut self) {
                self.0.state.lock().unwrap().receiver_alive = false;
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
