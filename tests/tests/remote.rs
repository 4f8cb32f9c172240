//! Remote validation against a real issuer on loopback (`examples/issuer`): RFC 7662
//! introspection (active, inactive, endpoint down, client authentication, opaque and
//! client-credentials tokens, the cache in front) and an auth service behind `FnValidator`
//! going down.

use std::time::{Duration, Instant};

use http::StatusCode;
use jwt_cache::validator::{ClientAuth, FnValidator, IntrospectionValidator, ValidatedToken};
use jwt_cache::{JwtCacheLayer, MemoryCache, StandardClaims, ValidationError};
use jwt_cache_example_issuer::Issuer;
use jwt_cache_tests::harness::Stack;

fn introspection(base: &str) -> IntrospectionValidator<StandardClaims> {
    IntrospectionValidator::builder(format!("{base}/introspect"))
        .client_credentials("demo", "demo-secret")
        .token_type_hint("access_token")
        .audience("jwt-cache-demo")
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn cached<V: jwt_cache::TokenValidator<StandardClaims>>(validator: V) -> Stack {
    Stack::new(
        JwtCacheLayer::builder(validator)
            .cache(MemoryCache::new(1000))
            .ttl(Duration::from_secs(600))
            .build(),
    )
}

#[tokio::test]
async fn an_active_token_is_introspected_once_then_served_from_the_cache() {
    let (issuer, base) = Issuer::spawn(|_| {}).await.unwrap();
    let stack = cached(introspection(&base));
    let opaque = issuer.opaque_token(Some("alice"));
    let jwt = issuer.token("bob");
    for _ in 0..3 {
        let r = stack.send(Some(&opaque)).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (StatusCode::OK, "alice"),
            "{r:?}"
        );
    }
    assert_eq!(
        issuer.stats().introspections,
        1,
        "the second request makes no call"
    );
    let r = stack.send(Some(&jwt)).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "bob"),
        "{r:?}"
    );
    assert_eq!(issuer.stats().introspections, 2);
}

