//! Flow control for one client: the byte-bounded send queue (a client that does not read is
//! dropped with `SendQ exceeded`, never blocks the gateway) and the input token bucket.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::AsyncWrite;
use tokio::time::Instant;

/// The queue keeps no buffer larger than this between bursts (per-connection memory is what
/// bounds how many users one gateway holds).
const KEEP: usize = 2048;

/// The send queue: the bytes of the lines not yet taken by the connection, written by the
/// connection's own task as the socket takes them (no task or channel of its own between a
/// line and the socket), bounded by a byte count.
pub(super) struct SendQ {
    /// Lines, each ended with CRLF, not yet taken by the stream.
    buf: Vec<u8>,
    /// Taken by the stream, not yet flushed (a TLS stream may hold bytes until flushed).
    unflushed: bool,
    limit: usize,
    pub(super) exceeded: bool,
}

impl SendQ {
    /// An empty queue of at most `limit` bytes.
    pub(super) fn new(limit: usize) -> SendQ {
        SendQ {
            buf: Vec::new(),
            unflushed: false,
            limit,
            exceeded: false,
        }
    }

    pub(super) fn push(&mut self, line: String) {
        if self.exceeded {
            return;
        }
        if self.buf.len() + line.len() + 2 > self.limit {
            self.exceeded = true;
            return;
        }
        self.append(&line);
    }

    /// Queues a final line whatever the limit.
    pub(super) fn push_final(&mut self, line: String) {
        self.append(&line);
    }

    fn append(&mut self, line: &str) {
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Something waits to be written or flushed.
    pub(super) fn pending(&self) -> bool {
        !self.buf.is_empty() || self.unflushed
    }

    /// Writes what is queued, then flushes. Cancel-safe: what the stream took is gone from the
    /// queue, and a flush still owed is remembered.
    pub(super) fn poll_write<W: AsyncWrite + Unpin>(
        &mut self,
        wr: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while !self.buf.is_empty() {
            let n = ready!(Pin::new(&mut *wr).poll_write(cx, &self.buf))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.buf.drain(..n);
            self.unflushed = true;
        }
        if self.unflushed {
            ready!(Pin::new(&mut *wr).poll_flush(cx))?;
            self.unflushed = false;
        }
        // An idle connection keeps no large buffer: one left by a burst is let go.
        if self.buf.capacity() > KEEP {
            self.buf = Vec::new();
        }
        Poll::Ready(Ok(()))
    }
}

/// Token bucket for input lines.
pub(super) struct Bucket {
    pub(super) tokens: f64,
    pub(super) burst: f64,
    pub(super) rate: f64,
    pub(super) last: Instant,
}

impl Bucket {
    /// Takes a token; returns when the line may be processed.
    pub(super) fn take(&mut self, now: Instant) -> Instant {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            now
        } else {
            now + Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::{AsyncBufReadExt, BufReader, BufWriter};

    use super::*;

    /// A stream that keeps what it accepted until flushed (as a TLS session does when the
    /// socket would block) gets every line all the same, without a later write to push it.
    #[tokio::test]
    async fn a_line_is_flushed_not_left_for_the_next_write() {
        let (near, far) = tokio::io::duplex(64 * 1024);
        let mut wr = BufWriter::new(near);
        let mut q = SendQ::new(1024);
        q.push("PING :x".into());
        poll_fn(|cx| q.poll_write(&mut wr, cx)).await.unwrap();
        assert!(!q.pending());
        let mut lines = BufReader::new(far).lines();
        let got = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await;
        assert!(
            matches!(&got, Ok(Ok(Some(l))) if l == "PING :x"),
            "the line stayed in the stream's buffer: {got:?}"
        );
    }

    /// A client that does not read fills the queue up to its limit; the line past it marks the
    /// queue exceeded and is not queued. A final line goes in whatever the limit.
    #[tokio::test]
    async fn the_queue_is_bounded_in_bytes() {
        let (near, _far) = tokio::io::duplex(16);
        let mut wr = near;
        let mut q = SendQ::new(40);
        q.push("a".repeat(18));
        q.push("b".repeat(18));
        assert!(!q.exceeded);
        // The socket takes 16 bytes; the rest waits.
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(q.poll_write(&mut wr, &mut cx).is_pending());
        assert_eq!(q.buf.len(), 40 - 16);
        // What the socket took no longer counts: 24 queued, room for 16 more.
        q.push("c".repeat(14));
        assert!(!q.exceeded);
        q.push("d".into());
        assert!(q.exceeded);
        let before = q.buf.len();
        q.push("e".into());
        assert_eq!(q.buf.len(), before, "nothing is queued once exceeded");
        q.push_final("ERROR :x".into());
        assert_eq!(q.buf.len(), before + 10);
    }
}
