//! The `ClaimsCache` acceptance suite: one function per behaviour, and [`cache_suite!`] to run
//! every behaviour as a named test against a backend.
//!
//! Writes go through `cache`; every read goes through `reader`, a second, independent handle
//! on the same store (for Redis: another client), so a backend that answers from its own
//! memory instead of the store fails. Both must be private to the test.
//!
//! [`cache_suite!`]: crate::cache_suite

use std::sync::Arc;
use std::time::Duration;

use jwt_cache::cache::{CacheKey, Fill, Lookup, Revocation, SignedHash, TokenHash};
use jwt_cache::validator::{Fingerprint, TokenMeta, ValidatedToken};
use jwt_cache::{ClaimsCache, StandardClaims};
use serde_json::{Value, json};

use crate::{AUD, ISS, now};

/// What a backend does with claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stores {
    /// It stores validations and serves them back (memory, Redis with an integrity key).
    Claims,
    /// It carries revocations only (Redis without an integrity key): a `put` is not served.
    RevocationsOnly,
}

/// A backend under test: two handles on one store and what to expect of it.
pub struct Backend<K, R> {
    /// The handle writes go through.
    pub cache: K,
    /// An independent handle reads go through (another client; another instance).
    pub reader: R,
    /// What it does with claims.
    pub stores: Stores,
    /// How long a revocation made through `cache` may take to reach `reader` (zero: at once;
    /// a tiered cache replicates revocations within milliseconds).
    pub propagation: Duration,
    /// Whatever must live as long as the test (servers).
    pub guard: Box<dyn std::any::Any>,
}

impl<K, R> std::fmt::Debug for Backend<K, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("stores", &self.stores)
            .field("propagation", &self.propagation)
            .finish_non_exhaustive()
    }
}

impl<K, R> Backend<K, R> {
    /// Two handles, at once consistent.
    pub fn new(cache: K, reader: R, stores: Stores, guard: impl std::any::Any) -> Self {
        Backend {
            cache,
            reader,
            stores,
            propagation: Duration::ZERO,
            guard: Box::new(guard),
        }
    }

    /// `(cache, reader, stores, propagation)`.
    pub fn parts(&self) -> (&K, &R, Stores, Duration) {
        (&self.cache, &self.reader, self.stores, self.propagation)
    }

    /// Revocations reach the reader within `bound`.
    pub fn propagation(mut self, bound: Duration) -> Self {
        self.propagation = bound;
        self
    }
}

/// Whether `cond` (an expression that may `.await`) holds within `wait` (checked once when
/// `wait` is zero).
macro_rules! eventually {
    ($wait:expr, $cond:expr) => {{
        let deadline = std::time::Instant::now() + $wait;
        loop {
            if $cond {
                break true;
            }
            if std::time::Instant::now() >= deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }};
}

/// Run every behaviour of the suite as a named test in a module `$backend`. `$make` is an
/// async fn returning `Option<Backend>` (`None`: the backend cannot run and said why).
#[macro_export]
macro_rules! cache_suite {
    ($backend:ident, $make:ident) => {
        mod $backend {
            $crate::cache_suite!(@tests $make;
                empty_is_a_miss,
                put_then_get_serves_the_validation,
                other_namespaces_and_other_bytes_miss,
                remove_forgets,
                token_revocation_covers_every_encoding_of_the_signed_part,
                jti_revocation_covers_exactly_that_jti,
                subject_revocation_covers_tokens_issued_before,
                entries_and_revocations_expire,
            );
        }
    };
    (@tests $make:ident; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(backend) = super::$make().await else {
                    return;
                };
                let tag = concat!(module_path!(), "::", stringify!($name));
                $crate::suite::$name(backend, tag).await;
            }
        )+
    };
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
            roles: None,
            client_id: None,
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

/// A token, its cache key under validator 1, its signed-part hash, and the validation a cache
/// would store.
fn case(
    tag: &str,
    name: &str,
    sub: &str,
    iat: Option<u64>,
    jti: Option<&str>,
) -> (
    CacheKey,
    SignedHash,
    String,
    Arc<ValidatedToken<StandardClaims>>,
) {
    let token = fake_token(&format!("{tag}-{name}"), sub, iat, jti, "c2ln");
    let signed = SignedHash::of(&token);
    (key(1, &token), signed, token, entry(sub, iat, jti))
}

fn stored(stores: Stores, l: &Lookup<StandardClaims>) -> bool {
    match stores {
        Stores::Claims => is_hit(l),
        Stores::RevocationsOnly => is_miss(l),
    }
}

const TTL: Duration = Duration::from_secs(60);

/// Nothing stored: a miss.
pub async fn empty_is_a_miss(
    b: Backend<impl ClaimsCache<StandardClaims>, impl ClaimsCache<StandardClaims>>,
    tag: &str,
) {
    let (_, reader, _, _) = b.parts();
    let (k, _, t, _) = case(tag, "a", "alice", Some(now() - 10), Some("jti-a"));
    assert!(is_miss(&reader.get(&k, &t).await.unwrap()));
}

