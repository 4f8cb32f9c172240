//! [`RedisCache`] and its builder: what it holds, how it is configured and connected.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use fred::clients::Client;
use fred::interfaces::{ClientLike, KeysInterface, LuaInterface};
use jwt_cache::JwtClaims;
use jwt_cache::cache::{CacheKey, RevocationSet};

use crate::breaker::CircuitBreaker;
use crate::client::{client_from_url, redacted_url};
use crate::codec::Codec;
use crate::keys::Keys;
use crate::stats::RedisStats;

pub(crate) struct Inner<R> {
    pub(crate) client: R,
    pub(crate) keys: Keys,
    /// `None`: revocations only (no integrity key, and no insecure opt-in).
    pub(crate) codec: Option<Codec>,
    pub(crate) timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) breaker: Arc<CircuitBreaker>,
    pub(crate) local: Arc<RevocationSet>,
    pub(crate) stats: Arc<RedisStats>,
}

/// Configures a [`RedisCache`]: [`RedisCache::connect`] or [`RedisCache::builder`], then
/// [`build`](Self::build).
#[must_use]
pub struct RedisCacheBuilder<C, R = Client> {
    pub(crate) inner: Inner<R>,
    pub(crate) _claims: PhantomData<fn() -> C>,
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

/// A [`ClaimsCache`](jwt_cache::ClaimsCache) in Redis, generic over fred's [`Client`] (default) or `Pool`.
/// Cheap to clone (clones share the client, breaker and counters).
pub struct RedisCache<C, R = Client> {
    pub(crate) inner: Arc<Inner<R>>,
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
}
