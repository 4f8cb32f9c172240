//! Caches: the [`ClaimsCache`] trait, revocations, and the in-process [`MemoryCache`].

mod memory;
mod revocation;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use self::memory::MemoryCache;
pub use self::revocation::{Revocation, RevocationSet};
use crate::claims::TokenMeta;
use crate::error::CacheError;
use crate::token::{SignedHash, TokenHash};
use crate::validator::{Fingerprint, ValidatedToken};

/// Where a validation is cached: the validator's [`Fingerprint`] and the token's SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CacheKey {
    /// Identity of the validator that accepted the token.
    pub fingerprint: Fingerprint,
    /// SHA-256 of the token's exact bytes.
    pub token: TokenHash,
}

/// The answer of [`ClaimsCache::get`].
#[derive(Debug)]
pub enum Lookup<C> {
    /// A cached validation that no revocation covers. The authenticator still re-checks
    /// `exp`/`nbf` against the clock and the signing key against the current key set.
    Hit(Arc<ValidatedToken<C>>),
    /// Nothing usable cached.
    Miss,
    /// Nothing usable cached, and the revocation markers for the token's own ids came back
    /// with the lookup (a shared cache fetches them in the same round trip): the authenticator
    /// uses this answer instead of asking [`ClaimsCache::is_revoked`] again, if the validated
    /// token has exactly these ids.
    MissChecked(RevocationCheck),
    /// A cached validation exists but a revocation covers it.
    Revoked,
}

/// Whether revocations cover a token with these ids, as found during a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationCheck {
    /// The `jti` checked.
    pub jti: Option<String>,
    /// The `sub` checked.
    pub sub: Option<String>,
    /// The `iat` checked (subject revocations).
    pub iat: Option<u64>,
    /// Whether a revocation covers it.
    pub revoked: bool,
}

impl RevocationCheck {
    /// Whether this answer is about a token with `meta`'s ids.
    pub fn applies_to(&self, meta: &TokenMeta) -> bool {
        self.jti == meta.jti && self.sub == meta.sub && self.iat == meta.iat
    }
}

/// A store of validated claims and of revocations.
///
/// Implementations must be cheap to share (`Clone` through an `Arc`, or wrapped in one);
/// errors are never fatal: the authenticator falls back to direct validation.
#[async_trait]
pub trait ClaimsCache<C>: Send + Sync + 'static {
    /// Answer at once, without waiting, when the cache can (an in-process cache, or the
    /// in-process tier of a tiered cache): the same answer `get` would give. `None` means
    /// "ask [`get`](Self::get)". The hit path of an in-process cache goes through here and
    /// allocates nothing.
    fn get_now(&self, _key: &CacheKey) -> Option<Lookup<C>> {
        None
    }

    /// Look up `key`. On a hit, check in the same operation whether a revocation covers the
    /// entry (by token hash, `jti`, or subject-issued-before) and answer [`Lookup::Revoked`]
    /// if so. `token` is the raw token, for implementations that need its unverified claims
    /// to fetch revocation markers in the same round trip; it must never be stored.
    async fn get(&self, key: &CacheKey, token: &str) -> Result<Lookup<C>, CacheError>;

    /// Store a validation for `ttl` (already `min(configured ttl, exp - now)`). `signed` is
    /// the token's [`SignedHash`]: a hit must check token revocations against it (an
    /// in-process cache keeps it beside the entry; a shared cache recomputes it from the
    /// token in [`get`](Self::get)).
    async fn put(
        &self,
        key: &CacheKey,
        signed: &SignedHash,
        value: Arc<ValidatedToken<C>>,
        ttl: Duration,
    ) -> Result<(), CacheError>;

    /// Forget a validation.
    async fn remove(&self, key: &CacheKey) -> Result<(), CacheError>;

    /// Whether a revocation covers a token just validated (the miss path): a token
    /// revocation of its signed part, or a `jti` or subject revocation covering `meta`.
    async fn is_revoked(&self, token: &SignedHash, meta: &TokenMeta) -> Result<bool, CacheError>;

    /// Record a revocation, kept for `ttl` (as long as the longest token it can cover).
    async fn revoke(&self, revocation: &Revocation, ttl: Duration) -> Result<(), CacheError>;
}

#[async_trait]
impl<C, K> ClaimsCache<C> for Arc<K>
where
    K: ClaimsCache<C> + ?Sized,
    C: Send + Sync + 'static,
{
    fn get_now(&self, key: &CacheKey) -> Option<Lookup<C>> {
        (**self).get_now(key)
    }
    async fn get(&self, key: &CacheKey, token: &str) -> Result<Lookup<C>, CacheError> {
        (**self).get(key, token).await
    }
    async fn put(
        &self,
        key: &CacheKey,
        signed: &SignedHash,
        value: Arc<ValidatedToken<C>>,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        (**self).put(key, signed, value, ttl).await
    }
    async fn remove(&self, key: &CacheKey) -> Result<(), CacheError> {
        (**self).remove(key).await
    }
    async fn is_revoked(&self, token: &SignedHash, meta: &TokenMeta) -> Result<bool, CacheError> {
        (**self).is_revoked(token, meta).await
    }
    async fn revoke(&self, revocation: &Revocation, ttl: Duration) -> Result<(), CacheError> {
        (**self).revoke(revocation, ttl).await
    }
}

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
