//! [`Authenticator`]: the framework-agnostic core, bearer token → claims.
//!
//! The request path, in order (each step's file in brackets):
//! 1. the `Authorization` header and the compact-form check, before any hashing
//!    ([`crate::token`]);
//! 2. the SHA-256 of the exact bytes and the cache's synchronous answer, when it has one (an
//!    in-process cache): a hit is re-checked (`exp`/`nbf`, the signing key still current, the
//!    effective lifetime) and served without allocating ([`Inner::decide`]);
//! 3. otherwise, with a **local** validator, the signature is verified first and shared state
//!    is consulted only for a token that passed it; with a **remote** validator the cache is
//!    looked up first (one round trip on Redis, revocation markers included);
//! 4. a miss runs one validation per token however many requests wait for it
//!    ([`single_flight`]), checks the lifetime bound and revocation, and stores the result
//!    without delaying the response.

//!
//! This file is the hot path and its decision; the miss path is in `miss.rs`, revocation in
//! `revoke.rs`, the hash memo, the negative cache and the per-subject revocation count in
//! `memo.rs`, and the lifetime rules (pure functions of settings, token and clock) in
//! `lifetime.rs`.

mod builder;
mod future;
pub(crate) mod lifetime;
mod memo;
mod miss;
mod revoke;
mod single_flight;

use std::sync::Arc;

use tracing::Instrument;

pub(crate) use self::builder::Settings;
pub use self::builder::{JwtCacheBuilder, RevocationUnavailable};
pub use self::future::AuthFuture;
use self::memo::{HashMemo, MemoRef, NegativeCache, SubjectRevocations};
use self::single_flight::SingleFlight;
use crate::cache::claims_cache::ClaimsCache;
use crate::cache::{CacheKey, Lookup, RevocationCheck};
use crate::claims::JwtClaims;
use crate::clock::now_secs;
use crate::error::Rejection;
pub use crate::stats::AuthStats;
use crate::stats::{LookupResult, RequestOutcome, Tier};
use crate::token::{SignedHash, TokenHash};
use crate::validator::token_validator::TokenValidator;
use crate::validator::{Fingerprint, ValidatedToken};

type ValidationResult<C> = Result<Arc<ValidatedToken<C>>, Rejection>;

/// What the request path does after the cache's synchronous answer (if any).
enum Next {
    /// Ask the cache (a remote validator is expensive: a shared cache may already hold its
    /// answer).
    LookUp,
    /// Validate now.
    Validate(Prior),
}

/// What is known about a token before it is validated.
#[derive(Clone)]
struct Prior {
    /// The revocation answer a lookup brought back for the token's own ids, if any.
    checked: Option<RevocationCheck>,
}

/// What a cache's answer means for the request.
enum Decision<C> {
    /// A usable hit, revocation-checked: the common case, counted by the caller.
    Hit(Arc<C>),
    /// A hit served without a revocation check (fail-open), or a refusal.
    Done(Result<Arc<C>, Rejection>),
    /// A miss: validate, with the revocation answer if the lookup brought one back.
    Validate(Option<RevocationCheck>),
}

struct Inner<C> {
    validator: Arc<dyn TokenValidator<C>>,
    cache: Arc<dyn ClaimsCache<C>>,
    memo: Option<HashMemo>,
    negative: Option<NegativeCache>,
    fingerprint: Fingerprint,
    local: bool,
    /// The validator takes opaque tokens too (RFC 6750 `b64token`), not only compact JWTs.
    opaque: bool,
    settings: Settings,
    /// `None`: a flight led on another thread was abandoned (start again).
    flights: SingleFlight<CacheKey, Option<ValidationResult<C>>>,
    subject_revocations: SubjectRevocations,
    stats: Arc<AuthStats>,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::metrics::AuthMetrics>,
}

/// Turns a bearer token into claims: compact-form check, SHA-256, cache lookup (revocation
/// included), and on a miss one validation per token however many requests wait for it, whose
/// result is written to the cache without delaying the response.
///
/// A cheap handle (clones share everything). The tower layer and the actix middleware are thin
/// wrappers around it; build one with [`JwtCacheLayer::builder`](crate::JwtCacheLayer::builder)
/// or [`JwtCacheBuilder::new`].
pub struct Authenticator<C> {
    inner: Arc<Inner<C>>,
}

impl<C> Clone for Authenticator<C> {
    fn clone(&self) -> Self {
        Authenticator {
            inner: self.inner.clone(),
        }
    }
}

impl<C> std::fmt::Debug for Authenticator<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("fingerprint", &self.inner.fingerprint)
            .field("local_validator", &self.inner.local)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// At debug level, an authentication's outcome and the tier that answered, on its
