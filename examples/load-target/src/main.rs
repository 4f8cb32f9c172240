//! The server of the HTTP benchmark (`scripts/bench.sh`): one trivial handler behind the
//! authentication `LOAD_MODE` names, on the bare stack the peer has too (axum, no request id,
//! trace, timeout or CORS layers), one mode per process so each run starts cold and its CPU
//! time is its own:
//!
//! - `plain`: no authentication;
//! - `direct`: `JwtCacheLayer` validating every request (`ttl(0)`: nothing cached), the design
//!   note's "before";
//! - `memory`: `JwtCacheLayer` on the in-process `MemoryCache`;
//! - `tiered` (with `REDIS_URL`): `JwtCacheLayer` on `TieredCache` (what the demo uses);
//! - `remote` / `remote-cached` (with `INTROSPECTION_URL`): RFC 7662 introspection (loopback
//!   `http://`), nothing cached / in-process cache.
//!
//! Routes: `GET /me` (authenticated: `ok`), `GET /healthz`. The key and policy come from the
//! demo's variables (`JWT_PUBLIC_KEY_FILE`, `JWT_ALG`, `JWT_ISSUER`, `JWT_AUDIENCE`,
//! `INTROSPECTION_CLIENT_ID` / `_SECRET`); `ADDR` is where it listens.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use jwt_cache::{JwtCacheLayer, MemoryCache, StandardClaims, TokenValidator};
use jwt_cache_example_support::Vars;
use jwt_cache_redis::{RedisCache, TieredCache};

async fn me(Extension(claims): Extension<Arc<StandardClaims>>) -> &'static str {
    std::hint::black_box(&claims);
    "ok"
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("jwt-cache-load-target: {e}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), String> {
    let vars = Vars::process();
    let env = |name: &str| vars.get(name).ok_or_else(|| format!("{name} is required"));
    let addr = vars.get("ADDR").unwrap_or_else(|| "127.0.0.1:3900".into());
    let mode = std::env::var("LOAD_MODE").unwrap_or_else(|_| "memory".into());
    // The demo's own reading of `INTROSPECTION_URL` and its credentials.
    let remote = || async {
        jwt_cache_example_support::remote_validator(&vars)
            .await?
            .map(|(v, _)| v)
            .ok_or_else(|| "INTROSPECTION_URL is required".to_owned())
    };
    let local = || -> Result<Arc<dyn TokenValidator<StandardClaims>>, String> {
        Ok(Arc::new(jwt_cache_example_support::validator(&vars)?.0))
    };
    let cached = |v: Arc<dyn TokenValidator<StandardClaims>>| {
        JwtCacheLayer::builder(v).ttl(Duration::from_secs(600))
    };
    let memory = || MemoryCache::new(1_000_000);
    let layer = match mode.as_str() {
        "plain" => None,
        "direct" => Some(JwtCacheLayer::builder(local()?).ttl(Duration::ZERO)),
        "memory" => Some(cached(local()?).cache(memory())),
        "tiered" => {
            let url = env("REDIS_URL")?;
            let l2 = RedisCache::connect(&url)
                .await
                .map_err(|e| format!("REDIS_URL: {e}"))?
                .build();
            let tiered = TieredCache::builder(l2)
                .l1_capacity(1_000_000)
                .start()
                .await
                .map_err(|e| format!("tiered cache: {e}"))?;
            Some(cached(local()?).cache(tiered))
        }
        "remote" => Some(JwtCacheLayer::builder(remote().await?).ttl(Duration::ZERO)),
        "remote-cached" => Some(cached(remote().await?).cache(memory())),
        other => return Err(format!("unknown LOAD_MODE {other:?}")),
    };
    let me = match layer {
        Some(layer) => get(me).layer(layer.build()),
        None => get(|| async { "ok" }),
    };
    let app = Router::new()
        .route("/me", me)
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
