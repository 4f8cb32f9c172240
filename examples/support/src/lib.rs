//! What the example servers (axum demo, actix user-service) share, so they take the same
//! configuration and are interchangeable in front of one Redis:
//!
//! - `ADDR` or `--addr HOST:PORT` (default `127.0.0.1:3000`);
//! - `JWT_PUBLIC_KEY_FILE` (PEM), `JWT_ALG` (default RS256), `JWT_ISSUER`, `JWT_AUDIENCE`:
//!   validate tokens from a real issuer; without `JWT_PUBLIC_KEY_FILE`, dev mode: an Ed25519
//!   key generated at start-up and a printed token;
//! - `JWT_ISSUERS`: several issuers, `ISSUER=ALG:PEM_FILE,…` (see [`issuers`]);
//! - `JWT_JWKS_URL`: the keys from a JWKS, refreshed in the background and refetched on an
//!   unknown `kid` (at most once per 5 s); `JWT_ISSUER_URL`: the same through OpenID Connect
//!   discovery (the document's `issuer` must equal it, and tokens must carry it as `iss`);
//!   `JWT_ISSUER` / `JWT_AUDIENCE` apply;
//! - `INTROSPECTION_URL` with `INTROSPECTION_CLIENT_ID` / `INTROSPECTION_CLIENT_SECRET`:
//!   validate by RFC 7662 introspection (opaque tokens too); `JWT_ISSUER` / `JWT_AUDIENCE`
//!   are checked against the answer when set;
//! - `AUTH_GRPC_URL`: validate through an auth service's `Validate` RPC over gRPC
//!   (`examples/auth-grpc`; [`grpc::GrpcAuthValidator`]: a deadline, bounded calls in flight,
//!   its status codes mapped like every validator's);
//! - `JWT_CACHE_TTL`: seconds a validation is cached (default 600; `0`: validate every request);
//! - `JWT_COOKIE`: also take the token from this cookie (browser apps); such a token
//!   authenticates an unsafe method (`POST`, …) only for a same-origin request or one from
//!   `JWT_COOKIE_ALLOWED_ORIGINS` (comma-separated origins, e.g. `https://app.example`), which
//!   the demo's CORS policy then allows with credentials;
//! - `REDIS_URL`: a tiered cache (in-process L1, Redis L2, revocations replicated into every
//!   instance's memory through pub/sub); in-process cache otherwise;
//! - `JWT_CACHE_INTEGRITY_KEY` (at least 32 bytes) or `JWT_CACHE_INTEGRITY_KEY_FILE`: the
//!   fleet-wide secret that authenticates claims stored in Redis; with it, validations are
//!   shared too (without it, Redis carries revocations only).
//!
//! Mistakes stop start-up with a message: a variable starting with `JWT_`, `INTROSPECTION_`,
//! `REDIS_` or `AUTH_` that is not one of these (with the closest known name), an issuer,
//! audience or algorithm without a key to validate with, introspection without
//! `JWT_AUDIENCE`, an integrity key without `REDIS_URL`, a URL carrying credentials. Dev mode
//! (a generated key, a printed token, `GET /dev/token`) starts only when no key, issuer or
//! audience setting is given at all, listens on loopback only, and its tokens always name
//! the dev issuer and audience (`jwt-cache-demo`). Every URL printed is redacted.

mod checks;
#[cfg(feature = "grpc")]
pub mod grpc;

pub use self::checks::{
    check_configuration, check_variables, fuzz_configuration, is_dev_mode, known_variables,
    shown_url,
};
use self::checks::{check_consistency, cookie_origins, issuer_entries};
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jwt_cache::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use std::sync::Arc;

use jwt_cache::validator::{IntrospectionValidator, JwksKeySource};
use jwt_cache::{
    Authenticator, Issuers, JwtCacheBuilder, JwtValidator, MemoryCache, StandardClaims,
    TokenValidator, VerificationKey,
};
use jwt_cache_redis::{RedisCache, TieredCache};

