#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authenticator;
pub mod cache;
mod claims;
mod error;
pub mod middleware;
mod token;
pub mod validator;

pub use authenticator::{AuthFuture, AuthStats, Authenticator, JwtCacheBuilder};
pub use cache::{CacheKey, ClaimsCache, Lookup, MemoryCache, Revocation, RevocationSet};
pub use claims::{Audience, JwtClaims, StandardClaims, TokenMeta};
pub use error::{CacheError, ConfigError, Rejection, ValidationError};
pub use middleware::{DefaultRejection, JwtCache, JwtCacheLayer, RejectWith, RejectionHandler};
pub use token::{DEFAULT_MAX_TOKEN_LEN, TokenHash, check_compact, parse_authorization};
pub use validator::{Fingerprint, JwtValidator, TokenValidator, ValidatedToken, VerificationKey};

/// Re-exported so `Algorithm` and key types match the version we build on.
pub use jsonwebtoken;
