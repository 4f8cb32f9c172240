//! jwt-cache demo: an axum server whose routes sit behind `JwtCacheLayer`.
//!
//! Configuration (shared with the actix example, see `jwt-cache-example-support`): `ADDR` /
//! `--addr`, `JWT_PUBLIC_KEY_FILE`, `JWT_ALG`, `JWT_ISSUER`, `JWT_AUDIENCE`, `REDIS_URL`, and
//! the rest listed there. With no key, issuer or audience setting at all: an in-process cache,
//! a dev key generated at start-up, a printed token, loopback only.
//!
//! Routes: `GET /me` (claims as JSON), `GET /admin` (the same, role `admin` required),
//! `GET /healthz` (no auth), `POST /logout` (revokes the presented token), and in dev mode
//! `GET /dev/token` (a fresh token, no auth), `GET /metrics` (Prometheus text format). The middleware stack is in `src/lib.rs`.

use jwt_cache_demo::{app_with_origins, metrics_route};
use jwt_cache_example_support::{init_tracing, print_banner};

#[tokio::main]
async fn main() {
    init_tracing();
    if let Err(e) = run().await {
        eprintln!("jwt-cache-demo: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let config = jwt_cache_example_support::from_env("jwt-cache-demo").await?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("binding {}: {e}", config.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    print_banner("jwt-cache demo", &config, local);
    axum::serve(
        listener,
        app_with_origins(config.auth, config.issuer, &config.cookie_origins)
            .merge(metrics_route(config.telemetry)),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| e.to_string())
}
