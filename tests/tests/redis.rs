//! RedisCache against a real redis-server on loopback (started by the tests): the acceptance
//! suite, two instances sharing one Redis, Redis killed / paused / returning garbage, and a
//! 3-master Redis Cluster.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::interfaces::{ClientLike, KeysInterface, MemoryInterface};
use jwt_cache::cache::SignedHash;
use jwt_cache::validator::{TokenMeta, ValidatedToken};
use jwt_cache::{ClaimsCache, JwtCacheLayer, JwtValidator, RevocationUnavailable, StandardClaims};
use jwt_cache_redis::{RedisCache, RedisCacheBuilder, TieredCache};
use jwt_cache_tests::harness::Stack;
use jwt_cache_tests::redis::{RedisCluster, RedisSentinel, RedisServer, wait_for_key};
use jwt_cache_tests::suite::{Backend, Stores};
use jwt_cache_tests::{AUD, CountingValidator, claims, rs256, rs256_validator};
use serde_json::json;

type Cache = RedisCache<StandardClaims>;
type Tiered = TieredCache<StandardClaims>;

/// The fleet-wide integrity key of these tests.
static SECRET: std::sync::LazyLock<[u8; 32]> =
    std::sync::LazyLock::new(|| jwt_cache_tests::integrity_key(3));

/// A builder with a generous timeout: these tests assert behaviour, not latency, on a noisy
/// machine.
async fn plain_builder(url: &str) -> RedisCacheBuilder<StandardClaims> {
    RedisCache::connect(url)
        .await
        .unwrap()
        .timeout(Duration::from_millis(500))
}

/// A cache that carries revocations only (no integrity key: the default).
async fn plain_cache(url: &str) -> Cache {
    plain_builder(url).await.build()
}

/// A builder for a cache that shares claims, authenticated under [`SECRET`].
async fn signed_builder(url: &str) -> RedisCacheBuilder<StandardClaims> {
    plain_builder(url).await.integrity_key(&*SECRET).unwrap()
}

/// A cache that shares claims, authenticated under [`SECRET`].
async fn cache(url: &str) -> Cache {
    signed_builder(url).await.build()
}

/// A counting validator that presents itself as remote (an auth service): the authenticator
/// looks Redis up first, and shared claims pay.
fn remote() -> CountingValidator<JwtValidator> {
    CountingValidator::new(rs256_validator(AUD)).remote()
}

/// Wait until the fire-and-forget write of `token`'s entry has landed.
async fn wait_for_entry(cache: &Cache, layer: &JwtCacheLayer<StandardClaims>, token: &str) {
    let key = cache.entry_key(&layer.authenticator().cache_key(token));
    wait_for_key(cache.client(), &key).await;
}

/// A layer with the counting validator `v` (see [`remote`]) over the Redis cache `c`, and a
/// stack over it.
fn stack_with(
    v: &CountingValidator<JwtValidator>,
    c: &Cache,
) -> (JwtCacheLayer<StandardClaims>, Stack) {
    let layer = JwtCacheLayer::builder(v.clone()).cache(c.clone()).build();
    (layer.clone(), Stack::new(layer))
}

// The acceptance suite, one named test per behaviour, on every topology and mode. Reads go
// through another client: what the suite sees comes from Redis.

type Made<K> = Option<Backend<K, Cache>>;

/// Two signed caches on the Redis at `url`, kept alive by `guard`.
async fn signed_pair(url: &str, guard: impl std::any::Any) -> Made<Cache> {
    Some(Backend::new(
        cache(url).await,
        cache(url).await,
        Stores::Claims,
        guard,
    ))
}

async fn redis_signed() -> Made<Cache> {
    let server = RedisServer::start()?;
    signed_pair(&server.url(), server).await
}

async fn redis_plain() -> Made<Cache> {
    let server = RedisServer::start()?;
    let url = server.url();
    Some(Backend::new(
        plain_cache(&url).await,
        plain_cache(&url).await,
        Stores::RevocationsOnly,
        server,
    ))
}

async fn redis_pool() -> Made<RedisCache<StandardClaims, fred::clients::Pool>> {
    let server = RedisServer::start()?;
    let url = server.url();
    let config = fred::types::config::Config::from_url(&url).unwrap();
    let pool = fred::types::Builder::from_config(config)
        .build_pool(2)
        .unwrap();
    pool.init().await.unwrap();
    let pooled = RedisCache::<StandardClaims, _>::builder(pool)
        .timeout(Duration::from_millis(500))
        .integrity_key(&*SECRET)
        .unwrap()
        .build();
    Some(Backend::new(
        pooled,
        cache(&url).await,
        Stores::Claims,
        server,
    ))
}

async fn redis_cluster() -> Made<Cache> {
    let cluster = RedisCluster::start(3)?;
    signed_pair(&cluster.url(), cluster).await
}

async fn redis_sentinel() -> Made<Cache> {
    let sentinel = RedisSentinel::start()?;
    signed_pair(&sentinel.url(), sentinel).await
}

/// Two instances of a tiered cache on one Redis: writes through one, reads through the other.
async fn tiered_pair(url: &str) -> (Tiered, Tiered) {
    let a = TieredCache::builder(cache(url).await)
        .start()
        .await
        .unwrap();
    let b = TieredCache::builder(cache(url).await)
        .start()
        .await
        .unwrap();
    (a, b)
}

async fn tiered() -> Option<Backend<Tiered, Tiered>> {
    let server = RedisServer::start()?;
    let (a, b) = tiered_pair(&server.url()).await;
    Some(Backend::new(a, b, Stores::Claims, server).propagation(Duration::from_millis(500)))
}

