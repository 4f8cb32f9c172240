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

mod builder;
pub(crate) mod counters;
mod future;
mod single_flight;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use tracing::Instrument;

pub(crate) use self::builder::Settings;
pub use self::builder::{JwtCacheBuilder, RevocationUnavailable};
use self::counters::Counters;
pub use self::future::AuthFuture;
use self::single_flight::SingleFlight;
use crate::cache::claims_cache::ClaimsCache;
use crate::cache::{
    CacheKey, Fill, Lookup, REVOCATION_MARGIN, Revocation, RevocationCheck, now_ms,
};
use crate::claims::{JwtClaims, TokenMeta};
use crate::error::{CacheError, Rejection, ValidationError};
use crate::token::{SignedHash, TokenHash, check_compact};
use crate::validator::token_validator::TokenValidator;
use crate::validator::{Fingerprint, ValidatedToken};

type ValidationResult<C> = Result<Arc<ValidatedToken<C>>, Rejection>;

/// Counters, for tests and dashboards: relaxed atomics (two on an in-process hit), which the
/// `metrics` feature reports through OpenTelemetry observable instruments.
#[derive(Debug, Default)]
pub struct AuthStats {
    misses: AtomicU64,
    validations: AtomicU64,
    cache_errors: AtomicU64,
    pub(crate) counters: counters::Counters,
}

impl AuthStats {
    /// Requests authenticated (claims handed on).
    pub fn accepted(&self) -> u64 {
        self.counters.accepted()
    }
    /// Requests refused with a 401 (every reason).
    pub fn rejected(&self) -> u64 {
        counters::OUTCOMES
            .iter()
            .zip(&self.counters.outcomes)
            .filter(|((outcome, _), _)| *outcome == "rejected")
            .map(|(_, c)| Counters::get(c))
            .sum()
    }
    /// Requests answered 503 (validator or, fail-closed, revocation store unavailable).
    pub fn unavailable(&self) -> u64 {
        Counters::get(&self.counters.outcomes[2])
    }
    /// Lookups answered with a usable hit by the in-process tier.
    pub fn in_process_hits(&self) -> u64 {
        self.counters
            .lookups_at(counters::IN_PROCESS, counters::HIT)
    }
    /// Lookups that found nothing usable.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
    /// Validator calls made (single-flight: one per burst of concurrent misses).
    pub fn validations(&self) -> u64 {
        self.validations.load(Ordering::Relaxed)
    }
    /// Cache operations that failed (each fell back to direct validation).
    pub fn cache_errors(&self) -> u64 {
        self.cache_errors.load(Ordering::Relaxed)
    }
}

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

/// SHA-256 once per token, not once per request: the exact bytes of tokens that validated
/// and were cached, mapped to their hash. Found with a fast keyed hash (foldhash, through
/// quick_cache) of the token's last bytes (its signature: distinct per token) and confirmed
/// on the exact bytes; garbage never gets in (filled on a successful, cached validation only),
/// so crafted tails can only cost a comparison, never a wrong answer.
type HashMemo = quick_cache::sync::Cache<MemoKey, TokenHash>;

/// How many trailing bytes of a token the memo hashes.
const MEMO_TAIL: usize = 32;

fn memo_tail(bytes: &[u8]) -> &[u8] {
    &bytes[bytes.len().saturating_sub(MEMO_TAIL)..]
}

/// A token's exact bytes, hashed by their tail and compared whole.
#[derive(Clone, PartialEq, Eq)]
struct MemoKey(Box<[u8]>);

impl std::hash::Hash for MemoKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        memo_tail(&self.0).hash(state);
    }
}

/// A borrowed token looking itself up in the memo.
#[derive(PartialEq, Eq)]
struct MemoRef<'a>(&'a [u8]);

impl std::hash::Hash for MemoRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        memo_tail(self.0).hash(state);
    }
}

impl quick_cache::Equivalent<MemoKey> for MemoRef<'_> {
    fn equivalent(&self, key: &MemoKey) -> bool {
        *self.0 == *key.0
    }
}

/// Tokens a remote validator refused, by cache key: the refusal and until when (ms).
type NegativeCache = quick_cache::sync::Cache<CacheKey, (ValidationError, u64)>;

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
    flights: SingleFlight<CacheKey, ValidationResult<C>>,
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

