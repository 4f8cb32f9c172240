//! jwt-cache demo: an axum server whose routes sit behind `JwtCacheLayer`.
//!
//! Configuration (shared with the actix example, see `jwt-cache-example-support`): `ADDR` /
//! `--addr`, `JWT_PUBLIC_KEY_FILE`, `JWT_ALG`, `JWT_ISSUER`, `JWT_AUDIENCE`, `REDIS_URL`. With
//! none of them: an in-process cache, a dev key generated at start-up, and a printed token.
//!
//! Routes: `GET /me` (claims as JSON), `GET /healthz` (no auth), `POST /logout` (revokes the
//! presented token), and in dev mode `GET /dev/token` (a fresh token, no auth).

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::routing::{get, post};
use axum::{Json, Router};
use jwt_cache::{Authenticator, JwtCacheLayer, StandardClaims};
use jwt_cache_axum::Claims;
use jwt_cache_example_support::{DevIssuer, init_tracing, print_banner};

#[derive(Clone)]
struct AppState {
    auth: Authenticator<StandardClaims>,
    issuer: Option<DevIssuer>,
}

async fn me(Claims(claims): Claims<StandardClaims>) -> Json<StandardClaims> {
    Json(claims)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> StatusCode {
    let values = headers.get_all(AUTHORIZATION);
    match jwt_cache::adapter::parse_authorization(values.iter().map(|v| v.as_bytes())) {
        Ok(Some(token)) => match state.auth.revoke_token(token).await {
            Ok(()) => StatusCode::NO_CONTENT,
            Err(e) => {
                tracing::warn!(error = %e, "revocation failed");
                StatusCode::SERVICE_UNAVAILABLE
            }
        },
        _ => StatusCode::UNAUTHORIZED,
    }
}

async fn dev_token(State(state): State<AppState>) -> Result<String, StatusCode> {
    let issuer = state.issuer.as_ref().ok_or(StatusCode::NOT_FOUND)?;
    Ok(issuer.token("dev-user", Duration::from_secs(3600)) + "\n")
}

fn app(auth: Authenticator<StandardClaims>, issuer: Option<DevIssuer>) -> Router {
    let state = AppState {
        auth: auth.clone(),
        issuer,
    };
    Router::new()
        .route("/me", get(me))
        .route("/logout", post(logout))
        .layer(JwtCacheLayer::new(auth))
        .route("/healthz", get(healthz))
        .route("/dev/token", get(dev_token))
        .with_state(state)
}

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
    axum::serve(listener, app(config.auth, config.issuer))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
