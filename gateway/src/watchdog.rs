//! A connection's time limits, on one lazily re-armed timer per connection
//! (instead of a timer registered and cancelled per request):
//!
//! - **keep-alive idle**: from the moment the previous answer was handed to
//!   the kernel whole (or the connection was accepted) to the first byte of
//!   the next request;
//! - **request head**: from a request's first byte to the end of its head;
//! - **request**: from the head to the answer (the server's `with_deadline`);
//! - **write**: a write the client does not read, blocked that long.
//!
//! Each limit counts only the time its party is responsible for: the idle
//! clock starts when the client has its answer, not when hyper queued it,
//! and a client that pauses between requests is never mistaken for a slow
//! head. A deadline that passes says only that the timer fired: after a
//! scheduling stall (a busy machine, the runtime's threads descheduled)
//! every connection's timer fires on the first poll after it, while the
//! runtime may not yet have seen the bytes that arrived meanwhile. So before
//! a read limit ends a connection, the socket itself is asked (one
//! non-blocking `recv` straight to the kernel): bytes waiting are progress,
//! and the connection lives on. Writes are not asked so: room in the
//! kernel's send buffer does not show that the client reads (the buffer
//! grows by itself, and the kernel wakes a writer only once a third of it
//! is free), so a write limit trusts the runtime's view, as the I/O events
//! are taken before the timers on each turn of the runtime.
//!
//! The one timer: each connection owns one `tokio::time::Sleep`. A wait for
//! a deadline polls it when it is armed no later than that deadline (the
//! usual case: deadlines only move forward, so the timer is almost always
//! armed earlier) and re-arms it only when it fired for a deadline that has
//! since moved on. Under steady load a connection's timer fires about once
//! per limit's length, not once per request. Every waiter runs in the
//! connection's task (hyper polls the service future there), so the timer's
//! one waker serves them all.

use std::future::Future;
use std::io::{self, Read as _};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use socket2::{SockRef, Socket};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// A connection's read and write limits (the request limit is the server's).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Longest wait for the next request's first byte.
    pub keep_alive_idle: Duration,
    /// Longest time from a request's first byte to the end of its head.
    pub head: Duration,
    /// Longest time one write may stay blocked.
    pub write: Duration,
}

/// One connection's timer, and where the connection is in its request cycle.
pub struct Watchdog {
    limits: ConnectionLimits,
    state: Mutex<State>,
}

struct State {
    timer: Timer,
    phase: Phase,
}

#[derive(Default)]
struct Timer {
    /// Created at the first wait: a connection answered at once never needs it.
    sleep: Option<Pin<Box<Sleep>>>,
    /// When `sleep` fires; `None` once it fired and was seen to.
    armed_until: Option<Instant>,
}

/// What the connection waits for, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The next request's first byte, since the previous answer was handed
    /// to the kernel whole (or since the connection was accepted).
    Idle { since: Instant },
    /// The rest of a request's head, whose first byte came at `since`.
    Head { since: Instant },
    /// A request is in hand: its handler runs (`answered: false`) or its
    /// answer is being written. No read limit: the request limit and the
    /// write limit cover it.
    Busy { answered: bool },
}

impl Watchdog {
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            state: Mutex::new(State { timer: Timer::default(), phase: Phase::Idle { since: Instant::now() } }),
        })
    }

    /// hyper has a request's head and calls the service.
    pub fn request_started(&self) {
        self.state.lock().phase = Phase::Busy { answered: false };
    }

    /// The service has its answer; hyper writes it next.
    pub fn request_answered(&self) {
        self.state.lock().phase = Phase::Busy { answered: true };
    }

    /// Bytes came in: if the connection was idle, a request's head begins.
    fn bytes_received(&self) {
        let mut state = self.state.lock();
        if let Phase::Idle { .. } = state.phase {
            state.phase = Phase::Head { since: Instant::now() };
        }
    }

    /// A flush completed: once an answer is flushed, the connection is idle
    /// from now on. Returns the idle deadline when that just began.
    fn flushed(&self) -> Option<Instant> {
        let mut state = self.state.lock();
        if state.phase != (Phase::Busy { answered: true }) {
            return None;
        }
        let now = Instant::now();
        state.phase = Phase::Idle { since: now };
        Some(now + self.limits.keep_alive_idle)
    }

    /// Until when a read may stay pending, in the current phase.
    fn read_deadline(&self) -> Option<Instant> {
        match self.state.lock().phase {
            Phase::Idle { since } => Some(since + self.limits.keep_alive_idle),
            Phase::Head { since } => Some(since + self.limits.head),
            Phase::Busy { .. } => None,
        }
    }

    /// Ready once `deadline` has passed; until then, arranges for the task
    /// to be woken at or before it (an early wake-up re-arms and waits on).
    pub fn poll_expired(&self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        self.state.lock().timer.poll_expired(deadline, cx)
    }
}

