//! Revocation markers in Redis: which to fetch for a token, what they say, and the script
//! that writes a subject marker.
//!
//! Markers are trusted as they are: whoever can write to Redis can revoke (add a marker) or
//! un-revoke (delete one). Only cached claims are authenticated (see `docs/security.md`).

use jwt_cache::cache::{Revocation, SignedHash};
use jwt_cache::validator::TokenMeta;

use crate::keys::Keys;

/// The marker keys for a token, in order: token (signed part), `jti`, subject.
pub(crate) fn marker_keys(keys: &Keys, signed: &SignedHash, meta: &TokenMeta) -> Vec<String> {
    let mut out = vec![keys.token_revoked(signed)];
    if let Some(j) = &meta.jti {
        out.push(keys.jti_revoked(j));
    }
    if let Some(s) = &meta.sub {
        out.push(keys.subject_revoked(s));
    }
    out
}

/// Whether the fetched markers (in [`marker_keys`] order) revoke a token with `meta`.
pub(crate) fn markers_revoke(meta: &TokenMeta, markers: &[Option<Vec<u8>>]) -> bool {
    let mut it = markers.iter();
    if it.next().is_some_and(Option::is_some) {
        return true;
    }
    if meta.jti.is_some() && it.next().is_some_and(Option::is_some) {
        return true;
    }
    if meta.sub.is_some()
        && let Some(Some(v)) = it.next()
    {
        // An unreadable subject marker revokes (fail closed on garbage).
        let before = std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        return before.is_none_or(|before| Revocation::subject_covers(before, meta.iat));
    }
    false
}

/// `KEYS[1]` = subject marker, `ARGV[1]` = issued_before, `ARGV[2]` = TTL in ms. Keeps the
/// latest `issued_before` and the longest TTL: a later call with an earlier time (or two
/// instances racing) never weakens a revocation.
pub(crate) const SUBJECT_REVOKE_SCRIPT: &str = r#"
local cur = redis.call('GET', KEYS[1])
local ttl = ARGV[2]
if redis.call('PTTL', KEYS[1]) > tonumber(ttl) then
  ttl = tostring(redis.call('PTTL', KEYS[1]))
end
if cur == false or (tonumber(cur) or 0) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
"#;

/// A TTL for Redis `PX`: at least 1 ms, saturating at ten years (Redis refuses an expiry
/// that overflows its clock; a wrapped conversion would give a marker that lapses at once).
pub(crate) fn px(ttl: std::time::Duration) -> i64 {
    jwt_cache::cache::saturating_ms(ttl).clamp(1, MAX_TTL_MS) as i64
}

/// The longest TTL written to Redis: ten years.
pub(crate) const MAX_TTL_MS: u64 = 10 * 366 * 24 * 3600 * 1000;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::px;

    #[test]
    fn px_saturates() {
        assert_eq!(px(Duration::ZERO), 1);
        assert_eq!(px(Duration::from_millis(1500)), 1500);
        assert_eq!(px(Duration::MAX), 10 * 366 * 24 * 3600 * 1000);
        assert_eq!(
            px(Duration::from_secs(u64::MAX / 999)),
            10 * 366 * 24 * 3600 * 1000
        );
    }
}
