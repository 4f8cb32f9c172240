//! A small local OpenID issuer, to watch key rotation, remote validation and an auth outage
//! on one machine (and what the tests of `JwksKeySource` and `IntrospectionValidator` run
//! against: a real HTTP server on loopback).
//!
//! Routes:
//! - `GET /.well-known/openid-configuration`: discovery (`issuer`, `jwks_uri`,
//!   `introspection_endpoint`, `token_endpoint`);
//! - `GET /jwks`: the public keys (ES256, one `kid` each), `Cache-Control: max-age=300`;
//! - `POST /token?sub=alice&scope=read&aud=…&ttl=3600&format=jwt|opaque&grant=client_credentials`:
//!   a token (`at+jwt` signed with the newest key, or an opaque one only introspection knows);
//! - `POST /introspect`: RFC 7662, client authentication by HTTP Basic or in the form;
//! - `POST /revoke?token=…`: introspection answers `active: false` for it from then on;
//! - `POST /rotate[?retire=true]`: a new signing key; with `retire`, the old keys leave the JWKS;
//! - `POST /control?delay_ms=5&fail=true`: every discovery, JWKS and introspection call waits
//!   that long, and answers `503` while failing;
//! - `GET /stats`: how many discovery, JWKS and introspection calls were answered.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jwt_cache::jsonwebtoken::{self, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

/// What the issuer is and who may introspect.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// `iss` of its tokens, and the base of its URLs in discovery.
    pub issuer: String,
    /// Default `aud` of its tokens.
    pub audience: String,
    /// The client allowed to introspect.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// Default token lifetime.
    pub token_lifetime: Duration,
    /// `Cache-Control: max-age` of the JWKS.
    pub jwks_max_age: Duration,
}

impl IssuerConfig {
    /// An issuer at `issuer` (e.g. `http://127.0.0.1:4000`), audience `jwt-cache-demo`, client
    /// `demo` / `demo-secret`, tokens for an hour.
    pub fn new(issuer: impl Into<String>) -> Self {
        IssuerConfig {
            issuer: issuer.into(),
            audience: "jwt-cache-demo".into(),
            client_id: "demo".into(),
            client_secret: "demo-secret".into(),
            token_lifetime: Duration::from_secs(3600),
            jwks_max_age: Duration::from_secs(300),
        }
    }
}

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

/// Counters of the calls the issuer answered (failed ones included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IssuerStats {
    /// Discovery documents served.
    pub discovery: u64,
    /// JWKS documents served.
    pub jwks: u64,
    /// Introspection requests answered.
    pub introspections: u64,
}

struct Shared {
    config: IssuerConfig,
    keys: RwLock<Vec<SigningKey>>,
    opaque: Mutex<HashMap<String, Value>>,
    revoked: Mutex<HashSet<String>>,
    delay_ms: AtomicU64,
    failing: AtomicBool,
    discovery: AtomicU64,
    jwks: AtomicU64,
    introspections: AtomicU64,
}

/// The issuer: clones share its keys, tokens and switches.
#[derive(Clone)]
pub struct Issuer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_key() -> SigningKey {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
    let pkcs8 = pair.to_pkcs8v1().expect("PKCS#8");
    let point = pair.public_key().as_ref().to_vec();
    let kid = random_hex(8);
    let jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "alg": "ES256",
        "use": "sig",
        "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    SigningKey {
        kid,
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        decoding: DecodingKey::from_ec_der(&point),
        jwk,
    }
}

impl Issuer {
    /// An issuer with one signing key.
    pub fn new(config: IssuerConfig) -> Self {
        Issuer {
            shared: Arc::new(Shared {
                config,
                keys: RwLock::new(vec![new_key()]),
                opaque: Mutex::new(HashMap::new()),
                revoked: Mutex::new(HashSet::new()),
                delay_ms: AtomicU64::new(0),
                failing: AtomicBool::new(false),
                discovery: AtomicU64::new(0),
                jwks: AtomicU64::new(0),
                introspections: AtomicU64::new(0),
            }),
        }
    }

