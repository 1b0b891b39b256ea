//! A connection's time limits (receiving a request head, answering a
//! request, a write the client does not read) on one lazily re-armed timer
//! per connection, instead of a timer registered and cancelled per request.
//!
//! With a timer per limit per request, every request took the runtime's
//! timer lock twice (register, cancel) and allocated: hyper's header-read
//! timeout registers a fresh sleep each time a keep-alive connection waits
//! for its next request, the request timeout another. Here each connection
//! owns one `tokio::time::Sleep`. A wait for a deadline polls it when it is
//! armed no later than that deadline (the usual case: deadlines only move
//! forward, so the timer is almost always armed earlier) and re-arms it only
//! when it fired for a deadline that has since moved on. Under steady load a
//! connection's timer fires about once per limit's length, not once per
//! request. Every waiter runs in the connection's task (hyper polls the
//! service future there), so the timer's one waker serves them all.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// One connection's timer.
#[derive(Default)]
pub struct Watchdog {
    timer: Mutex<Timer>,
}

#[derive(Default)]
struct Timer {
    /// Created at the first wait: a connection answered at once never needs it.
    sleep: Option<Pin<Box<Sleep>>>,
    /// When `sleep` fires; `None` once it fired and was seen to.
    armed_until: Option<Instant>,
}

impl Watchdog {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Ready once `deadline` has passed; until then, arranges for the task
    /// to be woken at or before it (an early wake-up re-arms and waits on).
    pub fn poll_expired(&self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let mut timer = self.timer.lock();
        let timer = &mut *timer;
        loop {
            let sleep = match (&mut timer.sleep, timer.armed_until) {
                (Some(sleep), Some(armed)) if armed <= deadline => sleep,
                (Some(sleep), _) => {
                    sleep.as_mut().reset(deadline.into());
                    timer.armed_until = Some(deadline);
                    sleep
                }
                (slot @ None, _) => {
                    timer.armed_until = Some(deadline);
                    slot.insert(Box::pin(tokio::time::sleep_until(deadline.into())))
                }
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // It fired at `armed_until`: ours if that is our deadline or later.
            if timer.armed_until.is_some_and(|armed| armed >= deadline) {
                return Poll::Ready(());
            }
            timer.armed_until = None;
        }
    }
}

/// hyper's timer for one connection (the header-read timeout): sleeps on
/// the connection's watchdog.
#[derive(Clone)]
pub struct ConnectionTimer(pub Arc<Watchdog>);

impl hyper::rt::Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(WatchdogSleep { watchdog: self.0.clone(), deadline })
    }
}

struct WatchdogSleep {
    watchdog: Arc<Watchdog>,
    deadline: Instant,
}

impl Future for WatchdogSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.watchdog.poll_expired(self.deadline, cx)
    }
}

impl hyper::rt::Sleep for WatchdogSleep {}

/// Runs `future` with a deadline: `None` if the deadline passes first. The
/// future is polled before the deadline, so one that is ready at once costs
/// no timer at all (and, pinned on the stack, no allocation).
pub async fn with_deadline<F: Future>(future: F, watchdog: &Watchdog, deadline: Instant) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        watchdog.poll_expired(deadline, cx).map(|()| None)
    })
    .await
}

/// A stream whose writes fail with `TimedOut` once one has been blocked for
/// `write_timeout` (a client that stops reading its answers must not hold
/// a connection forever). The clock is read only when a write blocks.
pub struct WatchedStream<S> {
    inner: S,
    watchdog: Arc<Watchdog>,
    write_timeout: Duration,
    /// Since a write was first blocked, the time it may stay blocked until.
    blocked_until: Option<Instant>,
}

impl<S> WatchedStream<S> {
    pub fn new(inner: S, watchdog: Arc<Watchdog>, write_timeout: Duration) -> Self {
        Self { inner, watchdog, write_timeout, blocked_until: None }
    }

    /// Passes a write's outcome on; a blocked write counts towards the timeout.
    fn watch<T>(&mut self, polled: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.blocked_until = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let deadline = *self.blocked_until.get_or_insert_with(|| Instant::now() + self.write_timeout);
                match self.watchdog.poll_expired(deadline, cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WatchedStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WatchedStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(polled, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(polled, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(polled, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    const TICK: Duration = Duration::from_millis(40);

    #[test]
    fn a_deadline_fires_at_its_time_even_when_the_timer_was_armed_earlier() {
        runtime().block_on(async {
            let watchdog = Watchdog::new();
            let start = Instant::now();
            // An earlier wait arms the timer for 1 tick, then is given up.
            let early = with_deadline(std::future::pending::<()>(), &watchdog, start + TICK);
            assert!(tokio::time::timeout(TICK / 4, early).await.is_err());
            // A later deadline: the early firing does not end it.
            assert_eq!(with_deadline(std::future::pending::<()>(), &watchdog, start + 4 * TICK).await, None);
            let waited = start.elapsed();
            assert!(waited >= 4 * TICK, "{waited:?}");
            // A deadline earlier than the one armed re-arms sooner.
            let now = Instant::now();
            let late = with_deadline(std::future::pending::<()>(), &watchdog, now + Duration::from_secs(60));
            assert!(tokio::time::timeout(TICK / 4, late).await.is_err());
            assert_eq!(with_deadline(std::future::pending::<()>(), &watchdog, now + TICK).await, None);
            assert!(now.elapsed() < Duration::from_secs(30));
        });
    }

    #[test]
    fn a_ready_future_needs_no_timer() {
        runtime().block_on(async {
            let watchdog = Watchdog::new();
            assert_eq!(with_deadline(async { 7 }, &watchdog, Instant::now()).await, Some(7));
            assert!(watchdog.timer.lock().sleep.is_none());
        });
    }
}
