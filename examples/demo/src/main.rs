//! jwt-cache demo: an axum server whose routes sit behind `JwtCacheLayer` on the in-process
//! cache.
//!
//! With no configuration it generates an Ed25519 dev key at start-up and prints a ready token.
//! With `JWT_PUBLIC_KEY_FILE` (PEM), `JWT_ALG` (default RS256), `JWT_ISSUER` and
//! `JWT_AUDIENCE` it validates tokens from a real issuer instead.
//!
//! With `REDIS_URL` (e.g. `redis://127.0.0.1:6379`, or `redis-cluster://…`) validations and
//! revocations are shared through Redis instead of the in-process cache.
//!
//! Routes: `GET /me` (claims as JSON), `GET /healthz` (no auth), `POST /logout` (revokes the
//! presented token), and in dev mode `GET /dev/token` (a fresh token, no auth).

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::routing::{get, post};
use axum::{Json, Router};
use jwt_cache::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use jwt_cache::{
    Authenticator, JwtCacheLayer, JwtValidator, MemoryCache, StandardClaims, VerificationKey,
};
use jwt_cache_axum::Claims;
use jwt_cache_redis::RedisCache;

#[derive(Clone)]
struct AppState {
    auth: Authenticator<StandardClaims>,
    issuer: Option<DevIssuer>,
}

/// The dev-mode token issuer: the private half of the generated key.
#[derive(Clone)]
struct DevIssuer {
    key: EncodingKey,
    iss: String,
    aud: String,
}

impl DevIssuer {
    fn token(&self, sub: &str, lifetime: Duration) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut jti = [0u8; 12];
        aws_lc_rs::rand::fill(&mut jti).expect("system randomness");
        let claims = serde_json::json!({
            "sub": sub,
            "email": format!("{sub}@example.test"),
            "username": sub,
            "iss": self.iss,
            "aud": self.aud,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime.as_secs(),
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "scope": "read write",
        });
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("signing with the dev key")
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = env("ADDR");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next(),
            a if a.starts_with("--addr=") => addr = Some(a["--addr=".len()..].to_owned()),
            "-h" | "--help" => {
                println!(
                    "usage: jwt-cache-demo [--addr HOST:PORT]\n\n\
                     env: ADDR, JWT_PUBLIC_KEY_FILE, JWT_ALG (default RS256), JWT_ISSUER, JWT_AUDIENCE,\n     \
                     REDIS_URL (share validations and revocations through Redis)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    let addr = addr.unwrap_or_else(|| "127.0.0.1:3000".into());
    SocketAddr::from_str(&addr).map_err(|e| format!("bad address {addr:?}: {e}"))
}

fn validator() -> Result<(JwtValidator, Option<DevIssuer>), String> {
    if let Some(path) = env("JWT_PUBLIC_KEY_FILE") {
        let pem = std::fs::read(&path).map_err(|e| format!("reading {path}: {e}"))?;
        let alg_name = env("JWT_ALG").unwrap_or_else(|| "RS256".into());
        let alg =
            Algorithm::from_str(&alg_name).map_err(|_| format!("unknown JWT_ALG {alg_name:?}"))?;
        let mut v = JwtValidator::from_pem(alg, &pem).map_err(|e| e.to_string())?;
        if let Some(iss) = env("JWT_ISSUER") {
            v = v.issuer(iss);
        }
        if let Some(aud) = env("JWT_AUDIENCE") {
            v = v.audience(aud);
        }
        return Ok((v, None));
    }
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 =
        aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| e.to_string())?;
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|e| e.to_string())?;
    use aws_lc_rs::signature::KeyPair;
    let public = pair.public_key().as_ref().to_vec();
    let issuer = DevIssuer {
        key: EncodingKey::from_ed_der(pkcs8.as_ref()),
        iss: env("JWT_ISSUER").unwrap_or_else(|| "jwt-cache-demo".into()),
        aud: env("JWT_AUDIENCE").unwrap_or_else(|| "jwt-cache-demo".into()),
    };
    let v = JwtValidator::new(VerificationKey::ed_der(&public).map_err(|e| e.to_string())?)
        .issuer(issuer.iss.clone())
        .audience(issuer.aud.clone())
        .require_typ("at+jwt");
    Ok((v, Some(issuer)))
}

async fn me(Claims(claims): Claims<StandardClaims>) -> Json<StandardClaims> {
    Json(claims)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> StatusCode {
    let values = headers.get_all(AUTHORIZATION);
    match jwt_cache::parse_authorization(values.iter().map(|v| v.as_bytes())) {
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

fn app(auth_layer: JwtCacheLayer<StandardClaims>, issuer: Option<DevIssuer>) -> Router {
    let state = AppState {
        auth: auth_layer.authenticator().clone(),
        issuer,
    };
    Router::new()
        .route("/me", get(me))
        .route("/logout", post(logout))
        .layer(auth_layer)
        .route("/healthz", get(healthz))
        .route("/dev/token", get(dev_token))
        .with_state(state)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(e) = run().await {
        eprintln!("jwt-cache-demo: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let addr = addr()?;
    let (validator, issuer) = validator()?;
    let builder = JwtCacheLayer::builder()
        .validator(validator)
        .ttl(Duration::from_secs(600));
    let (layer, cache_name) = match env("REDIS_URL") {
        Some(url) => {
            let cache = RedisCache::<StandardClaims>::connect(&url)
                .await
                .map_err(|e| format!("REDIS_URL {url:?}: {e}"))?;
            (builder.cache(cache).build(), format!("redis at {url}"))
        }
        None => (
            builder.cache(MemoryCache::new(100_000)).build(),
            "in-process".to_owned(),
        ),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("binding {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("jwt-cache demo listening on http://{local} (cache: {cache_name})");
    match &issuer {
        Some(dev) => {
            println!(
                "dev mode: generated an Ed25519 key; tokens from issuer {:?} for audience {:?}",
                dev.iss, dev.aud
            );
            println!(
                "export TOKEN={}",
                dev.token("dev-user", Duration::from_secs(3600))
            );
            println!("curl -H \"Authorization: Bearer $TOKEN\" http://{local}/me");
            println!("curl -i http://{local}/me                      # 401, RFC 6750 challenge");
            println!(
                "curl -X POST -H \"Authorization: Bearer $TOKEN\" http://{local}/logout   # then /me is 401"
            );
            println!("curl http://{local}/dev/token                  # a fresh token");
        }
        None => println!("validating tokens with the key from JWT_PUBLIC_KEY_FILE"),
    }
    axum::serve(listener, app(layer, issuer))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
