//! What a [`TokenValidator`](crate::TokenValidator) is made of, for writing your own (an auth
//! service, introspection): what a validation proves ([`ValidatedToken`], [`TokenMeta`]) and
//! the validator's identity ([`Fingerprint`]).
//!
//! The shipped validator is [`JwtValidator`](crate::JwtValidator), with its keys
//! ([`VerificationKey`](crate::VerificationKey)).

pub(crate) mod function;
#[cfg(any(feature = "jwks", feature = "introspection"))]
pub(crate) mod http;
#[cfg(feature = "introspection")]
pub(crate) mod introspection;
pub(crate) mod issuers;
#[cfg(feature = "jwks")]
pub(crate) mod jwks;
pub(crate) mod jws;
pub(crate) mod jwt;
pub(crate) mod key;
pub(crate) mod token_validator;

use std::sync::Arc;

pub use self::function::FnValidator;
#[cfg(any(feature = "jwks", feature = "introspection"))]
pub use self::http::redact as redact_url;
/// The transport rule of every outbound call that carries a token or fetches keys: `https://`,
/// or plain `http://` to a loopback host only (unless `allow_http`), no user-info, read with
/// the URL parser the HTTP client uses. `Err` says why not (the URL redacted).
#[cfg(any(feature = "jwks", feature = "introspection"))]
pub fn check_transport(url: &str, allow_http: bool) -> Result<(), String> {
    self::http::check_transport(url, allow_http)
}
#[cfg(feature = "introspection")]
pub use self::introspection::{ClientAuth, IntrospectionValidator, IntrospectionValidatorBuilder};
#[cfg(feature = "jwks")]
pub use self::jwks::{FetchError, FetchedDocument, JwksKeySource, JwksKeySourceBuilder, JwksStats};
pub use crate::claims::TokenMeta;
pub use crate::token::check_compact;

/// A validator's identity: a digest of everything that decides whether it accepts a token
/// (issuers, audiences, algorithms, keys, `typ`, required claims, leeway).
///
/// Cache keys are namespaced by it, so two services with different audiences sharing one cache
/// never accept each other's tokens from it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 16]);

impl Fingerprint {
    /// Digest arbitrary identity bytes (for validators of your own).
    pub fn of(parts: &[&[u8]]) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p);
        }
        let d = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        Fingerprint(out)
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        crate::token::hex(&self.0)
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

/// What a successful validation proved: the claims and the registered claims the cache needs.
#[derive(Debug, Clone)]
pub struct ValidatedToken<C> {
    /// The claims, shared with handlers.
    pub claims: Arc<C>,
    /// `exp`, `nbf`, `iat`, `jti`, `sub` and the verifying key's identity.
    pub meta: TokenMeta,
}

impl<C> ValidatedToken<C> {
    /// Claims and what the cache needs to know of them (`exp` above all: without it the
    /// validation is not cached).
    pub fn new(claims: C, meta: TokenMeta) -> Self {
        ValidatedToken {
            claims: Arc::new(claims),
            meta,
        }
    }
}