async fn tiered_cluster() -> Option<Backend<Tiered, Tiered>> {
    let cluster = RedisCluster::start(3)?;
    let (a, b) = tiered_pair(&cluster.url()).await;
    Some(Backend::new(a, b, Stores::Claims, cluster).propagation(Duration::from_millis(500)))
}

jwt_cache_tests::cache_suite!(suite_redis_signed, redis_signed);
jwt_cache_tests::cache_suite!(suite_redis_revocations_only, redis_plain);
jwt_cache_tests::cache_suite!(suite_redis_pool, redis_pool);
jwt_cache_tests::cache_suite!(suite_redis_cluster, redis_cluster);
jwt_cache_tests::cache_suite!(suite_redis_sentinel, redis_sentinel);
jwt_cache_tests::cache_suite!(suite_tiered, tiered);
jwt_cache_tests::cache_suite!(suite_tiered_cluster, tiered_cluster);

#[tokio::test]
async fn two_instances_share_validations_and_revocations() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (va, vb) = (remote(), remote());
    let (ca, cb) = (cache(&server.url()).await, cache(&server.url()).await);
    let la = JwtCacheLayer::builder(va.clone()).cache(ca.clone()).build();
    let lb = JwtCacheLayer::builder(vb.clone()).cache(cb.clone()).build();
    let (a, b) = (Stack::new(la.clone()), Stack::new(lb.clone()));

    let token = rs256(&claims("alice"));
    assert_eq!(a.send(Some(&token)).await.body, "alice");
    wait_for_entry(&ca, &la, &token).await;
    // Validated by A, a hit on B: B's validator is never asked.
    for _ in 0..3 {
        assert_eq!(b.send(Some(&token)).await.body, "alice");
    }
    assert_eq!((va.calls(), vb.calls()), (1, 0));

    // Revoked on A: rejected on B at its next request.
    la.authenticator().revoke_token(&token).await.unwrap();
    let r = b.send(Some(&token)).await;
    assert_eq!(r.status, 401);
    assert!(r.challenge.unwrap().contains("token revoked"));

    // Subject revocation on B reaches A, including tokens A has cached.
    let t2 = rs256(&{
        let mut c = claims("bob");
        c["iat"] = json!(jwt_cache_tests::now() - 30);
        c
    });
    assert_eq!(a.send(Some(&t2)).await.status, 200);
    wait_for_entry(&ca, &la, &t2).await;
    lb.authenticator()
        .revoke_subject("bob", std::time::SystemTime::now() - Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(a.send(Some(&t2)).await.status, 401);

    // A service with another audience on the same Redis never accepts A's cached tokens.
    let t3 = rs256(&claims("carol"));
    assert_eq!(a.send(Some(&t3)).await.status, 200);
    wait_for_entry(&ca, &la, &t3).await;
    let billing = Stack::new(
        JwtCacheLayer::builder(CountingValidator::new(rs256_validator("billing")).remote())
            .cache(cache(&server.url()).await)
            .build(),
    );
    let r = billing.send(Some(&t3)).await;
    assert_eq!(r.status, 401);
    assert!(r.challenge.unwrap().contains("wrong audience"));
}

#[tokio::test]
async fn redis_killed_then_restarted() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let v = remote();
    let c = signed_builder(&server.url())
        .await
        .timeout(Duration::from_millis(50))
        .circuit_breaker(3, Duration::from_millis(200))
        .build();
    let (layer, s) = stack_with(&v, &c);
    let token = rs256(&claims("alice"));
    assert_eq!(s.send(Some(&token)).await.status, 200);
    wait_for_entry(&c, &layer, &token).await;
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert_eq!(v.calls(), 1);

    server.kill();
    for i in 0..20 {
        let t0 = Instant::now();
        let ok = s.send(Some(&token)).await;
        let bad = s.send(Some(&rs256(&json!({"sub": "no-exp"})))).await;
        assert_eq!(ok.status, 200, "valid token still accepted (request {i})");
        assert_eq!(
            bad.status, 401,
            "invalid token still rejected (request {i})"
        );
        assert!(
            t0.elapsed() < Duration::from_millis(400),
            "no request hangs: {:?}",
            t0.elapsed()
        );
    }
    assert!(c.stats().errors() + c.stats().short_circuited() > 0);

    server.restart();
    // The client reconnects and hits resume. The restarted Redis is empty: one revalidation
    // refills it, then a request is answered from Redis (the validator is not asked).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let before = v.calls();
        assert_eq!(s.send(Some(&token)).await.status, 200);
        if v.calls() == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "hits never resumed after restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!c.breaker().is_open());
}

