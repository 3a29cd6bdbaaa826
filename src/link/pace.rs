//! The send pacing of one link connection: a token bucket (a burst, then one line per
//! interval), so that the network's flood limits are kept by waiting, never by dropping.

use std::time::Duration;

use tokio::time::Instant;

/// A token bucket.
#[derive(Debug, Clone)]
pub struct Pace {
    burst: u32,
    interval: Duration,
    tokens: f64,
    at: Instant,
}

impl Pace {
    /// `burst` lines at once, then one per `interval`.
    pub fn new(burst: u32, interval: Duration) -> Self {
        let burst = burst.max(1);
        Pace {
            burst,
            interval,
            tokens: f64::from(burst),
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        if self.interval.is_zero() {
            self.tokens = f64::from(self.burst);
        } else {
            let gained =
                now.saturating_duration_since(self.at).as_secs_f64() / self.interval.as_secs_f64();
            self.tokens = (self.tokens + gained).min(f64::from(self.burst));
        }
        self.at = now;
    }

    /// Takes a token if one is there.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token is there.
    pub fn ready_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            now + self.interval.mul_f64(1.0 - self.tokens)
        }
    }

    /// A fresh bucket (after a reconnect the server's count starts again).
    pub fn reset(&mut self, now: Instant) {
        self.tokens = f64::from(self.burst);
        self.at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval() {
        let t0 = Instant::now();
        let mut p = Pace::new(3, Duration::from_secs(1));
        p.reset(t0);
        assert!(p.take(t0) && p.take(t0) && p.take(t0));
        assert!(!p.take(t0));
        assert_eq!(p.ready_at(t0), t0 + Duration::from_secs(1));
        assert!(!p.take(t0 + Duration::from_millis(900)));
        assert!(p.take(t0 + Duration::from_millis(1000)));
        // Idle time refills up to the burst, not beyond.
        let later = t0 + Duration::from_secs(100);
        assert!(p.take(later) && p.take(later) && p.take(later));
        assert!(!p.take(later));
    }
}
