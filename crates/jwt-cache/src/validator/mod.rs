//! Validators: what turns a token string into claims.

mod jwt;

use std::sync::Arc;

use async_trait::async_trait;

pub use self::jwt::{JwtValidator, VerificationKey};
use crate::claims::TokenMeta;
use crate::error::ValidationError;

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

/// Turns a token string into claims, or a typed reason why not.
///
/// Implement it for a remote validator (RFC 7662 introspection, an auth service over
/// gRPC/HTTP): that is where a cache pays most. Return
/// [`ValidationError::Unavailable`] for transient failures; they are never cached.
#[async_trait]
pub trait TokenValidator<C>: Send + Sync + 'static {
    /// Validate `token` (already checked to be compact-form).
    async fn validate(&self, token: &str) -> Result<ValidatedToken<C>, ValidationError>;

    /// This validator's identity; see [`Fingerprint`].
    fn fingerprint(&self) -> Fingerprint;

    /// Whether the key that verified a cached token (its [`TokenMeta::key`]) is still in the
    /// current key set. A key removed from the key set takes its cached validations with it.
    ///
    /// A validator whose validations always name their key must answer `false` for `None`:
    /// an entry that names no key was not written by it.
    fn key_is_current(&self, _key: Option<&str>) -> bool {
        true
    }

    /// Whether validation is local and cheap (a signature check in this process, like
    /// [`JwtValidator`]) rather than a call to something else (an auth service,
    /// introspection). Default: `false`.
    ///
    /// A local validator is asked **before** any shared state: a token that fails it never
    /// costs a network call, and a shared cache is not asked for its claims (a round trip
    /// costs more than the verification). A remote validator is expensive, so the cache is
    /// looked up first.
    fn is_local(&self) -> bool {
        false
    }

    /// Clock leeway in seconds applied to `exp`/`nbf`, re-applied on every cache hit.
    fn leeway(&self) -> u64 {
        0
    }
}

#[async_trait]
impl<C, V> TokenValidator<C> for Arc<V>
where
    V: TokenValidator<C> + ?Sized,
    C: 'static,
{
    async fn validate(&self, token: &str) -> Result<ValidatedToken<C>, ValidationError> {
        (**self).validate(token).await
    }
    fn fingerprint(&self) -> Fingerprint {
        (**self).fingerprint()
    }
    fn key_is_current(&self, key: Option<&str>) -> bool {
        (**self).key_is_current(key)
    }
    fn leeway(&self) -> u64 {
        (**self).leeway()
    }
    fn is_local(&self) -> bool {
        (**self).is_local()
    }
}
