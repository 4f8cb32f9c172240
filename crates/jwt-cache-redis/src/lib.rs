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
//!     .integrity_key(b"a server-side secret of at least 32 bytes!")?;
//! let auth = JwtCacheLayer::builder()
//!     .validator(JwtValidator::hs256([7u8; 32])?.audience("content"))
//!     .cache(cache)
//!     .build();
//! # Ok(()) }
//! ```
//!
//! What it does, per request (see `docs/redis.md` in the repository):
//!
//! - **One round trip on a hit**: the entry, the token's revocation marker, and the `jti` and
//!   subject markers (named from the token's unverified claims) come back in one pipeline.
//!   On a miss the authenticator validates and asks [`ClaimsCache::is_revoked`] (a second
//!   round trip), and the write is fire-and-forget.
//! - **Untrusted values**: a value that does not decode, or (with
//!   [`integrity_key`](RedisCache::integrity_key)) whose HMAC over the key name and payload
//!   does not match, is a miss, counted in [`RedisStats::decode_errors`].
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
//! ([`RedisCache::from_client`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod breaker;
mod codec;

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
pub use fred;
use fred::clients::{Client, Pipeline};
use fred::interfaces::{ClientLike, KeysInterface, LuaInterface};
use fred::types::config::{Config, ReconnectPolicy};
use fred::types::{Builder, Expiration, Value};
use jwt_cache::cache::now_ms;
use jwt_cache::{
    CacheError, CacheKey, ClaimsCache, JwtClaims, Lookup, Revocation, RevocationCheck,
    RevocationSet, TokenHash, TokenMeta, ValidatedToken,
};

pub use self::breaker::CircuitBreaker;
use self::codec::{Codec, Keys};

/// Build a fred client for `url` the way a cache wants it: reconnect forever (every 100 ms),
/// also when the first connection fails, one attempt per command, and start connecting in the
/// background. `redis://`, `rediss://`, `redis-cluster://` and `redis-sentinel://` URLs work.
pub fn client_from_url(url: &str) -> Result<Client, fred::error::Error> {
    client_from_config(Config::from_url(url)?)
}

/// [`client_from_url`] for a fred `Config` you built yourself.
pub fn client_from_config(mut config: Config) -> Result<Client, fred::error::Error> {
    config.fail_fast = false;
    let client = Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(1);
            c.internal_command_timeout = Duration::from_secs(1);
            c.max_command_attempts = 1;
        })
        .set_policy(ReconnectPolicy::new_constant(0, 100))
        .build()?;
    // The connection task runs on its own; dropping its handle detaches it.
    drop(client.connect());
    Ok(client)
}

/// Counters of one [`RedisCache`].
#[derive(Debug, Default)]
pub struct RedisStats {
    /// Calls made to Redis (a pipeline counts once).
    pub calls: AtomicU64,
    /// Calls that failed or timed out.
    pub errors: AtomicU64,
    /// Of those, timeouts.
    pub timeouts: AtomicU64,
    /// Values that did not decode or failed the integrity check (each treated as a miss).
    pub decode_errors: AtomicU64,
    /// Calls not made because the circuit breaker was open.
    pub short_circuited: AtomicU64,
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
}

struct Inner<R> {
    client: R,
    keys: Keys,
    codec: Codec,
    timeout: Duration,
    write_timeout: Duration,
    breaker: Arc<CircuitBreaker>,
    local: Arc<RevocationSet>,
    stats: Arc<RedisStats>,
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
    /// Connect to `url` (see [`client_from_url`]). Waits up to one second for the first
    /// connection, and succeeds without it: Redis is an accelerator, the client keeps
    /// reconnecting in the background and requests fall back to direct validation meanwhile.
    pub async fn connect(url: &str) -> Result<Self, fred::error::Error> {
        let client = client_from_url(url)?;
        if tokio::time::timeout(Duration::from_secs(1), client.wait_for_connect())
            .await
            .is_err()
        {
            tracing::warn!(
                url,
                "redis not reachable yet; validating directly meanwhile"
            );
        }
        Ok(Self::from_client(client))
    }
}