/// The dev-mode token issuer: the private half of the generated key.
#[derive(Clone)]
pub struct DevIssuer {
    key: EncodingKey,
    /// `iss` of the tokens it issues (and that the validator requires).
    pub iss: String,
    /// `aud` of the tokens it issues (and that the validator requires).
    pub aud: String,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("iss", &self.iss)
            .field("aud", &self.aud)
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// An issuer of tokens for `iss` and `aud`, with an Ed25519 key generated now; the
    /// public half (DER) to verify them.
    pub fn generate(iss: &str, aud: &str) -> Result<(DevIssuer, Vec<u8>), String> {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| e.to_string())?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| e.to_string())?;
        let issuer = DevIssuer {
            key: EncodingKey::from_ed_der(pkcs8.as_ref()),
            iss: iss.to_owned(),
            aud: aud.to_owned(),
        };
        Ok((issuer, pair.public_key().as_ref().to_vec()))
    }

    /// A signed access token (`typ: at+jwt`) for `sub`, scopes `read write`.
    pub fn token(&self, sub: &str, lifetime: Duration) -> String {
        self.token_with_scope(sub, "read write", lifetime)
    }

    /// A signed access token (`typ: at+jwt`) for `sub` with these scopes (space-separated).
    pub fn token_with_scope(&self, sub: &str, scope: &str, lifetime: Duration) -> String {
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
            "scope": scope,
        });
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("signing with the dev key")
    }
}

/// Metrics: an OpenTelemetry meter provider exporting to a Prometheus registry (what the
/// example servers serve at `/metrics`). Clones share the registry and the provider.
#[derive(Clone)]
pub struct Telemetry {
    /// The registry `/metrics` encodes.
    pub registry: prometheus::Registry,
    /// The provider (kept: dropping it stops collection).
    pub provider: opentelemetry_sdk::metrics::SdkMeterProvider,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Telemetry {
    /// A provider with a Prometheus exporter on a new registry.
    pub fn prometheus() -> Result<Self, String> {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .map_err(|e| format!("prometheus exporter: {e}"))?;
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_reader(exporter)
            .build();
        Ok(Telemetry { registry, provider })
    }

    /// The `Content-Type` of [`text`](Self::text): Prometheus' text exposition format.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";

    /// What `GET /metrics` answers: the registry in Prometheus' text format.
    pub fn text(&self) -> Result<String, String> {
        prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .map_err(|e| e.to_string())
    }

    /// The meter jwt-cache reports through.
    pub fn meter(&self) -> jwt_cache::metrics::Meter {
        use opentelemetry::metrics::MeterProvider;
        self.provider.meter("jwt-cache")
    }
}

/// The configuration of an example server.
#[derive(Debug)]
pub struct ExampleConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The authenticator (validator + cache).
    pub auth: Authenticator<StandardClaims>,
    /// "in-process" or "redis at …".
    pub cache_name: String,
    /// The dev-mode issuer, when no key was configured.
    pub issuer: Option<DevIssuer>,
    /// What validates tokens, for the banner.
    pub validation: String,
    /// Metrics (the demo serves them at `/metrics`).
    pub telemetry: Telemetry,
    /// `JWT_COOKIE_ALLOWED_ORIGINS`: origins whose cross-origin requests may use the cookie
    /// token (and that CORS allows with credentials).
    pub cookie_origins: Vec<String>,
}

/// Where configuration is read from: the process environment, or given pairs (tests).
#[derive(Debug, Clone, Default)]
pub struct Vars {
    given: Option<std::collections::HashMap<String, String>>,
}

impl Vars {
    /// The process environment.
    pub fn process() -> Self {
        Vars { given: None }
    }

    /// These pairs only.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Vars {
            given: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ),
        }
    }

    /// The names of every variable set (given pairs, or the process environment).
    pub fn names(&self) -> Vec<String> {
        match &self.given {
            Some(map) => map.keys().cloned().collect(),
            None => std::env::vars_os()
                .filter_map(|(k, _)| k.into_string().ok())
                .collect(),
        }
    }

    /// A variable's non-empty value.
    pub fn get(&self, name: &str) -> Option<String> {
        match &self.given {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
        .filter(|v| !v.is_empty())
    }
}

/// Log to stderr, `RUST_LOG` or `info`.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
}

