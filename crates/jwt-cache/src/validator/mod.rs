//! What a [`TokenValidator`](crate::TokenValidator) is made of, for writing your own (an auth
//! service, introspection): what a validation proves ([`ValidatedToken`], [`TokenMeta`]) and
//! the validator's identity ([`Fingerprint`]).
//!
//! The shipped validator is [`JwtValidator`](crate::JwtValidator), with its keys
//! ([`VerificationKey`](crate::VerificationKey)).

pub(crate) mod function;
#[cfg(feature = "introspection")]
pub(crate) mod introspection;
pub(crate) mod issuers;
#[cfg(feature = "jwks")]
pub(crate) mod jwks;
pub(crate) mod jwt;
pub(crate) mod key;
pub(crate) mod token_validator;

use std::sync::Arc;

pub use self::function::FnValidator;
#[cfg(feature = "introspection")]
pub use self::introspection::{ClientAuth, IntrospectionValidator, IntrospectionValidatorBuilder};
#[cfg(feature = "jwks")]
pub use self::jwks::{FetchedDocument, JwksKeySource, JwksKeySourceBuilder, JwksStats};
pub use crate::claims::TokenMeta;
pub use crate::token::check_compact;

/// Key sets and introspection travel over HTTPS: over plain HTTP anyone on the path could hand
/// us keys (and sign tokens) or read our client secret. Plain `http://` is accepted for a
/// loopback host (a local issuer, tests) or when the user opts in. `Err` says why not.
#[cfg(any(feature = "jwks", feature = "introspection"))]
pub(crate) fn check_transport(url: &str, allow_http: bool) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") || allow_http {
        return Ok(());
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return Err(format!("{url:?} is not an http(s) URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "{url:?} is plain HTTP to a host that is not loopback: use https, or allow_http() if \
             the network path is trusted"
        ))
    }
}

#[cfg(all(test, any(feature = "jwks", feature = "introspection")))]
mod transport_tests {
    use super::check_transport;

    #[test]
    fn https_everywhere_plain_http_on_loopback_only() {
        assert!(check_transport("https://id.example/jwks", false).is_ok());
        assert!(check_transport("http://127.0.0.1:4000/jwks", false).is_ok());
        assert!(check_transport("http://localhost/jwks", false).is_ok());
        assert!(check_transport("http://[::1]:8080/introspect", false).is_ok());
        assert!(check_transport("http://id.example/jwks", false).is_err());
        assert!(check_transport("http://127.0.0.1.evil.example/jwks", false).is_err());
        assert!(check_transport("http://user@10.0.0.1/jwks", false).is_err());
        assert!(check_transport("ftp://id.example/jwks", false).is_err());
        assert!(check_transport("http://id.example/jwks", true).is_ok());
    }
}

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
