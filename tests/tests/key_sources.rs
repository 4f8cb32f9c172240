//! `JwksKeySource` and OpenID Connect discovery against a real issuer on loopback
//! (`examples/issuer`): rotation, a key leaving the set, the JWKS endpoint down, a flood of
//! random `kid`s, a mismatched issuer, garbage, and `jku` never followed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use jwt_cache::jsonwebtoken::{Algorithm, EncodingKey, Header};
use jwt_cache::validator::{FetchedDocument, JwksKeySource, JwksKeySourceBuilder};
use jwt_cache::{ConfigError, JwtCacheLayer, JwtValidator, MemoryCache};
use jwt_cache_example_issuer::Issuer;
use jwt_cache_tests::harness::Stack;

const AUD: &str = "jwt-cache-demo";

async fn spawn_issuer() -> (Issuer, String) {
    Issuer::spawn(|_| {}).await.unwrap()
}

/// A stack validating with `source`, for the issuer at `base`.
fn stack(source: JwksKeySource, base: &str) -> Stack {
    let validator = JwtValidator::from_key_source(source)
        .issuer(base)
        .audience(AUD)
        .require_typ("at+jwt");
    Stack::new(
        JwtCacheLayer::builder(validator)
            .cache(MemoryCache::new(1000))
            .ttl(Duration::from_secs(600))
            .build(),
    )
}

/// A token naming `kid`, signed with a key nobody publishes.
fn forged(kid: &str, base: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.to_owned());
    let mut claims = jwt_cache_tests::claims("mallory");
    claims["iss"] = base.into();
    claims["aud"] = AUD.into();
    jwt_cache::jsonwebtoken::encode(&header, &claims, &jwt_cache_tests::rsa_key()).unwrap()
}

fn quick(b: JwksKeySourceBuilder) -> JwksKeySourceBuilder {
    b.refetch_interval(Duration::from_millis(200))
        .timeout(Duration::from_secs(2))
}

#[tokio::test]
async fn a_rotated_in_key_is_taken_after_one_refetch_and_a_removed_key_takes_its_cached_tokens() {
    let (issuer, base) = spawn_issuer().await;
    let source = quick(JwksKeySource::discover(&base)).start().await.unwrap();
    assert_eq!(issuer.stats().discovery, 1);
    assert_eq!(issuer.stats().jwks, 1);
    let stack = stack(source.clone(), &base);

    let old = issuer.token("alice");
    assert_eq!(stack.send(Some(&old)).await.status, StatusCode::OK);
    assert_eq!(issuer.stats().jwks, 1, "a known kid needs no fetch");

    // Rotation: a new key signs; the source has not seen it yet.
    issuer.rotate(false);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let new = issuer.token("bob");
    let r = stack.send(Some(&new)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body, "bob");
    assert_eq!(
        issuer.stats().jwks,
        2,
        "exactly one refetch for the new kid"
    );
    assert_eq!(source.stats().unknown_kid_refetches(), 1);
    assert_eq!(
        stack.send(Some(&old)).await.status,
        StatusCode::OK,
        "the old key is still published"
    );

    // The old key leaves the set: its cached validation goes with it (the cache still holds
    // the entry; the hit re-check refuses it).
    issuer.rotate(true);
    source.refresh().await.unwrap();
    let r = stack.send(Some(&old)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert_eq!(r.error_code().as_deref(), Some("invalid_token"));
    let newest = issuer.token("carol");
    assert_eq!(stack.send(Some(&newest)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn endpoint_down_known_keys_work_unknown_kids_get_503_and_a_flood_costs_a_bounded_number_of_fetches()
 {
    let (issuer, base) = spawn_issuer().await;
    // Default refetch interval (5 s): the flood below runs well within one interval.
    let source = JwksKeySource::builder(format!("{base}/jwks"))
        .timeout(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let stack = stack(source.clone(), &base);
    let cached = issuer.token("alice");
    assert_eq!(stack.send(Some(&cached)).await.status, StatusCode::OK);

    issuer.set_failing(true);
    // Known key: a cached token and a new one both work without the endpoint.
    assert_eq!(stack.send(Some(&cached)).await.status, StatusCode::OK);
    let fresh = issuer.token("bob");
    assert_eq!(stack.send(Some(&fresh)).await.status, StatusCode::OK);
    let before = issuer.stats().jwks;
    assert_eq!(before, 1);

    // Counts, not wall time (a shared machine): every request answered 503, at most one
    // fetch; a generous outer timeout only catches a hang.
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let stack = stack.clone();
        let token = forged(&format!("random-kid-{i}"), &base);
        tasks.push(tokio::spawn(async move { stack.send(Some(&token)).await }));
    }
    let all = async {
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
        }
    };
    tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("1000 requests hung");
    let fetches = issuer.stats().jwks - before;
    assert!(fetches <= 1, "{fetches} fetches for 1000 random kids");
    assert!(!source.is_healthy());
    // The known key still works, and the last good set was kept.
    assert_eq!(stack.send(Some(&fresh)).await.status, StatusCode::OK);

    // Healthy again: an unknown kid is a plain 401, still without a fetch per request.
    issuer.set_failing(false);
    source.refresh().await.unwrap();
    let before = issuer.stats().jwks;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let stack = stack.clone();
        let token = forged(&format!("other-kid-{i}"), &base);
        tasks.push(tokio::spawn(async move { stack.send(Some(&token)).await }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
        assert_eq!(r.error_code().as_deref(), Some("invalid_token"));
    }
    assert!(issuer.stats().jwks - before <= 1);
}

/// Serve `router` on loopback; its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// An impostor's discovery document names another issuer, and points at a key set that works:
/// only the issuer check can refuse it.
#[tokio::test]
async fn discovery_naming_another_issuer_with_a_working_key_set_is_refused() {
    let (issuer, real) = spawn_issuer().await;
    let doc = serde_json::json!({
        "issuer": "https://impostor.example",
        "jwks_uri": format!("{real}/jwks"),
    })
    .to_string();
    let impostor = serve(axum::Router::new().route(
        "/.well-known/openid-configuration",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], doc) }
        }),
    ))
    .await;
    let err = JwksKeySource::discover(&impostor)
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("impostor"), "{err}");
    assert_eq!(issuer.stats().jwks, 0, "the key set was fetched anyway");
}

