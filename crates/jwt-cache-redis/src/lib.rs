//! A Redis [`ClaimsCache`] for [`jwt_cache`], on [`fred`]: every instance of every service
//! shares validated tokens and revocations, and Redis being slow, down or returning garbage
//! never takes the API down.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use jwt_cache::{JwtCacheLayer, JwtValidator, StandardClaims};
//! use jwt_cache_redis::RedisCache;
//!
//! let cache = RedisCache::<StandardClaims>::connect("redis://127.0.0.1:6379").await?
//!     .timeout(Duration::from_millis(5))
//!     // Without it, Redis carries revocations only: claims read from Redis are served
//!     // only when authenticated under a fleet-wide secret.
//!     .integrity_key(b"a server-side secret of at least 32 bytes!")?
//!     .build();
//! let auth = JwtCacheLayer::builder(JwtValidator::hs256([7u8; 32])?.audience("content"))
//!     .cache(cache)
//!     .build();
//! # Ok(()) }
//! ```
//!
//! What it does, per request (see `docs/redis.md` in the repository):
//!
//! - **Claims only when authenticated**: with an
//!   [`integrity_key`](RedisCacheBuilder::integrity_key), each value carries an HMAC-SHA256 over its
//!   key name, its absolute expiry (`not_after`) and its payload; a value that does not
//!   decode, whose tag does not match, or whose `not_after` has passed is a miss, counted in
//!   [`RedisStats::decode_errors`]. Without a key, Redis carries **revocations only** (no
//!   claims are written or read) unless you call
//!   [`insecure_share_unsigned_claims`](RedisCacheBuilder::insecure_share_unsigned_claims).
//! - **One round trip on a hit**: the entry, the token's revocation marker, and the `jti` and
//!   subject markers (named from the token's unverified claims) come back in one pipeline,
//!   which also answers the revocation check of a miss.
//! - **A local validator never looks up claims**: the authenticator verifies a
//!   [`JwtValidator`](jwt_cache::JwtValidator)'s signature first and then asks Redis about
//!   revocation only (one round trip), so unauthenticated input costs no Redis call.
//! - **Failures**: every call has a short timeout (default 5 ms); any error or timeout is a
//!   [`CacheError`], on which the authenticator validates directly. After 5 consecutive
//!   failures a circuit breaker refuses calls for 1 s, then lets one probe through.
//! - **Revocations this instance made** are kept in memory too and enforced even while Redis is
//!   unreachable; for the rest, the authenticator's
//!   [`RevocationUnavailable`](jwt_cache::RevocationUnavailable) choice applies.
//!
//! Topologies: a `redis://` URL (single node), `redis-cluster://` (Cluster, keys of one token
//! share a hash slot), `redis-sentinel://` (Sentinel), or any fred `Config`
//! through [`client_from_config`]; or bring your own fred `Client` or `Pool`
//! ([`RedisCache::builder`]).
//!
//! The whole guide (key scheme, values, failure modes, the revocation choice) is [`guide`].
//!
//! ## Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `enable-rustls` | no | TLS to Redis (`rediss://`) with rustls on aws-lc-rs, forwarded to fred |
//! | `enable-native-tls` | no | TLS to Redis with native-tls, forwarded to fred |
//!
//! fred is built with `default-features = false` and the command groups used (`i-keys`,
//! `i-scripts`). MSRV: Rust 1.88, as the core (not checked in CI).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[doc = include_str!("../../../docs/redis.md")]
pub mod guide {}

mod breaker;
mod client;
mod codec;
mod keys;
mod log;
mod markers;
#[cfg(feature = "metrics")]
mod metrics;
mod stats;
mod tiered;
mod view;

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
pub use fred;
use fred::clients::{Client, Pipeline};
use fred::interfaces::{ClientLike, KeysInterface, LuaInterface};
use fred::types::{Expiration, Value};
use jwt_cache::cache::{CacheKey, Lookup, Revocation, RevocationCheck, RevocationSet, SignedHash};
use jwt_cache::cache::{Fill, deadline_ms, now_ms};
use jwt_cache::validator::{TokenMeta, ValidatedToken};
use jwt_cache::{CacheError, ClaimsCache, JwtClaims};