impl Timer {
    fn poll_expired(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let sleep = match (&mut self.sleep, self.armed_until) {
                (Some(sleep), Some(armed)) if armed <= deadline => sleep,
                (Some(sleep), _) => {
                    sleep.as_mut().reset(deadline.into());
                    self.armed_until = Some(deadline);
                    sleep
                }
                (slot @ None, _) => {
                    self.armed_until = Some(deadline);
                    slot.insert(Box::pin(tokio::time::sleep_until(deadline.into())))
                }
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // It fired at `armed_until`: ours if that is our deadline or later.
            if self.armed_until.is_some_and(|armed| armed >= deadline) {
                return Poll::Ready(());
            }
            self.armed_until = None;
        }
    }
}

/// Runs `future` with a deadline: `None` if the deadline passes first. The
/// future is polled before the deadline, so one that is ready at once costs
/// no timer at all (and, pinned on the stack, no allocation), and one that
/// finished during a stall is not refused for the stall.
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

/// A connection's socket under its watchdog: a read pending past the
/// keep-alive or head limit fails with `TimedOut` unless the socket, asked
/// directly, has bytes; a write blocked past the write limit fails so.
/// The clock is read once when a request's first bytes arrive, once when its
/// answer is flushed, and when a write blocks.
pub struct WatchedStream<S> {
    inner: S,
    watchdog: Arc<Watchdog>,
    /// Since a write was first blocked, the time it may stay blocked until.
    blocked_until: Option<Instant>,
}

impl<S: AsFd> WatchedStream<S> {
    pub fn new(inner: S, watchdog: Arc<Watchdog>) -> Self {
        Self { inner, watchdog, blocked_until: None }
    }

    /// A read limit passed while the runtime saw nothing to read: reads the
    /// socket directly, so bytes that came during a stall still count.
    fn read_past_deadline(&mut self, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let socket = SockRef::from(&self.inner);
        let read = (&*socket as &Socket).read(buf.initialize_unfilled());
        match read {
            Ok(read) => {
                buf.advance(read);
                if read > 0 {
                    self.watchdog.bytes_received();
                }
                Poll::Ready(Ok(()))
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                tracing::debug!("closing a connection: no request within its time limit");
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no request within the time limit")))
            }
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    /// Passes a write's outcome on; a blocked write counts towards the limit.
    fn watch<T>(&mut self, polled: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if let Poll::Ready(result) = polled {
            self.blocked_until = None;
            return Poll::Ready(result);
        }
        let write_limit = self.watchdog.limits.write;
        let deadline = *self.blocked_until.get_or_insert_with(|| Instant::now() + write_limit);
        if self.watchdog.poll_expired(deadline, cx).is_pending() {
            return Poll::Pending;
        }
        tracing::debug!("closing a connection: its client stopped reading");
        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "a write blocked past the time limit")))
    }
}

impl<S: AsyncRead + AsFd + Unpin> AsyncRead for WatchedStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                self.watchdog.bytes_received();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => match self.watchdog.read_deadline() {
                Some(deadline) if self.watchdog.poll_expired(deadline, cx).is_ready() => self.read_past_deadline(buf),
                _ => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + AsFd + Unpin> AsyncWrite for WatchedStream<S> {
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

    /// hyper flushes after writing each answer whole: the idle clock starts
    /// there, and the timer is armed for it (hyper may not read again first).
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = polled {
            if let Some(idle_deadline) = self.watchdog.flushed() {
                let _ = self.watchdog.poll_expired(idle_deadline, cx);
            }
        }
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
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    const TICK: Duration = Duration::from_millis(40);

    const LIMITS: ConnectionLimits = ConnectionLimits { keep_alive_idle: TICK, head: TICK, write: TICK };

    #[test]
    fn a_deadline_fires_at_its_time_even_when_the_timer_was_armed_earlier() {
        runtime().block_on(async {
            let watchdog = Watchdog::new(LIMITS);
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
            let watchdog = Watchdog::new(LIMITS);
            assert_eq!(with_deadline(async { 7 }, &watchdog, Instant::now()).await, Some(7));
            assert!(watchdog.state.lock().timer.sleep.is_none());
        });
    }

    /// A connected pair: the client's std socket, the server's watched one.
    async fn watched_pair(limits: ConnectionLimits) -> (std::net::TcpStream, WatchedStream<tokio::net::TcpStream>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, WatchedStream::new(server, Watchdog::new(limits)))
    }

