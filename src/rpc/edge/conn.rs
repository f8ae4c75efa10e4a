//! One open connection at the edge: its state (streams open, stream budget, whether it must
//! close) and the I/O wrapper that holds its slot and closes it when idle or told to.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::Connected;

use super::Booked;
use crate::node::metrics::ConnRefusal;

/// What the stream gate and the I/O wrapper share about one connection.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// Calls open now (their response not yet finished).
    open: AtomicUsize,
    /// When the last call ended (or the connection opened): the idle clock starts there.
    idle_since: Mutex<Instant>,
    /// New streams: a token bucket.
    streams: DefaultDirectRateLimiter,
    /// Streams refused so far, and how many make the connection close.
    refused: AtomicU32,
    refused_limit: u32,
    /// Set to make the connection close at its next read.
    closing: AtomicBool,
    /// The connection task, woken when the idle clock starts or the connection must close.
    waker: AtomicWaker,
}

impl ConnState {
    /// A fresh connection's state: `per_second` new streams sustained, `burst` at once.
    pub(crate) fn new(per_second: u32, burst: u32) -> ConnState {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        ConnState {
            open: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            streams: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            refused: AtomicU32::new(0),
            refused_limit: burst.get(),
            closing: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    /// A new stream asks to open. `Err(close)`: refused, and `close` when the connection has
    /// been refused more than its burst and is now made to close.
    pub(crate) fn open_stream(self: &Arc<Self>) -> Result<OpenStream, bool> {
        if self.streams.check().is_err() {
            let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
            let close = refused == self.refused_limit.saturating_add(1);
            if close {
                self.closing.store(true, Ordering::Release);
                self.waker.wake();
            }
            return Err(close);
        }
        self.open.fetch_add(1, Ordering::AcqRel);
        Ok(OpenStream(Arc::clone(self)))
    }

    fn idle_since(&self) -> Instant {
        // A poisoned lock only means a panic elsewhere while it was held; the instant is
        // still an instant.
        *self
            .idle_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A stream (call) counted open until this is dropped (with the response body).
#[derive(Debug)]
pub(crate) struct OpenStream(Arc<ConnState>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self
                .0
                .idle_since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
            // The connection task may be parked in a read with no idle timer armed.
            self.0.waker.wake();
        }
    }
}

/// An accepted connection whose handshake is done: the TCP or TLS stream, the slot it holds
/// (released on drop, with its bookings), and its idle timer.
pub(crate) struct Conn<S> {
    io: S,
    state: Arc<ConnState>,
    idle_timeout: Duration,
    idle: Pin<Box<Sleep>>,
    /// Its place in the edge's book and registry; released when the connection is dropped.
    booked: Booked,
    /// Whether the connection was already made to close (counted once).
    closed: bool,
}

impl<S> std::fmt::Debug for Conn<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<S> Conn<S> {
    pub(crate) fn new(
        io: S,
        state: Arc<ConnState>,
        idle_timeout: Duration,
        booked: Booked,
    ) -> Conn<S> {
        let deadline = state.idle_since() + idle_timeout;
        Conn {
            io,
            state,
            idle_timeout,
            idle: Box::pin(tokio::time::sleep_until(deadline)),
            booked,
            closed: false,
        }
    }

    /// Whether the connection must end now: told to close, or idle past its timeout. Arms the
    /// idle timer (and registers the task to be woken) otherwise.
    fn must_close(&mut self, cx: &mut Context<'_>) -> Option<std::io::Error> {
        if self.closed {
            return Some(std::io::ErrorKind::ConnectionAborted.into());
        }
        self.state.waker.register(cx.waker());
        let why = if self.state.closing.load(Ordering::Acquire) {
            Some(ConnRefusal::Streams)
        } else if self.state.open.load(Ordering::Acquire) == 0 {
            let deadline = self.state.idle_since() + self.idle_timeout;
            if self.idle.deadline() != deadline {
                self.idle.as_mut().reset(deadline);
            }
            self.idle
                .as_mut()
                .poll(cx)
                .is_ready()
                .then_some(ConnRefusal::Idle)
        } else {
            None
        };
        let why = why?;
        self.closed = true;
        self.booked.edge.note(why);
        Some(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("connection closed by the node ({})", why.label()),
        ))
    }
}

impl<S: Connected> Connected for Conn<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Conn<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        // The HTTP/2 connection always has a read pending, so this is where it learns that it
        // must end.
        if let Some(e) = this.must_close(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Conn<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_over_the_burst_are_refused_and_then_the_connection_is_told_to_close() {
        let s = Arc::new(ConnState::new(1, 3));
        let open: Vec<_> = (0..3).map(|_| s.open_stream().unwrap()).collect();
        assert_eq!(s.open.load(Ordering::Relaxed), 3);
        // Three refusals are tolerated; the fourth closes.
        for _ in 0..3 {
            assert!(!s.open_stream().unwrap_err());
        }
        assert!(!s.closing.load(Ordering::Relaxed));
        assert!(s.open_stream().unwrap_err());
        assert!(s.closing.load(Ordering::Relaxed));
        drop(open);
        assert_eq!(s.open.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_idle_clock_starts_again_only_when_the_last_stream_ends() {
        let s = Arc::new(ConnState::new(100, 100));
        let opened = s.idle_since();
        let a = s.open_stream().unwrap();
        let b = s.open_stream().unwrap();
        drop(a);
        assert_eq!(s.idle_since(), opened, "one stream is still open");
        let before_last = Instant::now();
        drop(b);
        assert!(s.idle_since() >= before_last);
        assert!(before_last >= opened);
    }
}
