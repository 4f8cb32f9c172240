//! Load-run target (`scripts/load.sh`): `GET /plain` and `GET /auth` run the same trivial
//! handler; only `/auth` is behind `JwtCacheLayer` (in-process cache, dev key). Prints
//! `TOKEN=<jwt>` on its first line so the script can pick it up.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use jwt_cache::JwtCacheLayer;

async fn ok() -> &'static str {
    "ok"
}

#[tokio::main]
async fn main() {
    let config = jwt_cache_example_support::from_env("jwt-cache-load-target")
        .await
        .expect("configuration");
    let issuer = config.issuer.expect("dev mode (no JWT_PUBLIC_KEY_FILE)");
    println!(
        "TOKEN={}",
        issuer.token("load-user", Duration::from_secs(3600))
    );
    let app = Router::new()
        .route("/auth", get(ok))
        .layer(JwtCacheLayer::new(config.auth))
        .route("/plain", get(ok));
    let listener = tokio::net::TcpListener::bind(config.addr).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}
