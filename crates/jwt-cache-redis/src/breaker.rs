//! A small circuit breaker: after `threshold` consecutive failures no call is made for
//! `cooldown`; then one probe is let through (half-open), which closes it on success or opens
//! it again on failure. A probe that never reports (its request was dropped mid-call) is
//! given up after another `cooldown`, and a new one is let through.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Milliseconds on a monotonic clock (a wall-clock step must not hold the breaker open).
/// Starts at 1 so that 0 can mean "not set".
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Circuit breaker state shared by every call of one [`RedisCache`](crate::RedisCache).
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown_ms: u64,
    failures: AtomicU32,
    open_until_ms: AtomicU64,
    /// When the current probe was let through (0: none in flight).
    probe_since_ms: AtomicU64,
    opened: AtomicU64,
}

impl CircuitBreaker {
    /// Open after `threshold` consecutive failures, for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            cooldown_ms: cooldown.as_millis() as u64,
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            probe_since_ms: AtomicU64::new(0),
            opened: AtomicU64::new(0),
        }
    }

    /// Whether a call may be made now.
    pub fn allow(&self) -> bool {
        let until = self.open_until_ms.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = now_ms();
        if now < until {
            return false;
        }
        // Half-open: one probe at a time; a probe silent for a whole cooldown is given up.
        let since = self.probe_since_ms.load(Ordering::Acquire);
        if since != 0 && now < since.saturating_add(self.cooldown_ms.max(1)) {
            return false;
        }
        if self
            .probe_since_ms
            .compare_exchange(since, now, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        if self.open_until_ms.load(Ordering::Acquire) == 0 {
            // Closed meanwhile by another call's success: not a probe after all.
            self.probe_since_ms.store(0, Ordering::Release);
        }
        true
    }

    /// A call succeeded: close.
    pub fn success(&self) {
        self.failures.store(0, Ordering::Release);
        if self.open_until_ms.load(Ordering::Acquire) != 0 {
            self.open_until_ms.store(0, Ordering::Release);
            tracing::info!("redis circuit breaker closed");
        }
        self.probe_since_ms.store(0, Ordering::Release);
    }

    /// A call failed: count it, and open when the threshold is reached or a probe failed.
    pub fn failure(&self) {
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        let probe_failed = self.probe_since_ms.load(Ordering::Acquire) != 0
            && self.open_until_ms.load(Ordering::Acquire) != 0;
        if failures >= self.threshold || probe_failed {
            let was = self
                .open_until_ms
                .swap(now_ms().saturating_add(self.cooldown_ms), Ordering::AcqRel);
            if was == 0 {
                self.opened.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(failures, "redis circuit breaker opened");
            }
            self.probe_since_ms.store(0, Ordering::Release);
        }
    }

    /// Whether the breaker is open (calls are being refused).
    pub fn is_open(&self) -> bool {
        let until = self.open_until_ms.load(Ordering::Acquire);
        until != 0 && now_ms() < until
    }

    /// How many times it has opened.
    pub fn times_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_half_opens_and_closes() {
        let b = CircuitBreaker::new(3, Duration::from_millis(50));
        assert!(b.allow());
        b.failure();
        b.failure();
        assert!(b.allow());
        b.failure();
        assert!(b.is_open());
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow(), "one probe");
        assert!(!b.allow(), "only one probe");
        b.failure();
        assert!(!b.allow(), "a failed probe reopens");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow());
        b.success();
        assert!(!b.is_open());
        assert!(b.allow() && b.allow());
        assert_eq!(b.times_opened(), 1);
    }

    #[test]
    fn a_probe_that_never_reports_is_given_up() {
        let b = CircuitBreaker::new(1, Duration::from_millis(40));
        b.failure();
        std::thread::sleep(Duration::from_millis(50));
        assert!(b.allow(), "the probe");
        // Its request is dropped: neither success() nor failure() is called.
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(50));
        assert!(b.allow(), "another probe after a cooldown of silence");
        b.success();
        assert!(!b.is_open());
    }
}
