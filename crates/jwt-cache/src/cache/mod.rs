//! What a [`ClaimsCache`](crate::ClaimsCache) backend is made of: the key, the answers of a
//! lookup, revocations, and the clock.
//!
//! # Implementing a cache
//!
//! A backend stores two things: **validations** (the claims a validator accepted, under a
//! [`CacheKey`]) and **revocations** (by token, `jti` or subject, each with a lifetime). The
//! authenticator does everything else: it hashes the token, re-checks every hit against the
//! clock and the key set, runs one validation per token on a miss, bounds token lifetimes and
//! falls back to direct validation on any error. The contract a backend must keep:
//!
//! 1. **`get` answers revocation with the lookup.** A hit that a revocation covers (its
//!    [`SignedHash`], its `jti`, or its subject issued before a time: [`Revocation::covers`])
//!    is [`Lookup::Revoked`], never a [`Lookup::Hit`]. A miss may carry the revocation answer
//!    for the token's own ids ([`Lookup::Miss`] with a [`RevocationCheck`]) when the backend
//!    fetched it anyway (one round trip); otherwise `Miss(None)` and the authenticator asks
//!    [`is_revoked`](crate::ClaimsCache::is_revoked).
//! 2. **What you store is what you serve, until its deadline.** `put` gets the TTL already
//!    bounded by the token's `exp`; never serve an entry past it.
//! 3. **Revocations are never evicted early**: an evicted revocation lets a revoked token back
//!    in. Keep each for the TTL given to `revoke` (bound the store and refuse when full, as
//!    [`RevocationSet`] does, rather than evict).
//! 4. **What comes back from shared storage is untrusted**: a value that does not decode is a
//!    miss (count it), never an error and never an acceptance; a shared backend serves claims
//!    only when it can authenticate them.
//! 5. **Errors are cheap and never fatal**: return [`CacheError`](crate::CacheError) quickly (bound every call by
//!    a timeout); the request validates directly.
//! 6. **`get_now`** answers without waiting when the backend can (in-process): that is the
//!    allocation-free hit path. A backend that must wait returns `None`.
//!
//! The acceptance suite in the repository's `tests/` crate (`cache_suite!`) holds any backend to
//! this contract, one named test per behaviour.
//!
//! A minimal in-process backend, built on [`RevocationSet`] for the revocations:
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use jwt_cache::cache::{
//!     CacheKey, Fill, Lookup, Revocation, RevocationSet, SignedHash, deadline_ms, now_ms,
//! };
//! use jwt_cache::validator::{TokenMeta, ValidatedToken};
//! use jwt_cache::{CacheError, ClaimsCache, StandardClaims};
//!
//! type Entry = (Arc<ValidatedToken<StandardClaims>>, SignedHash, u64);
//!
//! #[derive(Default)]
//! struct MapCache {
//!     entries: Mutex<HashMap<CacheKey, Entry>>,
//!     revocations: RevocationSet,
//! }
//!
//! #[async_trait::async_trait] // the crate `async-trait`, as the trait is declared with
//! impl ClaimsCache<StandardClaims> for MapCache {
//!     async fn get(&self, key: &CacheKey, _token: &str) -> Result<Lookup<StandardClaims>, CacheError> {
//!         let now = now_ms();
//!         let entries = self.entries.lock().unwrap();
//!         Ok(match entries.get(key) {
//!             Some((v, signed, until)) if *until > now => {
//!                 if self.revocations.is_revoked(signed, &v.meta, now) {
//!                     Lookup::Revoked
//!                 } else {
//!                     Lookup::Hit(v.clone())
//!                 }
//!             }
//!             _ => Lookup::Miss(None),
//!         })
//!     }
//!     async fn put(
//!         &self,
//!         key: &CacheKey,
//!         signed: &SignedHash,
//!         value: Arc<ValidatedToken<StandardClaims>>,
//!         ttl: Duration,
//!         _fill: Fill, // in process: kept whatever the validator
//!     ) -> Result<(), CacheError> {
//!         let until = deadline_ms(now_ms(), ttl);
//!         self.entries.lock().unwrap().insert(*key, (value, *signed, until));
//!         Ok(())
//!     }
//!     async fn remove(&self, key: &CacheKey) -> Result<(), CacheError> {
//!         self.entries.lock().unwrap().remove(key);
//!         Ok(())
//!     }
//!     async fn is_revoked(&self, token: &SignedHash, meta: &TokenMeta) -> Result<bool, CacheError> {
//!         Ok(self.revocations.is_revoked(token, meta, now_ms()))
//!     }
//!     async fn revoke(&self, revocation: &Revocation, ttl: Duration) -> Result<(), CacheError> {
//!         let now = now_ms();
//!         self.revocations.insert(revocation, deadline_ms(now, ttl), now)
//!     }
//! }
//!
//! # let validator = jwt_cache::JwtValidator::hs256([7u8; 32])?;
//! let layer = jwt_cache::JwtCacheLayer::builder(validator).cache(MapCache::default()).build();
//! # Ok::<(), jwt_cache::ConfigError>(())
//! ```

pub(crate) mod claims_cache;
pub(crate) mod memory;
mod revocation;

pub use self::revocation::{IdHash, Revocation, RevocationIds, RevocationSet, StoredRevocation};
pub use crate::clock::{REVOCATION_MARGIN, deadline_ms, now_ms, saturating_ms};
pub use crate::token::{SignedHash, TokenHash, unverified_meta};
use std::sync::Arc;

use crate::claims::TokenMeta;
use crate::validator::{Fingerprint, ValidatedToken};

/// Where a validation is cached: the validator's [`Fingerprint`] and the token's SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CacheKey {
    /// Identity of the validator that accepted the token.
    pub fingerprint: Fingerprint,
    /// SHA-256 of the token's exact bytes.
    pub token: TokenHash,
}

