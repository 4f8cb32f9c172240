//! The [`ClaimsCache`] trait.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{CacheKey, Fill, Lookup, Revocation};
use crate::claims::TokenMeta;
use crate::error::CacheError;
use crate::token::SignedHash;
use crate::validator::ValidatedToken;

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
    /// token in [`get`](Self::get)). `fill` says where it may go: a validation of a local
    /// validator ([`Fill::Local`]) is never written to a shared store.
    async fn put(
        &self,
        key: &CacheKey,
        signed: &SignedHash,
        value: Arc<ValidatedToken<C>>,
        ttl: Duration,
        fill: Fill,
    ) -> Result<(), CacheError>;

    /// Store a validation at once, without waiting, when the cache can (an in-process cache,
    /// or a tiered cache keeping a [`Fill::Local`] validation in its in-process tier): the
    /// same effect as [`put`](Self::put). `Err` hands the value back: "call `put`". The miss
    /// path of a local validator stores through here without boxing a future.
    #[allow(clippy::result_large_err)]
    fn store_now(
        &self,
        _key: &CacheKey,
        _signed: &SignedHash,
        value: Arc<ValidatedToken<C>>,
        _ttl: Duration,
        _fill: Fill,
    ) -> Result<(), Arc<ValidatedToken<C>>> {
        Err(value)
    }

    /// Forget a validation.
    async fn remove(&self, key: &CacheKey) -> Result<(), CacheError>;

    /// Whether a revocation covers a token just validated (the miss path): a token
    /// revocation of its signed part, or a `jti` or subject revocation covering `meta`.
    async fn is_revoked(&self, token: &SignedHash, meta: &TokenMeta) -> Result<bool, CacheError>;

    /// Record a revocation, kept for `ttl` (as long as the longest token it can cover).
    async fn revoke(&self, revocation: &Revocation, ttl: Duration) -> Result<(), CacheError>;

    /// Register this cache's own instruments (backend errors, breaker state, a revocation
    /// view's size and freshness) on `meter`; called once when an authenticator with metrics
    /// is built. Default: none.
    #[cfg(feature = "metrics")]
    fn observe(&self, _meter: &opentelemetry::metrics::Meter) {}
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
        fill: Fill,
    ) -> Result<(), CacheError> {
        (**self).put(key, signed, value, ttl, fill).await
    }
    fn store_now(
        &self,
        key: &CacheKey,
        signed: &SignedHash,
        value: Arc<ValidatedToken<C>>,
        ttl: Duration,
        fill: Fill,
    ) -> Result<(), Arc<ValidatedToken<C>>> {
        (**self).store_now(key, signed, value, ttl, fill)
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
    #[cfg(feature = "metrics")]
    fn observe(&self, meter: &opentelemetry::metrics::Meter) {
        (**self).observe(meter)
    }
}
