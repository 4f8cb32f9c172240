//! [`JwtCacheBuilder`] and the settings it collects.

use std::sync::Arc;
use std::time::Duration;

use super::Authenticator;
use crate::cache::claims_cache::ClaimsCache;
use crate::cache::memory::MemoryCache;
use crate::claims::JwtClaims;
use crate::token::DEFAULT_MAX_TOKEN_LEN;
use crate::validator::token_validator::TokenValidator;

/// Settings shared by every adapter.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) ttl: Duration,
    pub(crate) max_token_len: usize,
    pub(crate) cache_without_exp: bool,
    pub(crate) optional: bool,
    pub(crate) realm: Option<Arc<str>>,
    pub(crate) claims_id: Option<String>,
    pub(crate) validation_timeout: Duration,
    pub(crate) max_token_lifetime: Duration,
    pub(crate) revocation_unavailable: RevocationUnavailable,
    pub(crate) hash_memo: usize,
    pub(crate) sources: crate::token::TokenSources,
    pub(crate) negative_capacity: usize,
    pub(crate) negative_ttl: Duration,
    pub(crate) instrumented: bool,
    pub(crate) max_revocations_per_subject: u64,
    #[cfg(feature = "metrics")]
    pub(crate) meter: Option<opentelemetry::metrics::Meter>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            ttl: Duration::from_secs(600),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            cache_without_exp: false,
            optional: false,
            realm: None,
            claims_id: None,
            validation_timeout: Duration::from_secs(5),
            max_token_lifetime: Duration::from_secs(24 * 3600),
            revocation_unavailable: RevocationUnavailable::FailOpen,
            hash_memo: 10_000,
            sources: crate::token::TokenSources::default(),
            negative_capacity: 10_000,
            negative_ttl: Duration::from_secs(10),
            instrumented: true,
            max_revocations_per_subject: 100,
            #[cfg(feature = "metrics")]
            meter: None,
        }
    }
}

/// What to do with a valid token when the revocation store cannot be asked (a shared cache is
/// down or its circuit breaker is open). Revocations this instance has seen itself are
/// enforced from memory either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RevocationUnavailable {
    /// Accept the token on its signature alone (default: the cache is an accelerator, never a
    /// dependency; tokens are short-lived). Gives up: a revocation made on another instance
    /// is not enforced here while the store is unreachable.
    #[default]
    FailOpen,
    /// Answer 503: no request is served without a revocation check.
    FailClosed,
}

/// Builds an [`Authenticator`] and (feature `tower`) the `JwtCacheLayer` around it.
///
/// The validator is required, so it is the constructor's argument; everything else has a
/// default.
#[must_use]
pub struct JwtCacheBuilder<C> {
    validator: Arc<dyn TokenValidator<C>>,
    cache: Option<Arc<dyn ClaimsCache<C>>>,
    settings: Settings,
}

impl<C> std::fmt::Debug for JwtCacheBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCacheBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<C: JwtClaims> JwtCacheBuilder<C> {
    /// A builder for claims of type `C` validated by `validator` (`JwtCacheLayer::builder`
    /// is the same for [`StandardClaims`](crate::StandardClaims)).
    pub fn new(validator: impl TokenValidator<C>) -> Self {
        JwtCacheBuilder {
            validator: Arc::new(validator),
            cache: None,
            settings: Settings::default(),
        }
    }

    /// The cache (default: a [`MemoryCache`] of [`MemoryCache::DEFAULT_CAPACITY`] entries).
    pub fn cache(mut self, cache: impl ClaimsCache<C>) -> Self {
        self.cache = Some(Arc::new(cache));
        self
    }