pub use self::breaker::CircuitBreaker;
pub use self::client::{client_from_config, client_from_url, redacted_url};
use self::codec::Codec;
use self::keys::Keys;
use self::markers::{SUBJECT_REVOKE_SCRIPT, marker_keys, markers_revoke, px};
pub use self::stats::RedisStats;
pub use self::tiered::{TieredCache, TieredCacheBuilder};
pub use self::view::{RevocationView, ViewStats};

struct Inner<R> {
    client: R,
    keys: Keys,
    /// `None`: revocations only (no integrity key, and no insecure opt-in).
    codec: Option<Codec>,
    timeout: Duration,
    write_timeout: Duration,
    breaker: Arc<CircuitBreaker>,
    local: Arc<RevocationSet>,
    stats: Arc<RedisStats>,
}

/// Configures a [`RedisCache`]: [`RedisCache::connect`] or [`RedisCache::builder`], then
/// [`build`](Self::build).
#[must_use]
pub struct RedisCacheBuilder<C, R = Client> {
    inner: Inner<R>,
    _claims: PhantomData<fn() -> C>,
}

impl<C, R> std::fmt::Debug for RedisCacheBuilder<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCacheBuilder")
            .field("keys", &self.inner.keys)
            .field("codec", &self.inner.codec)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl<C, R> RedisCacheBuilder<C, R> {
    /// Key prefix (default `jwt:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.inner.keys = Keys::new(prefix);
        self
    }

    /// Timeout of each lookup (default 5 ms): past it the request validates directly.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner.timeout = timeout;
        self
    }

    /// Timeout of revocation writes (default 1 s): they come from logout handlers, not the hot path.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.inner.write_timeout = timeout;
        self
    }

    /// Open the circuit after `failures` consecutive failures, for `cooldown` (default 5, 1 s).
    pub fn circuit_breaker(mut self, failures: u32, cooldown: Duration) -> Self {
        self.inner.breaker = Arc::new(CircuitBreaker::new(failures, cooldown));
        self
    }

    /// Share validated claims through Redis, each value authenticated with HMAC-SHA256 under
    /// `secret` (at least 32 bytes, the same on every instance), bound to its key name and
    /// its absolute expiry; values without a valid tag, or past their expiry, are misses.
    ///
    /// Without it, Redis carries revocations only. A local
    /// [`JwtValidator`](jwt_cache::JwtValidator) never reads claims from Redis either way (a
    /// round trip costs more than the verification); remote validators gain from it.
    pub fn integrity_key(mut self, secret: &[u8]) -> Result<Self, jwt_cache::ConfigError> {
        if secret.len() < 32 {
            return Err(jwt_cache::ConfigError::WeakSecret {
                alg: jwt_cache::jsonwebtoken::Algorithm::HS256,
                len: secret.len(),
                min: 32,
            });
        }
        jwt_cache::check_secret_entropy(secret)?;
        self.inner.codec = Some(Codec::new(Some(secret)));
        Ok(self)
    }

    /// Share claims through Redis **without authenticating them**: whoever can write to this
    /// Redis can then log in as anyone, with any claims, through any validator that reads
    /// claims from it (a remote one). Only for a Redis that nothing untrusted can write to,
    /// when a shared secret cannot be distributed; prefer
    /// [`integrity_key`](Self::integrity_key).
    pub fn insecure_share_unsigned_claims(mut self) -> Self {
        self.inner.codec = Some(Codec::new(None));
        self
    }

    /// Bound the revocations this instance keeps in memory (default
    /// [`RevocationSet::DEFAULT_CAPACITY`]). Past it, a revocation is still written to Redis
    /// but not kept locally (counted in [`RedisStats::local_revocations_dropped`]), so while
    /// Redis is unreachable it is enforced only under fail-closed.
    pub fn local_revocation_capacity(mut self, capacity: usize) -> Self {
        self.inner.local = Arc::new(RevocationSet::with_capacity(capacity));
        self
    }

    /// The cache. Clones of it share the client, the breaker, the counters and the
    /// revocations held in memory.
    pub fn build(self) -> RedisCache<C, R> {
        RedisCache {
            inner: Arc::new(self.inner),
            _claims: PhantomData,
        }
    }
}

/// A [`ClaimsCache`] in Redis, generic over fred's [`Client`] (default) or `Pool`.
/// Cheap to clone (clones share the client, breaker and counters).
pub struct RedisCache<C, R = Client> {
    inner: Arc<Inner<R>>,
    _claims: PhantomData<fn() -> C>,
}

