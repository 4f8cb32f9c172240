//! `jwt-cache-introspect-stub`: the benchmark's remote validator, an RFC 7662 endpoint that
//! answers after `DELAY_MS` (default 5): `"active": true` with the token's claims when its
//! RS256 signature verifies with `JWT_PUBLIC_KEY_FILE` and it has not expired, else
//! `"active": false`. The server asking it checks the audience.
//!
//! `POST /introspect` (form `token=…`), `GET /healthz`; `ADDR` (default `127.0.0.1:3980`).

use std::time::Duration;

use axum::routing::{get, post};
use axum::{Form, Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

#[derive(serde::Deserialize)]
struct Request {
    token: String,
}

#[tokio::main]
async fn main() {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3980".into());
    let delay_ms: u64 = std::env::var("DELAY_MS").map_or(5, |v| v.parse().expect("DELAY_MS"));
    let path = std::env::var("JWT_PUBLIC_KEY_FILE").expect("JWT_PUBLIC_KEY_FILE");
    let pem = std::fs::read(&path).expect("JWT_PUBLIC_KEY_FILE");
    let key = DecodingKey::from_rsa_pem(&pem).expect("an RSA public key in PEM");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    let introspect = move |Form(req): Form<Request>| async move {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let payload = jsonwebtoken::decode::<Value>(&req.token, &key, &validation);
        Json(match payload.map(|data| data.claims) {
            Ok(Value::Object(mut claims)) => {
                claims.insert("active".into(), Value::Bool(true));
                Value::Object(claims)
            }
            _ => json!({ "active": false }),
        })
    };
    let app = Router::new()
        .route("/introspect", post(introspect))
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("ADDR");
    axum::serve(listener, app).await.expect("serve");
}
