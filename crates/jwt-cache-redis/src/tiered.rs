//! [`TieredCache`]: an in-process L1 in front of Redis, with a replicated revocation view, so
//! the hot path of a fleet makes no network call.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::clients::{Client, Pipeline};
use fred::interfaces::{ClientLike, HashesInterface, LuaInterface, SortedSetsInterface};
use jwt_cache::cache::{
    CacheKey, Fill, IdHash, Lookup, Revocation, RevocationCheck, RevocationSet, SignedHash,
    StoredRevocation, deadline_ms, now_ms,
};
use jwt_cache::validator::{TokenMeta, ValidatedToken};
use jwt_cache::{CacheError, ClaimsCache, JwtClaims, MemoryCache};

use crate::RedisCache;
use crate::log::{REVOKE_SCRIPT, RevocationLog};
use crate::view::{Replicator, RevocationView};

/// An in-process L1 ([`MemoryCache`]) in front of a shared L2 ([`RedisCache`]), with a
/// replicated [`RevocationView`] in every instance.
///
/// The path of a request:
/// - **L1 hit**: re-checks and the revocation check against the local view. No network.
/// - **L1 miss, local validator** ([`JwtValidator`](jwt_cache::JwtValidator)): verify, check
///   revocation against the view, fill L1. No network; L2 stores no claims for it.
/// - **L1 miss, remote validator**: one L2 round trip (entry and markers; claims only if
///   HMAC-authenticated); an L2 miss validates once and fills both tiers.
/// - **View not fresh** (past [`freshness`](TieredCacheBuilder::freshness) without
///   confirmation): each request asks Redis about revocation (one round trip) until the view
///   is fresh again; if Redis does not answer either, the authenticator's fail-open /
///   fail-closed choice applies. Revocations this instance made are enforced at once.
///
/// A revocation is written to the revocation log in Redis, with its sequence number and its
/// announcement, in one step, and as a per-key marker so that plain [`RedisCache`] instances
/// on the same Redis see it too.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jwt_cache::{JwtCacheLayer, JwtValidator, StandardClaims};
/// use jwt_cache_redis::{RedisCache, TieredCache};
/// let l2 = RedisCache::<StandardClaims>::connect("redis://127.0.0.1:6379").await?.build();
/// let cache = TieredCache::builder(l2).l1_capacity(100_000).start().await?;
/// let layer = JwtCacheLayer::builder(JwtValidator::hs256([7u8; 32])?).cache(cache).build();
/// # Ok(()) }
/// ```
pub struct TieredCache<C> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    l1: MemoryCache<C>,
    l2: RedisCache<C, Client>,
    view: Arc<RevocationView>,
    log: RevocationLog,
    task: tokio::task::JoinHandle<()>,
}

impl<C> Drop for Inner<C> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<C> Clone for TieredCache<C> {
    fn clone(&self) -> Self {
        TieredCache {
            inner: self.inner.clone(),
        }
    }
}

impl<C> std::fmt::Debug for TieredCache<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredCache")
            .field("l1", &self.inner.l1)
            .field("l2", &self.inner.l2)
            .field("view", &self.inner.view)
            .finish()
    }
}

/// Configures a [`TieredCache`]; [`start`](Self::start) connects the revocation subscriber
/// and loads the view.
#[must_use]
#[derive(Debug)]
pub struct TieredCacheBuilder<C> {
    l2: RedisCache<C, Client>,
    l1_capacity: usize,
    freshness: Duration,
    revocation_capacity: usize,
    start_timeout: Duration,
}

impl<C: JwtClaims> TieredCache<C> {
    /// A tiered cache in front of `l2`.
    pub fn builder(l2: RedisCache<C, Client>) -> TieredCacheBuilder<C> {
        TieredCacheBuilder {
            l2,
            l1_capacity: MemoryCache::<C>::DEFAULT_CAPACITY,
            freshness: Duration::from_secs(1),
            revocation_capacity: RevocationSet::DEFAULT_CAPACITY,
            start_timeout: Duration::from_secs(2),
        }
    }

    /// The replicated revocation view (its size, sequence number, freshness and counters).
    pub fn view(&self) -> &RevocationView {
        &self.inner.view
    }

    /// The in-process tier.
    pub fn l1(&self) -> &MemoryCache<C> {
        &self.inner.l1
    }

    /// The shared tier.
    pub fn l2(&self) -> &RedisCache<C, Client> {
        &self.inner.l2
    }

