use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::claims_cache::ClaimsCache;
use super::{
    CacheKey, Fill, Lookup, Revocation, RevocationIds, RevocationSet, deadline_ms, now_ms,
};
use crate::claims::TokenMeta;
use crate::error::CacheError;
use crate::token::SignedHash;
use crate::validator::ValidatedToken;

/// The embedded default: an in-process cache bounded by entry count, each entry expiring at its
/// own deadline (`min(ttl, exp - now)`), on [`quick_cache`] (chosen over moka by the
/// `cache_get` benchmark in `docs/BENCHMARKS.md`: a hit costs a fraction of moka's).
///
/// Expired entries are dropped when read (and evicted by the bound otherwise); revocations live
/// beside the entries in a [`RevocationSet`] that is never evicted, only expired.
///
/// `MemoryCache` is a handle: clones share one cache.
///
/// ```
/// use jwt_cache::{MemoryCache, StandardClaims};
/// let cache: MemoryCache<StandardClaims> = MemoryCache::new(100_000);
/// ```
pub struct MemoryCache<C> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    entries: quick_cache::sync::Cache<CacheKey, Entry<C>>,
    revocations: Arc<RevocationSet>,
}

struct Entry<C> {
    value: Arc<ValidatedToken<C>>,
    ids: RevocationIds,
    expires_ms: u64,
}

impl<C> Clone for Entry<C> {
    fn clone(&self) -> Self {
        Entry {
            value: self.value.clone(),
            ids: self.ids,
            expires_ms: self.expires_ms,
        }
    }
}

impl<C> Clone for MemoryCache<C> {
    fn clone(&self) -> Self {
        MemoryCache {
            inner: self.inner.clone(),
        }
    }
}

impl<C> std::fmt::Debug for MemoryCache<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.inner.entries.len())
            .field("capacity", &self.inner.entries.capacity())
            .field("revocations", &self.inner.revocations.len())
            .finish()
    }
}

impl<C: Send + Sync + 'static> MemoryCache<C> {
    /// The capacity of the cache an authenticator builds when none is configured.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A cache holding at most `capacity` validations, and at most
    /// [`RevocationSet::DEFAULT_CAPACITY`] revocations.
    pub fn new(capacity: usize) -> Self {
        Self::with_revocation_capacity(capacity, RevocationSet::DEFAULT_CAPACITY)
    }

    /// A cache holding at most `capacity` validations and `revocations` revocations (see
    /// [`RevocationSet`] for what happens when that bound is reached).
    pub fn with_revocation_capacity(capacity: usize, revocations: usize) -> Self {
        Self::with_revocations(
            capacity,
            Arc::new(RevocationSet::with_capacity(revocations)),
        )
    }

    /// A cache holding at most `capacity` validations whose hits are checked against
    /// `revocations`, a set it shares (a tiered cache's replicated revocation view).
    pub fn with_revocations(capacity: usize, revocations: Arc<RevocationSet>) -> Self {
        MemoryCache {
            inner: Arc::new(Inner {
                entries: quick_cache::sync::Cache::new(capacity.max(1)),
                revocations,
            }),
        }
    }

    /// Number of cached validations (expired ones included until read or evicted).
    pub fn len(&self) -> usize {
        self.inner.entries.len()
    }

    /// Whether no validation is cached.
    pub fn is_empty(&self) -> bool {
        self.inner.entries.is_empty()
    }

    /// The revocations held.
    pub fn revocations(&self) -> &RevocationSet {
        &self.inner.revocations
    }

    /// Forget a validation (what [`ClaimsCache::remove`] does).
    pub fn remove_now(&self, key: &CacheKey) {
        self.inner.entries.remove(key);
    }

    /// Synchronous lookup (what [`ClaimsCache::get`] does).
    pub fn lookup(&self, key: &CacheKey) -> Lookup<C> {
        let Some(entry) = self.inner.entries.get(key) else {
            return Lookup::Miss(None);
        };
        let now = now_ms();
        if entry.expires_ms <= now {
            self.inner.entries.remove(key);
            return Lookup::Miss(None);
        }
        if self.inner.revocations.covers(&entry.ids, now) {
            return Lookup::Revoked;
        }
        Lookup::Hit(entry.value)
    }

    /// Synchronous insert (what [`ClaimsCache::put`] does).
    pub fn put_now(
        &self,
        key: &CacheKey,
        signed: &SignedHash,
        value: Arc<ValidatedToken<C>>,
        ttl: Duration,
    ) {
        let expires_ms = deadline_ms(now_ms(), ttl);
        let ids = RevocationIds::of(*signed, &value.meta);
        self.inner.entries.insert(
            *key,
            Entry {
                value,
                ids,
                expires_ms,
            },
        );
    }
}

#[async_trait]
impl<C: Send + Sync + 'static> ClaimsCache<C> for MemoryCache<C> {
    fn get_now(&self, key: &CacheKey) -> Option<Lookup<C>> {
        Some(self.lookup(key))
    }

    async fn get(&self, key: &CacheKey, _token: &str) -> Result<Lookup<C>, CacheError> {
        Ok(self.lookup(key))
    }

    async fn put(
        &self,
        key: &CacheKey,
        signed: &SignedHash,
        value: Arc<ValidatedToken<C>>,
        ttl: Duration,
        _fill: Fill,
    ) -> Result<(), CacheError> {
        self.put_now(key, signed, value, ttl);
        Ok(())
    }

    fn store_now(
        &self,
        key: &CacheKey,
        signed: &SignedHash,
        value: Arc<ValidatedToken<C>>,
        ttl: Duration,
        _fill: Fill,
    ) -> Result<(), Arc<ValidatedToken<C>>> {
        self.put_now(key, signed, value, ttl);
        Ok(())
    }

    async fn remove(&self, key: &CacheKey) -> Result<(), CacheError> {
        self.inner.entries.remove(key);
        Ok(())
    }

    async fn is_revoked(&self, token: &SignedHash, meta: &TokenMeta) -> Result<bool, CacheError> {
        Ok(self.inner.revocations.is_revoked(token, meta, now_ms()))
    }

    async fn revoke(&self, revocation: &Revocation, ttl: Duration) -> Result<(), CacheError> {
        let now = now_ms();
        self.inner
            .revocations
            .insert(revocation, deadline_ms(now, ttl), now)
    }
}