#[tokio::test]
async fn redis_paused_opens_the_breaker_and_resumed_closes_it() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let v = remote();
    // Long enough that "waited for the timeout" and "short-circuited" cannot be confused on a
    // loaded machine.
    let timeout = Duration::from_millis(150);
    let c = signed_builder(&server.url())
        .await
        .timeout(timeout)
        // A cooldown far longer than the steps between the breaker opening and the request
        // that must be short-circuited, so a stall of the machine cannot turn that request
        // into the probe; the recovery below polls for longer still.
        .circuit_breaker(3, Duration::from_secs(2))
        .build();
    let (layer, s) = stack_with(&v, &c);
    let token = rs256(&claims("alice"));
    assert_eq!(s.send(Some(&token)).await.status, 200);
    wait_for_entry(&c, &layer, &token).await;

    server.pause();
    let mut slowest = Duration::ZERO;
    for _ in 0..4 {
        let t0 = Instant::now();
        assert_eq!(s.send(Some(&token)).await.status, 200);
        slowest = slowest.max(t0.elapsed());
    }
    // A lookup and a revocation check may each wait out the timeout before the breaker opens.
    assert!(
        slowest < timeout * 2 + Duration::from_millis(150),
        "added latency bounded by the timeout: slowest {slowest:?}"
    );
    assert!(c.breaker().is_open(), "repeated timeouts open the breaker");
    assert!(c.stats().timeouts() >= 3);
    let short = c.stats().short_circuited();
    let t0 = Instant::now();
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert!(
        t0.elapsed() < timeout / 2,
        "an open breaker costs no Redis call: {:?}",
        t0.elapsed()
    );
    assert!(c.stats().short_circuited() > short);

    server.resume();
    // After the cooldown a probe goes through, succeeds, and closes the breaker; the entry is
    // still in Redis, so the request is a hit (the validator is not asked).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = v.calls();
        assert_eq!(s.send(Some(&token)).await.status, 200);
        if v.calls() == before && !c.breaker().is_open() {
            break;
        }
        assert!(Instant::now() < deadline, "breaker never closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn garbage_and_forged_values_are_misses() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let v = remote();
    let honest = cache(&server.url()).await;
    let layer = JwtCacheLayer::builder(v.clone())
        .cache(honest.clone())
        .build();
    let auth = layer.authenticator().clone();
    let s = Stack::new(layer);
    let token = rs256(&claims("alice"));
    let key = auth.cache_key(&token);
    let redis_key = honest.entry_key(&key);

    // Garbage under the token's key: each is a miss counted as a decode error, never a cache
    // error (a lookup that fails would cost a fallback, not a miss).
    for (i, garbage) in [
        &b"6{not msgpack"[..],
        b"5short",
        b"",
        b"\xff\xfe",
        b"1[{},{}]",
    ]
    .into_iter()
    .enumerate()
    {
        plant(honest.client(), redis_key.clone(), garbage.to_vec()).await;
        let (decode_errors, cache_errors) =
            (honest.stats().decode_errors(), auth.stats().cache_errors());
        let r = s.send(Some(&token)).await;
        assert_eq!((r.status.as_u16(), r.body.as_str()), (200, "alice"), "{i}");
        assert_eq!(honest.stats().decode_errors(), decode_errors + 1, "{i}");
        assert_eq!(auth.stats().cache_errors(), cache_errors, "{i}");
    }

    // Forged claims, signed with another secret.
    let forger = plain_builder(&server.url())
        .await
        .integrity_key(&jwt_cache_tests::integrity_key(1))
        .unwrap()
        .build();
    let forged = Arc::new(ValidatedToken {
        claims: Arc::new(
            serde_json::from_value::<StandardClaims>(json!({"sub": "alice", "scope": "admin"}))
                .unwrap(),
        ),
        meta: TokenMeta {
            exp: Some(jwt_cache_tests::now() + 3600),
            sub: Some("alice".into()),
            jti: jwt_cache::cache::unverified_meta(&token).unwrap().jti,
            key: auth_key_id(),
            ..Default::default()
        },
    });
    forger
        .put(
            &key,
            &SignedHash::of(&token),
            forged.clone(),
            Duration::from_secs(60),
            jwt_cache::cache::Fill::Shared,
        )
        .await
        .unwrap();
    // Well-formed: a cache holding the forger's secret would take it.
    match forger.get(&key, &token).await.unwrap() {
        jwt_cache::cache::Lookup::Hit(v) => assert_eq!(v.claims.scope.as_deref(), Some("admin")),
        other => panic!("the forged value should decode under its own secret: {other:?}"),
    }
    let decode_errors = honest.stats().decode_errors();
    let calls = v.calls();
    let got = auth.authenticate(&token).await.unwrap();
    assert_eq!(
        honest.stats().decode_errors(),
        decode_errors + 1,
        "refused by the tag check"
    );
    assert_eq!(got.scope, None, "the planted claims were not accepted");
    assert_eq!(
        v.calls(),
        calls + 1,
        "a forged value is a miss and the token was revalidated"
    );

    // A genuinely signed entry cut from another token's key and pasted under this one.
    let other = rs256(&claims("mallory"));
    assert_eq!(s.send(Some(&other)).await.body, "mallory");
    let other_key = honest.entry_key(&auth.cache_key(&other));
    wait_for_key(honest.client(), &other_key).await;
    let stolen: Vec<u8> = honest.client().get(other_key.clone()).await.unwrap();
    plant(honest.client(), redis_key.clone(), stolen).await;
    let decode_errors = honest.stats().decode_errors();
    assert_eq!(s.send(Some(&token)).await.body, "alice");
    assert_eq!(honest.stats().decode_errors(), decode_errors + 1);
}

/// The key identity `rs256_validator` gives its validations (what an honest entry names).
fn auth_key_id() -> Option<String> {
    let v: ValidatedToken<StandardClaims> = futures_block(jwt_cache::TokenValidator::validate(
        &rs256_validator(AUD),
        &rs256(&claims("k")),
    ))
    .unwrap();
    v.meta.key
}

fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    // A JwtValidator answers on its first poll.
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("a local validator waited"),
    }
}

/// `token` with its signature replaced by `other`'s: the same claims, not a valid token.
fn with_signature_of(token: &str, other: &str) -> String {
    let (signed, _) = token.rsplit_once('.').unwrap();
    let (_, sig) = other.rsplit_once('.').unwrap();
    format!("{signed}.{sig}")
}