    /// An issuer on a free loopback port, served in the background; `configure` adjusts its
    /// configuration (whose `issuer` is set to the server's base URL first). Returns the issuer
    /// and that base URL.
    pub async fn spawn(
        configure: impl FnOnce(&mut IssuerConfig),
    ) -> std::io::Result<(Issuer, String)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let mut config = IssuerConfig::new(base.clone());
        configure(&mut config);
        let issuer = Issuer::new(config);
        let app = issuer.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((issuer, base))
    }

    /// Its configuration.
    pub fn config(&self) -> &IssuerConfig {
        &self.shared.config
    }

    /// The routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", get(token).post(token))
            .route("/introspect", post(introspect))
            .route("/revoke", post(revoke))
            .route("/rotate", post(rotate))
            .route("/control", post(control))
            .route("/stats", get(stats))
            .with_state(self.clone())
    }

    /// An `at+jwt` for `sub`, signed with the newest key, for the default audience.
    pub fn token(&self, sub: &str) -> String {
        self.sign(self.claims(Some(sub), None, None, None))
    }

    /// An `at+jwt` with these claims merged over the usual ones.
    pub fn token_with(&self, sub: &str, extra: Value) -> String {
        let mut claims = self.claims(Some(sub), None, None, None);
        if let (Some(obj), Value::Object(more)) = (claims.as_object_mut(), extra) {
            obj.extend(more);
        }
        self.sign(claims)
    }

    /// An opaque token for `sub` (`None`: a client-credentials token, no user), known only to
    /// introspection.
    pub fn opaque_token(&self, sub: Option<&str>) -> String {
        let claims = self.claims(sub, None, None, None);
        let token = random_hex(24);
        self.shared
            .opaque
            .lock()
            .unwrap()
            .insert(token.clone(), claims);
        token
    }

    /// Introspection answers `active: false` for this token (its `jti` too) from now on.
    pub fn revoke(&self, token: &str) {
        let mut revoked = self.shared.revoked.lock().unwrap();
        revoked.insert(token.to_owned());
        if let Some(jti) = self
            .verify(token)
            .and_then(|c| c["jti"].as_str().map(str::to_owned))
        {
            revoked.insert(jti);
        }
    }

    /// A new signing key (the newest signs from now on); `retire`: the others leave the JWKS.
    /// Returns the new `kid`.
    pub fn rotate(&self, retire: bool) -> String {
        let key = new_key();
        let kid = key.kid.clone();
        let mut keys = self.shared.keys.write().unwrap();
        if retire {
            keys.clear();
        }
        keys.push(key);
        kid
    }

    /// The `kid`s in the JWKS, oldest first.
    pub fn kids(&self) -> Vec<String> {
        self.shared
            .keys
            .read()
            .unwrap()
            .iter()
            .map(|k| k.kid.clone())
            .collect()
    }

    /// Make every discovery, JWKS and introspection call wait `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.delay_ms.store(
            delay.as_millis().try_into().unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Make every discovery, JWKS and introspection call answer `503` (an outage).
    pub fn set_failing(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::Relaxed);
    }

    /// Calls answered so far.
    pub fn stats(&self) -> IssuerStats {
        IssuerStats {
            discovery: self.shared.discovery.load(Ordering::Relaxed),
            jwks: self.shared.jwks.load(Ordering::Relaxed),
            introspections: self.shared.introspections.load(Ordering::Relaxed),
        }
    }

    fn claims(
        &self,
        sub: Option<&str>,
        scope: Option<&str>,
        aud: Option<&str>,
        ttl: Option<u64>,
    ) -> Value {
        let c = &self.shared.config;
        let now = now();
        let mut claims = json!({
            "iss": c.issuer,
            "aud": aud.unwrap_or(&c.audience),
            "iat": now,
            "nbf": now,
            "exp": now + ttl.unwrap_or(c.token_lifetime.as_secs()),
            "jti": random_hex(12),
            "scope": scope.unwrap_or("read write"),
            "client_id": c.client_id,
        });
        if let Some(sub) = sub {
            claims["sub"] = json!(sub);
        }
        claims
    }

    fn sign(&self, claims: Value) -> String {
        let keys = self.shared.keys.read().unwrap();
        let key = keys.last().expect("at least one key");
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).expect("signing")
    }

    /// The claims of a JWT this issuer signed with a key still in its JWKS, if valid.
    fn verify(&self, token: &str) -> Option<Value> {
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        let keys = self.shared.keys.read().unwrap();
        let key = keys.iter().find(|k| k.kid == kid)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.shared.config.issuer]);
        validation.validate_aud = false;
        validation.leeway = 0;
        jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }

    /// The wait and the outage switch, applied to discovery, JWKS and introspection.
    async fn gate(&self) -> Result<(), Response> {
        let ms = self.shared.delay_ms.load(Ordering::Relaxed);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if self.shared.failing.load(Ordering::Relaxed) {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "issuer failing (POST /control?fail=false)",
            )
                .into_response());
        }
        Ok(())
    }
}

