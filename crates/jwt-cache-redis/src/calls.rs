//! Every Redis call: bounded by a timeout, counted, and refused while the breaker is open.

use std::sync::atomic::Ordering;
use std::time::Duration;

use fred::interfaces::{ClientLike, KeysInterface, LuaInterface};
use jwt_cache::{CacheError, JwtClaims};

use crate::RedisCache;

impl<C: JwtClaims, R> RedisCache<C, R>
where
    R: KeysInterface + LuaInterface + ClientLike + Clone + Send + Sync + 'static,
{
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
}