impl<C, R> Clone for RedisCache<C, R> {
    fn clone(&self) -> Self {
        RedisCache {
            inner: self.inner.clone(),
            _claims: PhantomData,
        }
    }
}

impl<C, R> std::fmt::Debug for RedisCache<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("keys", &self.inner.keys)
            .field("codec", &self.inner.codec)
            .field("timeout", &self.inner.timeout)
            .field("breaker", &self.inner.breaker)
            .finish_non_exhaustive()
    }
}

impl<C: JwtClaims> RedisCache<C, Client> {
    /// Connect to `url` (see [`client_from_url`]) and hand back the builder to configure the
    /// cache. Waits up to one second for the first connection, and succeeds without it: Redis
    /// is an accelerator, the client keeps reconnecting in the background and requests fall
    /// back to direct validation meanwhile.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use jwt_cache::StandardClaims;
    /// use jwt_cache_redis::RedisCache;
    /// let cache = RedisCache::<StandardClaims>::connect("redis://127.0.0.1:6379")
    ///     .await?
    ///     .integrity_key(b"a server-side secret of at least 32 bytes!")?
    ///     .build();
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<RedisCacheBuilder<C, Client>, fred::error::Error> {
        let client = client_from_url(url)?;
        if tokio::time::timeout(Duration::from_secs(1), client.wait_for_connect())
            .await
            .is_err()
        {
            tracing::warn!(
                redis = %redacted_url(url),
                "redis not reachable yet; validating directly meanwhile"
            );
        }
        Ok(Self::builder(client))
    }
}