/// Security issue, item 1: a value copied under the key a forged token hashes to logs nobody
/// in. Without an integrity key Redis carries no claims at all (nothing to copy, nothing read).
#[tokio::test]
async fn without_an_integrity_key_redis_serves_no_claims() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    let v = remote();
    let c = plain_cache(&url).await;
    assert!(!c.shares_claims());
    let (layer, s) = stack_with(&v, &c);
    let auth = layer.authenticator().clone();
    let a = rs256(&claims("alice"));
    assert_eq!(s.send(Some(&a)).await.body, "alice");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let entry = c.entry_key(&auth.cache_key(&a));
    assert_eq!(
        c.client().exists::<u32, _>(entry.clone()).await.unwrap(),
        0,
        "no claims written"
    );
    // A' = A's header and payload with another signature; A's value (as an unsigned cache
    // would have written it) copied under A''s key.
    let insecure = plain_builder(&url)
        .await
        .prefix("other:")
        .insecure_share_unsigned_claims()
        .build();
    let (il, is) = stack_with(&v, &insecure);
    assert_eq!(is.send(Some(&a)).await.body, "alice");
    let written = insecure.entry_key(&il.authenticator().cache_key(&a));
    wait_for_key(insecure.client(), &written).await;
    let value: Vec<u8> = insecure.client().get(written).await.unwrap();
    let forged = with_signature_of(&a, &rs256(&claims("zed")));
    plant(c.client(), c.entry_key(&auth.cache_key(&forged)), value).await;
    let r = s.send(Some(&forged)).await;
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.challenge.unwrap().contains("bad signature"));
    // Revocations are still shared.
    auth.revoke_token(&a).await.unwrap();
    let other = Stack::new(
        JwtCacheLayer::builder(remote())
            .cache(plain_cache(&url).await)
            .build(),
    );
    assert_eq!(other.send(Some(&a)).await.status, 401);
}

/// A remote validator behind a layer over a signed cache (entries live `ttl`), after one
/// request with a fresh token: the value Redis then holds, captured with its key.
struct Captured {
    v: CountingValidator<JwtValidator>,
    c: Cache,
    s: Stack,
    token: String,
    entry: String,
    value: Vec<u8>,
}

async fn capture(url: &str, ttl: Duration) -> Captured {
    let v = remote();
    let c = cache(url).await;
    let layer = JwtCacheLayer::builder(v.clone())
        .cache(c.clone())
        .ttl(ttl)
        .build();
    let s = Stack::new(layer.clone());
    let token = rs256(&claims("alice"));
    assert_eq!(s.send(Some(&token)).await.status, 200);
    let entry = c.entry_key(&layer.authenticator().cache_key(&token));
    wait_for_key(c.client(), &entry).await;
    let value: Vec<u8> = c.client().get(entry.clone()).await.unwrap();
    Captured {
        v,
        c,
        s,
        token,
        entry,
        value,
    }
}

/// Security issue, item 1: the HMAC binds the entry's absolute expiry: a captured value
/// replayed after its lifetime (re-set without a TTL) is refused.
#[tokio::test]
async fn a_signed_value_replayed_after_its_lifetime_is_refused() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let Captured {
        v,
        c,
        s,
        token,
        entry,
        value: captured,
        ..
    } = capture(&server.url(), Duration::from_secs(1)).await;
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert_eq!(v.calls(), 1, "a hit within the lifetime");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // Replayed, without a TTL.
    plant(c.client(), entry.clone(), captured).await;
    let decode_errors = c.stats().decode_errors();
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert_eq!(
        v.calls(),
        2,
        "the replayed value was a miss: validated again"
    );
    assert_eq!(c.stats().decode_errors(), decode_errors + 1);
}

/// The tag covers `not_after`: a captured value whose expiry is moved forward, tag kept, is a
/// miss, end to end (the `not_after` check alone would accept it).
#[tokio::test]
async fn a_signed_value_with_its_expiry_moved_forward_is_refused() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let Captured {
        v,
        c,
        s,
        token,
        entry,
        value: mut captured,
        ..
    } = capture(&server.url(), Duration::from_secs(1)).await;
    // version (1) | tag (32) | not_after (8, big-endian ms) | payload
    assert_eq!(captured[0], b'6', "a signed value");
    let later = jwt_cache::cache::now_ms() + 3_600_000;
    captured[33..41].copy_from_slice(&later.to_be_bytes());
    tokio::time::sleep(Duration::from_millis(1300)).await;
    plant(c.client(), entry.clone(), captured).await;
    let calls = v.calls();
    let decode_errors = c.stats().decode_errors();
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert_eq!(v.calls(), calls + 1, "the extended value was served");
    assert_eq!(c.stats().decode_errors(), decode_errors + 1);
}

/// A well-formed *unsigned* value (what a cache without the key writes: version `5`, the
/// real payload) planted under a cache that has an integrity key is a miss.
#[tokio::test]
async fn a_well_formed_unsigned_value_is_refused_by_a_cache_with_a_key() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let Captured {
        v,
        c,
        token,
        entry,
        value: signed,
        ..
    } = capture(&server.url(), Duration::from_secs(600)).await;
    let mut unsigned = vec![b'5'];
    unsigned.extend_from_slice(&signed[33..]);
    plant(c.client(), entry.clone(), unsigned).await;
    // A second instance (empty L1: the same process would answer from memory).
    let other = Stack::new(JwtCacheLayer::builder(v.clone()).cache(c.clone()).build());
    let calls = v.calls();
    assert_eq!(other.send(Some(&token)).await.status, 200);
    assert_eq!(v.calls(), calls + 1, "the unsigned value was served");
}

/// A remote validator over a cache that shares unsigned claims (the insecure opt-in), and a
/// stack over it.
async fn insecure_stack(
    url: &str,
) -> (
    CountingValidator<JwtValidator>,
    Cache,
    jwt_cache::Authenticator<StandardClaims>,
    Stack,
) {
    let v = remote();
    let c = plain_builder(url)
        .await
        .insecure_share_unsigned_claims()
        .build();
    let (layer, s) = stack_with(&v, &c);
    (v, c, layer.authenticator().clone(), s)
}

