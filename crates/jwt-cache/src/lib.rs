#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authenticator;
pub mod cache;
mod claims;
mod error;
mod extract;
pub mod middleware;
mod token;
pub mod validator;

pub use authenticator::{
    AuthFuture, AuthStats, Authenticator, JwtCacheBuilder, RevocationUnavailable,
};
pub use cache::{
    CacheKey, ClaimsCache, Lookup, MemoryCache, Revocation, RevocationCheck, RevocationSet,
};
pub use claims::{Audience, JwtClaims, StandardClaims, TokenMeta};
pub use error::{CacheError, ConfigError, Rejection, ValidationError};
pub use extract::{MissingClaims, claims_from_extensions};
pub use middleware::{DefaultRejection, JwtCache, JwtCacheLayer, RejectWith, RejectionHandler};
pub use token::{
    DEFAULT_MAX_TOKEN_LEN, SignedHash, TokenHash, check_compact, parse_authorization,
    unverified_meta,
};
pub use validator::{Fingerprint, JwtValidator, TokenValidator, ValidatedToken, VerificationKey};

/// Put in the request extensions by an optional-auth layer when the request carried no bearer
/// token: extractors answer 401 (not 500) when a handler then asks for claims, with the
/// layer's realm in the challenge.
#[derive(Debug, Clone, Default)]
pub struct Unauthenticated {
    /// The configured `realm`, if any.
    pub realm: Option<std::sync::Arc<str>>,
}

/// Re-exported so `Algorithm` and key types match the version we build on.
pub use jsonwebtoken;