impl<C: JwtClaims, R> RedisCache<C, R>
where
    R: KeysInterface + LuaInterface + ClientLike + Clone + Send + Sync + 'static,
{
    /// A builder over a fred client or pool you configured and connected yourself. The cache
    /// carries revocations only until [`integrity_key`](RedisCacheBuilder::integrity_key) is
    /// set.
    pub fn builder(client: R) -> RedisCacheBuilder<C, R> {
        RedisCacheBuilder {
            inner: Inner {
                client,
                keys: Keys::new("jwt:"),
                codec: None,
                timeout: Duration::from_millis(5),
                write_timeout: Duration::from_secs(1),
                breaker: Arc::new(CircuitBreaker::new(5, Duration::from_secs(1))),
                local: Arc::new(RevocationSet::new()),
                stats: Arc::new(RedisStats::default()),
            },
            _claims: PhantomData,
        }
    }

    /// A cache with the default configuration over `client`.
    #[deprecated(note = "use `RedisCache::builder(client).build()`")]
    pub fn from_client(client: R) -> Self {
        Self::builder(client).build()
    }

    /// The revocations this instance holds in memory (its size is the gauge to watch).
    pub fn local_revocations(&self) -> &RevocationSet {
        &self.inner.local
    }

    /// Whether claims are shared (an integrity key, or the insecure opt-in).
    pub fn shares_claims(&self) -> bool {
        self.inner.codec.is_some()
    }

    /// The fred client.
    pub fn client(&self) -> &R {
        &self.inner.client
    }

    /// Counters.
    pub fn stats(&self) -> &RedisStats {
        &self.inner.stats
    }

    /// The circuit breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.inner.breaker
    }

    /// The Redis key a validation is stored under.
    pub fn entry_key(&self, key: &CacheKey) -> String {
        self.inner.keys.entry(key)
    }

    /// [`ClaimsCache::get`], and for a hit the entry's `not_after` (ms since the epoch).
    pub(crate) async fn lookup(
        &self,
        key: &CacheKey,
        token: &str,
        signed: &SignedHash,
    ) -> Result<(Lookup<C>, Option<u64>), CacheError> {
        let inner = &self.inner;
        // Which jti/subject markers to fetch: named from the token's own (unverified) claims, so
        // they travel with the entry. The decision below uses the entry's validated claims and
        // refuses an entry whose ids differ from the token's.
        // An opaque token (introspection) has no readable claims: its ids are known only from
        // the entry, whose markers are then fetched in a second round trip.
        let readable = jwt_cache::cache::unverified_meta(token);
        let peek = readable.clone().unwrap_or_default();
        let entry_key = inner.codec.as_ref().map(|_| inner.keys.entry(key));
        let mut keys: Vec<String> = entry_key.iter().cloned().collect();
        keys.extend(marker_keys(&inner.keys, signed, &peek));
        let mut markers = self.get_many(keys, inner.timeout).await?;
        let raw = match entry_key {
            Some(_) => markers.remove(0),
            None => None,
        };
        // What the markers say about the token's own ids: the answer to the revocation check
        // of a miss, so that a miss too costs one round trip.
        let miss = || {
            let revoked =
                inner.local.is_revoked(signed, &peek, now_ms()) || markers_revoke(&peek, &markers);
            Lookup::Miss(Some(RevocationCheck {
                jti: peek.jti.clone(),
                sub: peek.sub.clone(),
                iat: peek.iat,
                revoked,
            }))
        };
        let (Some(codec), Some(entry_key), Some(raw)) = (&inner.codec, &entry_key, raw) else {
            return Ok((miss(), None));
        };
        let v: ValidatedToken<C> = match codec.decode(entry_key, &raw, now_ms()) {
            Ok(v) => v,
            Err(why) => {
                inner.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(key = %entry_key, why, "unusable value in redis: treated as a miss");
                return Ok((miss(), None));
            }
        };
        if readable.is_none() {
            // The entry is authenticated (HMAC over its key, which is the token's hash), so its
            // ids are the token's: ask for their markers.
            if v.meta.jti.is_some() || v.meta.sub.is_some() {
                markers = self
                    .get_many(marker_keys(&inner.keys, signed, &v.meta), inner.timeout)
                    .await?;
            }
        } else if !same(&v.meta.jti, &peek.jti) || !same(&v.meta.sub, &peek.sub) {
            inner.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(key = %entry_key, "redis entry does not match its token: treated as a miss");
            return Ok((miss(), None));
        }
        if inner.local.is_revoked(signed, &v.meta, now_ms()) || markers_revoke(&v.meta, &markers) {
            return Ok((Lookup::Revoked, None));
        }
        Ok((Lookup::Hit(Arc::new(v)), Codec::not_after(&raw)))
    }

    /// Write a revocation's marker to Redis (only: the caller keeps it in memory as it
    /// needs). A token or `jti` marker is `1`; a subject marker holds its `issued_before`,
    /// written by a script that never weakens it.
    pub(crate) async fn write_marker(
        &self,
        revocation: &Revocation,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let keys = &self.inner.keys;
        let ms = px(ttl);
        let client = self.inner.client.clone();
        let (key, issued_before) = match revocation {
            Revocation::Token(h) => (keys.token_revoked(h), None),
            Revocation::Jti(j) => (keys.jti_revoked(j), None),
            Revocation::Subject { sub, issued_before } => {
                (keys.subject_revoked(sub), Some(*issued_before))
            }
        };
        self.call(self.inner.write_timeout, async move {
            match issued_before {
                None => {
                    client
                        .set::<(), _, _>(key, "1", Some(Expiration::PX(ms)), None, false)
                        .await
                }
                Some(before) => {
                    let args = vec![before.to_string(), ms.to_string()];
                    client
                        .eval::<(), _, _, _>(SUBJECT_REVOKE_SCRIPT, vec![key], args)
                        .await
                }
            }
        })
        .await
    }

    /// The key prefix.
    pub(crate) fn key_prefix(&self) -> &str {
        self.inner.keys.prefix()
    }

    /// The lookup timeout.
    pub(crate) fn lookup_timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The write timeout.
    pub(crate) fn write_timeout_value(&self) -> Duration {
        self.inner.write_timeout
    }

    /// Run one Redis call under the breaker and the timeout.
    pub(crate) async fn call<T, F>(&self, timeout: Duration, f: F) -> Result<T, CacheError>
    where
        F: std::future::Future<Output = Result<T, fred::error::Error>>,
    {
        let inner = &self.inner;
        if !inner.breaker.allow() {
            inner.stats.short_circuited.fetch_add(1, Ordering::Relaxed);
            return Err(CacheError::CircuitOpen);
        }
        inner.stats.calls.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(timeout, f).await {
            Ok(Ok(v)) => {
                inner.breaker.success();
                Ok(v)
            }
            Ok(Err(e)) => {
                inner.stats.errors.fetch_add(1, Ordering::Relaxed);
                inner.breaker.failure();
                Err(CacheError::Backend(e.to_string()))
            }
            Err(_) => {
                inner.stats.errors.fetch_add(1, Ordering::Relaxed);
                inner.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                inner.breaker.failure();
                Err(CacheError::Timeout)
            }
        }
    }

    /// GET several keys in one pipeline (one round trip; on a Cluster, one per node, in parallel).
    async fn get_many(
        &self,
        keys: Vec<String>,
        timeout: Duration,
    ) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        let n = keys.len();
        let client = self.inner.client.clone();
        let values: Vec<Value> = self
            .call(timeout, async move {
                let pipe = Pipeline::from(client);
                for k in keys {
                    let () = pipe.get(k).await?;
                }
                pipe.all::<Vec<Value>>().await
            })
            .await?;
        if values.len() != n {
            return Err(CacheError::Backend(format!(
                "pipeline answered {} values for {n} commands",
                values.len()
            )));
        }
        Ok(values
            .into_iter()
            .map(|v| match v {
                Value::Null => None,
                v => v.as_bytes().map(<[u8]>::to_vec),
            })
            .collect())
    }
}