/// Put then get: the same claims and meta come back (or nothing, revocations only).
pub async fn put_then_get_serves_the_validation(
    b: Backend<impl ClaimsCache<StandardClaims>, impl ClaimsCache<StandardClaims>>,
    tag: &str,
) {
    let (cache, reader, stores, _) = b.parts();
    let (k, s, t, e) = case(tag, "a", "alice", Some(now() - 10), Some("jti-a"));
    cache
        .put(&k, &s, e.clone(), TTL, Fill::Shared)
        .await
        .unwrap();
    match (stores, reader.get(&k, &t).await.unwrap()) {
        (Stores::Claims, Lookup::Hit(v)) => {
            assert_eq!(*v.claims, *e.claims);
            assert_eq!(v.meta, e.meta);
        }
        (Stores::RevocationsOnly, l) if is_miss(&l) => {}
        (_, other) => panic!("{stores:?}: unexpected {other:?}"),
    }
}

/// Another validator's namespace never sees an entry; nor does a token with other bytes and
/// the same signed part (a hit is served for the exact bytes only).
pub async fn other_namespaces_and_other_bytes_miss(
    b: Backend<impl ClaimsCache<StandardClaims>, impl ClaimsCache<StandardClaims>>,
    tag: &str,
) {
    let (cache, reader, stores, _) = b.parts();
    // One reading of the clock for the token and its twin: two could fall either side of a
    // second and give the twin another `iat`, so another signed part (seen once in CI).
    let iat = now() - 10;
    let (k, s, t, e) = case(tag, "a", "alice", Some(iat), Some("jti-a"));
    cache.put(&k, &s, e, TTL, Fill::Shared).await.unwrap();
    assert!(stored(stores, &reader.get(&k, &t).await.unwrap()));
    assert!(is_miss(&reader.get(&key(2, &t), &t).await.unwrap()));
    let twin = fake_token(
        &format!("{tag}-a"),
        "alice",
        Some(iat),
        Some("jti-a"),
        "b3RoZXI",
    );
    assert_eq!(SignedHash::of(&twin), s);
    assert!(is_miss(&reader.get(&key(1, &twin), &twin).await.unwrap()));
}

/// `remove` forgets a validation.
pub async fn remove_forgets(
    b: Backend<impl ClaimsCache<StandardClaims>, impl ClaimsCache<StandardClaims>>,
    tag: &str,
) {
    let (cache, reader, stores, _) = b.parts();
    let (k, s, t, e) = case(tag, "a", "alice", Some(now() - 10), Some("jti-a"));
    cache.put(&k, &s, e, TTL, Fill::Shared).await.unwrap();
    assert!(stored(stores, &cache.get(&k, &t).await.unwrap()));
    cache.remove(&k).await.unwrap();
    assert!(is_miss(&cache.get(&k, &t).await.unwrap()));
    // Nothing left in the store either (the reader had never read it: no copy of its own).
    assert!(is_miss(&reader.get(&k, &t).await.unwrap()));
}

/// A token revocation turns a hit into Revoked, `is_revoked` agrees, and it covers every
/// encoding of the same signed part (another signature's bytes), and nothing else.
pub async fn token_revocation_covers_every_encoding_of_the_signed_part(
    b: Backend<impl ClaimsCache<StandardClaims>, impl ClaimsCache<StandardClaims>>,
    tag: &str,
) {
    let (cache, reader, stores, wait) = b.parts();
    // One reading of the clock for both, as above.
    let iat = now() - 10;
    let (k, s, t, e) = case(tag, "b", "bob", Some(iat), Some("jti-b"));
    let twin = fake_token(
        &format!("{tag}-b"),
        "bob",
        Some(iat),
        Some("jti-b"),
        "dHdpbg",
    );
    assert_ne!(TokenHash::of(&twin), k.token);
    assert_eq!(SignedHash::of(&twin), s);
    cache
        .put(&k, &s, e.clone(), TTL, Fill::Shared)
        .await
        .unwrap();
    assert!(stored(stores, &reader.get(&k, &t).await.unwrap()));
    assert!(!reader.is_revoked(&s, &e.meta).await.unwrap());
    cache.revoke(&Revocation::Token(s), TTL).await.unwrap();
    assert!(eventually!(
        wait,
        is_revoked_answer(&reader.get(&k, &t).await.unwrap())
    ));
    assert!(eventually!(
        wait,
        reader.is_revoked(&s, &e.meta).await.unwrap()
    ));
    let no_jti = TokenMeta {
        jti: None,
        ..e.meta.clone()
    };
    assert!(eventually!(
        wait,
        reader
            .is_revoked(&SignedHash::of(&twin), &no_jti)
            .await
            .unwrap()
    ));
    // The twin was never stored: a miss, whose revocation answer (if it carries one) says
    // revoked.
    match reader.get(&key(1, &twin), &twin).await.unwrap() {
        Lookup::Miss(None) | Lookup::Revoked => {}
        Lookup::Miss(Some(c)) => assert!(c.revoked),
        Lookup::Hit(_) | Lookup::Unchecked(_) => panic!("the twin was never stored"),
        other => panic!("an answer the suite does not know: {other:?}"),
    }
    // Another signed part with no other revoked id is not covered.
    assert!(
        !reader
            .is_revoked(&SignedHash::of("x.y.z"), &no_jti)
            .await
            .unwrap()
    );
}