async fn discovery(State(issuer): State<Issuer>) -> Response {
    issuer.shared.discovery.fetch_add(1, Ordering::Relaxed);
    if let Err(r) = issuer.gate().await {
        return r;
    }
    let iss = &issuer.shared.config.issuer;
    Json(json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/jwks"),
        "token_endpoint": format!("{iss}/token"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "id_token_signing_alg_values_supported": ["ES256"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
    .into_response()
}

async fn jwks(State(issuer): State<Issuer>) -> Response {
    issuer.shared.jwks.fetch_add(1, Ordering::Relaxed);
    if let Err(r) = issuer.gate().await {
        return r;
    }
    let keys: Vec<Value> = issuer
        .shared
        .keys
        .read()
        .unwrap()
        .iter()
        .map(|k| k.jwk.clone())
        .collect();
    let max_age = issuer.shared.config.jwks_max_age.as_secs();
    (
        [(header::CACHE_CONTROL, format!("public, max-age={max_age}"))],
        Json(json!({ "keys": keys })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenParams {
    sub: Option<String>,
    scope: Option<String>,
    aud: Option<String>,
    ttl: Option<u64>,
    format: Option<String>,
    grant: Option<String>,
}

async fn token(State(issuer): State<Issuer>, Query(p): Query<TokenParams>) -> Response {
    let client_credentials = p.grant.as_deref() == Some("client_credentials");
    let opaque = p.format.as_deref() == Some("opaque");
    let lifetime = p
        .ttl
        .unwrap_or(issuer.shared.config.token_lifetime.as_secs());
    // A client-credentials token has no user: no `sub` in an opaque token's introspection,
    // `sub` = the client id in an RFC 9068 `at+jwt`.
    let sub = match (client_credentials, opaque) {
        (false, _) => Some(p.sub.unwrap_or_else(|| "alice".into())),
        (true, true) => None,
        (true, false) => Some(issuer.shared.config.client_id.clone()),
    };
    let claims = issuer.claims(
        sub.as_deref(),
        p.scope.as_deref(),
        p.aud.as_deref(),
        Some(lifetime),
    );
    let token = if opaque {
        let token = random_hex(24);
        issuer
            .shared
            .opaque
            .lock()
            .unwrap()
            .insert(token.clone(), claims);
        token
    } else {
        issuer.sign(claims)
    };
    Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": lifetime,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct IntrospectForm {
    token: String,
    #[allow(dead_code)]
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 6749 §2.3.1: the id and secret are form-encoded before HTTP Basic.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

async fn introspect(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    Form(form): Form<IntrospectForm>,
) -> Response {
    issuer.shared.introspections.fetch_add(1, Ordering::Relaxed);
    if let Err(r) = issuer.gate().await {
        return r;
    }
    let config = &issuer.shared.config;
    let creds = basic_credentials(&headers).or(match (form.client_id, form.client_secret) {
        (Some(id), Some(secret)) => Some((id, secret)),
        _ => None,
    });
    if creds != Some((config.client_id.clone(), config.client_secret.clone())) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"introspection\"")],
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let inactive = || Json(json!({"active": false})).into_response();
    let claims = match issuer
        .shared
        .opaque
        .lock()
        .unwrap()
        .get(&form.token)
        .cloned()
    {
        Some(c) => Some(c),
        None => issuer.verify(&form.token),
    };
    let Some(mut claims) = claims else {
        return inactive();
    };
    let revoked = issuer.shared.revoked.lock().unwrap();
    let jti_revoked = claims["jti"].as_str().is_some_and(|j| revoked.contains(j));
    if revoked.contains(&form.token)
        || jti_revoked
        || claims["exp"].as_u64().is_some_and(|e| e <= now())
    {
        return inactive();
    }
    claims["active"] = json!(true);
    claims["token_type"] = json!("Bearer");
    Json(claims).into_response()
}

#[derive(Deserialize)]
struct RevokeParams {
    token: String,
}

async fn revoke(State(issuer): State<Issuer>, Query(p): Query<RevokeParams>) -> StatusCode {
    issuer.revoke(&p.token);
    StatusCode::OK
}

#[derive(Deserialize)]
struct RotateParams {
    retire: Option<bool>,
}

async fn rotate(State(issuer): State<Issuer>, Query(p): Query<RotateParams>) -> Json<Value> {
    let kid = issuer.rotate(p.retire.unwrap_or(false));
    Json(json!({ "kid": kid, "kids": issuer.kids() }))
}

#[derive(Deserialize)]
struct ControlParams {
    delay_ms: Option<u64>,
    fail: Option<bool>,
}

async fn control(State(issuer): State<Issuer>, Query(p): Query<ControlParams>) -> Json<Value> {
    if let Some(ms) = p.delay_ms {
        issuer.set_delay(Duration::from_millis(ms));
    }
    if let Some(fail) = p.fail {
        issuer.set_failing(fail);
    }
    Json(json!({
        "delay_ms": issuer.shared.delay_ms.load(Ordering::Relaxed),
        "fail": issuer.shared.failing.load(Ordering::Relaxed),
    }))
}

async fn stats(State(issuer): State<Issuer>) -> Json<IssuerStats> {
    Json(issuer.stats())
}