fn addr(program: &str, vars: &Vars) -> Result<SocketAddr, String> {
    if vars.given.is_some() {
        let addr = vars.get("ADDR").unwrap_or_else(|| "127.0.0.1:0".into());
        return SocketAddr::from_str(&addr).map_err(|e| format!("bad address {addr:?}: {e}"));
    }
    listen_addr(
        vars,
        "127.0.0.1:3000",
        &format!(
            "usage: {program} [--addr HOST:PORT]\n\n\
             env: ADDR, JWT_PUBLIC_KEY_FILE, JWT_ALG (default RS256), JWT_ISSUER, JWT_AUDIENCE,\n     \
             JWT_ISSUERS (ISSUER=ALG:PEM_FILE,...), JWT_COOKIE (cookie name),\n     \
             JWT_JWKS_URL or JWT_ISSUER_URL (keys from a JWKS / OIDC discovery),\n     \
             INTROSPECTION_URL, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET (RFC 7662),\n     \
             JWT_CACHE_TTL (seconds, default 600; 0 = validate every request),\n     \
             REDIS_URL (share revocations through Redis),\n     \
             JWT_CACHE_INTEGRITY_KEY or JWT_CACHE_INTEGRITY_KEY_FILE (share validations too)"
        ),
    )
}

/// Where an example listens: `--addr HOST:PORT` (or `--addr=…`), else `ADDR`, else `default`;
/// `-h` / `--help` prints `usage` and exits.
pub fn listen_addr(vars: &Vars, default: &str, usage: &str) -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = vars.get("ADDR");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next(),
            a if a.starts_with("--addr=") => addr = Some(a["--addr=".len()..].to_owned()),
            "-h" | "--help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    let addr = addr.unwrap_or_else(|| default.to_owned());
    SocketAddr::from_str(&addr).map_err(|e| format!("bad address {addr:?}: {e}"))
}

/// The validator from `JWT_PUBLIC_KEY_FILE` / `JWT_ALG` / `JWT_ISSUER` / `JWT_AUDIENCE`, or in
/// dev mode one for a key generated now, with its issuer.
pub fn validator(vars: &Vars) -> Result<(JwtValidator, Option<DevIssuer>), String> {
    let env = |name: &str| vars.get(name);
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
    // Dev mode: nothing about validation is configured (checked by the caller), and the dev
    // issuer never takes a configured issuer or audience: it must not mint tokens a real
    // deployment would accept.
    if !is_dev_mode(vars) {
        return Err("no key to validate tokens with (JWT_PUBLIC_KEY_FILE)".into());
    }
    let (issuer, public) = DevIssuer::generate("jwt-cache-demo", "jwt-cache-demo")?;
    let key = VerificationKey::ed_der(&public).map_err(|e| e.to_string())?;
    let v = JwtValidator::new(key)
        .issuer(issuer.iss.clone())
        .audience(issuer.aud.clone())
        .require_typ("at+jwt");
    Ok((v, Some(issuer)))
}

/// The fleet-wide secret that authenticates claims in Redis: `JWT_CACHE_INTEGRITY_KEY`, or
/// the contents of the file `JWT_CACHE_INTEGRITY_KEY_FILE` (surrounding whitespace trimmed).
fn integrity_key(vars: &Vars) -> Result<Option<Vec<u8>>, String> {
    let env = |name: &str| vars.get(name);
    if let Some(key) = env("JWT_CACHE_INTEGRITY_KEY") {
        return Ok(Some(key.into_bytes()));
    }
    match env("JWT_CACHE_INTEGRITY_KEY_FILE") {
        Some(path) => {
            let bytes = std::fs::read(&path).map_err(|e| format!("reading {path}: {e}"))?;
            Ok(Some(bytes.trim_ascii().to_vec()))
        }
        None => Ok(None),
    }
}