    /// Whether the log says a token with these ids is revoked (one round trip; the stale
    /// path).
    async fn log_revokes(&self, signed: &SignedHash, meta: &TokenMeta) -> Result<bool, CacheError> {
        let i = &self.inner;
        let sub = meta.sub.as_deref().map(IdHash::of);
        let members = RevocationLog::members(signed, meta.jti.as_deref().map(IdHash::of), sub);
        let client = i.l2.client().clone();
        let (log, subjects) = (i.log.log.clone(), i.log.subjects.clone());
        let subject_member = members[2].clone();
        let (scores, before): (Vec<Option<f64>>, Option<u64>) =
            i.l2.call(i.l2.lookup_timeout(), async move {
                let pipe = Pipeline::from(client);
                for m in members.iter().flatten() {
                    let () = pipe.zscore(&log, m.clone()).await?;
                }
                if let Some(s) = &subject_member {
                    let () = pipe.hget(&subjects, s.clone()).await?;
                }
                let mut values: Vec<fred::types::Value> = pipe.all().await?;
                let before = match subject_member {
                    Some(_) => values
                        .pop()
                        .and_then(|v| v.convert::<Option<u64>>().ok().flatten()),
                    None => None,
                };
                let scores = values
                    .into_iter()
                    .map(|v| v.convert::<Option<f64>>().ok().flatten())
                    .collect();
                Ok((scores, before))
            })
            .await?;
        // In `members` order: token, then jti if any, then subject if any (the subject with
        // its time).
        let now = now_ms() as f64;
        let found = scores
            .iter()
            .map(|s| s.is_some_and(|s| s > now).then_some(before));
        Ok(crate::markers::revokes(meta, found))
    }
}

impl<C: JwtClaims> TieredCacheBuilder<C> {
    /// How many validations L1 holds (default [`MemoryCache::DEFAULT_CAPACITY`]).
    pub fn l1_capacity(mut self, capacity: usize) -> Self {
        self.l1_capacity = capacity;
        self
    }

    /// How long the revocation view is trusted after its last confirmation (default 1 s):
    /// the bound on how stale a revocation check answered from memory can be. The view is
    /// confirmed every quarter of it.
    pub fn freshness(mut self, bound: Duration) -> Self {
        self.freshness = bound;
        self
    }

    /// The bound on the revocations this instance makes itself (default
    /// [`RevocationSet::DEFAULT_CAPACITY`]); replicated revocations are always all kept, since
    /// the view must not forget one (the log in Redis holds only live revocations: small).
    pub fn revocation_capacity(mut self, capacity: usize) -> Self {
        self.revocation_capacity = capacity;
        self
    }

    /// How long [`start`](Self::start) waits for the first load of the view (default 2 s).
    /// Without it the cache still starts; requests ask Redis until the view is fresh.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Connect the revocation subscriber, start replicating, and wait (up to the start
    /// timeout) for the first load, so the first request already sees every revocation.
    /// Must be called on a tokio runtime.
    pub async fn start(self) -> Result<TieredCache<C>, fred::error::Error> {
        let set = Arc::new(RevocationSet::with_capacity(self.revocation_capacity));
        let view = Arc::new(RevocationView::new(set.clone(), self.freshness));
        let l1 = MemoryCache::with_revocations(self.l1_capacity, set);
        let log = RevocationLog::new(self.l2.key_prefix());
        let subscriber = crate::client::cache_builder(self.l2.client().client_config())
            .build_subscriber_client()?;
        drop(subscriber.connect());
        let replicator = Replicator {
            view: view.clone(),
            client: self.l2.client().clone(),
            subscriber,
            log: log.clone(),
            timeout: self
                .l2
                .write_timeout_value()
                .max(Duration::from_millis(200)),
        };
        let task = tokio::spawn(replicator.run());
        let deadline = tokio::time::Instant::now() + self.start_timeout;
        while !view.is_fresh() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !view.is_fresh() {
            tracing::warn!(
                "revocation view not loaded yet; asking redis on every request meanwhile"
            );
        }
        Ok(TieredCache {
            inner: Arc::new(Inner {
                l1,
                l2: self.l2,
                view,
                log,
                task,
            }),
        })
    }
}

#[async_trait]
impl<C: JwtClaims> ClaimsCache<C> for TieredCache<C> {
    #[cfg(feature = "metrics")]
    fn observe(&self, meter: &opentelemetry::metrics::Meter) {
        ClaimsCache::<C>::observe(&self.inner.l2, meter);
        crate::metrics::observe_view(meter, &self.inner.view);
    }

    /// An L1 hit (or a revoked one) while the view is fresh; `None` otherwise (the stale path,
    /// or an L1 miss: see the type's docs).
    fn get_now(&self, key: &CacheKey) -> Option<Lookup<C>> {
        if !self.inner.view.is_fresh() {
            return None;
        }
        match self.inner.l1.lookup(key) {
            Lookup::Miss(_) => None,
            answer => Some(answer),
        }
    }

