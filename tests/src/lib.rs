//! Shared support for the acceptance and end-to-end tests: keys, token minting, a counting
//! validator, and the acceptance suite every `ClaimsCache` implementation must pass.

pub mod redis;

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
use jwt_cache::cache::{CacheKey, Lookup, Revocation, SignedHash, TokenHash};
use jwt_cache::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use jwt_cache::validator::{Fingerprint, TokenMeta, ValidatedToken};
use jwt_cache::{ClaimsCache, JwtValidator, StandardClaims, TokenValidator, ValidationError};
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

fn entry(sub: &str, iat: Option<u64>, jti: Option<&str>) -> Arc<ValidatedToken<StandardClaims>> {
    let now = now();
    Arc::new(ValidatedToken {
        claims: Arc::new(StandardClaims {
            sub: sub.into(),
            email: Some(format!("{sub}@example.test")),
            username: Some(sub.into()),
            iss: Some(ISS.into()),
            aud: Some(jwt_cache::Audience::One(AUD.into())),
            exp: Some(now + 3600),
            nbf: Some(now),
            iat,
            jti: jti.map(str::to_owned),
            scope: Some("read write".into()),
        }),
        meta: TokenMeta {
            exp: Some(now + 3600),
            nbf: Some(now),
            iat,
            jti: jti.map(str::to_owned),
            sub: Some(sub.into()),
            key: Some("kid:test".into()),
        },
    })
}

fn key(fp: u8, token: &str) -> CacheKey {
    CacheKey {
        fingerprint: Fingerprint([fp; 16]),
        token: TokenHash::of(token),
    }
}

fn is_hit(l: &Lookup<StandardClaims>) -> bool {
    matches!(l, Lookup::Hit(_))
}

/// A miss, with or without the revocation answer for the token's ids; a checked miss for a
/// token no revocation covers must say so.
fn is_miss(l: &Lookup<StandardClaims>) -> bool {
    match l {
        Lookup::Miss(None) => true,
        Lookup::Miss(Some(c)) => !c.revoked,
        _ => false,
    }
}

/// Revoked: a cached entry a revocation covers, or (a cache that answers the revocation check
/// with a miss) a checked miss that says "revoked".
fn is_revoked_answer(l: &Lookup<StandardClaims>) -> bool {
    match l {
        Lookup::Revoked => true,
        Lookup::Miss(Some(c)) => c.revoked,
        _ => false,
    }
}

/// A JWT-shaped token (unsigned: caches never verify) whose payload carries these claims, as
/// a cache that reads a token's unverified ids expects. `sig` is the third part.
fn fake_token(tag: &str, sub: &str, iat: Option<u64>, jti: Option<&str>, sig: &str) -> String {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let mut payload = json!({ "sub": sub, "tag": tag });
    if let Some(iat) = iat {
        payload["iat"] = json!(iat);
    }
    if let Some(jti) = jti {
        payload["jti"] = json!(jti);
    }
    format!("{}.{}.{sig}", b64(&json!({"alg": "RS256"})), b64(&payload))
}

/// What a backend does with claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stores {
    /// It stores validations and serves them back (memory, Redis with an integrity key).
    Claims,
    /// It carries revocations only (Redis without an integrity key): a `put` is not served.
    RevocationsOnly,
}

