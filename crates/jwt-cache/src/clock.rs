//! The clock and the duration arithmetic every layer shares: milliseconds since the Unix
//! epoch, saturating conversions, and the fleet-wide revocation margin.
//!
//! At the bottom of the crate: imports nothing of it.

use std::time::Duration;

/// Milliseconds since the Unix epoch (the clock caches compare deadlines with).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(saturating_ms)
        .unwrap_or(0)
}

/// A duration in whole milliseconds, saturating at `u64::MAX` instead of wrapping (a huge
/// `exp` must give a long-lived revocation marker, never a short one).
pub fn saturating_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The deadline `now_ms + ttl`, saturating.
pub fn deadline_ms(now_ms: u64, ttl: Duration) -> u64 {
    now_ms.saturating_add(saturating_ms(ttl))
}

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn now_secs() -> u64 {
    now_ms() / 1000
}

/// The fleet-wide margin every revocation marker outlives the tokens it covers by: 5 minutes.
///
/// A marker must outlive what it covers in every service that reads it, whatever clock leeway
/// that service uses. The margin is a constant, not the revoking service's leeway: the
/// authenticator refuses any token whose `exp` is more than this margin in the past, whatever
/// its validator's leeway, so no service on the fleet can accept a token after its marker
/// has gone.
pub const REVOCATION_MARGIN: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_saturate() {
        assert_eq!(saturating_ms(Duration::MAX), u64::MAX);
        assert_eq!(
            saturating_ms(Duration::from_secs(u64::MAX / 1000 + 1)),
            u64::MAX
        );
        assert_eq!(saturating_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(deadline_ms(u64::MAX - 5, Duration::from_secs(1)), u64::MAX);
        assert_eq!(deadline_ms(10, Duration::from_millis(5)), 15);
    }
}
