//! `jwt-cache-scale`: how cost grows with scale, one measurement per process (so resident
//! memory deltas are this measurement's alone). Prints one JSON object on stdout.
//!
//! - `jwt-cache-scale memory N`: N tokens cached in process (`MemoryCache` and hash memo sized
//!   for 2N, so that none is evicted),
//!   filled through the authenticator's miss path; resident bytes per entry, and the latency of
//!   an in-process hit on a random one of them (mean over a batch; p50/p99 timed one by one).
//!   Tokens are HS256 (minting a million RS256 tokens takes minutes): same claims as the HTTP
//!   bench's, shorter signature; the token length is reported, since the hash memo keeps
//!   each token's bytes.
//! - `jwt-cache-scale view N REDIS_URL`: N live revocations in the tiered cache's replicated
//!   view: the time a new instance takes to load them (`TieredCache::start`), its resident
//!   bytes per revocation, and the time from a revocation on one instance to its refusal on
//!   another (p50/p99 of 200) with those N live.
//! - `jwt-cache-scale redis N REDIS_URL`: N shared entries of the design note's claims (an auth
//!   service's validations, integrity key on): Redis `used_memory` per entry and one entry's
//!   `MEMORY USAGE`.
//!
//! `view` and `redis` FLUSHALL the Redis they are given first: give them a throwaway one.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fred::interfaces::{ClientLike, KeysInterface, MemoryInterface};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use jwt_cache::cache::{CacheKey, Fill, Revocation, SignedHash, TokenHash};
use jwt_cache::validator::{Fingerprint, TokenMeta, ValidatedToken};
use jwt_cache::{ClaimsCache, JwtCacheBuilder, JwtValidator, MemoryCache, StandardClaims};
use jwt_cache_redis::{RedisCache, RedisCacheBuilder, TieredCache};
use serde_json::json;

const SECRET: &[u8] = b"jwt-cache-scale-hs256-secret-0123456789";
/// At most this many Redis calls in flight while filling.
const IN_FLIGHT: usize = 256;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = |i: usize| -> usize {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| usage())
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let out = match args.first().map(String::as_str) {
        Some("memory") => rt.block_on(memory(n(1))),
        Some("view") => rt.block_on(view(n(1), args.get(2).cloned().unwrap_or_else(|| usage()))),
        Some("redis") => rt.block_on(redis(n(1), args.get(2).cloned().unwrap_or_else(|| usage()))),
        _ => usage(),
    };
    println!("{out}");
}

fn usage() -> ! {
    eprintln!("usage: jwt-cache-scale memory N | view N REDIS_URL | redis N REDIS_URL");
    std::process::exit(2);
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Resident memory of this process, bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm resident");
    pages * 4096
}

/// A small fast generator (xorshift64*): which cached token a hit asks for.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn memory(n: usize) -> serde_json::Value {
    let key = EncodingKey::from_secret(SECRET).expect("an HMAC secret");
    let now = now_secs();
    let tokens: Vec<String> = (0..n)
        .map(|i| {
            let sub = format!("user-{i}");
            let claims = json!({
                "sub": sub, "email": format!("{sub}@example.test"), "username": sub,
                "iss": "https://id.example", "aud": "content", "iat": now, "nbf": now,
                "exp": now + 24 * 3600, "jti": format!("{i:024x}"), "scope": "read write",
            });
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
        })
        .collect();
    let validator = JwtValidator::hs256(SECRET)
        .unwrap()
        .issuer("https://id.example")
        .audience("content");
    let auth = JwtCacheBuilder::<StandardClaims>::new(validator)
        // Room for twice the tokens: quick_cache evicts within a shard before the whole is
        // full, and every lookup below must hit.
        .cache(MemoryCache::new(2 * n))
        .hash_memo(2 * n)
        .ttl(Duration::from_secs(3600))
        .build_authenticator();
    let before = rss();
    let started = Instant::now();
    for t in &tokens {
        auth.authenticate(t).await.expect("a valid token");
    }
    let fill = started.elapsed();
    let after = rss();
    let misses = auth.stats().misses();
    // Hits on random cached tokens: a batch for the mean, then one by one for percentiles.
    let samples = 200_000;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let picks: Vec<usize> = (0..samples).map(|_| rng.below(n)).collect();
    let started = Instant::now();
    for &i in &picks {
        std::hint::black_box(auth.authenticate(&tokens[i]).await.expect("a hit"));
    }
    let mean_ns = started.elapsed().as_nanos() as f64 / samples as f64;
    let mut each: Vec<u64> = picks
        .iter()
        .map(|&i| {
            let t = Instant::now();
            let fut = auth.authenticate(&tokens[i]);
            std::hint::black_box(fut.is_ready());
            drop(std::hint::black_box(fut));
            t.elapsed().as_nanos() as u64
        })
        .collect();
    each.sort_unstable();
    assert_eq!(
        auth.stats().misses(),
        misses,
        "every lookup after the fill hits"
    );
    json!({
        "kind": "memory", "n": n,
        "token_bytes": tokens[0].len(),
        "bytes_per_entry": (after.saturating_sub(before)) as f64 / n as f64,
        "fill_per_token_us": fill.as_secs_f64() * 1e6 / n as f64,
        "hit_mean_ns": mean_ns,
        "hit_p50_ns": percentile(&each, 0.50),
        "hit_p99_ns": percentile(&each, 0.99),
    })
}

async fn used_memory(c: &fred::clients::Client) -> u64 {
    let info: String = c
        .info(Some(fred::types::InfoKind::Memory))
        .await
        .expect("INFO memory");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory")
}