/// A `jti` revocation covers exactly that `jti`.
pub async fn jti_revocation_covers_exactly_that_jti(
    b: Backend<impl ClaimsCache<StandardClaims>, impl ClaimsCache<StandardClaims>>,
    tag: &str,
) {
    let (cache, reader, stores, wait) = b.parts();
    let jti_c = format!("{tag}-jti-c");
    let (kc, sc, tc, ec) = case(tag, "c", "carol", Some(now() - 10), Some(&jti_c));
    let (kd, sd, td, ed) = case(tag, "d", "carol", Some(now() - 10), Some("other"));
    cache.put(&kc, &sc, ec, TTL, Fill::Shared).await.unwrap();
    cache.put(&kd, &sd, ed, TTL, Fill::Shared).await.unwrap();
    cache
        .revoke(&Revocation::Jti(jti_c.clone()), TTL)
        .await
        .unwrap();
    assert!(eventually!(
        wait,
        is_revoked_answer(&reader.get(&kc, &tc).await.unwrap())
    ));
    assert!(stored(stores, &reader.get(&kd, &td).await.unwrap()));
    // Looked up under another namespace: a miss; if the cache answers the revocation check
    // with it, the answer is "revoked".
    match reader.get(&key(3, &tc), &tc).await.unwrap() {
        Lookup::Miss(None) => {}
        Lookup::Miss(Some(c)) => assert!(c.revoked && c.jti.as_deref() == Some(jti_c.as_str())),
        other => panic!("expected a miss, got {other:?}"),
    }
}

/// A subject revocation covers that subject's tokens issued before T (or without `iat`);
/// later ones and other subjects stay.
pub async fn subject_revocation_covers_tokens_issued_before(
    b: Backend<impl ClaimsCache<StandardClaims>, impl ClaimsCache<StandardClaims>>,
    tag: &str,
) {
    let (cache, reader, stores, wait) = b.parts();
    let now = now();
    let sub = format!("{tag}-dave");
    let (ke, se, te, ee) = case(tag, "e", &sub, Some(now - 100), None);
    let (kf, sf, tf, ef) = case(tag, "f", &sub, Some(now + 5), None);
    let (kg, sg, tg, eg) = case(tag, "g", &sub, None, None);
    let (kh, sh, th, eh) = case(tag, "h", "someone-else", Some(now - 100), None);
    for (k, s, e) in [
        (&kf, &sf, ef),
        (&ke, &se, ee),
        (&kg, &sg, eg),
        (&kh, &sh, eh),
    ] {
        cache.put(k, s, e, TTL, Fill::Shared).await.unwrap();
    }
    let revocation = Revocation::Subject {
        sub: sub.clone(),
        issued_before: now,
    };
    cache.revoke(&revocation, TTL).await.unwrap();
    assert!(eventually!(
        wait,
        is_revoked_answer(&reader.get(&ke, &te).await.unwrap())
    ));
    assert!(stored(stores, &reader.get(&kf, &tf).await.unwrap()));
    assert!(eventually!(
        wait,
        is_revoked_answer(&reader.get(&kg, &tg).await.unwrap())
    ));
    assert!(stored(stores, &reader.get(&kh, &th).await.unwrap()));
    let x = SignedHash::of("x.y.z");
    assert!(
        !reader
            .is_revoked(&x, &entry(&sub, Some(now + 5), None).meta)
            .await
            .unwrap()
    );
    assert!(eventually!(
        wait,
        reader
            .is_revoked(&x, &entry(&sub, Some(now - 5), None).meta)
            .await
            .unwrap()
    ));
}

/// An entry and a revocation with a short TTL are gone after it.
pub async fn entries_and_revocations_expire(
    b: Backend<impl ClaimsCache<StandardClaims>, impl ClaimsCache<StandardClaims>>,
    tag: &str,
) {
    let (cache, reader, stores, wait) = b.parts();
    let short = Duration::from_millis(1100);
    let (ki, si, ti, ei) = case(
        tag,
        "i",
        "ivan",
        Some(now() - 10),
        Some(&format!("{tag}-jti-i")),
    );
    cache.put(&ki, &si, ei, short, Fill::Shared).await.unwrap();
    let (kj, sj, tj, ej) = case(tag, "j", "judy", Some(now() - 10), None);
    cache.put(&kj, &sj, ej, TTL, Fill::Shared).await.unwrap();
    cache.revoke(&Revocation::Token(sj), short).await.unwrap();
    assert!(stored(stores, &reader.get(&ki, &ti).await.unwrap()));
    assert!(eventually!(
        wait,
        is_revoked_answer(&reader.get(&kj, &tj).await.unwrap())
    ));
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert!(is_miss(&reader.get(&ki, &ti).await.unwrap()));
    assert!(stored(stores, &reader.get(&kj, &tj).await.unwrap()));
}