/// Security issue, item 1: an entry that names no signing key is never a hit for a validator
/// whose validations always name one (here under the insecure opt-in, where a hand-written
/// value decodes).
#[tokio::test]
async fn a_hand_written_entry_naming_no_key_is_refused() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (v, c, auth, s) = insecure_stack(&server.url()).await;
    let token = rs256(&claims("alice"));
    let forged = with_signature_of(&token, &rs256(&claims("zed")));
    let admin = Arc::new(ValidatedToken {
        claims: Arc::new(
            serde_json::from_value::<StandardClaims>(json!({"sub": "alice", "scope": "admin"}))
                .unwrap(),
        ),
        meta: TokenMeta {
            exp: Some(jwt_cache_tests::now() + 3600),
            sub: Some("alice".into()),
            jti: jwt_cache::cache::unverified_meta(&token).unwrap().jti,
            key: None,
            ..Default::default()
        },
    });
    c.put(
        &auth.cache_key(&forged),
        &SignedHash::of(&forged),
        admin,
        Duration::from_secs(60),
        jwt_cache::cache::Fill::Shared,
    )
    .await
    .unwrap();
    let r = s.send(Some(&forged)).await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(v.calls(), 1, "validated, not served from the planted entry");
}

/// Test-honesty issue, item 5: an entry copied from another token's key is refused because
/// its ids (`jti`, `sub`) do not match the token's, even where nothing else would catch it
/// (unsigned values under the insecure opt-in, the key that signed it still current).
#[tokio::test]
async fn an_entry_whose_ids_differ_from_the_tokens_is_refused() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (v, c, auth, s) = insecure_stack(&server.url()).await;
    let (alice, mallory) = (rs256(&claims("alice")), rs256(&claims("mallory")));
    assert_eq!(s.send(Some(&mallory)).await.body, "mallory");
    let mk = c.entry_key(&auth.cache_key(&mallory));
    wait_for_key(c.client(), &mk).await;
    let value: Vec<u8> = c.client().get(mk).await.unwrap();
    plant(c.client(), c.entry_key(&auth.cache_key(&alice)), value).await;
    let before = c.stats().decode_errors();
    assert_eq!(s.send(Some(&alice)).await.body, "alice");
    assert_eq!(c.stats().decode_errors(), before + 1);
    assert_eq!(v.calls(), 2);
}

/// Security issue, item 7: with a local validator, a token that fails verification never
/// reaches Redis, and a valid one costs one round trip (the revocation check), no claims read.
#[tokio::test]
async fn unauthenticated_junk_costs_no_redis_call() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let c = cache(&server.url()).await;
    let v = CountingValidator::new(rs256_validator(AUD));
    let (layer, s) = stack_with(&v, &c);
    let good = rs256(&claims("alice"));
    assert_eq!(s.send(Some(&good)).await.status, 200);
    let calls = c.stats().calls();
    for i in 0..20 {
        let junk = with_signature_of(&rs256(&claims(&format!("u{i}"))), &good);
        assert_eq!(s.send(Some(&junk)).await.status, 401);
    }
    assert_eq!(
        c.stats().calls(),
        calls,
        "20 forged tokens made no Redis call"
    );
    assert_eq!(s.send(Some(&good)).await.status, 200);
    assert_eq!(
        c.stats().calls(),
        calls + 1,
        "a valid token: one revocation check"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let entry = c.entry_key(&layer.authenticator().cache_key(&good));
    assert_eq!(
        c.client().exists::<u32, _>(entry).await.unwrap(),
        0,
        "no claims written"
    );
}

/// SET a raw value under `key`, with no TTL (what someone who can write to Redis does).
async fn plant(client: &impl KeysInterface, key: String, value: impl Into<Vec<u8>>) {
    let () = client
        .set(key, value.into(), None, None, false)
        .await
        .unwrap();
}

/// PTTL of a key, in ms.
async fn pttl(c: &Cache, key: &str) -> i64 {
    c.client().pttl(key.to_owned()).await.unwrap()
}