#[tokio::test]
async fn an_inactive_token_is_401_and_never_cached_as_valid() {
    let (issuer, base) = Issuer::spawn(|_| {}).await.unwrap();
    let stack = cached(introspection(&base));
    let token = issuer.opaque_token(Some("alice"));
    issuer.revoke(&token);
    let r = stack.send(Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert_eq!(r.error_code().as_deref(), Some("invalid_token"));
    assert!(r.challenge.unwrap().contains("token not active"));
    // A token the server never issued.
    let r = stack.send(Some("never-issued-0123456789")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    // Not-base64token input is still a 400-class invalid_request, and never reaches the server.
    let calls = issuer.stats().introspections;
    let r = stack.send_headers(&[b"Bearer a b"]).await;
    assert_eq!(r.error_code().as_deref(), Some("invalid_request"), "{r:?}");
    assert_eq!(issuer.stats().introspections, calls);
}

#[tokio::test]
async fn endpoint_down_is_503_never_invalid_and_cached_tokens_keep_working() {
    let (issuer, base) = Issuer::spawn(|_| {}).await.unwrap();
    let stack = cached(introspection(&base));
    let cached_token = issuer.opaque_token(Some("alice"));
    assert_eq!(stack.send(Some(&cached_token)).await.status, StatusCode::OK);

    issuer.set_failing(true);
    let new = issuer.opaque_token(Some("bob"));
    let r = stack.send(Some(&new)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    assert_eq!(stack.send(Some(&cached_token)).await.status, StatusCode::OK);

    // Slow beyond the timeout: 503 within it, no hang.
    issuer.set_failing(false);
    issuer.set_delay(Duration::from_secs(5));
    let started = Instant::now();
    let r = stack.send(Some(&new)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Back: the unavailable answer was not cached as a refusal.
    issuer.set_delay(Duration::ZERO);
    let r = stack.send(Some(&new)).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "bob"),
        "{r:?}"
    );
}

#[tokio::test]
async fn wrong_client_credentials_are_an_outage_not_an_invalid_token_and_post_auth_works() {
    let (issuer, base) = Issuer::spawn(|_| {}).await.unwrap();
    let token = issuer.opaque_token(Some("alice"));
    let wrong = IntrospectionValidator::<StandardClaims>::builder(format!("{base}/introspect"))
        .client_credentials("demo", "not-the-secret")
        .build()
        .unwrap();
    let r = cached(wrong).send(Some(&token)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");

    let post = IntrospectionValidator::<StandardClaims>::builder(format!("{base}/introspect"))
        .client_credentials("demo", "demo-secret")
        .client_auth(ClientAuth::Post)
        .audience("jwt-cache-demo")
        .build()
        .unwrap();
    let r = cached(post).send(Some(&token)).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "alice"),
        "{r:?}"
    );
}

#[tokio::test]
async fn client_credentials_tokens_without_a_user_are_accepted_and_issuer_audience_are_checked() {
    let (issuer, base) = Issuer::spawn(|_| {}).await.unwrap();
    let machine = issuer.opaque_token(None);
    let r = cached(introspection(&base)).send(Some(&machine)).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, ""), "{r:?}");

    let strict = IntrospectionValidator::<StandardClaims>::builder(format!("{base}/introspect"))
        .client_credentials("demo", "demo-secret")
        .issuer(base.clone())
        .audience("another-service")
        .build()
        .unwrap();
    let r = cached(strict).send(Some(&machine)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert!(r.challenge.unwrap().contains("wrong audience"));

    let wrong_iss = IntrospectionValidator::<StandardClaims>::builder(format!("{base}/introspect"))
        .client_credentials("demo", "demo-secret")
        .issuer("https://elsewhere.example")
        .build()
        .unwrap();
    let r = cached(wrong_iss).send(Some(&machine)).await;
    assert!(r.challenge.unwrap().contains("wrong issuer"));
}

#[tokio::test]
async fn a_cached_introspection_lives_no_longer_than_the_exp_it_returned() {
    let (issuer, base) = Issuer::spawn(|c| c.token_lifetime = Duration::from_secs(2))
        .await
        .unwrap();
    let stack = cached(introspection(&base));
    let token = issuer.opaque_token(Some("alice"));
    assert_eq!(stack.send(Some(&token)).await.status, StatusCode::OK);
    assert_eq!(stack.send(Some(&token)).await.status, StatusCode::OK);
    assert_eq!(issuer.stats().introspections, 1);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let r = stack.send(Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    // What was stored lived until the answer's exp, no longer: the request past it was a
    // miss that asked the server again (an entry kept longer would have been a hit, and
    // within the 60 s leeway, accepted).
    assert_eq!(
        issuer.stats().introspections,
        2,
        "the cached answer outlived its exp"
    );
}

/// The design note's `validate_token` over HTTP, as a closure: here the issuer's introspection
/// endpoint called by hand, standing for any auth service.
fn auth_service(base: &str) -> impl jwt_cache::TokenValidator<StandardClaims> {
    let url = format!("{base}/introspect");
    let client = reqwest::Client::new();
    FnValidator::new(format!("auth-service {url}"), move |token: String| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let resp = client
                .post(&url)
                .basic_auth("demo", Some("demo-secret"))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .map_err(|e| ValidationError::Unavailable(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(ValidationError::Unavailable(resp.status().to_string()));
            }
            let body: serde_json::Value = resp
                .json()
                .await
                .map_err(|e| ValidationError::Unavailable(e.to_string()))?;
            if body["active"] != true {
                return Err(ValidationError::Inactive);
            }
            let claims: StandardClaims = serde_json::from_value(body.clone())
                .map_err(|e| ValidationError::Malformed(e.to_string()))?;
            let meta = jwt_cache::validator::TokenMeta {
                exp: body["exp"].as_u64(),
                sub: body["sub"].as_str().map(str::to_owned),
                ..Default::default()
            };
            Ok(ValidatedToken::new(claims, meta))
        }
    })
    .accept_opaque_tokens()
}