/// The acceptance suite every `ClaimsCache` must pass.
///
/// Writes go through `cache`; every read goes through `reader`, a second, independent handle
/// on the same store (for Redis: another client), so a backend that answers from its own
/// memory instead of the store fails. Both must be private to this run (tokens and ids are
/// made unique with `tag`).
pub async fn claims_cache_suite<K, R>(cache: K, reader: R, stores: Stores, tag: &str)
where
    K: ClaimsCache<StandardClaims>,
    R: ClaimsCache<StandardClaims>,
{
    let ttl = Duration::from_secs(60);
    let now = now();
    // A token, its cache key under validator `fp`, its signed-part hash, and the validation a
    // cache would store.
    let case = |name: &str, sub: &str, iat: Option<u64>, jti: Option<&str>| {
        let token = fake_token(&format!("{tag}-{name}"), sub, iat, jti, "c2ln");
        let signed = SignedHash::of(&token);
        (key(1, &token), signed, token, entry(sub, iat, jti))
    };
    let stored = |l: &Lookup<StandardClaims>| match stores {
        Stores::Claims => is_hit(l),
        Stores::RevocationsOnly => is_miss(l),
    };

    // Empty: miss.
    let (k1, s1, t1, e1) = case("a", "alice", Some(now - 10), Some("jti-a"));
    assert!(is_miss(&reader.get(&k1, &t1).await.unwrap()));

    // Put then get: the same claims and meta come back (or nothing, revocations only).
    cache.put(&k1, &s1, e1.clone(), ttl).await.unwrap();
    match (stores, reader.get(&k1, &t1).await.unwrap()) {
        (Stores::Claims, Lookup::Hit(v)) => {
            assert_eq!(*v.claims, *e1.claims);
            assert_eq!(v.meta, e1.meta);
        }
        (Stores::RevocationsOnly, l) if is_miss(&l) => {}
        (_, other) => panic!("{stores:?}: unexpected {other:?}"),
    }

    // Another validator's namespace never sees it; nor does a token with other bytes and the
    // same signed part (a hit is served for the exact bytes only).
    assert!(is_miss(&reader.get(&key(2, &t1), &t1).await.unwrap()));
    let twin1 = fake_token(
        &format!("{tag}-a"),
        "alice",
        Some(now - 10),
        Some("jti-a"),
        "b3RoZXI",
    );
    assert_eq!(SignedHash::of(&twin1), s1);
    assert!(is_miss(&reader.get(&key(1, &twin1), &twin1).await.unwrap()));

    // Remove.
    cache.remove(&k1).await.unwrap();
    assert!(is_miss(&reader.get(&k1, &t1).await.unwrap()));

    // Revocation by token: a hit turns into Revoked, is_revoked agrees, and it covers every
    // encoding of the same signed part (another signature's bytes).
    let (kb, sb, tb, eb) = case("b", "bob", Some(now - 10), Some("jti-b"));
    let twin = fake_token(
        &format!("{tag}-b"),
        "bob",
        Some(now - 10),
        Some("jti-b"),
        "dHdpbg",
    );
    assert_ne!(TokenHash::of(&twin), kb.token);
    assert_eq!(SignedHash::of(&twin), sb);
    cache.put(&kb, &sb, eb.clone(), ttl).await.unwrap();
    assert!(stored(&reader.get(&kb, &tb).await.unwrap()));
    assert!(!reader.is_revoked(&sb, &eb.meta).await.unwrap());
    cache.revoke(&Revocation::Token(sb), ttl).await.unwrap();
    assert!(is_revoked_answer(&reader.get(&kb, &tb).await.unwrap()));
    assert!(reader.is_revoked(&sb, &eb.meta).await.unwrap());
    let no_jti = TokenMeta {
        jti: None,
        ..eb.meta.clone()
    };
    assert!(
        reader
            .is_revoked(&SignedHash::of(&twin), &no_jti)
            .await
            .unwrap()
    );
    // Another signed part with no other revoked id is not covered.
    assert!(
        !reader
            .is_revoked(&SignedHash::of("x.y.z"), &no_jti)
            .await
            .unwrap()
    );

    // Revocation by jti covers exactly that jti.
    let jti_c = format!("{tag}-jti-c");
    let (kc, sc, tc, ec) = case("c", "carol", Some(now - 10), Some(&jti_c));
    let (kd, sd, td, ed) = case("d", "carol", Some(now - 10), Some("other"));
    cache.put(&kc, &sc, ec, ttl).await.unwrap();
    cache.put(&kd, &sd, ed, ttl).await.unwrap();
    cache
        .revoke(&Revocation::Jti(jti_c.clone()), ttl)
        .await
        .unwrap();
    assert!(is_revoked_answer(&reader.get(&kc, &tc).await.unwrap()));
    assert!(stored(&reader.get(&kd, &td).await.unwrap()));
    // Looked up under another namespace: a miss; if the cache answers the revocation check
    // with it, the answer is "revoked".
    match reader.get(&key(3, &tc), &tc).await.unwrap() {
        Lookup::Miss(None) => {}
        Lookup::Miss(Some(c)) => assert!(c.revoked && c.jti.as_deref() == Some(jti_c.as_str())),
        other => panic!("expected a miss, got {other:?}"),
    }

    // Revocation by subject: tokens issued before T (or without iat) go, later ones stay.
    let sub = format!("{tag}-dave");
    let (ke, se, te, ee) = case("e", &sub, Some(now - 100), None);
    let (kf, sf, tf, ef) = case("f", &sub, Some(now + 5), None);
    let (kg, sg, tg, eg) = case("g", &sub, None, None);
    let (kh, sh, th, eh) = case("h", "someone-else", Some(now - 100), None);
    for (k, s, e) in [
        (&kf, &sf, ef),
        (&ke, &se, ee),
        (&kg, &sg, eg),
        (&kh, &sh, eh),
    ] {
        cache.put(k, s, e, ttl).await.unwrap();
    }
    cache
        .revoke(
            &Revocation::Subject {
                sub: sub.clone(),
                issued_before: now,
            },
            ttl,
        )
        .await
        .unwrap();
    assert!(is_revoked_answer(&reader.get(&ke, &te).await.unwrap()));
    assert!(stored(&reader.get(&kf, &tf).await.unwrap()));
    assert!(is_revoked_answer(&reader.get(&kg, &tg).await.unwrap()));
    assert!(stored(&reader.get(&kh, &th).await.unwrap()));
    let later = entry(&sub, Some(now + 5), None);
    let x = SignedHash::of("x.y.z");
    assert!(!reader.is_revoked(&x, &later.meta).await.unwrap());
    let earlier = entry(&sub, Some(now - 5), None);
    assert!(reader.is_revoked(&x, &earlier.meta).await.unwrap());

    // Expiry: an entry and a revocation with a short ttl are gone after it.
    let (ki, si, ti, ei) = case("i", "ivan", Some(now - 10), Some(&format!("{tag}-jti-i")));
    cache
        .put(&ki, &si, ei, Duration::from_millis(1100))
        .await
        .unwrap();
    let (kj, sj, tj, ej) = case("j", "judy", Some(now - 10), None);
    cache.put(&kj, &sj, ej, ttl).await.unwrap();
    cache
        .revoke(&Revocation::Token(sj), Duration::from_millis(1100))
        .await
        .unwrap();
    assert!(stored(&reader.get(&ki, &ti).await.unwrap()));
    assert!(is_revoked_answer(&reader.get(&kj, &tj).await.unwrap()));
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert!(is_miss(&reader.get(&ki, &ti).await.unwrap()));
    assert!(stored(&reader.get(&kj, &tj).await.unwrap()));
}

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
                .service_fn(move |req: Request<String>| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let sub = req
                        .extensions()
                        .get::<Arc<StandardClaims>>()
                        .map(|c| c.sub.clone())
                        .unwrap_or_else(|| "anonymous".into());
                    async move { Ok::<_, Infallible>(Response::new(sub)) }
                });
            Stack {
                svc: BoxCloneSyncService::new(svc),
                inner_calls,
            }
        }

        /// Send a request with these raw `Authorization` header values.
        pub async fn send_headers(&self, values: &[&[u8]]) -> Reply {
            let mut req = Request::builder().uri("/me");
            for v in values {
                req = req.header(
                    http::header::AUTHORIZATION,
                    http::HeaderValue::from_bytes(v).unwrap(),
                );
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