/// Security issue, items 5 and 6: a token marker lives until the token's `exp` plus the
/// fleet-wide margin (whatever the revoking service's leeway), and a huge `exp` gives a long
/// marker, never a wrapped short one.
#[tokio::test]
async fn token_markers_outlive_their_tokens_by_the_fleet_margin() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let c = plain_cache(&server.url()).await;
    // Leeway 0 on the revoking service.
    let layer = JwtCacheLayer::builder(rs256_validator(AUD))
        .cache(c.clone())
        .build();
    let auth = layer.authenticator();
    let margin = jwt_cache::cache::REVOCATION_MARGIN.as_millis() as i64;
    let token = rs256(&{
        let mut c = claims("alice");
        c["exp"] = json!(jwt_cache_tests::now() + 60);
        c
    });
    auth.revoke_token(&token).await.unwrap();
    let marker = format!("jwt:t:{}", b64(&SignedHash::of(&token).0));
    let left = pttl(&c, &marker).await;
    assert!(left > 60_000 + margin - 5_000, "marker lives {left} ms");
    assert!(left <= 61_000 + margin, "marker lives {left} ms");
    // An absurd exp: the marker lives the longest a token can (max_token_lifetime + margin),
    // not a wrapped few seconds.
    for exp in [u64::MAX / 2, 1u64 << 60, 18_446_744_073_709_551] {
        let absurd = rs256(&{
            let mut c = claims("bob");
            c["exp"] = json!(exp);
            c
        });
        auth.revoke_token(&absurd).await.unwrap();
        let marker = format!("jwt:t:{}", b64(&SignedHash::of(&absurd).0));
        let left = pttl(&c, &marker).await;
        assert!(left > 24 * 3600 * 1000, "exp {exp}: marker lives {left} ms");
    }
    // A backend given an absurd TTL directly saturates too.
    c.revoke(
        &jwt_cache::cache::Revocation::Jti("huge".into()),
        Duration::MAX,
    )
    .await
    .unwrap();
    let left = pttl(
        &c,
        &format!("jwt:j:{}", b64(&jwt_cache::cache::IdHash::of("huge").0)),
    )
    .await;
    assert!(
        left > 365 * 24 * 3600 * 1000,
        "an absurd TTL gave {left} ms"
    );
    // The jti marker a logout makes lives as long as its token can, like the token marker
    // (not max_token_lifetime: one user's logouts must not fill the set for a day).
    let jti = jwt_cache::cache::unverified_meta(&token)
        .unwrap()
        .jti
        .unwrap();
    let jm = format!("jwt:j:{}", b64(&jwt_cache::cache::IdHash::of(&jti).0));
    let left = pttl(&c, &jm).await;
    assert!(left > 60_000 + margin - 5_000, "jti marker lives {left} ms");
    assert!(left <= 61_000 + margin, "jti marker lives {left} ms");
    // A jti revoked by name (not from a token) covers every token that may carry it:
    // max_token_lifetime + margin.
    auth.revoke_jti("by-name").await.unwrap();
    let jm = format!("jwt:j:{}", b64(&jwt_cache::cache::IdHash::of("by-name").0));
    let left = pttl(&c, &jm).await;
    assert!(
        left > 24 * 3600 * 1000 + margin - 5_000,
        "jti marker lives {left} ms"
    );
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Security issue, item 9: a bounded in-memory revocation set; past it a revocation is still
/// written to Redis (another instance sees it) and the drop is counted.
#[tokio::test]
async fn the_local_revocation_set_is_bounded_and_redis_still_gets_everything() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let c = plain_builder(&server.url())
        .await
        .local_revocation_capacity(2)
        .build();
    let auth = JwtCacheLayer::builder(rs256_validator(AUD))
        .cache(c.clone())
        .build()
        .authenticator()
        .clone();
    for i in 0..4 {
        auth.revoke_jti(&format!("jti-{i}")).await.unwrap();
    }
    assert_eq!(c.local_revocations().len(), 2);
    assert_eq!(c.stats().local_revocations_dropped(), 2);
    let other = plain_cache(&server.url()).await;
    let meta = TokenMeta {
        jti: Some("jti-3".into()),
        ..Default::default()
    };
    assert!(other.is_revoked(&SignedHash::of("x"), &meta).await.unwrap());
}

/// Security issue, item 8: the Redis password never reaches the logs.
#[test]
fn the_redis_password_is_never_logged() {
    use std::io::Write;
    #[derive(Clone, Default)]
    struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Nothing listens on port 1: the cache warns that Redis is not reachable yet.
    rt.block_on(async {
        let _c =
            RedisCache::<StandardClaims>::connect("redis://admin:hunter2-s3cret@127.0.0.1:1/0")
                .await
                .unwrap()
                .build();
    });
    let logged = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("127.0.0.1:1"),
        "the warning names the host: {logged}"
    );
    assert!(!logged.contains("hunter2"), "password logged: {logged}");
}

/// With Redis killed: a valid token gets `expected` (the mode's answer); a token this instance
/// revoked before is refused either way, from memory.
async fn while_redis_is_down(mode: RevocationUnavailable, expected: u16) {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let c = plain_builder(&server.url())
        .await
        .timeout(Duration::from_millis(50))
        .build();
    let layer = JwtCacheLayer::builder(rs256_validator(AUD))
        .cache(c)
        .on_revocation_unavailable(mode)
        .build();
    let s = Stack::new(layer.clone());
    let token = rs256(&claims("alice"));
    let revoked = rs256(&claims("revoked-here"));
    assert_eq!(s.send(Some(&token)).await.status, 200);
    layer.authenticator().revoke_token(&revoked).await.unwrap();
    server.kill();
    assert_eq!(s.send(Some(&token)).await.status, expected, "{mode:?}");
    // Revocations this instance saw stay enforced from memory.
    assert_eq!(s.send(Some(&revoked)).await.status, 401, "{mode:?}");
}

#[tokio::test]
async fn fail_closed_revocation_check_answers_503_while_redis_is_down() {
    while_redis_is_down(RevocationUnavailable::FailClosed, 503).await;
}

#[tokio::test]
async fn fail_open_keeps_serving_and_still_enforces_local_revocations() {
    // Fail-open is the default.
    assert_eq!(
        RevocationUnavailable::default(),
        RevocationUnavailable::FailOpen
    );
    while_redis_is_down(RevocationUnavailable::FailOpen, 200).await;
}

#[tokio::test]
async fn cluster_hits_and_revocations_across_slots() {
    let Some(cluster) = RedisCluster::start(3) else {
        return;
    };
    let v = remote();
    let c = cache(&cluster.url()).await;
    let (layer, s) = stack_with(&v, &c);
    let tokens: Vec<String> = (0..12)
        .map(|i| rs256(&claims(&format!("user{i}"))))
        .collect();
    for t in &tokens {
        assert_eq!(s.send(Some(t)).await.status, 200);
        wait_for_entry(&c, &layer, t).await;
    }
    // A second instance with its own cluster client hits every one of them.
    let v2 = remote();
    let s2 = Stack::new(
        JwtCacheLayer::builder(v2.clone())
            .cache(cache(&cluster.url()).await)
            .build(),
    );
    for (i, t) in tokens.iter().enumerate() {
        assert_eq!(s2.send(Some(t)).await.body, format!("user{i}"));
    }
    assert_eq!((v.calls(), v2.calls()), (12, 0));
    // The entries really are spread over the masters.
    let with_keys = cluster
        .nodes
        .iter()
        .filter(|n| !n.command("DBSIZE").starts_with(":0"))
        .count();
    assert!(with_keys >= 2, "entries on {with_keys} node(s)");

    // Revocations by token, jti and subject, seen by the other instance.
    let auth = layer.authenticator();
    auth.revoke_token(&tokens[0]).await.unwrap();
    let jti = jwt_cache::cache::unverified_meta(&tokens[1])
        .unwrap()
        .jti
        .unwrap();
    auth.revoke_jti(&jti).await.unwrap();
    auth.revoke_subject(
        "user2",
        std::time::SystemTime::now() + Duration::from_secs(5),
    )
    .await
    .unwrap();
    for (i, t) in tokens.iter().enumerate() {
        let status = s2.send(Some(t)).await.status;
        assert_eq!(status, if i < 3 { 401 } else { 200 }, "token {i}");
    }
}