/// A Redis cache on `url` for bulk work: its writes may queue behind each other for seconds.
async fn l2(url: &str) -> RedisCacheBuilder<StandardClaims, fred::clients::Client> {
    RedisCache::connect(url)
        .await
        .expect("Redis")
        .write_timeout(Duration::from_secs(30))
}

async fn tiered(l2: RedisCache<StandardClaims>, capacity: usize) -> TieredCache<StandardClaims> {
    TieredCache::builder(l2)
        .revocation_capacity(capacity)
        .start_timeout(Duration::from_secs(600))
        .start()
        .await
        .expect("tiered cache")
}

async fn view(n: usize, url: String) -> serde_json::Value {
    use futures_util::StreamExt;
    let writer = l2(&url).await.build();
    writer
        .client()
        .flushall::<()>(false)
        .await
        .expect("FLUSHALL");
    let capacity = n * 2 + 1_000;
    let a = tiered(writer, capacity).await;
    let ttl = Duration::from_secs(3600);
    let started = Instant::now();
    futures_util::stream::iter(0..n)
        .map(|i| {
            let a = &a;
            async move {
                a.revoke(&Revocation::Jti(format!("scale-{i}")), ttl)
                    .await
                    .expect("revoke")
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<()>>()
        .await;
    let revoke_rate = n as f64 / started.elapsed().as_secs_f64();
    // Full reloads of the writer's own view while it wrote (each one reads the whole log).
    let writer_reloads = a.view().stats().reloads();
    // Gaps it closed from the recent announcements instead (each reads what it missed).
    let writer_catch_ups = a.view().stats().catch_ups();
    // A new instance loading the N revocations, against one loading none (another prefix):
    // the difference in resident memory is the revocations'.
    let empty_before = rss();
    let empty = tiered(l2(&url).await.prefix("empty:").build(), capacity).await;
    let empty_cost = rss().saturating_sub(empty_before);
    let before = rss();
    let started = Instant::now();
    let b = tiered(l2(&url).await.build(), capacity).await;
    let load = started.elapsed();
    let loaded_cost = rss().saturating_sub(before);
    assert!(
        b.view().len() >= n,
        "the new instance holds every revocation"
    );
    // Propagation: A revokes, B refuses; 200 times, with N live.
    let mut times: Vec<u64> = Vec::with_capacity(200);
    for i in 0..200 {
        let jti = format!("probe-{i}");
        let meta = TokenMeta {
            jti: Some(jti.clone()),
            exp: Some(now_secs() + 3600),
            ..TokenMeta::default()
        };
        let signed = SignedHash([i as u8; 32]);
        let started = Instant::now();
        a.revoke(&Revocation::Jti(jti), ttl).await.expect("revoke");
        while !b.is_revoked(&signed, &meta).await.unwrap_or(false) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "never propagated"
            );
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
        times.push(started.elapsed().as_micros() as u64);
    }
    times.sort_unstable();
    drop(empty);
    json!({
        "kind": "view", "n": n,
        "revocations_per_s": revoke_rate,
        "writer_reloads": writer_reloads,
        "writer_catch_ups": writer_catch_ups,
        "load_ms": load.as_secs_f64() * 1e3,
        "bytes_per_revocation": loaded_cost.saturating_sub(empty_cost) as f64 / n as f64,
        "propagation_p50_ms": percentile(&times, 0.50) as f64 / 1e3,
        "propagation_p99_ms": percentile(&times, 0.99) as f64 / 1e3,
    })
}

async fn redis(n: usize, url: String) -> serde_json::Value {
    use futures_util::StreamExt;
    let cache: RedisCache<StandardClaims> = l2(&url)
        .await
        .integrity_key(b"jwt-cache-scale-integrity-key-0123456789")
        .expect("integrity key")
        .build();
    let admin = cache.client();
    admin.flushall::<()>(false).await.expect("FLUSHALL");
    let before = used_memory(admin).await;
    let exp = now_secs() + 3600;
    let fingerprint = Fingerprint::of(&[b"auth-service (jwt-cache-scale)"]);
    let entry = |i: usize| {
        let sub = format!("{:012}", 248_289_761_001u64 + i as u64);
        let value = ValidatedToken::new(
            StandardClaims {
                sub: sub.clone(),
                email: Some(format!("user{i}@example.com")),
                username: Some(format!("user.{i}")),
                exp: Some(exp),
                ..StandardClaims::default()
            },
            TokenMeta {
                sub: Some(sub),
                exp: Some(exp),
                ..TokenMeta::default()
            },
        );
        let token = TokenHash::of(&format!("token-{i}"));
        (CacheKey { fingerprint, token }, Arc::new(value))
    };
    futures_util::stream::iter(0..n)
        .map(|i| {
            let cache = &cache;
            async move {
                let (key, value) = entry(i);
                cache
                    .put(
                        &key,
                        &SignedHash(key.token.0),
                        value,
                        Duration::from_secs(3600),
                        Fill::Shared,
                    )
                    .await
                    .expect("put")
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<()>>()
        .await;
    let after = used_memory(admin).await;
    let (key, _) = entry(0);
    let name = cache.entry_key(&key);
    let one: u64 = admin
        .memory_usage(&name, Some(0))
        .await
        .expect("MEMORY USAGE");
    let value: Vec<u8> = admin.get(&name).await.expect("GET");
    json!({
        "kind": "redis", "n": n,
        "used_memory_per_entry": (after.saturating_sub(before)) as f64 / n as f64,
        "used_memory_mb": after as f64 / 1e6,
        "memory_usage_one": one,
        "key_bytes": name.len(),
        "value_bytes": value.len(),
    })
}