/// `jwt_cache.authenticate` span (the current one on the async path, a new one otherwise);
/// never the token.
#[inline]
fn trace_outcome(o: RequestOutcome, tier: &'static str) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let (outcome, reason) = o.labels();
    let current = tracing::Span::current();
    if current
        .metadata()
        .is_some_and(|m| m.name() == "jwt_cache.authenticate")
    {
        current.record("outcome", outcome);
        current.record("tier", tier);
    } else {
        let span = tracing::debug_span!("jwt_cache.authenticate", outcome, tier);
        let _entered = span.enter();
    }
    if !reason.is_empty() {
        tracing::debug!(reason, "jwt_cache: refused");
    }
}

impl<C: JwtClaims> Authenticator<C> {
    pub(crate) fn from_parts(
        validator: Arc<dyn TokenValidator<C>>,
        cache: Arc<dyn ClaimsCache<C>>,
        settings: Settings,
    ) -> Self {
        // The namespace covers the validator's identity and the claims type: decoding `C` is
        // part of validation, so two services whose claims types accept different tokens must
        // not share entries.
        let claims_id = settings
            .claims_id
            .clone()
            .unwrap_or_else(|| std::any::type_name::<C>().to_owned());
        let fingerprint = Fingerprint::of(&[&validator.fingerprint().0, claims_id.as_bytes()]);
        let local = validator.is_local();
        let opaque = validator.accepts_opaque();
        let memo = (settings.hash_memo > 0).then(|| HashMemo::new(settings.hash_memo));
        let stats = Arc::new(AuthStats::new(settings.instrumented));
        let subject_revocations =
            SubjectRevocations::new(settings.max_revocations_per_subject, 10_000);
        #[cfg(feature = "metrics")]
        let metrics = {
            let meter = settings
                .meter
                .clone()
                .unwrap_or_else(crate::metrics::default_meter);
            validator.observe(&meter);
            cache.observe(&meter);
            Some(crate::metrics::AuthMetrics::register(&meter, &stats, local))
        };
        let negative = (!local && settings.negative_capacity > 0)
            .then(|| NegativeCache::new(settings.negative_capacity));
        Authenticator {
            inner: Arc::new(Inner {
                validator,
                cache,
                memo,
                negative,
                fingerprint,
                local,
                opaque,
                settings,
                flights: SingleFlight::default(),
                subject_revocations,
                stats,
                #[cfg(feature = "metrics")]
                metrics,
            }),
        }
    }

    /// An authenticator with the default settings and an in-process cache of
    /// [`MemoryCache::DEFAULT_CAPACITY`](crate::MemoryCache::DEFAULT_CAPACITY) entries.
    pub fn new(validator: impl TokenValidator<C>) -> Self {
        JwtCacheBuilder::new(validator).build_authenticator()
    }

    /// Whether requests without a bearer token pass through (without claims).
    pub fn is_optional(&self) -> bool {
        self.inner.settings.optional
    }

    /// The `realm` put in `WWW-Authenticate`, if configured.
    pub fn realm(&self) -> Option<&str> {
        self.inner.settings.realm.as_deref()
    }

    /// The configured `realm`, shared (what a pending answer keeps instead of the whole
    /// authenticator).
    pub fn realm_arc(&self) -> Option<Arc<str>> {
        self.inner.settings.realm.clone()
    }

    /// The namespace of this authenticator's cache keys: a digest of the validator's
    /// fingerprint and the claims type (see [`JwtCacheBuilder::claims_id`]).
    pub fn fingerprint(&self) -> Fingerprint {
        self.inner.fingerprint
    }

    /// Counters.
    pub fn stats(&self) -> &AuthStats {
        &self.inner.stats
    }

    /// The cache key of a token for this authenticator (its SHA-256 from the hash memo when
    /// the token is there).
    pub fn cache_key(&self, token: &str) -> CacheKey {
        self.key_and_signed(token, self.remembered(token.as_bytes()))
            .0
    }

    /// The hash the memo holds for exactly these bytes, if it holds them. It holds only
    /// tokens this authenticator validated (and stored), so bytes it holds passed
    /// [`classify`](crate::token::classify) under these same settings.
    fn remembered(&self, token: &[u8]) -> Option<TokenHash> {
        self.inner
            .memo
            .as_ref()
            .and_then(|m| m.get(&MemoRef(token)))
    }

    /// The cache key, and the token's [`SignedHash`] when it had to be hashed (`remembered`
    /// is `None`: not in the memo): a token the memo does not know is likely a miss, which
    /// needs both.
    fn key_and_signed(
        &self,
        token: &str,
        remembered: Option<TokenHash>,
    ) -> (CacheKey, Option<SignedHash>) {
        let (hash, signed) = match remembered {
            Some(hash) => (hash, None),
            None => {
                let (hash, signed) = TokenHash::with_signed(token);
                (hash, Some(signed))
            }
        };
        let key = CacheKey {
            fingerprint: self.inner.fingerprint,
            token: hash,
        };
        (key, signed)
    }

