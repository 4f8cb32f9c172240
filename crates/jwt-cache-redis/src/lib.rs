//! A Redis [`ClaimsCache`](jwt_cache::ClaimsCache) for [`jwt_cache`], on [`fred`]: every instance of every service
//! shares validated tokens and revocations, and Redis being slow, down or returning garbage
//! never takes the API down.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use jwt_cache::{JwtCacheLayer, JwtValidator, StandardClaims};
//! use jwt_cache_redis::RedisCache;
//!
//! let cache = RedisCache::<StandardClaims>::connect("redis://127.0.0.1:6379").await?
//!     .timeout(Duration::from_millis(5))
//!     // Without it, Redis carries revocations only: claims read from Redis are served
//!     // only when authenticated under a fleet-wide secret.
//!     .integrity_key(b"a server-side secret of at least 32 bytes!")?
//!     .build();
//! let auth = JwtCacheLayer::builder(JwtValidator::hs256([7u8; 32])?.audience("content"))
//!     .cache(cache)
//!     .build();
//! # Ok(()) }
//! ```
//!
//! What it does, per request (see the [`guide`]):
//!
//! - **Claims only when authenticated**: with an
//!   [`integrity_key`](RedisCacheBuilder::integrity_key), each value carries an HMAC-SHA256 over its
//!   key name, its absolute expiry (`not_after`) and its payload; a value that does not
//!   decode, whose tag does not match, or whose `not_after` has passed is a miss, counted in
//!   [`RedisStats::decode_errors`]. Without a key, Redis carries **revocations only** (no
//!   claims are written or read) unless you call
//!   [`insecure_share_unsigned_claims`](RedisCacheBuilder::insecure_share_unsigned_claims).
//! - **One round trip on a hit**: the entry, the token's revocation marker, and the `jti` and
//!   subject markers (named from the token's unverified claims) come back in one pipeline,
//!   which also answers the revocation check of a miss.
//! - **A local validator never looks up claims**: the authenticator verifies a
//!   [`JwtValidator`](jwt_cache::JwtValidator)'s signature first and then asks Redis about
//!   revocation only (one round trip), so unauthenticated input costs no Redis call.
//! - **Failures**: every call has a short timeout (default 5 ms); any error or timeout is a
//!   [`CacheError`](jwt_cache::CacheError), on which the authenticator validates directly. After 5 consecutive
//!   failures a circuit breaker refuses calls for 1 s, then lets one probe through.
//! - **Revocations this instance made** are kept in memory too and enforced even while Redis is
//!   unreachable; for the rest, the authenticator's
//!   [`RevocationUnavailable`](jwt_cache::RevocationUnavailable) choice applies.
//!
//! Topologies: a `redis://` URL (single node), `redis-cluster://` (Cluster, keys of one token
//! share a hash slot), `redis-sentinel://` (Sentinel), or any fred `Config`
//! through [`client_from_config`]; or bring your own fred `Client` or `Pool`
//! ([`RedisCache::builder`]).
//!
//! The whole guide (key scheme, values, failure modes, the revocation choice) is [`guide`].
//!
//! ## Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `enable-rustls` | no | TLS to Redis (`rediss://`) with rustls on aws-lc-rs, forwarded to fred |
//! | `enable-native-tls` | no | TLS to Redis with native-tls, forwarded to fred |
//!
//! fred is built with `default-features = false` and the command groups used (`i-keys`,
//! `i-scripts`). MSRV: Rust 1.88, as the core (checked by clippy's `incompatible_msrv` in CI).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[doc = include_str!("../guide/redis.md")]
pub mod guide {}

mod breaker;
mod cache;
mod calls;
mod client;
mod codec;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod keys;
mod log;
mod lookup;
mod markers;
#[cfg(feature = "metrics")]
mod metrics;
mod stats;
mod tiered;
mod view;

pub use fred;

pub use self::breaker::CircuitBreaker;
pub use self::cache::{RedisCache, RedisCacheBuilder};
pub use self::client::{client_from_config, client_from_url, redacted_url};
pub use self::stats::RedisStats;
pub use self::tiered::{TieredCache, TieredCacheBuilder};
pub use self::view::{RevocationView, ViewStats};

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