    /// One read, polled once, right now (no turn of the runtime before it).
    async fn read_now(stream: &mut WatchedStream<tokio::net::TcpStream>) -> Poll<io::Result<usize>> {
        let mut bytes = [0u8; 64];
        std::future::poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut bytes);
            Poll::Ready(Pin::new(&mut *stream).poll_read(cx, &mut buf).map_ok(|()| buf.filled().len()))
        })
        .await
    }

    /// One read, waited for.
    async fn read(stream: &mut WatchedStream<tokio::net::TcpStream>) -> io::Result<usize> {
        let mut bytes = [0u8; 64];
        std::future::poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut bytes);
            Pin::new(&mut *stream).poll_read(cx, &mut buf).map_ok(|()| buf.filled().len())
        })
        .await
    }

    /// An answer written and flushed, as hyper does.
    async fn answer(stream: &mut WatchedStream<tokio::net::TcpStream>, bytes: &[u8]) {
        let written = std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, bytes)).await.unwrap();
        assert_eq!(written, bytes.len());
    }

    async fn flush(stream: &mut WatchedStream<tokio::net::TcpStream>) {
        std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_flush(cx)).await.unwrap();
    }

    #[test]
    fn an_idle_limit_that_fired_before_the_runtime_saw_waiting_bytes_does_not_close() {
        runtime().block_on(async {
            let (mut client, mut server) = watched_pair(LIMITS).await;
            assert!(read_now(&mut server).await.is_pending(), "nothing sent yet");
            // The idle limit passes; the timer fires while nothing is sent.
            tokio::time::sleep(3 * TICK).await;
            // Bytes arrive, and the connection is polled before the runtime
            // has seen them (as on the first poll after a stall).
            std::io::Write::write_all(&mut client, b"GET / HTTP/1.1\r\n").unwrap();
            match read_now(&mut server).await {
                Poll::Ready(Ok(read)) => assert_eq!(read, 16, "the waiting bytes are read"),
                other => panic!("the connection was not idle: {other:?}"),
            }
            assert!(matches!(server.watchdog.state.lock().phase, Phase::Head { .. }));
        });
    }

    #[test]
    fn a_write_blocked_past_its_limit_fails() {
        runtime().block_on(async {
            let (_client, mut server) = watched_pair(LIMITS).await;
            server.watchdog.request_answered();
            let chunk = [7u8; 64 * 1024];
            let started = Instant::now();
            // The client never reads: writes go through until the buffers are full.
            let failed = loop {
                let written = std::future::poll_fn(|cx| Pin::new(&mut server).poll_write(cx, &chunk)).await;
                match written {
                    Ok(written) => assert!(written > 0),
                    Err(error) => break error,
                }
            };
            assert_eq!(failed.kind(), io::ErrorKind::TimedOut);
            assert!(started.elapsed() >= TICK, "{:?}", started.elapsed());
        });
    }

    #[test]
    fn an_idle_connection_is_closed_past_its_limit() {
        runtime().block_on(async {
            let (_client, mut server) = watched_pair(LIMITS).await;
            assert_eq!(read(&mut server).await.unwrap_err().kind(), io::ErrorKind::TimedOut);
        });
    }

    #[test]
    fn the_idle_clock_starts_when_the_answer_is_flushed_not_when_the_request_came() {
        runtime().block_on(async {
            let (_client, mut server) = watched_pair(LIMITS).await;
            server.watchdog.request_started();
            tokio::time::sleep(3 * TICK).await; // a slow answer: longer than the idle limit
            assert!(read_now(&mut server).await.is_pending(), "no read limit while a request is in hand");
            server.watchdog.request_answered();
            answer(&mut server, b"HTTP/1.1 200 OK\r\n\r\n").await;
            assert!(read_now(&mut server).await.is_pending(), "the client has its answer only now");
            flush(&mut server).await;
            assert!(read_now(&mut server).await.is_pending(), "idle from the flush on");
            let since = Instant::now();
            assert_eq!(read(&mut server).await.unwrap_err().kind(), io::ErrorKind::TimedOut);
            assert!(since.elapsed() >= TICK / 2, "{:?}", since.elapsed());
        });
    }
}
