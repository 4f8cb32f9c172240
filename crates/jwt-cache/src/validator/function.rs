//! [`FnValidator`]: any auth service, as an async function.

use std::future::Future;
use std::marker::PhantomData;

use async_trait::async_trait;

use super::token_validator::TokenValidator;
use super::{Fingerprint, ValidatedToken};
use crate::error::ValidationError;

/// A [`TokenValidator`] from an async function: the auth service you already call (gRPC,
/// HTTP, a database) becomes a closure. It is treated as **expensive** (remote): the cache is
/// looked up before it is called, concurrent misses for one token share one call, and a token
/// it refused is remembered for a moment in the negative cache.
///
/// The function returns the claims and the registered claims the cache needs
/// ([`TokenMeta`](super::TokenMeta)): give it `exp`, or the validation is not cached (unless
/// the authenticator opts in with `cache_tokens_without_exp`). Return
/// [`ValidationError::Unavailable`] when the service cannot answer (timeout, 5xx): it becomes
/// a 503, is never cached, and cached tokens keep working meanwhile.
///
/// `identity` names the service and its configuration (e.g. its URL and audience): it is part
/// of every cache key, so two services that share a Redis but validate differently never
/// share entries.
///
/// ```
/// use jwt_cache::validator::{FnValidator, TokenMeta, ValidatedToken};
/// use jwt_cache::{JwtCacheLayer, StandardClaims, ValidationError};
///
/// async fn call_auth_service(token: &str) -> Result<Option<(String, u64)>, std::io::Error> {
///     // ... a gRPC or HTTP call; here: every token belongs to alice for an hour
/// #   let _ = token;
///     Ok(Some(("alice".into(), 4_102_444_800)))
/// }
///
/// let validator = FnValidator::new("auth-service grpc://auth:50051", |token: String| async move {
///     match call_auth_service(&token).await {
///         Ok(Some((sub, exp))) => Ok(ValidatedToken::new(
///             StandardClaims { sub: sub.clone(), ..StandardClaims::default() },
///             TokenMeta { exp: Some(exp), sub: Some(sub), ..TokenMeta::default() },
///         )),
///         Ok(None) => Err(ValidationError::Inactive),
///         Err(e) => Err(ValidationError::Unavailable(e.to_string())),
///     }
/// })
/// .accept_opaque_tokens();
/// let layer = JwtCacheLayer::builder(validator).build();
/// # let _ = layer;
/// ```
pub struct FnValidator<C, F> {
    identity: String,
    f: F,
    opaque: bool,
    _claims: PhantomData<fn() -> C>,
}

impl<C, F> std::fmt::Debug for FnValidator<C, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnValidator")
            .field("identity", &self.identity)
            .field("opaque", &self.opaque)
            .finish_non_exhaustive()
    }
}

impl<C, F, Fut> FnValidator<C, F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ValidatedToken<C>, ValidationError>> + Send + 'static,
{
    /// A validator calling `f` with each token to validate; `identity` names the service (see
    /// above).
    pub fn new(identity: impl Into<String>, f: F) -> Self {
        FnValidator {
            identity: identity.into(),
            f,
            opaque: false,
            _claims: PhantomData,
        }
    }

    /// Accept opaque access tokens (RFC 6750 `b64token` syntax), not only compact JWTs.
    #[must_use]
    pub fn accept_opaque_tokens(mut self) -> Self {
        self.opaque = true;
        self
    }
}

#[async_trait]
impl<C, F, Fut> TokenValidator<C> for FnValidator<C, F>
where
    C: Send + Sync + 'static,
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ValidatedToken<C>, ValidationError>> + Send + 'static,
{
    async fn validate(&self, token: &str) -> Result<ValidatedToken<C>, ValidationError> {
        (self.f)(token.to_owned()).await
    }

    fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&[b"jwt-cache/FnValidator/1", self.identity.as_bytes()])
    }

    fn accepts_opaque(&self) -> bool {
        self.opaque
    }
}