    async fn get(&self, key: &CacheKey, token: &str) -> Result<Lookup<C>, CacheError> {
        let i = &self.inner;
        let fresh = i.view.is_fresh();
        let signed = SignedHash::of(token);
        match i.l1.lookup(key) {
            answer @ (Lookup::Revoked | Lookup::Unchecked(_)) => return Ok(answer),
            Lookup::Hit(v) if fresh => return Ok(Lookup::Hit(v)),
            Lookup::Hit(v) => {
                return Ok(match self.log_revokes(&signed, &v.meta).await {
                    Ok(true) => Lookup::Revoked,
                    Ok(false) => Lookup::Hit(v),
                    // Redis cannot say: the authenticator's fail-open / fail-closed choice
                    // decides, and the validator (perhaps down too) is not asked.
                    Err(_) => Lookup::Unchecked(v),
                });
            }
            Lookup::Miss(_) => {}
            other => return Ok(other),
        }
        let now = now_ms();
        let view = i.view.revocations();
        match i.l2.lookup(key, token, &signed).await? {
            (Lookup::Hit(v), not_after) => {
                if view.is_revoked(&signed, &v.meta, now) {
                    return Ok(Lookup::Revoked);
                }
                // Fill L1 from L2 for what is left of the L2 entry's life.
                let left = not_after.unwrap_or(0).saturating_sub(now);
                if left > 0 {
                    i.l1.put_now(key, &signed, v.clone(), Duration::from_millis(left));
                }
                Ok(Lookup::Hit(v))
            }
            (Lookup::Miss(Some(mut check)), _) => {
                let meta = TokenMeta {
                    jti: check.jti.clone(),
                    sub: check.sub.clone(),
                    iat: check.iat,
                    ..Default::default()
                };
                check.revoked |= view.is_revoked(&signed, &meta, now);
                Ok(Lookup::Miss(Some(check)))
            }
            (other, _) => Ok(other),
        }
    }

    async fn put(
        &self,
        key: &CacheKey,
        signed: &SignedHash,
        value: Arc<ValidatedToken<C>>,
        ttl: Duration,
        fill: Fill,
    ) -> Result<(), CacheError> {
        self.inner.l1.put_now(key, signed, value.clone(), ttl);
        match fill {
            Fill::Shared => self.inner.l2.put(key, signed, value, ttl, fill).await,
            // `Fill::Local`, and any place this backend does not know: in process only.
            _ => Ok(()),
        }
    }

    fn store_now(
        &self,
        key: &CacheKey,
        signed: &SignedHash,
        value: Arc<ValidatedToken<C>>,
        ttl: Duration,
        fill: Fill,
    ) -> Result<(), Arc<ValidatedToken<C>>> {
        match fill {
            Fill::Shared => Err(value),
            _ => {
                self.inner.l1.put_now(key, signed, value, ttl);
                Ok(())
            }
        }
    }

    async fn remove(&self, key: &CacheKey) -> Result<(), CacheError> {
        self.inner.l1.remove_now(key);
        self.inner.l2.remove(key).await
    }

    async fn is_revoked(&self, token: &SignedHash, meta: &TokenMeta) -> Result<bool, CacheError> {
        let i = &self.inner;
        if i.view.revocations().is_revoked(token, meta, now_ms()) {
            return Ok(true);
        }
        if i.view.is_fresh() {
            return Ok(false);
        }
        self.log_revokes(token, meta).await
    }

    async fn revoke(&self, revocation: &Revocation, ttl: Duration) -> Result<(), CacheError> {
        let i = &self.inner;
        let stored = revocation.stored();
        let now = now_ms();
        let until = deadline_ms(now, ttl).min(now + crate::markers::MAX_TTL_MS);
        // Enforced by this instance at once.
        if let Err(e) = i.view.revocations().insert_stored(&stored, until, now) {
            tracing::warn!(error = %e, "revocation not kept in this instance's view");
        }
        // The log, its sequence number and the announcement: one step.
        let before = match stored {
            StoredRevocation::Subject { issued_before, .. } => issued_before.to_string(),
            _ => "-".to_owned(),
        };
        let keys = vec![
            i.log.seq.clone(),
            i.log.log.clone(),
            i.log.subjects.clone(),
            i.log.head.clone(),
            i.log.recent.clone(),
        ];
        let args = vec![
            RevocationLog::member(&stored),
            until.to_string(),
            before,
            now.to_string(),
            i.log.channel.clone(),
            crate::log::format_head(crate::log::new_head()),
            crate::log::RECENT.to_string(),
        ];
        let client = i.l2.client().clone();
        i.l2.call(i.l2.write_timeout_value(), async move {
            client.eval::<u64, _, _, _>(REVOKE_SCRIPT, keys, args).await
        })
        .await?;
        // Per-key markers, for plain `RedisCache` instances on the same Redis (this instance
        // holds the revocation in its view already).
        i.l2.write_marker(revocation, ttl).await
    }
}

// The type named in the docs of `get`.
#[allow(unused_imports)]
use RevocationCheck as _;
