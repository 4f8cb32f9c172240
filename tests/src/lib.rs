//! Shared support for the acceptance and end-to-end tests: keys, token minting, a counting
//! validator, and the acceptance suite every `ClaimsCache` implementation must pass.

pub mod redis;
pub mod tools;

/// Two claims types with one schema difference: `Lenient` accepts a token without `tenant`,
/// `Strict` refuses it.
pub mod schemas {
    use serde::{Deserialize, Serialize};

    /// `tenant` defaults to "".
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Lenient {
        /// Subject.
        pub sub: String,
        /// Tenant.
        #[serde(default)]
        pub tenant: String,
    }

    /// `tenant` required.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Strict {
        /// Subject.
        pub sub: String,
        /// Tenant.
        pub tenant: String,
    }
}

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jwt_cache::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use jwt_cache::validator::{Fingerprint, ValidatedToken};
use jwt_cache::{JwtValidator, TokenValidator, ValidationError};
use serde_json::{Value, json};

/// PEM test keys (generated with openssl, test use only).
pub mod keys {
    /// RSA 2048 private key (PKCS#8).
    pub const RSA_PRIVATE: &[u8] = include_bytes!("../data/rsa_private.pem");
    /// Its public key.
    pub const RSA_PUBLIC: &[u8] = include_bytes!("../data/rsa_public.pem");
    /// A second RSA key pair.
    pub const RSA2_PRIVATE: &[u8] = include_bytes!("../data/rsa2_private.pem");
    /// Its public key.
    pub const RSA2_PUBLIC: &[u8] = include_bytes!("../data/rsa2_public.pem");
    /// P-256 private key (PKCS#8).
    pub const EC_PRIVATE: &[u8] = include_bytes!("../data/ec_private.pem");
    /// Its public key.
    pub const EC_PUBLIC: &[u8] = include_bytes!("../data/ec_public.pem");
    /// Ed25519 private key (PKCS#8).
    pub const ED_PRIVATE: &[u8] = include_bytes!("../data/ed_private.pem");
    /// Its public key.
    pub const ED_PUBLIC: &[u8] = include_bytes!("../data/ed_public.pem");
}

/// A fleet-wide integrity key for tests: 32 bytes of SHA-256 of `seed` (a key with entropy:
/// one byte repeated is refused).
pub fn integrity_key(seed: u8) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest([b'k', seed]).into()
}

/// The issuer and audience the helpers use.
pub const ISS: &str = "https://id.example";
/// The default audience.
pub const AUD: &str = "content";

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims for `sub`: issuer, audience, iat/nbf now, exp in an hour, a jti.
pub fn claims(sub: &str) -> Value {
    let now = now();
    json!({
        "sub": sub, "iss": ISS, "aud": AUD, "iat": now, "nbf": now, "exp": now + 3600,
        "jti": format!("jti-{sub}-{now}"), "email": format!("{sub}@example.test"),
    })
}

/// The RSA encoding key.
pub fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(keys::RSA_PRIVATE).unwrap()
}

/// Sign `claims` with `alg` and `key`, with an optional kid.
pub fn sign_with(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// An RS256 token for `claims` with the test RSA key.
pub fn rs256(claims: &Value) -> String {
    sign_with(Algorithm::RS256, &rsa_key(), None, claims)
}

/// An RS256 validator for the test key, issuer [`ISS`], audience `aud`, leeway 0.
pub fn rs256_validator(aud: &str) -> JwtValidator {
    JwtValidator::rs256_pem(keys::RSA_PUBLIC)
        .unwrap()
        .issuer(ISS)
        .audience(aud)
        .leeway(0)
}

/// Wraps a validator: counts calls, can be slowed down or made unavailable.
#[derive(Clone, Debug)]
pub struct CountingValidator<V> {
    inner: V,
    /// Calls made.
    pub calls: Arc<AtomicUsize>,
    delay: Duration,
    /// While set, every call answers `Unavailable`.
    pub down: Arc<AtomicBool>,
    /// While unset, `key_is_current` answers false (a key rotated out).
    pub key_current: Arc<AtomicBool>,
    remote: bool,
}

impl<V> CountingValidator<V> {
    /// Wrap `inner`.
    pub fn new(inner: V) -> Self {
        CountingValidator {
            inner,
            calls: Arc::new(AtomicUsize::new(0)),
            delay: Duration::ZERO,
            down: Arc::new(AtomicBool::new(false)),
            key_current: Arc::new(AtomicBool::new(true)),
            remote: false,
        }
    }

    /// Present it as a remote validator (an auth service): the authenticator looks the cache
    /// up before validating, and a shared cache may serve its claims.
    pub fn remote(mut self) -> Self {
        self.remote = true;
        self
    }

    /// Each validation takes at least `delay` (like a remote auth service).
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Calls so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl<C, V> TokenValidator<C> for CountingValidator<V>
where
    C: Send + Sync + 'static,
    V: TokenValidator<C>,
{
    async fn validate(&self, token: &str) -> Result<ValidatedToken<C>, ValidationError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(ValidationError::Unavailable("auth service down".into()));
        }
        self.inner.validate(token).await
    }
    fn validate_now(&self, token: &str) -> Option<Result<ValidatedToken<C>, ValidationError>> {
        if !self.delay.is_zero() {
            return None;
        }
        let answer = self.inner.validate_now(token)?;
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Some(Err(ValidationError::Unavailable(
                "auth service down".into(),
            )));
        }
        Some(answer)
    }
    fn fingerprint(&self) -> Fingerprint {
        self.inner.fingerprint()
    }
    fn key_is_current(&self, key: Option<&str>) -> bool {
        self.key_current.load(Ordering::SeqCst) && self.inner.key_is_current(key)
    }
    fn leeway(&self) -> u64 {
        self.inner.leeway()
    }
    fn is_local(&self) -> bool {
        !self.remote && self.inner.is_local()
    }
}

