//! Flow control for one client: the byte-bounded send queue (a client that does not read is
//! dropped with `SendQ exceeded`, never blocks the gateway) and the input token bucket.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

/// The send queue: unbounded channel, bounded by a byte count the writer pays back.
pub(super) struct SendQ {
    pub(super) tx: mpsc::UnboundedSender<String>,
    pub(super) queued: Arc<AtomicUsize>,
    pub(super) limit: usize,
    pub(super) exceeded: bool,
}

impl SendQ {
    pub(super) fn push(&mut self, line: String) {
        if self.exceeded {
            return;
        }
        let n = line.len() + 2;
        if self.queued.load(Ordering::Relaxed) + n > self.limit {
            self.exceeded = true;
            return;
        }
        self.queued.fetch_add(n, Ordering::Relaxed);
        let _ = self.tx.send(line);
    }

    /// Queues a final line whatever the limit.
    pub(super) fn push_final(&mut self, line: String) {
        self.queued.fetch_add(line.len() + 2, Ordering::Relaxed);
        let _ = self.tx.send(line);
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