/// At debug level, an authentication's outcome (in `slot` of [`counters::OUTCOMES`]) and the
/// tier that answered, on its `jwt_cache.authenticate` span (the current one on the async
/// path, a new one otherwise); never the token.
#[inline]
fn trace_outcome(slot: usize, tier: &'static str) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let (outcome, reason) = counters::OUTCOMES[slot];
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

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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
        let stats = Arc::new(AuthStats {
            counters: Counters::new(settings.instrumented),
            ..AuthStats::default()
        });
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

    /// The marker an optional-auth adapter puts in a request that carried no token.
    pub fn unauthenticated_marker(&self) -> crate::adapter::Unauthenticated {
        crate::adapter::Unauthenticated {
            realm: self.inner.settings.realm.clone(),
        }
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
        let remembered = self
            .inner
            .memo
            .as_ref()
            .and_then(|m| m.get(&MemoRef(token.as_bytes())));
        CacheKey {
            fingerprint: self.inner.fingerprint,
            token: remembered.unwrap_or_else(|| TokenHash::of(token)),
        }
    }

    /// The token a request carries in the configured places, checked for syntax; `None`: no
    /// token at all.
    fn token_in<'a>(
        &self,
        headers: &'a (impl crate::adapter::RequestHeaders + ?Sized),
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
        headers: &(impl crate::adapter::RequestHeaders + ?Sized),
    ) -> Result<Option<AuthFuture<C>>, Rejection> {
        let counters = &self.inner.stats.counters;
        match self.token_in(headers) {
            Ok(Some(token)) => Ok(Some(self.authenticate_compact(token))),
            Ok(None) if self.inner.settings.optional => {
                counters.outcome(counters::ANONYMOUS);
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
        headers: &'a (impl crate::adapter::RequestHeaders + ?Sized),
    ) -> Option<&'a str> {
        self.token_in(headers).ok().flatten()
    }

    /// Authenticate a bearer token.
    pub fn authenticate(&self, token: &str) -> AuthFuture<C> {
        if self.inner.opaque {
            return match crate::token::classify(
                token.as_bytes(),
                self.inner.settings.max_token_len,
                true,
            ) {
                Ok(token) => self.authenticate_compact(token),
                Err(rejection) => AuthFuture::ready(Err(self.inner.refuse(rejection, "none"))),
            };
        }
        if let Err(e) = check_compact(token, self.inner.settings.max_token_len) {
            return AuthFuture::ready(Err(self.inner.refuse(Rejection::InvalidToken(e), "none")));
        }
        self.authenticate_compact(token)
    }

    /// `token` passed the compact-form check (or, for a validator taking opaque tokens, the
    /// `b64token` one).
    fn authenticate_compact(&self, token: &str) -> AuthFuture<C> {
        let key = self.cache_key(token);
        let inner = &self.inner;
        let next = match inner.cache.get_now(&key) {
            // An in-process cache answers here, and a hit needs no allocation at all.
            Some(lookup) => match inner.decide(key, lookup, counters::IN_PROCESS) {
                // The hot path: one counter for "in-process hit, accepted".
                Decision::Hit(claims) => {
                    inner.stats.counters.hit_accepted();
                    trace_outcome(counters::ACCEPTED, "in_process");
                    return AuthFuture::ready(Ok(claims));
                }
                Decision::Done(result) => {
                    return AuthFuture::ready(inner.finish(result, "in_process"));
                }
                Decision::Validate(checked) => Next::Validate(Prior { checked }),
            },
            // A shared cache and a local validator: verify the signature before any network
            // call, so unauthenticated input never reaches Redis; the shared cache is then
            // asked about revocation only, and the validation is kept in process only
            // (`Fill::Local`).
            None if inner.local => Next::Validate(Prior { checked: None }),
            None => Next::LookUp,
        };
        // Past the in-process answer (so a hit pays nothing for it): a token a remote
        // validator refused a moment ago is refused again without a lookup or a call.
        if let Some(refused) = inner.refused_before(&key) {
            inner
                .stats
                .counters
                .lookup(counters::NEGATIVE, counters::HIT);
            let refused = Err(Rejection::InvalidToken(refused));
            return AuthFuture::ready(inner.finish(refused, "negative"));
        }
        let token: Arc<str> = Arc::from(token);
        let inner = inner.clone();
        AuthFuture::waiting(Box::pin(async move {
            let span = tracing::debug_span!(
                "jwt_cache.authenticate",
                outcome = tracing::field::Empty,
                tier = tracing::field::Empty
            );
            let (result, tier) = inner
                .clone()
                .authenticate(key, token, next)
                .instrument(span.clone())
                .await;
            let _entered = span.enter();
            inner.finish(result, tier)
        }))
    }

    /// Revoke one token (logout): every encoding of its signed part (see
    /// [`SignedHash`]), and its `jti` when it has one. The token marker lives until the
    /// token's own `exp` (read from the token, at most `max_token_lifetime` away) plus
    /// [`REVOCATION_MARGIN`].
    ///
    /// The token is read without verification: call this with a token the request was
    /// authenticated with (as a logout route behind the layer does), so that a forged token
    /// cannot be used to revoke someone else's `jti`. An opaque token (introspection) has
    /// nothing to read: its `exp` and `jti` are taken from its cached validation, when the
    /// cache holds one (it does right after the request authenticated with it).
    pub async fn revoke_token(&self, token: &str) -> Result<(), CacheError> {
        let key = self.cache_key(token);
        let meta = match crate::token::unverified_meta(token) {
            Some(meta) => meta,
            None => self.cached_meta(&key, token).await.unwrap_or_default(),
        };
        let lifetime = self.inner.settings.max_token_lifetime;
        let left = match self.inner.effective_exp(&meta) {
            Some(exp) => {
                Duration::from_secs(exp.saturating_sub(now_secs()).saturating_add(1)).min(lifetime)
            }
            None => lifetime,
        };
        self.inner
            .cache
            .revoke(
                &Revocation::Token(SignedHash::of(token)),
                left.saturating_add(REVOCATION_MARGIN),
            )
            .await?;
        self.inner.stats.counters.revocations[0].fetch_add(1, Ordering::Relaxed);
        if let Some(jti) = meta.jti {
            self.revoke(Revocation::Jti(jti)).await?;
        }
        let _ = self.inner.cache.remove(&key).await;
        Ok(())
    }

    /// What the cache's validation of this token says of it (for a token whose claims cannot be
    /// read from the token itself).
    async fn cached_meta(&self, key: &CacheKey, token: &str) -> Option<TokenMeta> {
        let lookup = match self.inner.cache.get_now(key) {
            Some(lookup) => lookup,
            None => self.inner.cache.get(key, token).await.ok()?,
        };
        match lookup {
            Lookup::Hit(v) | Lookup::Unchecked(v) => Some(v.meta.clone()),
            Lookup::Miss(_) | Lookup::Revoked => None,
        }
    }

    /// Revoke every token with this `jti`.
    pub async fn revoke_jti(&self, jti: &str) -> Result<(), CacheError> {
        self.revoke(Revocation::Jti(jti.to_owned())).await
    }

    /// Revoke every token of `sub` issued before `issued_before` (logout-everywhere, password
    /// change): tokens with `iat` strictly before that second, or with no `iat`.
    pub async fn revoke_subject(
        &self,
        sub: &str,
        issued_before: SystemTime,
    ) -> Result<(), CacheError> {
        let before = issued_before
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.revoke(Revocation::Subject {
            sub: sub.to_owned(),
            issued_before: before,
        })
        .await
    }

    /// Record a revocation, kept for the longest a token it covers can be accepted:
    /// `max_token_lifetime` plus [`REVOCATION_MARGIN`].
    pub async fn revoke(&self, revocation: Revocation) -> Result<(), CacheError> {
        let ttl = self
            .inner
            .settings
            .max_token_lifetime
            .saturating_add(REVOCATION_MARGIN);
        self.inner.cache.revoke(&revocation, ttl).await?;
        let kind = match revocation {
            Revocation::Token(_) => 0,
            Revocation::Jti(_) => 1,
            Revocation::Subject { .. } => 2,
        };
        self.inner.stats.counters.revocations[kind].fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl<C: JwtClaims> Inner<C> {
    /// The request path past the cache's synchronous answer.
    async fn authenticate(
        self: Arc<Self>,
        key: CacheKey,
        token: Arc<str>,
        next: Next,
    ) -> (Result<Arc<C>, Rejection>, &'static str) {
        let prior = match next {
            Next::Validate(prior) => prior,
            Next::LookUp => match self.cache.get(&key, &token).await {
                Ok(lookup) => match self.decide(key, lookup, counters::SHARED) {
                    Decision::Hit(claims) => {
                        self.stats.counters.lookup(counters::SHARED, counters::HIT);
                        return (Ok(claims), "shared");
                    }
                    Decision::Done(result) => return (result, "shared"),
                    Decision::Validate(checked) => Prior { checked },
                },
                Err(e) => {
                    self.stats.cache_errors.fetch_add(1, Ordering::Relaxed);
                    self.stats.counters.fallbacks[0].fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "claims cache lookup failed; validating directly");
                    Prior { checked: None }
                }
            },
        };
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let checked = prior.checked.clone();
        let this = self.clone();
        let validated = match self
            .flights
            .join_or_start(key, &self.stats.counters.coalesced, move || {
                this.validation_flight(key, token, prior)
            })
            .await
        {
            Ok(v) => v,
            Err(rejection) => return (Err(rejection), "validator"),
        };
        // Each request applies the revocation answer its own lookup brought back: a request
        // that joined a validation already under way must not lose a "revoked" that the
        // leader's older lookup did not see.
        if let Some(c) = checked
            && c.revoked
            && c.applies_to(&validated.meta)
        {
            return (Err(Rejection::Revoked), "validator");
        }
        (Ok(validated.claims.clone()), "validator")
    }

    /// Count a refusal made before any cache or validator was asked.
    fn refuse(&self, rejection: Rejection, tier: &'static str) -> Rejection {
        self.record(counters::rejection_slot(&rejection), tier);
        rejection
    }

    /// Count an authentication's outcome, and hand it back.
    #[inline]
    fn finish(
        &self,
        result: Result<Arc<C>, Rejection>,
        tier: &'static str,
    ) -> Result<Arc<C>, Rejection> {
        let slot = match &result {
            Ok(_) => counters::ACCEPTED,
            Err(r) => counters::rejection_slot(r),
        };
        self.record(slot, tier);
        result
    }

    /// Count the outcome in `slot` of [`counters::OUTCOMES`], and trace it.
    #[inline]
    fn record(&self, slot: usize, tier: &'static str) {
        self.stats.counters.outcome(slot);
        trace_outcome(slot, tier);
    }

    /// What a cache's answer means for the request: done (a usable hit, or a refusal), or
    /// validate (a miss, or a hit whose signing key has left the key set: that entry is
    /// dropped without waiting).
    fn decide(&self, key: CacheKey, lookup: Lookup<C>, tier: usize) -> Decision<C> {
        let counters = &self.stats.counters;
        // A hit, revocation-checked by the cache or not (`Unchecked`: the store is down).
        // A checked hit that stands is counted by the caller (`Decision::Hit`).
        let (v, checked) = match lookup {
            Lookup::Hit(v) => (v, true),
            Lookup::Unchecked(v) => {
                counters.lookup(tier, counters::UNCHECKED);
                self.stats.cache_errors.fetch_add(1, Ordering::Relaxed);
                (v, false)
            }
            Lookup::Revoked => {
                counters.lookup(tier, counters::REVOKED);
                return Decision::Done(Err(Rejection::Revoked));
            }
            Lookup::Miss(check) => {
                counters.lookup(tier, counters::MISS);
                return Decision::Validate(check);
            }
        };
        let recheck = self.recheck(&v.meta);
        if checked && recheck.is_err() {
            counters.lookup(tier, counters::HIT);
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

    /// One validation, shared by every request that misses on the same key meanwhile.
    fn validation_flight(
        self: Arc<Self>,
        key: CacheKey,
        token: Arc<str>,
        prior: Prior,
    ) -> BoxFuture<'static, ValidationResult<C>> {
        let span = tracing::debug_span!("jwt_cache.validate", outcome = tracing::field::Empty);
        Box::pin(
            async move {
                let result = self.validate_and_store(key, token, prior).await;
                let outcome = match &result {
                    Ok(_) => "valid",
                    Err(Rejection::Revoked) => "revoked",
                    Err(r) if r.status() == 503 => "unavailable",
                    Err(_) => "invalid",
                };
                tracing::Span::current().record("outcome", outcome);
                result
            }
            .instrument(span),
        )
    }

    /// A miss: validate, bound the lifetime, check revocation, and cache the validation if
    /// the token stands.
    async fn validate_and_store(
        self: Arc<Self>,
        key: CacheKey,
        token: Arc<str>,
        prior: Prior,
    ) -> ValidationResult<C> {
        self.stats.validations.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let (validated, waited) = self.validate_bounded(&token).await;
        self.stats
            .counters
            .validation(&validated.as_ref().map(|_| ()));
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.record_validation(started.elapsed(), &validated.as_ref().map(|_| ()));
        }
        let validated = match validated {
            Ok(v) => v,
            Err(e) => {
                self.remember_refusal(key, &e);
                return Err(Rejection::InvalidToken(e));
            }
        };
        if let Err(e) = self.check_lifetime(&validated.meta, now_secs()) {
            self.remember_refusal(key, &e);
            return Err(Rejection::InvalidToken(e));
        }
        let validated = Arc::new(validated);
        let signed = SignedHash::of(&token);
        // The lookup may already have answered for this token's ids (one round trip on Redis).
        // Its answer is only as fresh as the lookup: used when validation did not wait (a local
        // validator); after a wait (a remote validator) revocation is asked again.
        let revoked = match prior
            .checked
            .filter(|c| !waited && c.applies_to(&validated.meta))
        {
            Some(c) => Ok(c.revoked),
            None => self.cache.is_revoked(&signed, &validated.meta).await,
        };
        match revoked {
            Ok(false) => {}
            Ok(true) => return Err(Rejection::Revoked),
            Err(e) => {
                self.stats.cache_errors.fetch_add(1, Ordering::Relaxed);
                self.stats.counters.fallbacks[1].fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "revocation check failed");
                if self.settings.revocation_unavailable == RevocationUnavailable::FailClosed {
                    return Err(Rejection::Unavailable(format!(
                        "revocation store unavailable: {e}"
                    )));
                }
                // Fail-open: accept on the signature, but do not cache what could not be
                // checked.
                return Ok(validated);
            }
        }
        self.store(key, signed, validated.clone(), &token);
        Ok(validated)
    }

    /// A remote validator's recent refusal of this token, if any (the negative cache).
    fn refused_before(&self, key: &CacheKey) -> Option<ValidationError> {
        let (e, until) = self.negative.as_ref()?.get(key)?;
        (until > now_ms()).then_some(e)
    }

    /// Remember a remote validator's refusal for a while; never a transient failure.
    fn remember_refusal(&self, key: CacheKey, e: &ValidationError) {
        if let Some(negative) = &self.negative
            && !matches!(e, ValidationError::Unavailable(_))
        {
            let until = crate::cache::deadline_ms(now_ms(), self.settings.negative_ttl);
            negative.insert(key, (e.clone(), until));
        }
    }

    /// The validator's answer, or `Unavailable` after `validation_timeout`, and whether it had
    /// to wait. A validator that answers on its first poll (a local `JwtValidator`) never
    /// touches the timer; one that waits is bounded by the timeout when running on a tokio
    /// runtime (whose time driver must then be enabled, as `#[tokio::main]`, axum's and
    /// actix-rt's runtimes are).
    async fn validate_bounded(
        &self,
        token: &str,
    ) -> (Result<ValidatedToken<C>, ValidationError>, bool) {
        let mut fut = self.validator.validate(token);
        let first = {
            let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
            fut.as_mut().poll(&mut cx)
        };
        if let Poll::Ready(r) = first {
            return (r, false);
        }
        if self.settings.validation_timeout.is_zero()
            || tokio::runtime::Handle::try_current().is_err()
        {
            return (fut.await, true);
        }
        let result = match tokio::time::timeout(self.settings.validation_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ValidationError::Unavailable(format!(
                "validator did not answer within {:?}",
                self.settings.validation_timeout
            ))),
        };
        (result, true)
    }

    /// When a token stops being acceptable: its `exp`, or for a token without one, its `iat`
    /// plus `max_token_lifetime`. `None`: neither (such a token is refused).
    fn effective_exp(&self, meta: &TokenMeta) -> Option<u64> {
        meta.exp.or_else(|| {
            meta.iat
                .map(|iat| iat.saturating_add(self.settings.max_token_lifetime.as_secs()))
        })
    }

    /// Revocation markers must outlive every token they cover (they live `max_token_lifetime`
    /// plus [`REVOCATION_MARGIN`]): refuse a token that lives longer than
    /// `max_token_lifetime`, one accepted more than the margin past its expiry (whatever the
    /// validator's leeway), and one that says neither when it expires nor when it was issued.
    fn check_lifetime(&self, meta: &TokenMeta, now: u64) -> Result<(), ValidationError> {
        let Some(exp) = self.effective_exp(meta) else {
            return Err(ValidationError::MissingClaim("exp".into()));
        };
        if exp > now.saturating_add(self.settings.max_token_lifetime.as_secs()) {
            return Err(ValidationError::LifetimeTooLong);
        }
        if exp.saturating_add(REVOCATION_MARGIN.as_secs()) < now {
            return Err(ValidationError::Expired);
        }
        Ok(())
    }

    /// Re-check a hit against the clock, the lifetime bound and the key set. `Err(None)`: the
    /// key is gone (or the entry names none), so the entry is not a validation to serve.
    fn recheck(&self, meta: &TokenMeta) -> Result<(), Option<ValidationError>> {
        let now = now_secs();
        let leeway = self.validator.leeway();
        if meta.exp.is_some_and(|exp| exp < now.saturating_sub(leeway)) {
            return Err(Some(ValidationError::Expired));
        }
        if meta.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(Some(ValidationError::NotYetValid));
        }
        self.check_lifetime(meta, now).map_err(Some)?;
        if !self.validator.key_is_current(meta.key.as_deref()) {
            return Err(None);
        }
        Ok(())
    }

    /// Write a validation to the cache without delaying the response.
    fn store(&self, key: CacheKey, signed: SignedHash, v: Arc<ValidatedToken<C>>, token: &str) {
        let Some(ttl) = self.ttl_for(&v.meta) else {
            return;
        };
        if let Some(memo) = &self.memo {
            memo.insert(MemoKey(Box::from(token.as_bytes())), key.token);
        }
        // A local validation is kept in process only: reading it back from a shared store
        // would cost more than verifying again.
        let fill = if self.local {
            Fill::Local
        } else {
            Fill::Shared
        };
        let cache = self.cache.clone();
        self.fire_and_forget(Box::pin(async move {
            cache.put(&key, &signed, v, ttl, fill).await
        }));
    }

    /// Run a cache write without delaying the response: polled once here (an in-process cache
    /// finishes at once) and, if it must wait, spawned on the tokio runtime.
    fn fire_and_forget(&self, mut fut: BoxFuture<'static, Result<(), CacheError>>) {
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => {
                self.stats.cache_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "claims cache write failed");
            }
            Poll::Pending => match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(fut);
                }
                Err(_) => tracing::debug!("no tokio runtime: claims cache write dropped"),
            },
        }
    }

    /// `min(configured ttl, exp - now)`; `None` when the entry must not be cached (a token
    /// without `exp`, unless opted in, and then never past `iat + max_token_lifetime`).
    fn ttl_for(&self, meta: &TokenMeta) -> Option<Duration> {
        if meta.exp.is_none() && !self.settings.cache_without_exp {
            return None;
        }
        let exp = self.effective_exp(meta)?;
        let left_ms = exp.saturating_mul(1000).checked_sub(now_ms())?;
        let ttl = self.settings.ttl.min(Duration::from_millis(left_ms));
        (!ttl.is_zero()).then_some(ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memo_answers_only_for_the_exact_bytes() {
        let memo = HashMemo::new(10);
        let tail = "x".repeat(MEMO_TAIL);
        let (a, b) = (format!("aaa.bbb.{tail}"), format!("aaa.ccc.{tail}"));
        memo.insert(MemoKey(Box::from(a.as_bytes())), TokenHash::of(&a));
        // Same tail, other bytes: found in the same bucket, refused by the comparison.
        assert_eq!(memo.get(&MemoRef(b.as_bytes())), None);
        assert_eq!(memo.get(&MemoRef(a.as_bytes())), Some(TokenHash::of(&a)));
        // Tokens shorter than the tail work too.
        memo.insert(MemoKey(Box::from(&b"a.b.c"[..])), TokenHash::of("a.b.c"));
        assert_eq!(memo.get(&MemoRef(b"a.b.c")), Some(TokenHash::of("a.b.c")));
        assert_eq!(memo.get(&MemoRef(b"a.b.d")), None);
    }
}