#[tokio::test]
async fn auth_service_down_cached_tokens_work_until_their_entries_expire_new_ones_get_503_in_time()
{
    let (issuer, base) = Issuer::spawn(|_| {}).await.unwrap();
    let stack = Stack::new(
        JwtCacheLayer::builder(auth_service(&base))
            .cache(MemoryCache::new(1000))
            .ttl(Duration::from_secs(1))
            .validation_timeout(Duration::from_millis(300))
            .build(),
    );
    let known = issuer.opaque_token(Some("alice"));
    assert_eq!(stack.send(Some(&known)).await.status, StatusCode::OK);
    assert_eq!(issuer.stats().introspections, 1);

    // The service hangs.
    issuer.set_delay(Duration::from_secs(30));
    let r = stack.send(Some(&known)).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "alice"),
        "{r:?}"
    );
    let started = Instant::now();
    let r = stack.send(Some(&issuer.opaque_token(Some("bob")))).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "503 after {took:?}, timeout 300 ms"
    );

    // The entry expires (ttl 1 s): with the service still down, the known token is now 503 too.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let started = Instant::now();
    let r = stack.send(Some(&known)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// The demo, configured as the README says, in front of the example issuer.
#[tokio::test]
async fn the_demo_validates_through_the_issuer_as_configured_by_its_environment() {
    use jwt_cache_example_support::{Vars, from_vars};
    let (issuer, base) = Issuer::spawn(|_| {}).await.unwrap();
    let jwks = format!("{base}/jwks");
    let introspect = format!("{base}/introspect");
    let configs: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("JWT_JWKS_URL", &jwks),
            ("JWT_ISSUER", &base),
            ("JWT_AUDIENCE", "jwt-cache-demo"),
        ],
        vec![
            ("JWT_ISSUER_URL", &base),
            ("JWT_AUDIENCE", "jwt-cache-demo"),
        ],
        vec![
            ("INTROSPECTION_URL", &introspect),
            ("INTROSPECTION_CLIENT_ID", "demo"),
            ("INTROSPECTION_CLIENT_SECRET", "demo-secret"),
            ("JWT_AUDIENCE", "jwt-cache-demo"),
        ],
    ];
    let client = reqwest::Client::new();
    for pairs in configs {
        let config = from_vars("demo", &Vars::from_pairs(pairs.clone()))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/me", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, jwt_cache_demo::app(config.auth, config.issuer))
                .await
                .unwrap()
        });
        let get = |token: String| client.get(&url).bearer_auth(token).send();
        let r = get(issuer.token("alice")).await.unwrap();
        assert_eq!(r.status(), 200, "{pairs:?}");
        let me: serde_json::Value = r.json().await.unwrap();
        assert_eq!(me["sub"], "alice", "{pairs:?}");
        let wrong = issuer.token_with("alice", serde_json::json!({ "aud": "elsewhere" }));
        if pairs[0].0 != "INTROSPECTION_URL" {
            assert_eq!(get(wrong).await.unwrap().status(), 401, "{pairs:?}");
        } else {
            // Introspection of an opaque token.
            let r = get(issuer.opaque_token(Some("bob"))).await.unwrap();
            assert_eq!(r.status(), 200, "{pairs:?}");
        }
    }
}