/// The answer of [`ClaimsCache::get`](crate::ClaimsCache::get). Non-exhaustive: a backend
/// constructs one of these; code that matches one keeps a wildcard arm for answers added later.
#[derive(Debug)]
#[non_exhaustive]
pub enum Lookup<C> {
    /// A cached validation that no revocation covers. The authenticator still re-checks
    /// `exp`/`nbf` against the clock and the signing key against the current key set.
    Hit(Arc<ValidatedToken<C>>),
    /// Nothing usable cached. When the revocation markers for the token's own ids came back
    /// with the lookup (a shared cache fetches them in the same round trip), their answer:
    /// the authenticator uses it instead of asking
    /// [`ClaimsCache::is_revoked`](crate::ClaimsCache::is_revoked) again, if the validated
    /// token has exactly these ids.
    Miss(Option<RevocationCheck>),
    /// A cached validation exists but a revocation covers it.
    Revoked,
    /// A cached validation whose revocation check could not be made (the revocation store is
    /// unreachable and no fresh view of it is held). The authenticator serves or refuses it
    /// by its [`RevocationUnavailable`](crate::RevocationUnavailable) choice, so a cached token
    /// keeps working through an outage of both the store and the validator under fail-open.
    Unchecked(Arc<ValidatedToken<C>>),
}

/// Whether revocations cover a token with these ids, as found during a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationCheck {
    /// The `jti` checked.
    pub jti: Option<String>,
    /// The `sub` checked.
    pub sub: Option<String>,
    /// The `iat` checked (subject revocations).
    pub iat: Option<u64>,
    /// Whether a revocation covers it.
    pub revoked: bool,
}

impl RevocationCheck {
    /// Whether this answer is about a token with `meta`'s ids.
    pub fn applies_to(&self, meta: &TokenMeta) -> bool {
        self.jti == meta.jti && self.sub == meta.sub && self.iat == meta.iat
    }
}

/// Where a validation may be stored ([`ClaimsCache::put`](crate::ClaimsCache::put)).
/// Non-exhaustive: a backend treats a place it does not know as [`Fill::Local`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fill {
    /// Everywhere the cache keeps claims, shared tiers included: the validator is remote and
    /// expensive, so another instance reading it back saves a call.
    Shared,
    /// Only in this process: the validator is local, and reading its validation back from a
    /// shared store would cost more than verifying again. A shared-only cache stores nothing.
    Local,
}
