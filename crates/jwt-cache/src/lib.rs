#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapter;
mod authenticator;
pub mod cache;
mod claims;
mod clock;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
#[cfg(test)]
mod layers;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "tower")]
pub mod middleware;
#[cfg(test)]
mod properties;
mod stats;
mod token;
pub mod validator;

pub use crate::authenticator::{AuthStats, Authenticator, JwtCacheBuilder, RevocationUnavailable};
pub use crate::cache::claims_cache::ClaimsCache;
pub use crate::cache::memory::MemoryCache;
pub use crate::claims::{Audience, JwtClaims, Requirement, Scopes, StandardClaims};
pub use crate::error::{CacheError, ConfigError, Rejection, ValidationError, check_secret_entropy};
#[cfg(feature = "tower")]
pub use crate::middleware::layer::JwtCacheLayer;
pub use crate::validator::issuers::Issuers;
pub use crate::validator::jwt::JwtValidator;
pub use crate::validator::key::VerificationKey;
pub use crate::validator::token_validator::TokenValidator;

/// The guides, with the repository's `docs/` as their source.
pub mod guide {
    #[doc = include_str!("../guide/caching.md")]
    pub mod caching {}
    #[doc = include_str!("../guide/security.md")]
    pub mod security {}
    #[doc = include_str!("../guide/operations.md")]
    pub mod operations {}
}

/// Re-exported so `Algorithm` and key types match the version we build on.
pub use jsonwebtoken;
