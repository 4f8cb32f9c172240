// Caching behaviour of the layer: hits, TTL bounded by exp, validator namespaces, single-flight,
// revocation, optional auth, unavailable validators, key rotation, rejection hook, token
// sources. Included by `tests/layer.rs` (the tower `JwtCacheLayer`) and
// `tests/layer_tower_http.rs` (tower-http's `AsyncRequireAuthorizationLayer` with a
// `JwtAuthorizer` made from the same layer), each defining `stack`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use jwt_cache::cache::{CacheKey, Lookup, Revocation, SignedHash};
use jwt_cache::validator::{TokenMeta, ValidatedToken};
use jwt_cache::{CacheError, ClaimsCache, JwtCacheLayer, MemoryCache, Rejection, StandardClaims};
use jwt_cache_tests::{AUD, CountingValidator, claims, now, rs256, rs256_validator};
use serde_json::json;

#[tokio::test]
async fn second_request_is_a_cache_hit() {
    let v = CountingValidator::new(rs256_validator(AUD));
    let s = stack(JwtCacheLayer::builder(v.clone()).build());
    let token = rs256(&claims("alice"));
    for _ in 0..5 {
        let r = s.send(Some(&token)).await;
        assert_eq!((r.status.as_u16(), r.body.as_str()), (200, "alice"));
    }
    assert_eq!(v.calls(), 1, "one validation, four hits");
    assert_eq!(s.inner_calls(), 5);
}

#[tokio::test]
async fn cached_entry_never_outlives_the_token() {
    let v = CountingValidator::new(rs256_validator(AUD));
    let cache = MemoryCache::<StandardClaims>::new(100);
    let s = stack(
        JwtCacheLayer::builder(v.clone())
            .cache(cache.clone())
            .ttl(Duration::from_secs(600))
            .build(),
    );
    let mut c = claims("short");
    c["exp"] = json!(now() + 2);
    let token = rs256(&c);
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert_eq!(v.calls(), 1);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = s.send(Some(&token)).await;
    assert_eq!(r.status, 401);
    assert!(r.challenge.unwrap().contains("token expired"));
    // The entry had expired by itself (TTL = exp - now, not 600 s): the lookup missed and the
    // validator was asked again.
    assert_eq!(v.calls(), 2);
}

#[tokio::test]
async fn a_hit_is_rechecked_against_the_clock() {
    // An entry planted with a long TTL for a token whose exp has passed: the hit is refused
    // without asking the validator (clock drift defeats TTL-only bounds).
    let v = CountingValidator::new(rs256_validator(AUD));
    let cache = MemoryCache::<StandardClaims>::new(100);
    let layer = JwtCacheLayer::builder(v.clone())
        .cache(cache.clone())
        .build();
    let auth = layer.authenticator().clone();
    let s = stack(layer);
    let token = rs256(&claims("drift"));
    let key = auth.cache_key(&token);
    let mut meta = TokenMeta {
        exp: Some(now() - 5),
        sub: Some("drift".into()),
        key: None,
        ..Default::default()
    };
    let planted = |meta: TokenMeta| {
        Arc::new(ValidatedToken {
            claims: Arc::new(serde_json::from_value::<StandardClaims>(claims("drift")).unwrap()),
            meta,
        })
    };
    cache.put_now(
        &key,
        &SignedHash::of(&token),
        planted(meta.clone()),
        Duration::from_secs(600),
    );
    let r = s.send(Some(&token)).await;
    assert_eq!(r.status, 401);
    assert!(r.challenge.unwrap().contains("token expired"));
    meta.exp = Some(now() + 600);
    meta.nbf = Some(now() + 300);
    cache.put_now(
        &key,
        &SignedHash::of(&token),
        planted(meta),
        Duration::from_secs(600),
    );
    let r = s.send(Some(&token)).await;
    assert!(r.challenge.unwrap().contains("not yet valid"));
    assert_eq!(v.calls(), 0);
}

