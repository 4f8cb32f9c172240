//! The benchmark's peer: an axum service behind jwt-authorizer 0.15, which validates every
//! request (no cache), on the same key, policy and bare stack as `jwt-cache-load-target`:
//! `GET /me` answers `ok` with a valid bearer token (claims decoded into the same fields
//! as jwt-cache's `StandardClaims`), `GET /healthz` answers without one.
//!
//! Env: `ADDR`, `JWT_PUBLIC_KEY_FILE` (RS256), `JWT_ISSUER`, `JWT_AUDIENCE`.

use axum::Router;
use axum::routing::get;
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, JwtClaims, Validation};
use serde::Deserialize;

/// The claims the handler receives: the fields jwt-cache's `StandardClaims` decodes.
#[derive(Clone, Debug, Deserialize)]
#[allow(dead_code)] // decoded as a handler would, not read here
struct Claims {
    sub: String,
    email: Option<String>,
    username: Option<String>,
    iss: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<u64>,
    nbf: Option<u64>,
    iat: Option<u64>,
    jti: Option<String>,
    scope: Option<String>,
}

async fn me(JwtClaims(claims): JwtClaims<Claims>) -> &'static str {
    std::hint::black_box(&claims);
    "ok"
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is required"))
}

#[tokio::main]
async fn main() {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3990".into());
    let validation = Validation::new()
        .iss(&[env("JWT_ISSUER")])
        .aud(&[env("JWT_AUDIENCE")])
        .nbf(true);
    let auth: Authorizer<Claims> = JwtAuthorizer::from_rsa_pem(&env("JWT_PUBLIC_KEY_FILE"))
        .validation(validation)
        .build()
        .await
        .expect("jwt-authorizer");
    let app = Router::new()
        .route("/me", get(me))
        .layer(auth.into_layer())
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("ADDR");
    axum::serve(listener, app).await.expect("serve");
}