pub mod suite;

/// The repository's README, whose Rust examples are compiled as doc tests here (this crate has
/// every adapter among its dependencies).
#[doc = include_str!("../../README.md")]
pub mod readme {}

/// Driving a `JwtCacheLayer` over a trivial inner service.
pub mod harness {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::{Request, Response, StatusCode};
    use jwt_cache::middleware::RejectionHandler;
    use jwt_cache::{JwtCacheLayer, StandardClaims};
    use tower::util::BoxCloneSyncService;
    use tower::{ServiceBuilder, ServiceExt};

    /// The inner service: counts the requests that reach it and answers with the subject of
    /// their claims, or `anonymous`.
    fn echo_subject(
        calls: Arc<AtomicUsize>,
    ) -> impl Fn(Request<String>) -> std::future::Ready<Result<Response<String>, Infallible>> + Clone
    {
        move |req: Request<String>| {
            calls.fetch_add(1, Ordering::SeqCst);
            let sub = req
                .extensions()
                .get::<Arc<StandardClaims>>()
                .map(|c| c.sub.clone())
                .unwrap_or_else(|| "anonymous".into());
            std::future::ready(Ok(Response::new(sub)))
        }
    }

    /// A service behind the layer, and a count of the requests that reached it.
    #[derive(Clone)]
    pub struct Stack {
        svc: BoxCloneSyncService<Request<String>, Response<String>, Infallible>,
        /// Requests that reached the inner service.
        pub inner_calls: Arc<AtomicUsize>,
    }

    impl std::fmt::Debug for Stack {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Stack").finish_non_exhaustive()
        }
    }

    /// What came back.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Reply {
        /// Status.
        pub status: StatusCode,
        /// `WWW-Authenticate`, if any.
        pub challenge: Option<String>,
        /// The body: the subject the inner service saw, `anonymous`, or the rejection body.
        pub body: String,
    }

    impl Reply {
        /// The RFC 6750 `error` code in the challenge.
        pub fn error_code(&self) -> Option<String> {
            let c = self.challenge.as_deref()?;
            let start = c.find("error=\"")? + 7;
            let end = c[start..].find('"')? + start;
            Some(c[start..end].to_owned())
        }
    }

    impl Stack {
        /// The layer over an inner service that echoes the subject.
        pub fn new<H>(layer: JwtCacheLayer<StandardClaims, H>) -> Self
        where
            H: RejectionHandler<String>,
        {
            let inner_calls = Arc::new(AtomicUsize::new(0));
            let calls = inner_calls.clone();
            let svc = ServiceBuilder::new()
                .layer(layer)
                .service_fn(echo_subject(calls));
            Stack {
                svc: BoxCloneSyncService::new(svc),
                inner_calls,
            }
        }

        /// The same authenticator and rejection handler through tower-http's
        /// `AsyncRequireAuthorizationLayer` with a `JwtAuthorizer`.
        pub fn tower_http<H>(layer: JwtCacheLayer<StandardClaims, H>) -> Self
        where
            H: RejectionHandler<String>,
        {
            let inner_calls = Arc::new(AtomicUsize::new(0));
            let calls = inner_calls.clone();
            let authorizer: jwt_cache::middleware::JwtAuthorizer<StandardClaims, String, H> =
                layer.into();
            let svc = ServiceBuilder::new()
                .layer(tower_http::auth::AsyncRequireAuthorizationLayer::new(
                    authorizer,
                ))
                .service_fn(echo_subject(calls));
            Stack {
                svc: BoxCloneSyncService::new(svc),
                inner_calls,
            }
        }

        /// Send a request with these raw `Authorization` header values.
        pub async fn send_headers(&self, values: &[&[u8]]) -> Reply {
            let headers: Vec<(&str, &[u8])> =
                values.iter().map(|v| ("authorization", *v)).collect();
            self.send_with(&headers).await
        }

        /// Send a `GET` with these headers.
        pub async fn send_with(&self, headers: &[(&str, &[u8])]) -> Reply {
            self.send_method("GET", headers).await
        }

        /// Send a request with this method and these headers.
        pub async fn send_method(&self, method: &str, headers: &[(&str, &[u8])]) -> Reply {
            let mut req = Request::builder().method(method).uri("/me");
            for (name, v) in headers {
                req = req.header(*name, http::HeaderValue::from_bytes(v).unwrap());
            }
            let req = req.body(String::new()).unwrap();
            let res = self.svc.clone().oneshot(req).await.unwrap();
            Reply {
                status: res.status(),
                challenge: res
                    .headers()
                    .get(http::header::WWW_AUTHENTICATE)
                    .map(|v| v.to_str().unwrap().to_owned()),
                body: res.into_body(),
            }
        }

        /// Send a request with `Authorization: Bearer <token>`, or none.
        pub async fn send(&self, token: Option<&str>) -> Reply {
            match token {
                Some(t) => self.send_headers(&[format!("Bearer {t}").as_bytes()]).await,
                None => self.send_headers(&[]).await,
            }
        }

        /// Requests that reached the inner service.
        pub fn inner_calls(&self) -> usize {
            self.inner_calls.load(Ordering::SeqCst)
        }

        /// Drive the service's readiness (for tests of clone-and-swap).
        pub async fn ready(&mut self) {
            self.svc.ready().await.unwrap();
        }
    }
}