#[tokio::test]
async fn subject_revocations_never_weaken_and_handles_share_memory() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let a = cache(&server.url()).await;
    let b = cache(&server.url()).await;
    let now = jwt_cache_tests::now();
    let meta = |iat| TokenMeta {
        sub: Some("erin".into()),
        iat: Some(iat),
        ..Default::default()
    };
    let h = SignedHash::of("t");
    let ttl = Duration::from_secs(60);
    a.revoke(
        &jwt_cache::cache::Revocation::Subject {
            sub: "erin".into(),
            issued_before: now,
        },
        ttl,
    )
    .await
    .unwrap();
    // A later call with an earlier time does not shrink what is revoked.
    a.revoke(
        &jwt_cache::cache::Revocation::Subject {
            sub: "erin".into(),
            issued_before: now - 100,
        },
        ttl,
    )
    .await
    .unwrap();
    assert!(
        b.is_revoked(&h, &meta(now - 50)).await.unwrap(),
        "seen by another instance"
    );
    // A later time with a shorter TTL raises the time and keeps the longer TTL.
    a.revoke(
        &jwt_cache::cache::Revocation::Subject {
            sub: "erin".into(),
            issued_before: now + 1,
        },
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    let marker = server.command("KEYS jwt:s:*");
    let name = marker
        .lines()
        .find(|l| l.starts_with("jwt:s:"))
        .unwrap()
        .to_owned();
    let pttl: i64 = server
        .command(&format!("PTTL {name}"))
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!(pttl > 30_000, "the TTL did not shrink: {pttl}");
    assert!(
        b.is_revoked(&h, &meta(now)).await.unwrap(),
        "the time was raised"
    );
    // issued_before = 0 still writes a marker (it covers tokens without iat).
    a.revoke(
        &jwt_cache::cache::Revocation::Subject {
            sub: "zero".into(),
            issued_before: 0,
        },
        ttl,
    )
    .await
    .unwrap();
    let no_iat = TokenMeta {
        sub: Some("zero".into()),
        ..Default::default()
    };
    assert!(b.is_revoked(&h, &no_iat).await.unwrap());
    assert!(!b.is_revoked(&h, &meta(now + 1)).await.unwrap());

    // A clone of `a` shares its in-memory revocations: with Redis gone it still enforces them.
    let a2 = a.clone();
    a.revoke(&jwt_cache::cache::Revocation::Jti("j-1".into()), ttl)
        .await
        .unwrap();
    server.kill();
    let m = TokenMeta {
        jti: Some("j-1".into()),
        ..Default::default()
    };
    assert!(a2.is_revoked(&h, &m).await.unwrap());
}

#[tokio::test]
async fn a_claims_type_that_would_refuse_a_token_never_takes_it_from_the_shared_cache() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    use jwt_cache_tests::schemas::{Lenient, Strict};
    let lenient_cache = RedisCache::<Lenient>::connect(&server.url())
        .await
        .unwrap()
        .timeout(Duration::from_millis(500))
        .integrity_key(&*SECRET)
        .unwrap()
        .build();
    let lenient = jwt_cache::JwtCacheBuilder::<Lenient>::new(remote())
        .cache(lenient_cache.clone())
        .build_authenticator();
    let strict = jwt_cache::JwtCacheBuilder::<Strict>::new(remote())
        .cache(
            RedisCache::<Strict>::connect(&server.url())
                .await
                .unwrap()
                .integrity_key(&*SECRET)
                .unwrap()
                .timeout(Duration::from_millis(500))
                .build(),
        )
        .build_authenticator();
    let token = rs256(&claims("no-tenant"));
    assert_eq!(lenient.authenticate(&token).await.unwrap().tenant, "");
    let key = lenient_cache.entry_key(&lenient.cache_key(&token));
    wait_for_key(lenient_cache.client(), &key).await;
    // The strict service would refuse the token (no `tenant`), and does, cache or not.
    assert!(strict.authenticate(&token).await.is_err());
}