    /// The token a request carries in the configured places, checked for syntax; `None`: no
    /// token at all.
    fn token_in<'a>(
        &self,
        headers: &'a (impl crate::token::RequestHeaders + ?Sized),
    ) -> Result<Option<&'a str>, Rejection> {
        match self.inner.settings.sources.extract(headers)? {
            Some(raw) => {
                crate::token::classify(raw, self.inner.settings.max_token_len, self.inner.opaque)
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    /// Authenticate the token a request carries in the configured places (adapters call
    /// [`authenticate_request`](Self::authenticate_request), which decides on this).
    ///
    /// `Ok(None)` means "no token, and the authenticator is optional".
    pub(crate) fn authenticate_headers(
        &self,
        headers: &(impl crate::token::RequestHeaders + ?Sized),
    ) -> Result<Option<AuthFuture<C>>, Rejection> {
        match self.inner.settings.sources.extract(headers) {
            Ok(Some(raw)) => Ok(Some(self.authenticate_bytes(raw))),
            Ok(None) if self.inner.settings.optional => {
                self.inner.stats.record_outcome(RequestOutcome::Anonymous);
                Ok(None)
            }
            Ok(None) => Err(self.inner.refuse(Rejection::MissingToken, "none")),
            Err(rejection) => Err(self.inner.refuse(rejection, "none")),
        }
    }

    /// The token a request presents, from whichever configured place (the `Authorization`
    /// header, the cookie, the custom header): what a logout handler revokes. `None` when there
    /// is none, or it is ambiguous or malformed.
    pub fn presented_token<'a>(
        &self,
        headers: &'a (impl crate::token::RequestHeaders + ?Sized),
    ) -> Option<&'a str> {
        self.token_in(headers).ok().flatten()
    }

    /// Authenticate a bearer token. The same bytes are classified as on the header path:
    /// outside the `b64token` grammar, `invalid_request`; a `b64token` that is not a compact
    /// JWS (for a validator that takes only JWTs), `invalid_token`.
    pub fn authenticate(&self, token: &str) -> AuthFuture<C> {
        self.authenticate_bytes(token.as_bytes())
    }

    /// The header path and [`authenticate`](Self::authenticate): classify the bytes, unless
    /// the memo holds exactly them (then they passed the same checks when first validated, and
    /// a repeat skips the scan of every byte).
    fn authenticate_bytes(&self, raw: &[u8]) -> AuthFuture<C> {
        let remembered = self.remembered(raw);
        let token = match remembered {
            // ASCII, checked when they were first seen: this cannot fail.
            Some(_) => std::str::from_utf8(raw).map_err(|_| crate::token::malformed_credentials()),
            None => {
                crate::token::classify(raw, self.inner.settings.max_token_len, self.inner.opaque)
            }
        };
        match token {
            Ok(token) => self.authenticate_compact(token, remembered),
            Err(rejection) => AuthFuture::ready(Err(self.inner.refuse(rejection, "none"))),
        }
    }

    /// `token` passed the compact-form check (or, for a validator taking opaque tokens, the
    /// `b64token` one); `remembered` is its hash from the memo.
    fn authenticate_compact(&self, token: &str, remembered: Option<TokenHash>) -> AuthFuture<C> {
        let (key, signed) = self.key_and_signed(token, remembered);
        let inner = &self.inner;
        let next = match inner.cache.get_now(&key) {
            // An in-process cache answers here, and a hit needs no allocation at all.
            Some(lookup) => match inner.decide(key, lookup, Tier::InProcess) {
                // The hot path: one counter for "in-process hit, accepted".
                Decision::Hit(claims) => {
                    inner.stats.record_hit_accepted();
                    trace_outcome(RequestOutcome::Accepted, "in_process");
                    return AuthFuture::ready(Ok(claims));
                }
                Decision::Done(result) => {
                    return AuthFuture::ready(inner.finish(result, "in_process"));
                }
                // The usual miss: a local validator answers at once, on this thread.
                Decision::Validate(checked) if inner.local => {
                    return inner.miss_now(key, token, signed, Prior { checked });
                }
                Decision::Validate(checked) => Next::Validate(Prior { checked }),
            },
            // A shared cache and a local validator: verify the signature before any network
            // call, so unauthenticated input never reaches Redis; the shared cache is then
            // asked about revocation only, and the validation is kept in process only
            // (`Fill::Local`).
            None if inner.local => {
                return inner.miss_now(key, token, signed, Prior { checked: None });
            }
            None => Next::LookUp,
        };
        // Past the in-process answer (so a hit pays nothing for it): a token a remote
        // validator refused a moment ago is refused again without a lookup or a call.
        if let Some(refused) = inner.refused_before(&key) {
            inner.stats.record_lookup(Tier::Negative, LookupResult::Hit);
            let refused = Err(Rejection::InvalidToken(refused));
            return AuthFuture::ready(inner.finish(refused, "negative"));
        }
        inner.miss_later(key, token, next)
    }
}