impl<C: JwtClaims, R> RedisCache<C, R>
where
    R: KeysInterface + LuaInterface + ClientLike + Clone + Send + Sync + 'static,
{
    /// A cache over a fred client or pool you configured and connected yourself.
    pub fn from_client(client: R) -> Self {
        RedisCache {
            inner: Arc::new(Inner {
                client,
                keys: Keys::new("jwt:"),
                codec: Codec::new(None),
                timeout: Duration::from_millis(5),
                write_timeout: Duration::from_secs(1),
                breaker: Arc::new(CircuitBreaker::new(5, Duration::from_secs(1))),
                local: Arc::new(RevocationSet::new()),
                stats: Arc::new(RedisStats::default()),
            }),
            _claims: PhantomData,
        }
    }

    /// Configuration methods build a new handle; the counters and the revocations held in
    /// memory stay shared with every other handle of this cache, and so does the circuit
    /// breaker unless [`circuit_breaker`](Self::circuit_breaker) installs a new one.
    fn with_inner(self, f: impl FnOnce(&mut Inner<R>)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                client: shared.client.clone(),
                keys: shared.keys.clone(),
                codec: shared.codec.clone(),
                timeout: shared.timeout,
                write_timeout: shared.write_timeout,
                breaker: shared.breaker.clone(),
                local: shared.local.clone(),
                stats: shared.stats.clone(),
            },
        };
        f(&mut inner);
        RedisCache {
            inner: Arc::new(inner),
            _claims: PhantomData,
        }
    }

    /// Key prefix (default `jwt:`).
    #[must_use]
    pub fn prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.with_inner(|i| i.keys = Keys::new(prefix))
    }

    /// Timeout of each lookup (default 5 ms): past it the request validates directly.
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with_inner(|i| i.timeout = timeout)
    }

    /// Timeout of revocation writes (default 1 s): they come from logout handlers, not the hot path.
    #[must_use]
    pub fn write_timeout(self, timeout: Duration) -> Self {
        self.with_inner(|i| i.write_timeout = timeout)
    }

    /// Open the circuit after `failures` consecutive failures, for `cooldown` (default 5, 1 s).
    #[must_use]
    pub fn circuit_breaker(self, failures: u32, cooldown: Duration) -> Self {
        self.with_inner(|i| i.breaker = Arc::new(CircuitBreaker::new(failures, cooldown)))
    }

    /// Sign every value with HMAC-SHA256 under `secret` (at least 32 bytes), bound to its key
    /// name; values without a valid tag are misses. Every instance sharing the Redis needs the
    /// same secret.
    pub fn integrity_key(self, secret: &[u8]) -> Result<Self, jwt_cache::ConfigError> {
        if secret.len() < 32 {
            return Err(jwt_cache::ConfigError::WeakSecret {
                alg: jwt_cache::jsonwebtoken::Algorithm::HS256,
                len: secret.len(),
                min: 32,
            });
        }
        let codec = Codec::new(Some(secret));
        Ok(self.with_inner(|i| i.codec = codec))
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

    /// Run one Redis call under the breaker and the timeout.
    async fn call<T, F>(&self, timeout: Duration, f: F) -> Result<T, CacheError>
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

    /// Revocation markers for a token: keys to fetch, in order token / jti / subject.
    fn marker_keys(&self, token: &TokenHash, meta: &TokenMeta) -> Vec<String> {
        let keys = &self.inner.keys;
        let mut out = vec![keys.token_revoked(token)];
        if let Some(j) = &meta.jti {
            out.push(keys.jti_revoked(j));
        }
        if let Some(s) = &meta.sub {
            out.push(keys.subject_revoked(s));
        }
        out
    }

    /// Whether the fetched markers (in `marker_keys` order) revoke a token with `meta`.
    fn markers_revoke(meta: &TokenMeta, markers: &[Option<Vec<u8>>]) -> bool {
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
}

/// `KEYS[1]` = subject marker, `ARGV[1]` = issued_before, `ARGV[2]` = TTL in ms.
const SUBJECT_REVOKE_SCRIPT: &str = r#"
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

fn same(a: &Option<String>, b: &Option<String>) -> bool {
    a.as_deref() == b.as_deref()
}

#[async_trait]
impl<C: JwtClaims, R> ClaimsCache<C> for RedisCache<C, R>
where
    R: KeysInterface + LuaInterface + ClientLike + Clone + Send + Sync + 'static,
{
    async fn get(&self, key: &CacheKey, token: &str) -> Result<Lookup<C>, CacheError> {
        let inner = &self.inner;
        // Which jti/subject markers to fetch: named from the token's own (unverified) claims, so
        // they travel with the entry. The decision below uses the entry's validated claims and
        // refuses an entry whose ids differ from the token's.
        let peek = jwt_cache::unverified_meta(token).unwrap_or_default();
        let entry_key = inner.keys.entry(key);
        let mut keys = vec![entry_key.clone()];
        keys.extend(self.marker_keys(&key.token, &peek));
        let mut values = self.get_many(keys, inner.timeout).await?;
        let markers = values.split_off(1);
        // What the markers say about the token's own ids: the answer to the revocation check
        // of a miss, so that a miss too costs one round trip.
        let miss = || {
            let revoked = inner.local.is_revoked(&key.token, &peek, now_ms())
                || Self::markers_revoke(&peek, &markers);
            Lookup::MissChecked(RevocationCheck {
                jti: peek.jti.clone(),
                sub: peek.sub.clone(),
                iat: peek.iat,
                revoked,
            })
        };
        let Some(raw) = values.pop().flatten() else {
            return Ok(miss());
        };
        let v: ValidatedToken<C> = match inner.codec.decode(&entry_key, &raw) {
            Ok(v) => v,
            Err(why) => {
                inner.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(key = %entry_key, why, "undecodable value in redis: treated as a miss");
                return Ok(miss());
            }
        };
        if !same(&v.meta.jti, &peek.jti) || !same(&v.meta.sub, &peek.sub) {
            inner.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(key = %entry_key, "redis entry does not match its token: treated as a miss");
            return Ok(miss());
        }
        if inner.local.is_revoked(&key.token, &v.meta, now_ms())
            || Self::markers_revoke(&v.meta, &markers)
        {
            return Ok(Lookup::Revoked);
        }
        Ok(Lookup::Hit(Arc::new(v)))
    }

    async fn put(
        &self,
        key: &CacheKey,
        value: Arc<ValidatedToken<C>>,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let entry_key = self.inner.keys.entry(key);
        let bytes = self
            .inner
            .codec
            .encode(&entry_key, &value)
            .map_err(|e| CacheError::Decode(e.to_string()))?;
        let ms = ttl.as_millis().max(1) as i64;
        let client = self.inner.client.clone();
        self.call(self.inner.write_timeout, async move {
            client
                .set::<(), _, _>(entry_key, bytes, Some(Expiration::PX(ms)), None, false)
                .await
        })
        .await
    }

    async fn remove(&self, key: &CacheKey) -> Result<(), CacheError> {
        let entry_key = self.inner.keys.entry(key);
        let client = self.inner.client.clone();
        self.call(self.inner.write_timeout, async move {
            client.del::<(), _>(entry_key).await
        })
        .await
    }

    async fn is_revoked(&self, token: &TokenHash, meta: &TokenMeta) -> Result<bool, CacheError> {
        if self.inner.local.is_revoked(token, meta, now_ms()) {
            return Ok(true);
        }
        let markers = self
            .get_many(self.marker_keys(token, meta), self.inner.timeout)
            .await?;
        Ok(Self::markers_revoke(meta, &markers))
    }

    async fn revoke(&self, revocation: &Revocation, ttl: Duration) -> Result<(), CacheError> {
        let now = now_ms();
        // Enforced by this instance from memory whatever happens to Redis.
        self.inner
            .local
            .insert(revocation, now.saturating_add(ttl.as_millis() as u64), now);
        let keys = &self.inner.keys;
        let ms = ttl.as_millis().max(1) as i64;
        let client = self.inner.client.clone();
        let marker = match revocation {
            Revocation::Token(h) => Some(keys.token_revoked(h)),
            Revocation::Jti(j) => Some(keys.jti_revoked(j)),
            Revocation::Subject { .. } => None,
        };
        if let Some(key) = marker {
            return self
                .call(self.inner.write_timeout, async move {
                    client
                        .set::<(), _, _>(key, "1", Some(Expiration::PX(ms)), None, false)
                        .await
                })
                .await;
        }
        match revocation {
            Revocation::Token(_) | Revocation::Jti(_) => Ok(()),
            Revocation::Subject { sub, issued_before } => {
                // Keep the latest `issued_before` and the longest TTL: a later call with an
                // earlier time (or two instances racing) never weakens a revocation.
                let key = keys.subject_revoked(sub);
                let args = vec![issued_before.to_string(), ms.to_string()];
                self.call(self.inner.write_timeout, async move {
                    client
                        .eval::<(), _, _, _>(SUBJECT_REVOKE_SCRIPT, vec![key], args)
                        .await
                })
                .await
            }
        }
    }
}