/// Several issuers, each with its own key set: a key that leaves one issuer's set takes that
/// issuer's cached tokens with it, even when another issuer publishes the same key (a
/// multi-tenant provider signing for several issuers with one key).
#[tokio::test]
async fn a_key_leaving_one_issuers_set_takes_that_issuers_cached_tokens_only() {
    let (x, base_x) = spawn_issuer().await;
    // Issuer B publishes a copy of X's key set as it is now.
    let copy = reqwest::get(format!("{base_x}/jwks"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let base_b = serve(axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let copy = copy.clone();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], copy) }
        }),
    ))
    .await;
    let source_x = quick(JwksKeySource::builder(format!("{base_x}/jwks")))
        .start()
        .await
        .unwrap();
    let source_b = quick(JwksKeySource::builder(format!("{base_b}/jwks")))
        .start()
        .await
        .unwrap();
    let issuers = jwt_cache::Issuers::<jwt_cache::StandardClaims>::new()
        .issuer(
            base_x.clone(),
            JwtValidator::from_key_source(source_x.clone())
                .issuer(base_x.clone())
                .audience(AUD),
        )
        .issuer(
            "https://b.example",
            JwtValidator::from_key_source(source_b)
                .issuer("https://b.example")
                .audience(AUD),
        );
    let stack = Stack::new(
        JwtCacheLayer::builder(issuers)
            .cache(MemoryCache::new(1000))
            .build(),
    );
    let token = x.token("alice");
    assert_eq!(stack.send(Some(&token)).await.status, StatusCode::OK);
    assert_eq!(
        stack.send(Some(&token)).await.status,
        StatusCode::OK,
        "a hit"
    );
    // X retires the key; B still publishes it.
    x.rotate(true);
    source_x.refresh().await.unwrap();
    let r = stack.send(Some(&token)).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "a cached token of X outlived its key because B publishes the same key: {r:?}"
    );
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused() {
    let (issuer, base) = Issuer::spawn(|c| c.issuer = "https://impostor.example".into())
        .await
        .unwrap();
    let err = JwksKeySource::discover(&base).start().await.unwrap_err();
    assert!(matches!(err, ConfigError::KeySource(_)), "{err:?}");
    assert!(err.to_string().contains("impostor"), "{err}");
    assert_eq!(
        issuer.stats().jwks,
        0,
        "no key set is fetched from a mismatched issuer"
    );
    // The same document under its own issuer name is fine.
    let (_, base) = issuer_pair().await;
    JwksKeySource::discover(&base).start().await.unwrap();
}

