//! Revocation markers in Redis: which to fetch for a token, what they say, and the script
//! that writes a subject marker.
//!
//! Markers are trusted as they are: whoever can write to Redis can revoke (add a marker) or
//! un-revoke (delete one). Only cached claims are authenticated (see the core's security guide, `jwt_cache::guide::security`).

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

/// Whether what a store said about a token's ids revokes it: `found` holds, in
/// [`marker_keys`] order (token, then `jti` if the token has one, then subject if it has one),
/// for each id `None` when nothing revokes it, or `Some(time)` when something does; the time
/// matters for the subject only (its `issued_before`; `None` when unreadable, which revokes:
/// fail closed on garbage). Shared by the per-key markers and the tiered cache's revocation log.
pub(crate) fn revokes(
    meta: &TokenMeta,
    found: impl IntoIterator<Item = Option<Option<u64>>>,
) -> bool {
    let mut it = found.into_iter();
    // A token or jti revocation revokes by its presence, whatever it holds.
    if it.next().is_some_and(|f| f.is_some()) {
        return true;
    }
    if meta.jti.is_some() && it.next().is_some_and(|f| f.is_some()) {
        return true;
    }
    if meta.sub.is_some()
        && let Some(Some(before)) = it.next()
    {
        return before.is_none_or(|before| Revocation::subject_covers(before, meta.iat));
    }
    false
}

/// Whether the fetched markers (in [`marker_keys`] order) revoke a token with `meta`.
pub(crate) fn markers_revoke(meta: &TokenMeta, markers: &[Option<Vec<u8>>]) -> bool {
    let found = markers.iter().map(|m| {
        m.as_ref().map(|v| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
        })
    });
    revokes(meta, found)
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

    use jwt_cache::validator::TokenMeta;

    use super::{px, revokes};

    #[test]
    fn the_revocation_verdict() {
        let meta = TokenMeta {
            jti: Some("j".into()),
            sub: Some("s".into()),
            iat: Some(100),
            ..Default::default()
        };
        // token, jti, subject
        assert!(!revokes(&meta, [None, None, None]));
        assert!(revokes(&meta, [Some(None), None, None]), "any token marker");
        assert!(
            revokes(&meta, [None, Some(Some(1)), None]),
            "any jti marker"
        );
        assert!(revokes(&meta, [None, None, Some(Some(101))]));
        assert!(
            !revokes(&meta, [None, None, Some(Some(100))]),
            "issued at the time"
        );
        assert!(revokes(&meta, [None, None, Some(None)]), "unreadable time");
        // Without a jti, the second entry is the subject's.
        let no_jti = TokenMeta {
            jti: None,
            ..meta.clone()
        };
        assert!(revokes(&no_jti, [None, Some(Some(101))]));
        assert!(!revokes(&no_jti, [None, Some(Some(50))]));
    }

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