#[tokio::test]
async fn services_with_different_audiences_sharing_a_cache_never_accept_each_others_tokens() {
    let cache = MemoryCache::<StandardClaims>::new(1000);
    let content = stack(
        JwtCacheLayer::builder(rs256_validator("content"))
            .cache(cache.clone())
            .build(),
    );
    let billing = stack(
        JwtCacheLayer::builder(rs256_validator("billing"))
            .cache(cache.clone())
            .build(),
    );
    let token = rs256(&claims("alice")); // aud = content
    assert_eq!(content.send(Some(&token)).await.status, 200);
    assert_eq!(content.send(Some(&token)).await.status, 200);
    assert_eq!(cache.len(), 1);
    // The same bytes, now cached by `content`, are still refused by `billing`.
    for _ in 0..2 {
        let r = billing.send(Some(&token)).await;
        assert_eq!(r.status, 401);
        assert!(r.challenge.unwrap().contains("wrong audience"));
    }
    // A token for both audiences is cached once per validator.
    let mut both = claims("bob");
    both["aud"] = json!(["content", "billing"]);
    let token = rs256(&both);
    assert_eq!(content.send(Some(&token)).await.status, 200);
    assert_eq!(billing.send(Some(&token)).await.status, 200);
    assert_eq!(cache.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cold_requests_run_one_validation() {
    let v = CountingValidator::new(rs256_validator(AUD)).with_delay(Duration::from_millis(200));
    let s = stack(JwtCacheLayer::builder(v.clone()).build());
    let token = rs256(&claims("herd"));
    let other = rs256(&claims("other"));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = s.clone();
        let t = if i % 16 == 0 {
            other.clone()
        } else {
            token.clone()
        };
        tasks.push(tokio::spawn(async move { s.send(Some(&t)).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().status, 200);
    }
    assert_eq!(v.calls(), 2, "one validation per distinct token");
    assert_eq!(s.inner_calls(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_validation_does_not_wedge_the_token() {
    let v = CountingValidator::new(rs256_validator(AUD)).with_delay(Duration::from_millis(300));
    let s = stack(JwtCacheLayer::builder(v.clone()).build());
    let token = rs256(&claims("cancel"));
    // Every waiter gives up before the validation finishes.
    let r = tokio::time::timeout(Duration::from_millis(50), s.send(Some(&token))).await;
    assert!(r.is_err());
    // The next request starts a fresh validation and succeeds.
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert_eq!(v.calls(), 2);
}

#[tokio::test]
async fn revocation_by_token_jti_and_subject() {
    let v = CountingValidator::new(rs256_validator(AUD));
    let layer = JwtCacheLayer::builder(v.clone()).build();
    let auth = layer.authenticator().clone();
    let s = stack(layer);

    // By token: cached first, then revoked; a different token of the same user still works.
    let t1 = rs256(&claims("alice"));
    let mut c2 = claims("alice");
    c2["jti"] = json!("another");
    let t2 = rs256(&c2);
    assert_eq!(s.send(Some(&t1)).await.status, 200);
    auth.revoke_token(&t1).await.unwrap();
    let r = s.send(Some(&t1)).await;
    assert_eq!(r.status, 401);
    assert!(r.challenge.unwrap().contains("token revoked"));
    assert_eq!(s.send(Some(&t2)).await.status, 200);

    // By jti, before the token was ever seen (miss path) and after (hit path).
    let mut c = claims("bob");
    c["jti"] = json!("jti-bob-1");
    let tb = rs256(&c);
    assert_eq!(s.send(Some(&tb)).await.status, 200);
    auth.revoke_jti("jti-bob-1").await.unwrap();
    assert_eq!(s.send(Some(&tb)).await.status, 401);
    let mut c = claims("bob2");
    c["jti"] = json!("jti-bob-2");
    auth.revoke_jti("jti-bob-2").await.unwrap();
    assert_eq!(s.send(Some(&rs256(&c))).await.status, 401);

    // By subject: tokens issued before T are refused, tokens issued after pass.
    let mut old = claims("carol");
    old["iat"] = json!(now() - 60);
    let old = rs256(&old);
    assert_eq!(s.send(Some(&old)).await.status, 200);
    auth.revoke_subject("carol", SystemTime::now() - Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(s.send(Some(&old)).await.status, 401);
    let fresh = rs256(&claims("carol"));
    assert_eq!(s.send(Some(&fresh)).await.status, 200);
    assert_eq!(s.send(Some(&rs256(&claims("dave")))).await.status, 200);
}

#[tokio::test]
async fn optional_mode() {
    let s = stack(
        JwtCacheLayer::builder(rs256_validator(AUD))
            .optional(true)
            .build(),
    );
    let r = s.send(None).await;
    assert_eq!((r.status.as_u16(), r.body.as_str()), (200, "anonymous"));
    let r = s.send(Some(&rs256(&claims("alice")))).await;
    assert_eq!((r.status.as_u16(), r.body.as_str()), (200, "alice"));
    let r = s.send(Some("not.a.jwt")).await;
    assert_eq!(r.status, 401);
    let r = s.send_headers(&[b"Bearer"]).await;
    assert_eq!(r.status, 401);
    assert_eq!(s.inner_calls(), 2);
}

#[tokio::test]
async fn an_unavailable_validator_gives_503_is_not_cached_and_cached_tokens_keep_working() {
    let v = CountingValidator::new(rs256_validator(AUD));
    let s = stack(JwtCacheLayer::builder(v.clone()).build());
    let known = rs256(&claims("known"));
    assert_eq!(s.send(Some(&known)).await.status, 200);

    v.down.store(true, Ordering::SeqCst);
    let fresh = rs256(&claims("fresh"));
    for _ in 0..2 {
        let r = s.send(Some(&fresh)).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.challenge, None);
    }
    assert_eq!(v.calls(), 3, "a transient failure is never cached");
    // The token validated before the outage is served from the cache.
    assert_eq!(s.send(Some(&known)).await.status, 200);
    assert_eq!(v.calls(), 3);

    v.down.store(false, Ordering::SeqCst);
    assert_eq!(s.send(Some(&fresh)).await.status, 200);
}

#[tokio::test]
async fn a_key_removed_from_the_key_set_takes_its_cached_validations_with_it() {
    let v = CountingValidator::new(rs256_validator(AUD));
    let s = stack(JwtCacheLayer::builder(v.clone()).build());
    let token = rs256(&claims("rot"));
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert_eq!(v.calls(), 1);
    v.key_current.store(false, Ordering::SeqCst);
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert_eq!(
        v.calls(),
        2,
        "the hit was dropped and the token validated afresh"
    );
}

#[tokio::test]
async fn tokens_without_exp_are_cached_only_on_opt_in() {
    let token = {
        let mut c = claims("noexp");
        c.as_object_mut().unwrap().remove("exp");
        rs256(&c)
    };
    for (opt_in, expected_calls) in [(false, 3), (true, 1)] {
        let v = CountingValidator::new(rs256_validator(AUD).required_claims(&[]));
        let s = stack(
            JwtCacheLayer::builder(v.clone())
                .cache_tokens_without_exp(opt_in)
                .build(),
        );
        for _ in 0..3 {
            assert_eq!(s.send(Some(&token)).await.status, 200);
        }
        assert_eq!(v.calls(), expected_calls, "opt in: {opt_in}");
    }
}

#[tokio::test]
async fn custom_rejection_hook() {
    let layer = JwtCacheLayer::builder(rs256_validator(AUD))
        .build()
        .on_rejection(|r: Rejection| {
            http::Response::builder()
                .status(r.status())
                .header("content-type", "application/json")
                .body(format!("{{\"error\":\"{}\"}}", r.description()))
                .unwrap()
        });
    let s = stack(layer);
    let r = s.send(Some("a.b.c")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, r#"{"error":"malformed token"}"#);
}

/// A cache whose every operation fails, like an unreachable backend.
struct BrokenCache;

#[async_trait]
impl ClaimsCache<StandardClaims> for BrokenCache {
    async fn get(&self, _: &CacheKey, _: &str) -> Result<Lookup<StandardClaims>, CacheError> {
        Err(CacheError::Backend("down".into()))
    }
    async fn put(
        &self,
        _: &CacheKey,
        _: &SignedHash,
        _: Arc<ValidatedToken<StandardClaims>>,
        _: Duration,
        _: jwt_cache::cache::Fill,
    ) -> Result<(), CacheError> {
        Err(CacheError::Timeout)
    }
    async fn remove(&self, _: &CacheKey) -> Result<(), CacheError> {
        Err(CacheError::Timeout)
    }
    async fn is_revoked(&self, _: &SignedHash, _: &TokenMeta) -> Result<bool, CacheError> {
        Err(CacheError::Timeout)
    }
    async fn revoke(&self, _: &Revocation, _: Duration) -> Result<(), CacheError> {
        Err(CacheError::Timeout)
    }
}

#[tokio::test]
async fn a_failing_cache_falls_back_to_direct_validation() {
    // A remote validator: lookup first (fails), validate, revocation check (fails), no write
    // of what could not be checked. A local one: validate first, revocation check (fails).
    for (remote, errors) in [(true, 6), (false, 3)] {
        let v = CountingValidator::new(rs256_validator(AUD));
        let v = if remote { v.remote() } else { v };
        let layer = JwtCacheLayer::builder(v.clone()).cache(BrokenCache).build();
        let auth = layer.authenticator().clone();
        let s = stack(layer);
        let token = rs256(&claims("alice"));
        for _ in 0..3 {
            assert_eq!(s.send(Some(&token)).await.status, 200);
        }
        assert_invalid(&s.send(Some(&rs256(&json!({"sub": "x"})))).await);
        assert_eq!(v.calls(), 4);
        let expected = errors + if remote { 1 } else { 0 };
        assert_eq!(auth.stats().cache_errors(), expected, "remote: {remote}");
    }
}

fn assert_invalid(r: &jwt_cache_tests::harness::Reply) {
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code().as_deref(), Some("invalid_token"));
}

#[tokio::test]
async fn claims_of_a_custom_type() {
    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
    struct Mine {
        sub: String,
        tenant: String,
    }
    let layer = jwt_cache::JwtCacheBuilder::<Mine>::new(rs256_validator(AUD)).build();
    let auth = layer.authenticator().clone();
    let mut c = claims("t");
    c["tenant"] = json!("acme");
    let got = auth.authenticate(&rs256(&c)).await.unwrap();
    assert_eq!(got.tenant, "acme");
    // A token whose claims do not fit the type is malformed, not accepted.
    let err = auth.authenticate(&rs256(&claims("t"))).await.unwrap_err();
    assert!(matches!(err, Rejection::InvalidToken(_)));
    // The claims type is part of the cache namespace.
    let standard = jwt_cache::Authenticator::<StandardClaims>::new(rs256_validator(AUD));
    assert_ne!(auth.fingerprint(), standard.fingerprint());
}

#[tokio::test]
async fn a_revoked_token_is_not_cached_again() {
    let cache = MemoryCache::<StandardClaims>::new(100);
    let layer = JwtCacheLayer::builder(rs256_validator(AUD))
        .cache(cache.clone())
        .build();
    let auth = layer.authenticator().clone();
    let s = stack(layer);
    let token = rs256(&claims("alice"));
    let key = auth.cache_key(&token);
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert!(matches!(cache.lookup(&key), Lookup::Hit(_)));
    auth.revoke_token(&token).await.unwrap();
    assert!(
        matches!(cache.lookup(&key), Lookup::Miss(None)),
        "revoking removes the entry"
    );
    assert_eq!(s.send(Some(&token)).await.status, 401);
    assert!(
        matches!(cache.lookup(&key), Lookup::Miss(None)),
        "the refused token was validated but not cached again"
    );
}

#[tokio::test]
async fn a_hung_validator_gives_503_after_the_validation_timeout() {
    let v = CountingValidator::new(rs256_validator(AUD)).with_delay(Duration::from_secs(30));
    let s = stack(
        JwtCacheLayer::builder(v)
            .validation_timeout(Duration::from_millis(100))
            .build(),
    );
    let t0 = std::time::Instant::now();
    let r = s.send(Some(&rs256(&claims("slow")))).await;
    assert_eq!(r.status, 503);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn the_claims_type_is_part_of_the_cache_namespace() {
    use jwt_cache_tests::schemas::{Lenient, Strict};
    // Same validator, different claims types: different namespaces (redis.rs shows the
    // consequence on a shared Redis).
    let lenient =
        jwt_cache::JwtCacheBuilder::<Lenient>::new(rs256_validator(AUD)).build_authenticator();
    let strict =
        jwt_cache::JwtCacheBuilder::<Strict>::new(rs256_validator(AUD)).build_authenticator();
    assert_ne!(lenient.fingerprint(), strict.fingerprint());
    // The same schema under an explicit id shares the namespace.
    let a = jwt_cache::JwtCacheBuilder::<Lenient>::new(rs256_validator(AUD))
        .claims_id("claims-v1")
        .build_authenticator();
    let b = jwt_cache::JwtCacheBuilder::<Strict>::new(rs256_validator(AUD))
        .claims_id("claims-v1")
        .build_authenticator();
    assert_eq!(a.fingerprint(), b.fingerprint());
}

#[tokio::test]
async fn tokens_from_a_cookie_or_a_custom_header_and_ambiguity_refused() {
    let layer = JwtCacheLayer::builder(rs256_validator(AUD))
        .token_from_cookie("access_token")
        .token_from_header("X-Access-Token")
        .build();
    let s = stack(layer);
    let token = rs256(&claims("alice"));
    let bearer = format!("Bearer {token}");
    let cookie = format!("theme=dark; access_token={token}; lang=en");
    // Each source alone.
    assert_eq!(s.send(Some(&token)).await.body, "alice");
    assert_eq!(
        s.send_with(&[("cookie", cookie.as_bytes())]).await.body,
        "alice"
    );
    let quoted = format!("access_token=\"{token}\"");
    assert_eq!(
        s.send_with(&[("cookie", quoted.as_bytes())]).await.body,
        "alice"
    );
    assert_eq!(
        s.send_with(&[("x-access-token", token.as_bytes())])
            .await
            .body,
        "alice"
    );
    // Two places, two cookies, two custom headers: refused as ambiguous, never resolved.
    let other = rs256(&claims("mallory"));
    let two_cookies = format!("access_token={token}; access_token={other}");
    for headers in [
        vec![
            ("authorization", bearer.as_bytes()),
            ("cookie", cookie.as_bytes()),
        ],
        vec![
            ("x-access-token", token.as_bytes()),
            ("cookie", cookie.as_bytes()),
        ],
        vec![("cookie", two_cookies.as_bytes())],
        vec![
            ("x-access-token", token.as_bytes()),
            ("x-access-token", other.as_bytes()),
        ],
    ] {
        let r = s.send_with(&headers).await;
        assert_eq!(r.status, 401, "{headers:?}");
        assert_eq!(r.error_code().as_deref(), Some("invalid_request"));
        assert!(r.challenge.unwrap().contains("more than one place"));
    }
    // The same checks on every source: garbage in a cookie is refused like garbage in a header.
    let r = s
        .send_with(&[("cookie", b"access_token=not.a.jwt!".as_slice())])
        .await;
    assert_eq!(r.status, 401);
    let r = s
        .send_with(&[("cookie", b"access_token=a.b.c".as_slice())])
        .await;
    assert_eq!(r.error_code().as_deref(), Some("invalid_token"));
    // Other cookies alone: no token.
    let r = s.send_with(&[("cookie", b"theme=dark".as_slice())]).await;
    assert_eq!((r.status.as_u16(), r.error_code()), (401, None));
    assert_eq!(s.inner_calls(), 4);
}

#[tokio::test]
async fn the_bearer_header_can_be_turned_off() {
    let layer = JwtCacheLayer::builder(rs256_validator(AUD))
        .bearer_header(false)
        .token_from_cookie("session")
        .build();
    let s = stack(layer);
    let token = rs256(&claims("alice"));
    let r = s.send(Some(&token)).await;
    assert_eq!((r.status.as_u16(), r.error_code()), (401, None), "ignored");
    let cookie = format!("session={token}");
    assert_eq!(
        s.send_with(&[("cookie", cookie.as_bytes())]).await.body,
        "alice"
    );
}

#[tokio::test]
async fn a_missing_scope_or_role_is_a_403_insufficient_scope() {
    use jwt_cache::middleware::RequireScope;
    use tower::{ServiceBuilder, ServiceExt};
    let svc = |req: RequireScope<StandardClaims>| {
        ServiceBuilder::new()
            .layer(JwtCacheLayer::builder(rs256_validator(AUD)).build())
            .layer(req)
            .service_fn(|_req: http::Request<String>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
            })
    };
    let send = |svc, token: String| async move {
        let req = http::Request::builder()
            .header("authorization", format!("Bearer {token}"))
            .body(String::new())
            .unwrap();
        ServiceExt::<http::Request<String>>::oneshot(svc, req)
            .await
            .unwrap()
    };
    let reader = rs256(&{
        let mut c = claims("reader");
        c["scope"] = json!("read write");
        c
    });
    let admin = rs256(&{
        let mut c = claims("boss");
        c["roles"] = json!(["admin"]);
        c
    });
    let ok = send(svc(RequireScope::scope("write")), reader.clone()).await;
    assert_eq!(ok.status(), 200);
    let refused = send(svc(RequireScope::scope("admin:write")), reader.clone()).await;
    assert_eq!(refused.status(), 403);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"admin:write\""), "{challenge}");
    assert_eq!(
        send(svc(RequireScope::role("admin")), admin.clone())
            .await
            .status(),
        200
    );
    assert_eq!(
        send(svc(RequireScope::role("admin")), reader)
            .await
            .status(),
        403
    );
}