async fn issuer_pair() -> (Issuer, String) {
    spawn_issuer().await
}

#[tokio::test]
async fn a_garbage_refresh_keeps_the_last_good_set() {
    let (issuer, base) = spawn_issuer().await;
    let garbage = Arc::new(AtomicBool::new(false));
    let g = garbage.clone();
    let client = reqwest::Client::new();
    // The user's own fetch function: here, reqwest plus a switch that returns an HTML error page.
    let source = JwksKeySource::builder(format!("{base}/jwks"))
        .fetch_with(move |url| {
            let client = client.clone();
            let garbage = g.load(Ordering::SeqCst);
            async move {
                if garbage {
                    return Ok(FetchedDocument {
                        body: b"<html>502 Bad Gateway</html>".to_vec(),
                        max_age: None,
                    });
                }
                let body = client.get(url).send().await.map_err(|e| e.to_string())?;
                Ok(FetchedDocument {
                    body: body.bytes().await.map_err(|e| e.to_string())?.to_vec(),
                    max_age: None,
                })
            }
        })
        .start()
        .await
        .unwrap();
    let stack = stack(source.clone(), &base);
    garbage.store(true, Ordering::SeqCst);
    assert!(source.refresh().await.is_err());
    assert_eq!(source.kids().len(), 1, "the last good set is kept");
    let r = stack.send(Some(&issuer.token("alice"))).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

#[tokio::test]
async fn jku_is_never_followed_and_keys_are_pinned_to_their_algorithm() {
    let (issuer, base) = spawn_issuer().await;
    let (other, other_base) = spawn_issuer().await;
    let source = quick(JwksKeySource::builder(format!("{base}/jwks")))
        .start()
        .await
        .unwrap();
    let stack = stack(source, &base);

    // A token from another issuer's key, pointing at that issuer's JWKS with `jku`.
    let token = other.token_with("mallory", serde_json::json!({ "iss": base }));
    let (head, rest) = token.split_once('.').unwrap();
    let mut header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, head).unwrap(),
    )
    .unwrap();
    header["jku"] = format!("{other_base}/jwks").into();
    // The signature no longer matches the changed header, but the kid lookup comes first: the
    // point is that `jku` is never fetched.
    let head = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        serde_json::to_vec(&header).unwrap(),
    );
    let r = stack.send(Some(&format!("{head}.{rest}"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert!(
        r.challenge.as_deref().unwrap().contains("unknown key"),
        "{r:?}"
    );
    assert_eq!(other.stats().jwks, 0, "jku was followed");

    // HS256 under the ES256 key's kid (algorithm confusion): refused.
    let kid = issuer.kids()[0].clone();
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid);
    let mut claims = jwt_cache_tests::claims("mallory");
    claims["iss"] = base.clone().into();
    claims["aud"] = AUD.into();
    let hs = jwt_cache::jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(b"guessed-secret-guessed-secret-32").unwrap(),
    )
    .unwrap();
    let r = stack.send(Some(&hs)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert!(
        r.challenge
            .as_deref()
            .unwrap()
            .contains("algorithm not allowed"),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_source_started_while_the_endpoint_is_down_answers_503_then_recovers() {
    let (issuer, base) = spawn_issuer().await;
    issuer.set_failing(true);
    let url = format!("{base}/jwks");
    assert!(JwksKeySource::builder(&url).start().await.is_err());
    let source = quick(JwksKeySource::builder(&url))
        .retry(Duration::from_millis(200))
        .start_retrying()
        .await
        .unwrap();
    let stack = stack(source.clone(), &base);
    let token = issuer.token("alice");
    assert_eq!(
        stack.send(Some(&token)).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    issuer.set_failing(false);
    // The background task retries on its own.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !source.is_healthy() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(source.is_healthy());
    assert_eq!(stack.send(Some(&token)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn key_sets_come_over_https_or_from_loopback_unless_allowed() {
    // Refused before any request is made (no network needed to see it).
    for url in ["http://id.example", "http://10.1.2.3:8080"] {
        let err = JwksKeySource::discover(url).start().await.unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
        let err = JwksKeySource::builder(format!("{url}/jwks"))
            .start()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
    }
    // The opt-in lets plain HTTP through (it then fails only because nothing listens there).
    let err = JwksKeySource::builder("http://192.0.2.1/jwks")
        .allow_http()
        .timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("https"), "{err}");
}
