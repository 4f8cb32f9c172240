//! actix-web middleware and extractors for [`jwt_cache`]: the same [`Authenticator`](jwt_cache::Authenticator) (same
//! caches, same rules, same RFC 6750 rejections) as the tower layer, wrapped as an actix
//! [`Transform`](actix_web::dev::Transform).
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use jwt_cache::{JwtCacheBuilder, JwtValidator, MemoryCache, StandardClaims};
//! use jwt_cache_actix::{Claims, JwtCacheMiddleware};
//!
//! async fn me(Claims(c): Claims<StandardClaims>) -> String {
//!     c.sub
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let auth = JwtCacheBuilder::<StandardClaims>::new(JwtValidator::hs256([7u8; 32]).unwrap().audience("content"))
//!     .cache(MemoryCache::new(100_000));
//! let mw = JwtCacheMiddleware::from(auth);
//! HttpServer::new(move || App::new().wrap(mw.clone()).route("/me", web::get().to(me)))
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await
//! # }
//! ```
//!
//! The claims go into the request extensions as an `Arc<T>`, as with the tower layer; the
//! [`Claims<T>`] extractor clones them out (`Option<Claims<T>>` works through actix's `Option`
//! extractor). With [`optional`](jwt_cache::JwtCacheBuilder::optional) authentication, requests
//! without a token reach the handlers without claims; a handler that asks for `Claims<T>` then
//! answers 401 with a `Bearer` challenge.
//!
//! The core is used without its tower middleware, so an actix build carries no `http` 1.x;
//! the feature `tower` adds `From<JwtCacheLayer>` to share one layer with a tower app.
//!
//! A request whose token the in-process cache answers (the hit path) allocates nothing here:
//! the middleware's future is a small state machine ([`JwtCacheFuture`]), not a boxed one.
//!
//! Coming from a hand-written middleware or from `actix-web-httpauth`: [`migration`].
//!
//! ## Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `tower` | no | `From<JwtCacheLayer>` for [`JwtCacheMiddleware`]; turns on the core's tower middleware and with it `http` 1 |
//!
//! MSRV: Rust 1.88, as the core (checked by clippy's `incompatible_msrv` in CI).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[doc = include_str!("../guide/migration-actix.md")]
pub mod migration {}

mod extractors;
mod middleware;
mod scope;

#[allow(deprecated)]
pub use self::extractors::ClaimsError;
pub use self::extractors::{Claims, ClaimsRejection};
pub use self::middleware::{
    ActixHeaders, JwtCacheFuture, JwtCacheMiddleware, JwtCacheService, rejection_response,
};
pub use self::scope::{RequireScope, RequireScopeService};

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