/// `JWT_ISSUERS`: several issuers, each with its own public key, as
/// `ISSUER=ALG:PEM_FILE` entries separated by commas (or spaces), e.g.
/// `JWT_ISSUERS="https://a.example=RS256:/keys/a.pem,https://b.example=ES256:/keys/b.pem"`.
/// `JWT_AUDIENCE` applies to all of them.
pub fn issuers(vars: &Vars) -> Result<Option<Issuers<StandardClaims>>, String> {
    let env = |name: &str| vars.get(name);
    let Some(spec) = env("JWT_ISSUERS") else {
        return Ok(None);
    };
    let mut issuers = Issuers::new();
    for (iss, alg, path) in issuer_entries(&spec)? {
        let pem = std::fs::read(path).map_err(|e| format!("JWT_ISSUERS: reading {path}: {e}"))?;
        let mut v = JwtValidator::from_pem(alg, &pem)
            .map_err(|e| format!("JWT_ISSUERS {iss}: {e}"))?
            .issuer(iss);
        if let Some(aud) = env("JWT_AUDIENCE") {
            v = v.audience(aud);
        }
        issuers = issuers.issuer(iss, v);
    }
    Ok(Some(issuers))
}

/// A remote validator from `INTROSPECTION_URL`, or a JWKS key source from `JWT_JWKS_URL` /
/// `JWT_ISSUER_URL`, with what to print about it.
pub async fn remote_validator(
    vars: &Vars,
) -> Result<Option<(Arc<dyn TokenValidator<StandardClaims>>, String)>, String> {
    let env = |name: &str| vars.get(name);
    #[cfg(feature = "grpc")]
    if let Some(url) = env("AUTH_GRPC_URL") {
        // The design note's auth service, over gRPC: 500 ms per call, 64 calls in flight.
        let v = grpc::GrpcAuthValidator::new(&url, Duration::from_millis(500), 64)
            .map_err(|e| format!("AUTH_GRPC_URL: {e}"))?;
        return Ok(Some((
            Arc::new(v),
            format!("the auth service at {} (gRPC Validate)", shown_url(&url)),
        )));
    }
    if let Some(url) = env("INTROSPECTION_URL") {
        let mut b = IntrospectionValidator::<StandardClaims>::builder(&url)
            .client_credentials(
                env("INTROSPECTION_CLIENT_ID").unwrap_or_default(),
                env("INTROSPECTION_CLIENT_SECRET").unwrap_or_default(),
            )
            .token_type_hint("access_token");
        if let Some(iss) = env("JWT_ISSUER") {
            b = b.issuer(iss);
        }
        if let Some(aud) = env("JWT_AUDIENCE") {
            b = b.audience(aud);
        }
        let v = b.build().map_err(|e| format!("INTROSPECTION_URL: {e}"))?;
        return Ok(Some((
            Arc::new(v),
            format!("RFC 7662 introspection at {}", shown_url(&url)),
        )));
    }
    let (source, iss, what) = match (env("JWT_JWKS_URL"), env("JWT_ISSUER_URL")) {
        (Some(url), _) => (
            JwksKeySource::builder(&url),
            env("JWT_ISSUER"),
            format!("keys from the JWKS at {}", shown_url(&url)),
        ),
        (None, Some(issuer)) => (
            JwksKeySource::discover(&issuer),
            Some(env("JWT_ISSUER").unwrap_or_else(|| issuer.clone())),
            format!(
                "keys of issuer {} (OpenID Connect discovery)",
                shown_url(&issuer)
            ),
        ),
        (None, None) => return Ok(None),
    };
    // `start_retrying`: an unreachable JWKS at start-up does not stop the service; requests
    // get 503 until the key set arrives (the background task retries).
    let source = source
        .start_retrying()
        .await
        .map_err(|e| format!("JWT_JWKS_URL / JWT_ISSUER_URL: {e}"))?;
    if !source.is_healthy() {
        tracing::warn!(
            url = %shown_url(source.url()),
            "no key set yet; retrying in the background"
        );
    }
    let mut v = JwtValidator::from_key_source(source);
    if let Some(iss) = iss {
        v = v.issuer(iss);
    }
    if let Some(aud) = env("JWT_AUDIENCE") {
        v = v.audience(aud);
    }
    Ok(Some((Arc::new(v), what)))
}

/// Read the configuration from the arguments and the environment, and connect the cache.
pub async fn from_env(program: &str) -> Result<ExampleConfig, String> {
    from_vars(program, &Vars::process()).await
}