    /// Upper bound on how long a validation is cached (default 600 s); an entry never outlives
    /// its token's `exp`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.settings.ttl = ttl;
        self
    }

    /// Longest token accepted, in bytes (default 8 KiB); longer ones are refused unhashed.
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.settings.max_token_len = bytes;
        self
    }

    /// Cache validations of tokens without `exp` (default: not cached). Such tokens are only
    /// accepted at all with an `iat`, and expire `max_token_lifetime` after it.
    pub fn cache_tokens_without_exp(mut self, yes: bool) -> Self {
        self.settings.cache_without_exp = yes;
        self
    }

    /// Optional authentication: a request without a bearer token reaches the service without
    /// claims; a request with a bad one is still refused (default: required).
    pub fn optional(mut self, yes: bool) -> Self {
        self.settings.optional = yes;
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenge.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.settings.realm = Some(Arc::from(realm.into()));
        self
    }

    /// The longest lifetime of a token the issuer hands out (default 24 h). Tokens whose `exp`
    /// is further away than this are refused (a revocation marker could lapse before them);
    /// a token without `exp` expires this long after its `iat` (without either it is
    /// refused). `jti` and subject revocations are kept this long plus
    /// [`REVOCATION_MARGIN`](crate::cache::REVOCATION_MARGIN). Use one value fleet-wide: a
    /// revocation made by a service with a shorter lifetime lapses sooner.
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.max_token_lifetime = lifetime;
        self
    }

    /// Namespace cache entries by this name instead of the claims type's Rust path
    /// (`std::any::type_name`). Entries are shared only between authenticators with the same
    /// validator identity and the same claims id: set the same id in services whose claims
    /// types are the same schema under different paths, and a new id when the schema changes.
    pub fn claims_id(mut self, id: impl Into<String>) -> Self {
        self.settings.claims_id = Some(id.into());
        self
    }

    /// Count every request's outcome, the tier that answered and each validation's result
    /// (default `true`): what [`AuthStats`](crate::AuthStats)' request counters and the
    /// `metrics` feature's instruments report. `false` saves a relaxed atomic increment per
    /// request (one on an accepted in-process hit, a few on other paths; measured in `docs/BENCHMARKS.md`); revocations, fallbacks and coalesced
    /// validations are counted either way.
    pub fn instrumented(mut self, on: bool) -> Self {
        self.settings.instrumented = on;
        self
    }

    /// Report OpenTelemetry metrics through `meter` (feature `metrics`; default: the global
    /// provider's `jwt-cache` meter, taken when the authenticator is built). The validator and
    /// the cache register theirs on it too. See [`metrics`](crate::metrics).
    #[cfg(feature = "metrics")]
    pub fn meter(mut self, meter: opentelemetry::metrics::Meter) -> Self {
        self.settings.meter = Some(meter);
        self
    }

    /// How long a validation may take before the request gets a 503 (default 5 s). Applies to
    /// validators that wait (a remote auth service), and uses tokio's timer: on a tokio runtime
    /// built without the time driver, set `Duration::ZERO` (no timeout) or give your validator
    /// its own timeout.
    pub fn validation_timeout(mut self, timeout: Duration) -> Self {
        self.settings.validation_timeout = timeout;
        self
    }

    /// What to do when the revocation store cannot be asked (default
    /// [`RevocationUnavailable::FailOpen`]).
    pub fn on_revocation_unavailable(mut self, mode: RevocationUnavailable) -> Self {
        self.settings.revocation_unavailable = mode;
        self
    }

    /// Also take the token from the cookie `name` (browser apps), beside `Authorization:
    /// Bearer`. The same checks and RFC 6750 answers apply; a request carrying a token in
    /// both places, or in two such cookies, is refused (`invalid_request`).
    pub fn token_from_cookie(mut self, name: impl Into<String>) -> Self {
        self.settings.sources.cookie = Some(Arc::from(name.into()));
        self
    }

    /// Origins (`https://app.example`, scheme, host and port as browsers send them in
    /// `Origin`) whose cross-origin requests may use the [cookie](Self::token_from_cookie)
    /// token for an unsafe method.
    ///
    /// A token taken from a cookie authenticates `POST`, `PUT`, `PATCH`, `DELETE`, … only for a
    /// same-origin request (`Sec-Fetch-Site: same-origin`, or, from a browser that sends no
    /// fetch metadata, an `Origin` naming the `Host` it was sent to) or a request whose
    /// `Origin` is in this list; any other gets `403` (cross-site request forgery: browsers
    /// attach cookies to cross-site requests, never a bearer header). `GET`, `HEAD` and
    /// `OPTIONS` are not affected, nor are requests carrying the token in a header. Pair the
    /// list with a CORS policy that allows credentials for the same origins.
    pub fn cookie_allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let origins: Vec<String> = origins
            .into_iter()
            .map(|o| o.into().trim_end_matches('/').to_ascii_lowercase())
            .collect();
        self.settings.sources.cookie_origins = Arc::from(origins);
        self
    }

    /// How many live revocations made from one subject's tokens (logouts) an instance
    /// records one by one (default 100). Past it, a logout revokes every token of the subject
    /// issued up to now (one entry), so that no single principal can fill the bounded
    /// revocation set and block everyone else's logout.
    pub fn max_revocations_per_subject(mut self, n: u64) -> Self {
        self.settings.max_revocations_per_subject = n.max(1);
        self
    }

    /// Also take the bare token from the header `name` (gateways that forward it as, e.g.,
    /// `X-Access-Token: <jwt>`), beside `Authorization: Bearer`. Refused when present with
    /// another source, or repeated.
    pub fn token_from_header(mut self, name: impl Into<String>) -> Self {
        self.settings.sources.header = Some(Arc::from(name.into().to_ascii_lowercase()));
        self
    }

    /// Whether to read `Authorization: Bearer` (default true): turn it off to take tokens
    /// only from the cookie or header configured above.
    pub fn bearer_header(mut self, yes: bool) -> Self {
        self.settings.sources.bearer = yes;
        self
    }

    /// The negative cache of a remote validator (default 10 000 tokens for 10 s; capacity 0
    /// turns it off): a token the validator refused is refused again from memory, without a
    /// lookup or a validator call, for `ttl`. A separate, bounded store, so a flood of garbage
    /// tokens never evicts a good validation; a transient failure (`Unavailable`) is never
    /// remembered. A local validator has none: verifying again costs less than remembering.
    pub fn negative_cache(mut self, capacity: usize, ttl: Duration) -> Self {
        self.settings.negative_capacity = capacity;
        self.settings.negative_ttl = ttl;
        self
    }

    /// How many tokens' SHA-256 to remember (default 10 000; 0: none). A hit then costs a
    /// fast keyed hash and a comparison of the exact bytes instead of a SHA-256 of the token
    /// (~0.5 µs for an 848-byte token). Only tokens that validated and were cached get in;
    /// each costs its length plus ~60 bytes.
    pub fn hash_memo(mut self, tokens: usize) -> Self {
        self.settings.hash_memo = tokens;
        self
    }

    /// Build the [`Authenticator`].
    pub fn build_authenticator(self) -> Authenticator<C> {
        let cache = self
            .cache
            .unwrap_or_else(|| Arc::new(MemoryCache::<C>::new(MemoryCache::<C>::DEFAULT_CAPACITY)));
        Authenticator::from_parts(self.validator, cache, self.settings)
    }
}
