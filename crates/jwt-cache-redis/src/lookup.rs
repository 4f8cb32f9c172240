//! The lookup (the entry and the token's revocation markers in one round trip) and the
//! [`ClaimsCache`] implementation.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use fred::clients::Pipeline;
use fred::interfaces::{ClientLike, KeysInterface, LuaInterface};
use fred::types::{Expiration, Value};
use jwt_cache::cache::{CacheKey, Lookup, Revocation, RevocationCheck, SignedHash};
use jwt_cache::cache::{Fill, deadline_ms, now_ms};
use jwt_cache::validator::{TokenMeta, ValidatedToken};
use jwt_cache::{CacheError, ClaimsCache, JwtClaims};

use crate::RedisCache;
use crate::codec::Codec;
use crate::markers::{SUBJECT_REVOKE_SCRIPT, marker_keys, markers_revoke, px};

impl<C: JwtClaims, R> RedisCache<C, R>
where
    R: KeysInterface + LuaInterface + ClientLike + Clone + Send + Sync + 'static,
{
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
            // A kind this backend does not know how to mark: not recorded, and said so.
            other => {
                return Err(CacheError::Backend(format!(
                    "revocation kind not supported by RedisCache: {other:?}"
                )));
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