/// [`from_env`] with the variables from `vars` (and no command-line arguments when they are
/// given pairs).
pub async fn from_vars(program: &str, vars: &Vars) -> Result<ExampleConfig, String> {
    let env = |name: &str| vars.get(name);
    check_consistency(vars)?;
    let addr = addr(program, vars)?;
    if is_dev_mode(vars) && !addr.ip().is_loopback() {
        return Err(format!(
            "dev mode (no key configured) listens on loopback only, not {addr}: it hands out \
             tokens to anyone who asks; configure JWT_PUBLIC_KEY_FILE (or another key source) \
             to listen elsewhere"
        ));
    }
    let cookie_origins = cookie_origins(vars)?;
    let (validator, issuer, validation): (Arc<dyn TokenValidator<StandardClaims>>, _, _) =
        match remote_validator(vars).await? {
            Some((v, what)) => (v, None, what),
            None => match issuers(vars)? {
                Some(issuers) => (
                    Arc::new(issuers),
                    None,
                    "tokens from the issuers in JWT_ISSUERS".to_owned(),
                ),
                None => {
                    let (v, dev) = validator(vars)?;
                    (
                        Arc::new(v),
                        dev,
                        "tokens signed with the key from JWT_PUBLIC_KEY_FILE".to_owned(),
                    )
                }
            },
        };
    let ttl = match env("JWT_CACHE_TTL") {
        Some(secs) => Duration::from_secs(
            secs.parse()
                .map_err(|_| format!("JWT_CACHE_TTL {secs:?}: expected seconds"))?,
        ),
        None => Duration::from_secs(600),
    };
    let telemetry = Telemetry::prometheus()?;
    let mut builder = JwtCacheBuilder::<StandardClaims>::new(validator)
        .ttl(ttl)
        .meter(telemetry.meter());
    if let Some(cookie) = env("JWT_COOKIE") {
        builder = builder
            .token_from_cookie(cookie)
            .cookie_allowed_origins(cookie_origins.clone());
    }
    let (auth, cache_name) = match env("REDIS_URL") {
        Some(url) => {
            let shown = jwt_cache_redis::redacted_url(&url);
            let mut l2 = RedisCache::<StandardClaims>::connect(&url)
                .await
                .map_err(|e| format!("REDIS_URL {shown}: {e}"))?;
            let what = match integrity_key(vars)? {
                Some(secret) => {
                    l2 = l2
                        .integrity_key(&secret)
                        .map_err(|e| format!("JWT_CACHE_INTEGRITY_KEY: {e}"))?;
                    "revocations replicated in memory; validations of remote validators shared (HMAC)"
                }
                None => {
                    "revocations replicated in memory; set JWT_CACHE_INTEGRITY_KEY to share validations"
                }
            };
            let tiered = TieredCache::builder(l2.build())
                .l1_capacity(100_000)
                .start()
                .await
                .map_err(|e| format!("REDIS_URL {shown}: {e}"))?;
            (
                builder.cache(tiered).build_authenticator(),
                format!("tiered: in-process L1 + redis at {shown}; {what}"),
            )
        }
        None => (
            builder
                .cache(MemoryCache::new(100_000))
                .build_authenticator(),
            "in-process".to_owned(),
        ),
    };
    Ok(ExampleConfig {
        addr,
        auth,
        cache_name,
        issuer,
        validation,
        telemetry,
        cookie_origins,
    })
}

/// Print where the server listens and, in dev mode, a ready token and curl lines.
pub fn print_banner(name: &str, config: &ExampleConfig, local: SocketAddr) {
    println!(
        "{name} listening on http://{local} (cache: {})",
        config.cache_name
    );
    match &config.issuer {
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
            println!(
                "curl -s http://{local}/metrics | grep ^jwt_cache  # the counters (Prometheus)"
            );
        }
        None if config.validation.contains("gRPC") => {
            println!("validating {}", config.validation);
            println!(
                "get a token from the auth service (its banner prints one: export TOKEN=...), then"
            );
            println!("curl -H \"Authorization: Bearer $TOKEN\" http://{local}/me");
        }
        None => {
            println!("validating {}", config.validation);
            println!(
                "get a token from your issuer (examples/issuer: curl -s -X POST 'http://127.0.0.1:4000/token?sub=alice'), then"
            );
            println!("curl -H \"Authorization: Bearer $TOKEN\" http://{local}/me");
        }
    }
}
