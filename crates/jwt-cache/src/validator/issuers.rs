//! [`Issuers`]: one validator for tokens from several issuers, each with its own validator.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::token_validator::TokenValidator;
use super::{Fingerprint, ValidatedToken};
use crate::error::ValidationError;

/// Tokens from several issuers (tenants) behind one layer, each issuer with its own validator
/// (keys, audiences, claims checks). The issuer is chosen by the token's `iss`, read from the
/// unverified payload **only to choose**; the chosen validator then checks everything,
/// signature first. A token naming no configured issuer is refused (`WrongIssuer`) without
/// calling any validator, so an unknown issuer never causes a key fetch.
///
/// Give each issuer's validator its `issuer(...)` too, so a token is checked against the
/// issuer that chose it.
///
/// ```
/// use jwt_cache::{Issuers, JwtCacheLayer, JwtValidator};
/// let a = JwtValidator::hs256([1u8; 32])?.issuer("https://a.example").audience("api");
/// let b = JwtValidator::hs256([2u8; 32])?.issuer("https://b.example").audience("api");
/// let layer = JwtCacheLayer::builder(
///     Issuers::new().issuer("https://a.example", a).issuer("https://b.example", b),
/// )
/// .build();
/// # Ok::<(), jwt_cache::ConfigError>(())
/// ```
pub struct Issuers<C> {
    by_iss: BTreeMap<String, Arc<dyn TokenValidator<C>>>,
}

impl<C> std::fmt::Debug for Issuers<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuers")
            .field("issuers", &self.by_iss.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<C> Default for Issuers<C> {
    fn default() -> Self {
        Issuers {
            by_iss: BTreeMap::new(),
        }
    }
}

impl<C: 'static> Issuers<C> {
    /// No issuer yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accept tokens whose `iss` is `iss`, validated by `validator`.
    #[must_use]
    pub fn issuer(mut self, iss: impl Into<String>, validator: impl TokenValidator<C>) -> Self {
        self.by_iss.insert(iss.into(), Arc::new(validator));
        self
    }

    /// The configured issuers.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_iss.keys().map(String::as_str)
    }
}

/// The unverified `iss` of a compact token, only for choosing a validator.
pub(crate) fn unverified_iss(token: &str) -> Option<String> {
    use base64::Engine;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Iss>(&bytes).ok()?.iss
}

impl<C> Issuers<C> {
    /// The validator of the token's (unverified) issuer.
    #[allow(clippy::type_complexity)]
    fn pick(&self, token: &str) -> Result<(String, &Arc<dyn TokenValidator<C>>), ValidationError> {
        let iss = unverified_iss(token).ok_or(ValidationError::MissingClaim("iss".into()))?;
        let validator = self.by_iss.get(&iss).ok_or(ValidationError::WrongIssuer)?;
        Ok((iss, validator))
    }
}

/// A validation with its key identity scoped by its issuer.
fn scoped<C>(mut v: ValidatedToken<C>, iss: &str) -> ValidatedToken<C> {
    v.meta.key = Some(format!(
        "{iss}{SEP}{}",
        v.meta.key.as_deref().unwrap_or_default()
    ));
    v
}

/// A key identity scoped by issuer (`<iss> NUL <key>`), so that two issuers' `kid`s never
/// collide and a key is checked against its own issuer's key set.
const SEP: char = '\u{0}';

#[async_trait]
impl<C: Send + Sync + 'static> TokenValidator<C> for Issuers<C> {
    async fn validate(&self, token: &str) -> Result<ValidatedToken<C>, ValidationError> {
        let (iss, validator) = self.pick(token)?;
        validator.validate(token).await.map(|v| scoped(v, &iss))
    }

    fn validate_now(&self, token: &str) -> Option<Result<ValidatedToken<C>, ValidationError>> {
        match self.pick(token) {
            Ok((iss, validator)) => Some(validator.validate_now(token)?.map(|v| scoped(v, &iss))),
            Err(e) => Some(Err(e)),
        }
    }

    fn fingerprint(&self) -> Fingerprint {
        let mut parts: Vec<Vec<u8>> = vec![b"jwt-cache/Issuers/1".to_vec()];
        for (iss, v) in &self.by_iss {
            parts.push(iss.as_bytes().to_vec());
            parts.push(v.fingerprint().0.to_vec());
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        Fingerprint::of(&refs)
    }

    fn key_is_current(&self, key: Option<&str>) -> bool {
        let Some((iss, inner)) = key.and_then(|k| k.split_once(SEP)) else {
            return false;
        };
        self.by_iss
            .get(iss)
            .is_some_and(|v| v.key_is_current((!inner.is_empty()).then_some(inner)))
    }

    fn leeway(&self) -> u64 {
        self.by_iss.values().map(|v| v.leeway()).max().unwrap_or(0)
    }

    fn is_local(&self) -> bool {
        self.by_iss.values().all(|v| v.is_local())
    }

    #[cfg(feature = "metrics")]
    fn observe(&self, meter: &opentelemetry::metrics::Meter) {
        for v in self.by_iss.values() {
            v.observe(meter);
        }
    }
}