impl<C: JwtClaims> Inner<C> {
    /// The async path past the in-process answer: a shared lookup, a validator that waits,
    /// a flight under way.
    fn miss_later(self: &Arc<Self>, key: CacheKey, token: &str, next: Next) -> AuthFuture<C> {
        let token: Arc<str> = Arc::from(token);
        let inner = self.clone();
        AuthFuture::waiting(Box::pin(async move {
            let span = tracing::debug_span!(
                "jwt_cache.authenticate",
                outcome = tracing::field::Empty,
                tier = tracing::field::Empty
            );
            let (result, tier) = inner
                .clone()
                .resolve(key, token, next)
                .instrument(span.clone())
                .await;
            let _entered = span.enter();
            inner.finish(result, tier)
        }))
    }

    /// Count a refusal made before any cache or validator was asked.
    fn refuse(&self, rejection: Rejection, tier: &'static str) -> Rejection {
        self.record(RequestOutcome::of(&rejection), tier);
        rejection
    }

    /// Count an authentication's outcome, and hand it back.
    #[inline]
    fn finish(
        &self,
        result: Result<Arc<C>, Rejection>,
        tier: &'static str,
    ) -> Result<Arc<C>, Rejection> {
        let outcome = match &result {
            Ok(_) => RequestOutcome::Accepted,
            Err(r) => RequestOutcome::of(r),
        };
        self.record(outcome, tier);
        result
    }

    /// Count an outcome, and trace it.
    #[inline]
    fn record(&self, outcome: RequestOutcome, tier: &'static str) {
        self.stats.record_outcome(outcome);
        trace_outcome(outcome, tier);
    }

    /// What a cache's answer means for the request: done (a usable hit, or a refusal), or
    /// validate (a miss, or a hit whose signing key has left the key set: that entry is
    /// dropped without waiting).
    fn decide(&self, key: CacheKey, lookup: Lookup<C>, tier: Tier) -> Decision<C> {
        let stats = &self.stats;
        // A hit, revocation-checked by the cache or not (`Unchecked`: the store is down).
        // A checked hit that stands is counted by the caller (`Decision::Hit`).
        let (v, checked) = match lookup {
            Lookup::Hit(v) => (v, true),
            Lookup::Unchecked(v) => {
                stats.record_lookup(tier, LookupResult::Unchecked);
                stats.record_cache_error();
                (v, false)
            }
            Lookup::Revoked => {
                stats.record_lookup(tier, LookupResult::Revoked);
                return Decision::Done(Err(Rejection::Revoked));
            }
            Lookup::Miss(check) => {
                stats.record_lookup(tier, LookupResult::Miss);
                return Decision::Validate(check);
            }
        };
        let recheck = self.recheck(&v.meta);
        if checked && recheck.is_err() {
            stats.record_lookup(tier, LookupResult::Hit);
        }
        match recheck {
            Err(Some(e)) => Decision::Done(Err(Rejection::InvalidToken(e))),
            // A checked entry whose key left the key set is dropped (an unchecked one sits in
            // a store that is down: nothing to drop it from).
            Err(None) => {
                if checked {
                    let cache = self.cache.clone();
                    self.fire_and_forget(Box::pin(async move { cache.remove(&key).await }));
                }
                Decision::Validate(None)
            }
            Ok(()) if checked => Decision::Hit(v.claims.clone()),
            Ok(()) => match self.settings.revocation_unavailable {
                RevocationUnavailable::FailOpen => Decision::Done(Ok(v.claims.clone())),
                RevocationUnavailable::FailClosed => Decision::Done(Err(Rejection::Unavailable(
                    "revocation store unavailable".into(),
                ))),
            },
        }
    }

    /// Re-check a hit against the clock, the lifetime bound and the key set. `Err(None)`: the
    /// key is gone (or the entry names none), so the entry is not a validation to serve.
    fn recheck(
        &self,
        meta: &crate::claims::TokenMeta,
    ) -> Result<(), Option<crate::error::ValidationError>> {
        lifetime::recheck(&self.settings, meta, now_secs(), self.validator.leeway())
            .map_err(Some)?;
        if !self.validator.key_is_current(meta.key.as_deref()) {
            return Err(None);
        }
        Ok(())
    }
}
