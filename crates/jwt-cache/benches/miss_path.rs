//! What a never-seen token costs: the work a peer does per request (jsonwebtoken's
//! `decode_header` + `decode` into the same claims, what jwt-authorizer runs), our
//! `JwtValidator` alone, and a miss through the `Authenticator` (validation, then the
//! bookkeeping of caching it: hash, memo, entry, single-flight). Every iteration takes a token
//! the authenticator has never seen: the pool of distinct RS256 tokens is walked once per
//! authenticator, and a fresh one (built outside the timing) serves the next pass.
//!
//! `cargo bench -p jwt-cache --bench miss_path`; target: `miss` ≤ `peer_decode` + 1 µs.
//! (`signature_*`: one RS256 signature through jsonwebtoken, and with the key parsed once.)

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use jwt_cache::{
    Authenticator, JwtCacheBuilder, JwtValidator, MemoryCache, StandardClaims, TokenValidator,
};

const RSA_PRIVATE: &[u8] = include_bytes!("keys/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("keys/rsa_public.pem");
const POOL: usize = 2_000;

/// `POOL` distinct RS256 tokens shaped like the demo's (the design note's claims).
fn tokens() -> Vec<String> {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (0..POOL)
        .map(|i| {
            let sub = format!("user-{i}");
            let claims = serde_json::json!({
                "sub": sub, "email": format!("{sub}@example.test"), "username": sub,
                "iss": "https://id.example", "aud": "content", "iat": now, "nbf": now,
                "exp": now + 3600, "jti": format!("{i:024x}"), "scope": "read write",
            });
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
        })
        .collect()
}

fn validator() -> JwtValidator {
    JwtValidator::rs256_pem(RSA_PUBLIC)
        .unwrap()
        .issuer("https://id.example")
        .audience("content")
}

fn authenticator() -> Authenticator<StandardClaims> {
    JwtCacheBuilder::new(validator())
        .cache(MemoryCache::new(10_000))
        .ttl(Duration::from_secs(600))
        .build_authenticator()
}

/// Time `iters` runs of `f` over the pool, each token once per `fresh()` state.
fn over_pool<S>(
    tokens: &[String],
    iters: u64,
    mut fresh: impl FnMut() -> S,
    mut f: impl FnMut(&S, &str),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let state = fresh();
        let n = left.min(tokens.len());
        let start = Instant::now();
        for t in &tokens[..n] {
            f(&state, t);
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

fn bench_miss(c: &mut Criterion) {
    let tokens = tokens();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("miss_RS256");

    // The peer's work per request: header, key, then decode and validate the claims.
    let key = DecodingKey::from_rsa_pem(RSA_PUBLIC).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&["https://id.example"]);
    validation.set_audience(&["content"]);
    validation.validate_nbf = true;
    g.bench_function("peer_decode", |b| {
        b.iter_custom(|iters| {
            over_pool(
                &tokens,
                iters,
                || (),
                |_, t| {
                    let header = jsonwebtoken::decode_header(t).unwrap();
                    black_box(header.kid);
                    let data =
                        jsonwebtoken::decode::<StandardClaims>(t, &key, &validation).unwrap();
                    black_box(data.claims);
                },
            )
        })
    });

    let v = validator();
    g.bench_function("validator", |b| {
        b.iter_custom(|iters| {
            over_pool(
                &tokens,
                iters,
                || (),
                |_, t| {
                    let r = rt.block_on(TokenValidator::<StandardClaims>::validate(&v, t));
                    black_box(r.unwrap());
                },
            )
        })
    });

    g.bench_function("miss", |b| {
        b.iter_custom(|iters| {
            over_pool(&tokens, iters, authenticator, |auth, t| {
                let r = rt.block_on(auth.authenticate(t));
                black_box(r.unwrap());
            })
        })
    });
    // Why the validator parses each public key once: verifying one signature through
    // jsonwebtoken (which rebuilds the key from its bytes every time) and with the key parsed
    // once (aws-lc-rs `ParsedPublicKey`, what `JwtValidator` keeps).
    let (message, signature) = tokens[0].rsplit_once('.').unwrap();
    g.bench_function("signature_jsonwebtoken", |b| {
        b.iter(|| {
            let ok = jsonwebtoken::crypto::verify(
                black_box(signature),
                message.as_bytes(),
                &key,
                Algorithm::RS256,
            );
            assert!(ok.unwrap());
        })
    });
    let jsonwebtoken::DecodingKeyKind::SecretOrDer(der) = key.kind() else {
        unreachable!("an RSA key from PEM is DER");
    };
    let parsed = aws_lc_rs::signature::ParsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        der,
    )
    .unwrap();
    g.bench_function("signature_parsed_key", |b| {
        use base64::Engine;
        b.iter(|| {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(black_box(signature))
                .unwrap();
            parsed.verify_sig(message.as_bytes(), &raw).unwrap()
        })
    });

    // Check: every one of those was a miss, and a second pass hits.
    let auth = authenticator();
    for t in &tokens {
        rt.block_on(auth.authenticate(t)).unwrap();
    }
    assert_eq!(auth.stats().misses(), POOL as u64);
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench_miss
}
criterion_main!(benches);