fn same(a: &Option<String>, b: &Option<String>) -> bool {
    a.as_deref() == b.as_deref()
}

#[async_trait]
impl<C: JwtClaims, R> ClaimsCache<C> for RedisCache<C, R>
where
    R: KeysInterface + LuaInterface + ClientLike + Clone + Send + Sync + 'static,
{
    async fn get(&self, key: &CacheKey, token: &str) -> Result<Lookup<C>, CacheError> {
        Ok(self.lookup(key, token, &SignedHash::of(token)).await?.0)
    }

    #[cfg(feature = "metrics")]
    fn observe(&self, meter: &opentelemetry::metrics::Meter) {
        crate::metrics::observe_redis(meter, &self.inner.stats, &self.inner.breaker);
    }

    async fn put(
        &self,
        key: &CacheKey,
        _signed: &SignedHash,
        value: Arc<ValidatedToken<C>>,
        ttl: Duration,
        fill: Fill,
    ) -> Result<(), CacheError> {
        // The signed part is recomputed from the token on `get`. No claims are written for a
        // local validator, nor without an integrity key (revocations only).
        let Some(codec) = &self.inner.codec else {
            return Ok(());
        };
        if fill == Fill::Local {
            return Ok(());
        }
        let entry_key = self.inner.keys.entry(key);
        let bytes = codec
            .encode(&entry_key, deadline_ms(now_ms(), ttl), &value)
            .map_err(|e| CacheError::Encode(e.to_string()))?;
        let ms = px(ttl);
        let client = self.inner.client.clone();
        self.call(self.inner.write_timeout, async move {
            client
                .set::<(), _, _>(entry_key, bytes, Some(Expiration::PX(ms)), None, false)
                .await
        })
        .await
    }

    async fn remove(&self, key: &CacheKey) -> Result<(), CacheError> {
        if self.inner.codec.is_none() {
            return Ok(());
        }
        let entry_key = self.inner.keys.entry(key);
        let client = self.inner.client.clone();
        self.call(self.inner.write_timeout, async move {
            client.del::<(), _>(entry_key).await
        })
        .await
    }

    async fn is_revoked(&self, token: &SignedHash, meta: &TokenMeta) -> Result<bool, CacheError> {
        if self.inner.local.is_revoked(token, meta, now_ms()) {
            return Ok(true);
        }
        let markers = self
            .get_many(
                marker_keys(&self.inner.keys, token, meta),
                self.inner.timeout,
            )
            .await?;
        Ok(markers_revoke(meta, &markers))
    }

    async fn revoke(&self, revocation: &Revocation, ttl: Duration) -> Result<(), CacheError> {
        let now = now_ms();
        // Enforced by this instance from memory whatever happens to Redis (while the bounded
        // set has room; Redis stays the source of truth).
        if let Err(e) = self
            .inner
            .local
            .insert(revocation, deadline_ms(now, ttl), now)
        {
            self.inner
                .stats
                .local_revocations_dropped
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "revocation not kept in memory; written to redis only");
        }
        self.write_marker(revocation, ttl).await
    }
}
