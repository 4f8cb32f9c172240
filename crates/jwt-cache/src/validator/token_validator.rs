//! The [`TokenValidator`] trait.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Fingerprint, ValidatedToken};
use crate::error::ValidationError;

/// Turns a token string into claims, or a typed reason why not.
///
/// Implement it for a remote validator (RFC 7662 introspection, an auth service over
/// gRPC/HTTP): that is where a cache pays most. Return
/// [`ValidationError::Unavailable`] for transient failures; they are never cached.
#[async_trait]
pub trait TokenValidator<C>: Send + Sync + 'static {
    /// Validate `token` (already checked to be compact-form).
    async fn validate(&self, token: &str) -> Result<ValidatedToken<C>, ValidationError>;

    /// The answer when it needs no waiting (a signature checked in this process with a key
    /// at hand), `None` when it does (a remote call, a key set to refetch for an unknown
    /// `kid`): the authenticator then calls [`validate`](Self::validate). A miss answered here
    /// is settled on the caller's thread, with no future boxed. Default: `None`.
    fn validate_now(&self, _token: &str) -> Option<Result<ValidatedToken<C>, ValidationError>> {
        None
    }

    /// This validator's identity; see [`Fingerprint`].
    fn fingerprint(&self) -> Fingerprint;

    /// Whether the key that verified a cached token (its [`TokenMeta::key`](super::TokenMeta::key)) is still in the
    /// current key set. A key removed from the key set takes its cached validations with it.
    ///
    /// A validator whose validations always name their key must answer `false` for `None`:
    /// an entry that names no key was not written by it.
    fn key_is_current(&self, _key: Option<&str>) -> bool {
        true
    }

    /// Whether validation is local and cheap (a signature check in this process, like
    /// [`JwtValidator`](crate::JwtValidator)) rather than a call to something else (an auth service,
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

    /// Whether opaque access tokens (RFC 6750 `b64token` syntax, the same length limit) are
    /// handed to this validator, not only compact JWTs. Default `false`: a JWT validator gets
    /// only tokens that passed the compact-form check. Introspection says `true`.
    fn accepts_opaque(&self) -> bool {
        false
    }

    /// Register this validator's own instruments (a key source's fetches and key count) on
    /// `meter`; called once when an authenticator with metrics is built. Default: none.
    #[cfg(feature = "metrics")]
    fn observe(&self, _meter: &opentelemetry::metrics::Meter) {}
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
    fn validate_now(&self, token: &str) -> Option<Result<ValidatedToken<C>, ValidationError>> {
        (**self).validate_now(token)
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
    fn accepts_opaque(&self) -> bool {
        (**self).accepts_opaque()
    }
    #[cfg(feature = "metrics")]
    fn observe(&self, meter: &opentelemetry::metrics::Meter) {
        (**self).observe(meter)
    }
}
