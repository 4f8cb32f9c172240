//! Load-run target (`scripts/load.sh`): the same trivial handler on every route, behind
//! different authentication, in one process with one dev key, so one token serves them all and
//! the routes can be compared side by side in one run:
//!
//! - `GET /plain`: no authentication;
//! - `GET /direct`: `JwtCacheLayer` validating every request (`ttl(0)`: nothing cached);
//! - `GET /auth`: `JwtCacheLayer` on the in-process `MemoryCache`;
//! - `GET /redis` (with `REDIS_URL`): `JwtCacheLayer` on `RedisCache` alone;
//! - `GET /tiered` (with `REDIS_URL`): `JwtCacheLayer` on `TieredCache` (what the demo uses).
//!
//! Prints `TOKEN=<jwt>` on its first line so the script can pick it up.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use jwt_cache::{JwtCacheLayer, MemoryCache};
use jwt_cache_redis::{RedisCache, TieredCache};

async fn ok() -> &'static str {
    "ok"
}

#[tokio::main]
async fn main() {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3900".into());
    let (validator, issuer) =
        jwt_cache_example_support::validator(&jwt_cache_example_support::Vars::process())
            .expect("configuration");
    let issuer = issuer.expect("dev mode (no JWT_PUBLIC_KEY_FILE)");
    println!(
        "TOKEN={}",
        issuer.token("load-user", Duration::from_secs(3600))
    );
    let direct = JwtCacheLayer::builder(validator.clone())
        .ttl(Duration::ZERO)
        .build();
    let mut app = Router::new()
        .route("/direct", get(ok).layer(direct))
        .route(
            "/auth",
            get(ok).layer(cached(&validator, MemoryCache::new(100_000))),
        )
        .route("/plain", get(ok));
    if let Ok(url) = std::env::var("REDIS_URL") {
        let l2 = || async { RedisCache::connect(&url).await.expect("REDIS_URL").build() };
        let redis = cached(&validator, l2().await);
        let tiered = TieredCache::builder(l2().await)
            .start()
            .await
            .expect("tiered cache");
        app = app
            .route("/redis", get(ok).layer(redis))
            .route("/tiered", get(ok).layer(cached(&validator, tiered)));
    }
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}

/// The layer with `validator` over `cache`, caching for 10 minutes.
fn cached(
    validator: &jwt_cache::JwtValidator,
    cache: impl jwt_cache::ClaimsCache<jwt_cache::StandardClaims>,
) -> JwtCacheLayer {
    JwtCacheLayer::builder(validator.clone())
        .cache(cache)
        .ttl(Duration::from_secs(600))
        .build()
}