/// The fleet case: two instances share a Redis (tiered cache, integrity key). An opaque token
/// introspected by one is served by the other from Redis, without another introspection call;
/// a logout on one is refused by the other.
#[tokio::test]
async fn two_instances_share_one_introspection_through_the_tiered_cache() {
    use jwt_cache_redis::{RedisCache, TieredCache};
    let Some(server) = jwt_cache_tests::redis::RedisServer::start() else {
        return;
    };
    let (issuer, base) = Issuer::spawn(|_| {}).await.unwrap();
    let mut instances = Vec::new();
    let mut l2s = Vec::new();
    for _ in 0..2 {
        let l2 = RedisCache::connect(&server.url())
            .await
            .unwrap()
            .integrity_key(&jwt_cache_tests::integrity_key(9))
            .unwrap()
            .build();
        l2s.push(l2.clone());
        let tiered = TieredCache::builder(l2).start().await.unwrap();
        let layer = JwtCacheLayer::builder(introspection(&base))
            .cache(tiered)
            .ttl(Duration::from_secs(600))
            .build();
        instances.push((layer.authenticator().clone(), Stack::new(layer)));
    }
    let token = issuer.opaque_token(Some("alice"));
    let r = instances[0].1.send(Some(&token)).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "alice"),
        "{r:?}"
    );
    assert_eq!(issuer.stats().introspections, 1);
    // The fill is fire-and-forget: wait for the entry to reach Redis.
    let key = l2s[0].entry_key(&instances[0].0.cache_key(&token));
    jwt_cache_tests::redis::wait_for_key(l2s[0].client(), &key).await;
    // The second instance serves it from Redis, with no call of its own.
    for _ in 0..5 {
        let r = instances[1].1.send(Some(&token)).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (StatusCode::OK, "alice"),
            "{r:?}"
        );
    }
    assert_eq!(
        issuer.stats().introspections,
        1,
        "served from Redis, not introspected again"
    );

    // Logout on the first instance; the second refuses the token too.
    instances[0].0.revoke_token(&token).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let r = instances[1].1.send(Some(&token)).await;
        if r.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still accepted after a logout elsewhere: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logout with an opaque token: nothing can be read from the token, so its `jti` (and `exp`)
/// come from its cached validation; the `jti` is revoked with it (a token re-issued with the
/// same `jti`, or the same grant as a JWT, is refused too).
#[tokio::test]
async fn logout_with_an_opaque_token_revokes_its_jti_from_the_cached_validation() {
    use jwt_cache::cache::{RevocationSet, SignedHash, now_ms};
    use jwt_cache::validator::TokenMeta;
    let (issuer, base) = Issuer::spawn(|_| {}).await.unwrap();
    let revocations = std::sync::Arc::new(RevocationSet::new());
    let layer = JwtCacheLayer::builder(introspection(&base))
        .cache(MemoryCache::with_revocations(1000, revocations.clone()))
        .build();
    let auth = layer.authenticator().clone();
    let stack = Stack::new(layer);
    let token = issuer.opaque_token(Some("alice"));
    assert_eq!(stack.send(Some(&token)).await.status, StatusCode::OK);
    // The jti the server holds for it.
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/introspect"))
        .basic_auth("demo", Some("demo-secret"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jti = answer["jti"].as_str().unwrap().to_owned();

    auth.revoke_token(&token).await.unwrap();
    assert_eq!(
        stack.send(Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let other_token_same_jti = TokenMeta {
        jti: Some(jti),
        ..TokenMeta::default()
    };
    assert!(
        revocations.is_revoked(
            &SignedHash::of("another-token"),
            &other_token_same_jti,
            now_ms()
        ),
        "the opaque token's jti was not revoked"
    );
}

#[test]
fn introspection_goes_over_https_or_to_loopback_unless_allowed() {
    let build = |url: &str| IntrospectionValidator::<StandardClaims>::builder(url).build();
    let err = build("http://auth.internal/introspect").unwrap_err();
    assert!(err.to_string().contains("https"), "{err}");
    assert!(build("https://auth.internal/introspect").is_ok());
    assert!(build("http://127.0.0.1:4000/introspect").is_ok());
    assert!(
        IntrospectionValidator::<StandardClaims>::builder("http://auth.internal/introspect")
            .allow_http()
            .build()
            .is_ok()
    );
}
