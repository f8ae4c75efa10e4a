//! One client connection's socket, watched while a response is being sent: a response must
//! reach the client within `http.write_timeout`, and a client that does not keep up must still
//! take `http.min_send_rate` bytes a second over every `http.send_window`. A slow or stalled
//! reader is disconnected instead of holding its slot (and the body it was sent) for ever.
//!
//! The clock starts at a response's first write and stops when hyper has flushed all of it;
//! the rate is checked only while a write waits for the client, so a client that keeps up is
//! never measured. Vectored writes are passed through, so hyper queues a shared body (`Bytes`)
//! instead of copying it into a buffer per connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::limits::{Closed, Stats};

/// What a client must keep up with.
#[derive(Debug, Clone, Copy)]
pub(super) struct SendLimits {
    /// The longest a response may take, first write to last.
    pub(super) write_timeout: Duration,
    /// The window over which the rate is measured while the client lags.
    pub(super) window: Duration,
    /// Bytes the client must take in each window while it lags (at least 1).
    pub(super) min_per_window: u64,
}

impl SendLimits {
    /// From `http.*`.
    pub(super) fn new(write_timeout: Duration, window: Duration, min_rate: usize) -> SendLimits {
        let per_window = (min_rate as f64 * window.as_secs_f64()) as u64;
        SendLimits {
            write_timeout,
            window,
            min_per_window: per_window.max(1),
        }
    }
}

/// A socket whose writes fail once the client is too slow.
#[derive(Debug)]
pub(super) struct Guarded<T> {
    io: T,
    limits: SendLimits,
    stats: Arc<Stats>,
    /// When the response being sent began (its first write since the last completed flush).
    writing_since: Option<Instant>,
    /// While the client lags: when the current window began, and the bytes taken since.
    window: Option<(Instant, u64)>,
    /// Wakes a waiting write at the next deadline.
    timer: Pin<Box<Sleep>>,
    /// Set once the client was found too slow: every later write fails too.
    failed: Option<Closed>,
}

impl<T> Guarded<T> {
    pub(super) fn new(io: T, limits: SendLimits, stats: Arc<Stats>) -> Guarded<T> {
        Guarded {
            io,
            limits,
            stats,
            writing_since: None,
            window: None,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            failed: None,
        }
    }

    fn fail(&mut self, why: Closed) -> io::Error {
        if self.failed.is_none() {
            self.failed = Some(why);
            self.stats.closed(why);
        }
        io::Error::new(
            io::ErrorKind::TimedOut,
            match why {
                Closed::WriteTimeout => "the response was not delivered within http.write_timeout",
                _ => "the client read more slowly than http.min_send_rate",
            },
        )
    }

    /// Runs one write and applies the limits to its outcome.
    fn send(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(&mut T, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if let Some(why) = self.failed {
            return Poll::Ready(Err(self.fail(why)));
        }
        let now = Instant::now();
        let since = *self.writing_since.get_or_insert(now);
        match write(&mut self.io, cx) {
            Poll::Ready(Ok(n)) => {
                if let Some((_, taken)) = &mut self.window {
                    *taken += n as u64;
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                // The client is not keeping up: measure it.
                let (start, taken) = *self.window.get_or_insert((now, 0));
                let end = since + self.limits.write_timeout;
                if now >= end {
                    return Poll::Ready(Err(self.fail(Closed::WriteTimeout)));
                }
                let mut start = start;
                if now >= start + self.limits.window {
                    if taken < self.limits.min_per_window {
                        return Poll::Ready(Err(self.fail(Closed::SlowReader)));
                    }
                    start = now;
                    self.window = Some((now, 0));
                }
                let deadline = end.min(start + self.limits.window);
                self.timer.as_mut().reset(deadline);
                if self.timer.as_mut().poll(cx).is_ready() {
                    // Already due (a coarse clock): look again at once.
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .send(cx, |io, cx| Pin::new(io).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .send(cx, |io, cx| Pin::new(io).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        if matches!(r, Poll::Ready(Ok(()))) {
            // hyper flushes once everything queued is written: the response is delivered.
            self.writing_since = None;
            self.window = None;
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits(window_ms: u64, rate: usize, timeout_ms: u64) -> SendLimits {
        SendLimits::new(
            Duration::from_millis(timeout_ms),
            Duration::from_millis(window_ms),
            rate,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_stalls_is_cut_off_after_one_window() {
        let (client, server) = tokio::io::duplex(1024);
        let stats = Arc::new(Stats::default());
        let mut g = Guarded::new(server, limits(1_000, 100, 60_000), stats.clone());
        let body = vec![b'x'; 64 * 1024];
        let started = Instant::now();
        let err = g.write_all(&body).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(1_000) && waited < Duration::from_millis(2_100));
        assert_eq!(
            stats.closings().find(|(c, _)| *c == "slow-reader"),
            Some(("slow-reader", 1))
        );
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_keeps_the_rate_is_served_and_a_slower_one_is_not() {
        for (chunk, ok) in [(512usize, true), (16, false)] {
            let (mut client, server) = tokio::io::duplex(256);
            let stats = Arc::new(Stats::default());
            // 200 bytes a second over windows of one second.
            let mut g = Guarded::new(server, limits(1_000, 200, 600_000), stats);
            let reader = tokio::spawn(async move {
                let mut buf = vec![0; chunk];
                let mut total = 0;
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    match client.read(&mut buf).await {
                        Ok(0) | Err(_) => return total,
                        Ok(n) => total += n,
                    }
                }
            });
            let r = async {
                g.write_all(&vec![b'y'; 8 * 1024]).await?;
                g.flush().await
            }
            .await;
            assert_eq!(r.is_ok(), ok, "reading {chunk} bytes every 500 ms");
            drop(g);
            let _ = reader.await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_response_has_a_time_limit_and_a_flush_ends_it() {
        let (mut client, server) = tokio::io::duplex(64);
        let stats = Arc::new(Stats::default());
        let mut g = Guarded::new(server, limits(1_000, 1, 3_000), stats.clone());
        // A reader that takes a byte now and then: over the rate, but never done.
        tokio::spawn(async move {
            let mut b = [0; 8];
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if client.read(&mut b).await.unwrap_or(0) == 0 {
                    return;
                }
            }
        });
        // A small response that fits the pipe completes and is flushed: its clock stops.
        g.write_all(b"short").await.unwrap();
        g.flush().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let err = g.write_all(&vec![b'z'; 64 * 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            stats.closings().find(|(c, _)| *c == "write-timeout"),
            Some(("write-timeout", 1))
        );
    }
}
