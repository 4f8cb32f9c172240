//! The tiers side by side, in one run: the whole tower stack (layer + trivial inner service,
//! `oneshot`), with a redis-server this bench starts on loopback (Debian package
//! `redis-server` required). For a local validator (RS256/ES256): direct validation, an
//! in-process hit, a tiered L1 hit, and RedisCache alone (verify + one round trip for the
//! revocation markers). For a simulated remote validator of 5 ms: validating every request,
//! an L2 hit (one round trip) and a tiered L1 hit.
//!
//! `cargo bench -p jwt-cache-redis --bench redis_hit`

use std::convert::Infallible;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use jwt_cache::validator::{Fingerprint, ValidatedToken};
use jwt_cache::{
    ClaimsCache, JwtCacheLayer, JwtValidator, MemoryCache, StandardClaims, TokenValidator,
    ValidationError,
};
use jwt_cache_redis::{RedisCache, TieredCache};

/// An integrity key with entropy (one byte repeated is refused).
fn bench_key(seed: u8) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest([b'k', seed]).into()
}
use tower::{ServiceBuilder, ServiceExt};

const RSA_PRIVATE: &[u8] = include_bytes!("keys/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("keys/rsa_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("keys/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("keys/ec_public.pem");

type Svc = tower::util::BoxCloneSyncService<Request<()>, Response<()>, Infallible>;

fn token(alg: Algorithm, key: &EncodingKey) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": "248289761001", "email": "jane.doe@example.com", "username": "jane.doe",
        "iss": "https://id.example", "aud": "content", "iat": now, "nbf": now,
        "exp": now + 3600, "jti": "6e5b5eb3a189c679afccfd0a9f3c", "scope": "read write profile",
    });
    jsonwebtoken::encode(&Header::new(alg), &claims, key).unwrap()
}

/// A remote validator (an auth service): answers after 5 ms.
#[derive(Clone)]
struct Remote(JwtValidator);

#[async_trait::async_trait]
impl TokenValidator<StandardClaims> for Remote {
    async fn validate(
        &self,
        token: &str,
    ) -> Result<ValidatedToken<StandardClaims>, ValidationError> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.0.validate(token).await
    }
    fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&[
            b"remote",
            &TokenValidator::<StandardClaims>::fingerprint(&self.0).0,
        ])
    }
    fn key_is_current(&self, key: Option<&str>) -> bool {
        TokenValidator::<StandardClaims>::key_is_current(&self.0, key)
    }
}

fn stack(
    v: impl TokenValidator<StandardClaims>,
    cache: impl ClaimsCache<StandardClaims>,
    ttl: Duration,
) -> Svc {
    Svc::new(
        ServiceBuilder::new()
            .layer(JwtCacheLayer::builder(v).cache(cache).ttl(ttl).build())
            .service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) }),
    )
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bench(c: &mut Criterion) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package) is needed for this bench"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = format!("redis://127.0.0.1:{port}");
    let redis: RedisCache<StandardClaims> = rt.block_on(async {
        RedisCache::connect(&url)
            .await
            .unwrap()
            .timeout(Duration::from_millis(100))
            .integrity_key(&bench_key(9))
            .unwrap()
            .build()
    });

    let rs = JwtValidator::rs256_pem(RSA_PUBLIC)
        .unwrap()
        .issuer("https://id.example")
        .audience("content");
    let es = JwtValidator::es256_pem(EC_PUBLIC)
        .unwrap()
        .issuer("https://id.example")
        .audience("content");
    let rs_token = token(
        Algorithm::RS256,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    );
    let es_token = token(
        Algorithm::ES256,
        &EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
    );
    let hour = Duration::from_secs(3600);
    let tiered = rt.block_on(async {
        let l2 = RedisCache::connect(&url)
            .await
            .unwrap()
            .timeout(Duration::from_millis(100))
            .integrity_key(&bench_key(9))
            .unwrap()
            .build();
        TieredCache::builder(l2).start().await.unwrap()
    });
    let remote = Remote(rs.clone());
    let cases: Vec<(&str, Svc, &str)> = vec![
        (
            "direct_RS256",
            stack(rs.clone(), MemoryCache::new(10), Duration::ZERO),
            &rs_token,
        ),
        (
            "direct_ES256",
            stack(es.clone(), MemoryCache::new(10), Duration::ZERO),
            &es_token,
        ),
        (
            "memory_hit_RS256",
            stack(rs.clone(), MemoryCache::new(1000), hour),
            &rs_token,
        ),
        // A local validator with Redis: verify, then one round trip for the revocation markers
        // (no claims are read from Redis for a local validator).
        (
            "redis_local_RS256",
            stack(rs.clone(), redis.clone(), hour),
            &rs_token,
        ),
        (
            "redis_local_ES256",
            stack(es.clone(), redis.clone(), hour),
            &es_token,
        ),
        (
            "tiered_l1_hit_RS256",
            stack(rs.clone(), tiered.clone(), hour),
            &rs_token,
        ),
        (
            "remote5ms_direct",
            stack(remote.clone(), MemoryCache::new(10), Duration::ZERO),
            &rs_token,
        ),
        (
            "remote5ms_redis_l2_hit",
            stack(remote.clone(), redis.clone(), hour),
            &rs_token,
        ),
        (
            "remote5ms_tiered_l1_hit",
            stack(remote.clone(), tiered.clone(), hour),
            &rs_token,
        ),
    ];
    let mut g = c.benchmark_group("redis");
    for (name, svc, token) in cases {
        let header = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        let req = || {
            let mut r = Request::new(());
            r.headers_mut()
                .insert(http::header::AUTHORIZATION, header.clone());
            r
        };
        rt.block_on(async {
            assert_eq!(svc.clone().oneshot(req()).await.unwrap().status(), 200);
            tokio::time::sleep(Duration::from_millis(100)).await; // let the cache write land
        });
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| svc.clone().oneshot(req()))
        });
    }
    g.finish();
    println!(
        "redis errors during the run: {} (timeouts {}), short-circuited {}",
        redis.stats().errors(),
        redis.stats().timeouts(),
        redis.stats().short_circuited()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
