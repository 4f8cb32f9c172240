//! What the layer adds per request: the whole service stack (layer + trivial inner service,
//! driven with `oneshot`) with no auth, with an in-process hit, and with direct validation
//! (nothing cached), for RS256, ES256 and EdDSA; plus the cache lookups the choice of
//! `MemoryCache` backend was made on.
//!
//! `cargo bench -p jwt-cache --bench hit_path`

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use jwt_cache::cache::TokenHash;
use jwt_cache::{JwtCacheLayer, JwtValidator, MemoryCache, StandardClaims};
use tower::{ServiceBuilder, ServiceExt};

const RSA_PRIVATE: &[u8] = include_bytes!("keys/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("keys/rsa_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("keys/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("keys/ec_public.pem");
const ED_PRIVATE: &[u8] = include_bytes!("keys/ed_private.pem");
const ED_PUBLIC: &[u8] = include_bytes!("keys/ed_public.pem");

fn token(alg: Algorithm, key: &EncodingKey) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Shaped like a real access token (~850 bytes for RS256).
    let claims = serde_json::json!({
        "sub": "248289761001", "email": "jane.doe@example.com", "username": "jane.doe",
        "iss": "https://id.example", "aud": "content", "iat": now, "nbf": now,
        "exp": now + 3600, "jti": "6e5b5eb3a189c679afccfd0a9f3c", "scope": "read write profile",
        "tenant": "acme-production", "roles": ["reader", "writer", "moderator"],
        "session": "2b3f0c5e-62a2-4f45-9e6f-8d4b1c2a7e90",
    });
    jsonwebtoken::encode(&Header::new(alg), &claims, key).unwrap()
}

type Svc = tower::util::BoxCloneSyncService<Request<()>, Response<()>, Infallible>;

fn inner() -> impl tower::Service<
    Request<()>,
    Response = Response<()>,
    Error = Infallible,
    Future = std::future::Ready<Result<Response<()>, Infallible>>,
> + Clone
+ Send
+ Sync {
    tower::service_fn(|req: Request<()>| {
        black_box(req.extensions().get::<Arc<StandardClaims>>().is_some());
        std::future::ready(Ok(Response::new(())))
    })
}

/// The stack: no layer, or the layer with this validator, ttl and hash memo size.
fn stack(validator: Option<(JwtValidator, Duration, usize)>) -> Svc {
    stack_with(validator, |b| b)
}

/// The same, with more settings.
fn stack_with(
    validator: Option<(JwtValidator, Duration, usize)>,
    more: impl FnOnce(
        jwt_cache::JwtCacheBuilder<StandardClaims>,
    ) -> jwt_cache::JwtCacheBuilder<StandardClaims>,
) -> Svc {
    match validator {
        None => Svc::new(ServiceBuilder::new().service(inner())),
        Some((v, ttl, memo)) => Svc::new(
            ServiceBuilder::new()
                .layer(
                    more(
                        JwtCacheLayer::builder(v)
                            .cache(MemoryCache::new(100_000))
                            .ttl(ttl)
                            .hash_memo(memo),
                    )
                    .build(),
                )
                .service(inner()),
        ),
    }
}

fn bench_stack(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cases = [
        (
            "RS256",
            token(
                Algorithm::RS256,
                &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
            ),
            JwtValidator::rs256_pem(RSA_PUBLIC).unwrap(),
        ),
        (
            "ES256",
            token(
                Algorithm::ES256,
                &EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
            ),
            JwtValidator::es256_pem(EC_PUBLIC).unwrap(),
        ),
        (
            "EdDSA",
            token(
                Algorithm::EdDSA,
                &EncodingKey::from_ed_pem(ED_PRIVATE).unwrap(),
            ),
            JwtValidator::eddsa_pem(ED_PUBLIC).unwrap(),
        ),
    ];
    let mut g = c.benchmark_group("stack");
    for (alg, token, validator) in cases {
        let validator = validator.issuer("https://id.example").audience("content");
        let header = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        let variants = [
            ("no_auth", stack(None)),
            (
                "memory_hit",
                stack(Some((validator.clone(), Duration::from_secs(600), 10_000))),
            ),
            // Instrumentation off: no request counters (the on/off comparison).
            (
                "memory_hit_uninstrumented",
                stack_with(
                    Some((validator.clone(), Duration::from_secs(600), 10_000)),
                    |b| b.instrumented(false),
                ),
            ),
            // Instrumentation on, reporting to a real OpenTelemetry SDK meter provider
            // (`--features metrics`; without it this is `memory_hit` again).
            (
                "memory_hit_otel",
                stack_with(
                    Some((validator.clone(), Duration::from_secs(600), 10_000)),
                    |b| {
                        #[cfg(feature = "metrics")]
                        {
                            use opentelemetry::metrics::MeterProvider;
                            let provider: &opentelemetry_sdk::metrics::SdkMeterProvider =
                                Box::leak(Box::new(
                                    opentelemetry_sdk::metrics::SdkMeterProvider::builder().build(),
                                ));
                            b.meter(provider.meter("bench"))
                        }
                        #[cfg(not(feature = "metrics"))]
                        b
                    },
                ),
            ),
            // The same without the hash memo: a SHA-256 of the token on every hit.
            (
                "memory_hit_sha256",
                stack(Some((validator.clone(), Duration::from_secs(600), 0))),
            ),
            (
                "direct",
                stack(Some((validator.clone(), Duration::ZERO, 0))),
            ),
        ];
        for (name, svc) in variants {
            // Warm the cache (and check the token is accepted).
            let res = rt.block_on(svc.clone().oneshot(request(&header))).unwrap();
            assert_eq!(res.status(), 200, "{alg} {name}");
            g.bench_function(BenchmarkId::new(name, alg), |b| {
                b.to_async(&rt)
                    .iter(|| svc.clone().oneshot(request(&header)));
            });
        }
    }
    g.finish();
}

fn request(header: &HeaderValue) -> Request<()> {
    let mut req = Request::new(());
    req.headers_mut()
        .insert(http::header::AUTHORIZATION, header.clone());
    req
}

fn bench_cache_get(c: &mut Criterion) {
    const N: usize = 10_000;
    let keys: Vec<TokenHash> = (0..N)
        .map(|i| TokenHash::of(&format!("token-{i}")))
        .collect();
    let value = Arc::new(0u64);
    let quick: quick_cache::sync::Cache<TokenHash, Arc<u64>> = quick_cache::sync::Cache::new(N * 2);
    let moka_plain: moka::sync::Cache<TokenHash, Arc<u64>> = moka::sync::Cache::builder()
        .max_capacity(N as u64 * 2)
        .build();
    let moka_ttl: moka::sync::Cache<TokenHash, Arc<u64>> = moka::sync::Cache::builder()
        .max_capacity(N as u64 * 2)
        .time_to_live(Duration::from_secs(600))
        .build();
    for k in &keys {
        quick.insert(*k, value.clone());
        moka_plain.insert(*k, value.clone());
        moka_ttl.insert(*k, value.clone());
    }
    moka_plain.run_pending_tasks();
    moka_ttl.run_pending_tasks();
    let mut g = c.benchmark_group("cache_get_10k");
    let mut i = 0usize;
    g.bench_function("quick_cache", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(quick.get(&keys[i]))
        })
    });
    g.bench_function("moka_sync", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(moka_plain.get(&keys[i]))
        })
    });
    g.bench_function("moka_sync_ttl", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(moka_ttl.get(&keys[i]))
        })
    });
    g.finish();

    let token = token(
        Algorithm::RS256,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    );
    c.bench_function(&format!("sha256_token_{}_bytes", token.len()), |b| {
        b.iter(|| black_box(TokenHash::of(black_box(&token))))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_stack, bench_cache_get
}
criterion_main!(benches);