#[tokio::test]
async fn one_round_trip_per_request_hit_or_miss() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let v = remote();
    let c = cache(&server.url()).await;
    let (layer, s) = stack_with(&v, &c);
    let token = rs256(&claims("alice"));
    // A miss: the lookup (entry and revocation markers in one pipeline), then the write.
    assert_eq!(s.send(Some(&token)).await.status, 200);
    wait_for_entry(&c, &layer, &token).await;
    let after_miss = c.stats().calls();
    assert_eq!(after_miss, 2, "lookup + fire-and-forget write");
    // A hit: one call.
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert_eq!(c.stats().calls(), after_miss + 1);
    // A token revoked by jti on another instance, never seen here: one call, refused, not cached.
    let other = cache(&server.url()).await;
    let t2 = rs256(&claims("bob"));
    let jti = jwt_cache::cache::unverified_meta(&t2).unwrap().jti.unwrap();
    other
        .revoke(
            &jwt_cache::cache::Revocation::Jti(jti),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let before = c.stats().calls();
    let r = s.send(Some(&t2)).await;
    assert_eq!(r.status, 401);
    assert!(r.challenge.unwrap().contains("token revoked"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(c.stats().calls(), before + 1);
    assert_eq!(
        v.calls(),
        2,
        "the revoked token was still validated before being refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_made_while_a_slow_validation_runs_is_not_lost() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // A remote-like validator: each validation takes 400 ms.
    let v = remote().with_delay(Duration::from_millis(400));
    let c = cache(&server.url()).await;
    let (layer, s) = stack_with(&v, &c);
    let token = rs256(&claims("alice"));
    // A: a miss, not revoked yet; its validation starts.
    let first = {
        let (s, t) = (s.clone(), token.clone());
        tokio::spawn(async move { s.send(Some(&t)).await })
    };
    // A's validation has started (counted on entry): not a sleep a slow task start outlasts.
    while v.calls() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The token is revoked while A's validation runs.
    layer.authenticator().revoke_token(&token).await.unwrap();
    // B: its lookup sees the revocation; it joins A's validation and must still be refused.
    let second = s.send(Some(&token)).await;
    assert_eq!(second.status, 401, "the request that saw the revocation");
    assert_eq!(
        first.await.unwrap().status,
        401,
        "the leader asks again after waiting"
    );
    assert_eq!(v.calls(), 1, "one validation for both");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let entry = c.entry_key(&layer.authenticator().cache_key(&token));
    assert_eq!(
        c.client().exists::<u32, _>(entry).await.unwrap(),
        0,
        "not cached"
    );
}

#[tokio::test]
async fn sentinel_hits_and_revocations() {
    let Some(sentinel) = RedisSentinel::start() else {
        return;
    };
    let v = remote();
    let c = cache(&sentinel.url()).await;
    let (layer, s) = stack_with(&v, &c);
    let token = rs256(&claims("alice"));
    assert_eq!(s.send(Some(&token)).await.body, "alice");
    wait_for_entry(&c, &layer, &token).await;
    assert_eq!(s.send(Some(&token)).await.body, "alice");
    assert_eq!(
        v.calls(),
        1,
        "the second request was a hit through the sentinel's master"
    );
    // The entry is on the master the sentinel named.
    assert!(!sentinel.master.command("DBSIZE").starts_with(":0"));
    layer.authenticator().revoke_token(&token).await.unwrap();
    assert_eq!(s.send(Some(&token)).await.status, 401);
}

#[tokio::test]
async fn bytes_per_entry() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let c = cache(&server.url()).await;
    // The design note's services ask an auth service: its validations name no signing key.
    // A local validator made remote names its key in each entry (`k`), which costs ~20 bytes.
    let plain = JwtValidator::rs256_pem(jwt_cache_tests::keys::RSA_PUBLIC).unwrap();
    let checker = plain.clone();
    let auth_service = jwt_cache::validator::FnValidator::new(
        "auth-service (bytes_per_entry)",
        move |token: String| {
            let checker = checker.clone();
            async move {
                let mut v: jwt_cache::validator::ValidatedToken<StandardClaims> =
                    jwt_cache::TokenValidator::validate(&checker, &token).await?;
                v.meta.key = None;
                Ok(v)
            }
        },
    );
    let validators: [(
        &str,
        std::sync::Arc<dyn jwt_cache::TokenValidator<StandardClaims>>,
    ); 2] = [
        ("auth service", std::sync::Arc::new(auth_service)),
        (
            "JwtValidator as a remote validator",
            std::sync::Arc::new(CountingValidator::new(plain).remote()),
        ),
    ];
    let now = jwt_cache_tests::now();
    // The design note's claim set ({sub, email, username}, with the exp every token carries),
    // then a fuller access token of 10 claims.
    let sets = [
        (
            "design note's {sub, email, username} + exp",
            json!({
                "sub": "248289761001", "email": "jane.doe@example.com", "username": "jane.doe",
                "exp": now + 3600,
            }),
        ),
        (
            "10-claim access token",
            json!({
                "sub": "248289761001", "email": "jane.doe@example.com", "username": "jane.doe",
                "iss": jwt_cache_tests::ISS, "iat": now, "nbf": now, "roles": ["user"],
                "exp": now + 3600, "jti": "6e5b5eb3a189c679afccfd0a", "scope": "read write",
            }),
        ),
    ];
    for (who, validator) in validators {
        let layer = JwtCacheLayer::builder(validator).cache(c.clone()).build();
        for (i, (what, claims)) in sets.iter().enumerate() {
            let token = rs256(claims);
            let r = Stack::new(layer.clone()).send(Some(&token)).await;
            assert_eq!(r.status, 200, "{who}, {what}: {r:?}");
            wait_for_entry(&c, &layer, &token).await;
            let key = c.entry_key(&layer.authenticator().cache_key(&token));
            let bytes: u64 = c.client().memory_usage(key.clone(), Some(0)).await.unwrap();
            let value: Vec<u8> = c.client().get(key.clone()).await.unwrap();
            eprintln!(
                "MEMORY USAGE of one StandardClaims entry, {who}, {what}: {bytes} bytes (key {} bytes, value {} bytes)",
                key.len(),
                value.len()
            );
            // The design note's claims from its auth service: at most 200 bytes (it budgeted
            // ~500); anything else under the note's budget.
            let budget = if i == 0 && who == "auth service" {
                200
            } else {
                500
            };
            assert!(bytes <= budget, "{who}, {what}: {bytes} bytes > {budget}");
        }
    }
}
