//! [`RedisStats`]: counters of one [`RedisCache`](crate::RedisCache).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one [`RedisCache`](crate::RedisCache).
#[derive(Debug, Default)]
pub struct RedisStats {
    /// Calls made to Redis (a pipeline counts once).
    pub calls: AtomicU64,
    /// Calls that failed or timed out.
    pub errors: AtomicU64,
    /// Of those, timeouts.
    pub timeouts: AtomicU64,
    /// Values that did not decode, failed the integrity check, were past their `not_after`,
    /// or did not match their token (each treated as a miss).
    pub decode_errors: AtomicU64,
    /// Calls not made because the circuit breaker was open.
    pub short_circuited: AtomicU64,
    /// Revocations written to Redis but not kept in this instance's memory because its
    /// revocation set was full.
    pub local_revocations_dropped: AtomicU64,
}

impl RedisStats {
    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    /// See the field.
    pub fn calls(&self) -> u64 {
        Self::get(&self.calls)
    }
    /// See the field.
    pub fn errors(&self) -> u64 {
        Self::get(&self.errors)
    }
    /// See the field.
    pub fn timeouts(&self) -> u64 {
        Self::get(&self.timeouts)
    }
    /// See the field.
    pub fn decode_errors(&self) -> u64 {
        Self::get(&self.decode_errors)
    }
    /// See the field.
    pub fn short_circuited(&self) -> u64 {
        Self::get(&self.short_circuited)
    }
    /// See the field.
    pub fn local_revocations_dropped(&self) -> u64 {
        Self::get(&self.local_revocations_dropped)
    }
}
