//! [`Authenticator`]: the framework-agnostic core, bearer token → claims.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared, WeakShared};
use tracing::Instrument;

use crate::cache::{
    CacheKey, ClaimsCache, Lookup, MemoryCache, Revocation, RevocationCheck, now_ms,
};
use crate::claims::JwtClaims;
use crate::error::{CacheError, ConfigError, Rejection, ValidationError};
use crate::token::{DEFAULT_MAX_TOKEN_LEN, TokenHash, check_compact};
use crate::validator::{Fingerprint, TokenValidator, ValidatedToken};

/// The future returned by [`Authenticator::authenticate`]: already complete when the answer
/// came from an in-process cache (no allocation), boxed otherwise.
pub struct AuthFuture<C> {
    state: AuthState<C>,
}

enum AuthState<C> {
    Ready(Option<Result<Arc<C>, Rejection>>),
    Waiting(BoxFuture<'static, Result<Arc<C>, Rejection>>),
}

impl<C> AuthFuture<C> {
    fn ready(result: Result<Arc<C>, Rejection>) -> Self {
        AuthFuture {
            state: AuthState::Ready(Some(result)),
        }
    }

    /// Whether the answer is already known (it came from an in-process cache).
    pub fn is_ready(&self) -> bool {
        matches!(self.state, AuthState::Ready(_))
    }

    /// Take the answer if it is already known, without polling.
    pub fn take_ready(&mut self) -> Option<Result<Arc<C>, Rejection>> {
        match &mut self.state {
            AuthState::Ready(r) => r.take(),
            AuthState::Waiting(_) => None,
        }
    }
}

impl<C> std::fmt::Debug for AuthFuture<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFuture")
            .field("ready", &self.is_ready())
            .finish()
    }
}

impl<C> Future for AuthFuture<C> {
    type Output = Result<Arc<C>, Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            AuthState::Ready(r) => {
                Poll::Ready(r.take().expect("AuthFuture polled after completion"))
            }
            AuthState::Waiting(f) => f.as_mut().poll(cx),
        }
    }
}

type ValidationResult<C> = Result<Arc<ValidatedToken<C>>, Rejection>;
type Flight<C> = Shared<BoxFuture<'static, ValidationResult<C>>>;
type FlightMap<C> =
    Mutex<HashMap<CacheKey, (u64, WeakShared<BoxFuture<'static, ValidationResult<C>>>)>>;

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
}

/// What to do with a valid token when the revocation store cannot be asked (a shared cache is
/// down or its circuit breaker is open). Revocations this instance has seen itself are
/// enforced from memory either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RevocationUnavailable {
    /// Accept the token on its signature alone (default: the cache is an accelerator, never a
    /// dependency; tokens are short-lived).
    #[default]
    FailOpen,
    /// Answer 503: no request is served without a revocation check.
    FailClosed,
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
        }
    }
}

/// Counters, for tests and dashboards (cheap relaxed atomics, off the hit path).
#[derive(Debug, Default)]
pub struct AuthStats {
    misses: AtomicU64,
    validations: AtomicU64,
    cache_errors: AtomicU64,
}

impl AuthStats {
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

struct Inner<C> {
    validator: Arc<dyn TokenValidator<C>>,
    cache: Arc<dyn ClaimsCache<C>>,
    fingerprint: Fingerprint,
    settings: Settings,
    inflight: Arc<FlightMap<C>>,
    flight_ids: AtomicU64,
    stats: AuthStats,
}

/// Turns a bearer token into claims: compact-form check, SHA-256, cache lookup (revocation
/// included), and on a miss one validation per token however many requests wait for it, whose
/// result is written to the cache without delaying the response.
///
/// A cheap handle (clones share everything). The tower layer and the actix middleware are thin
/// wrappers around it; build one with [`JwtCacheLayer::builder`](crate::JwtCacheLayer::builder).
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
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
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
        Authenticator {
            inner: Arc::new(Inner {
                validator,
                cache,
                fingerprint,
                settings,
                inflight: Arc::new(Mutex::new(HashMap::new())),
                flight_ids: AtomicU64::new(0),
                stats: AuthStats::default(),
            }),
        }
    }

    /// An authenticator with the default settings and an in-process cache of 10 000 entries.
    pub fn new(validator: impl TokenValidator<C>) -> Self {
        Self::from_parts(
            Arc::new(validator),
            Arc::new(MemoryCache::<C>::new(10_000)),
            Settings::default(),
        )
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
    pub fn unauthenticated_marker(&self) -> crate::Unauthenticated {
        crate::Unauthenticated {
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

    /// The cache key of a token for this authenticator.
    pub fn cache_key(&self, token: &str) -> CacheKey {
        CacheKey {
            fingerprint: self.inner.fingerprint,
            token: TokenHash::of(token),
        }
    }

    /// Authenticate the `Authorization` header values of a request: what both adapters call.
    ///
    /// `Ok(None)` means "no bearer token, and the authenticator is optional".
    pub fn authenticate_header<'a, I>(&self, values: I) -> Result<Option<AuthFuture<C>>, Rejection>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        match crate::token::bearer_token(values)? {
            Some(raw) => {
                let token = crate::token::classify(raw, self.inner.settings.max_token_len)?;
                Ok(Some(self.authenticate_compact(token)))
            }
            None if self.inner.settings.optional => Ok(None),
            None => Err(Rejection::MissingToken),
        }
    }

    /// Authenticate a bearer token.
    pub fn authenticate(&self, token: &str) -> AuthFuture<C> {
        if let Err(e) = check_compact(token, self.inner.settings.max_token_len) {
            return AuthFuture::ready(Err(Rejection::InvalidToken(e)));
        }
        self.authenticate_compact(token)
    }

    /// `token` passed the compact-form check.
    fn authenticate_compact(&self, token: &str) -> AuthFuture<C> {
        let key = self.cache_key(token);
        let inner = &self.inner;
        // An in-process cache answers here, and a hit needs no allocation at all.
        let lookup = match inner.cache.get_now(&key) {
            Some(lookup) => match inner.decide(key, lookup) {
                Decision::Done(result) => return AuthFuture::ready(result),
                Decision::Validate(checked) => Some(checked),
            },
            None => None,
        };
        let token: Arc<str> = Arc::from(token);
        let inner = inner.clone();
        AuthFuture {
            state: AuthState::Waiting(Box::pin(async move {
                inner.authenticate(key, token, lookup).await
            })),
        }
    }

    /// Revoke one token (logout). The marker lives until the token's own `exp` (read from
    /// the token, plus leeway), or [`max_token_lifetime`](crate::JwtCacheBuilder::max_token_lifetime)
    /// when it has none.
    pub async fn revoke_token(&self, token: &str) -> Result<(), CacheError> {
        let key = self.cache_key(token);
        let leeway = self.inner.validator.leeway();
        let exp = crate::token::unverified_meta(token).and_then(|m| m.exp);
        let ttl = match exp {
            Some(exp) => Duration::from_secs(
                exp.saturating_add(leeway)
                    .saturating_sub(now_secs())
                    .saturating_add(1),
            ),
            None => self.inner.settings.max_token_lifetime,
        };
        self.inner
            .cache
            .revoke(&Revocation::Token(key.token), ttl)
            .await?;
        let _ = self.inner.cache.remove(&key).await;
        Ok(())
    }

    /// Revoke every token with this `jti`, for [`max_token_lifetime`](crate::JwtCacheBuilder::max_token_lifetime).
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

    /// Record a revocation, kept for the longest a token it covers can live
    /// (`max_token_lifetime` plus leeway).
    pub async fn revoke(&self, revocation: Revocation) -> Result<(), CacheError> {
        let ttl = self.inner.settings.max_token_lifetime
            + Duration::from_secs(self.inner.validator.leeway());
        self.inner.cache.revoke(&revocation, ttl).await
    }
}

impl<C: JwtClaims> Inner<C> {
    /// `looked_up`: what a synchronous lookup already decided (`Some`: validate, with this
    /// revocation answer), or `None` to ask the cache now.
    async fn authenticate(
        self: Arc<Self>,
        key: CacheKey,
        token: Arc<str>,
        looked_up: Option<Option<RevocationCheck>>,
    ) -> Result<Arc<C>, Rejection> {
        let checked = match looked_up {
            Some(checked) => checked,
            None => match self.cache.get(&key, &token).await {
                Ok(lookup) => match self.decide(key, lookup) {
                    Decision::Done(result) => return result,
                    Decision::Validate(checked) => checked,
                },
                Err(e) => {
                    self.stats.cache_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "claims cache lookup failed; validating directly");
                    None
                }
            },
        };
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let validated = self.validate_once(key, token, checked.clone()).await?;
        // Each request applies the revocation answer its own lookup brought back: a request
        // that joined a validation already under way must not lose a "revoked" that the
        // leader's older lookup did not see.
        if let Some(c) = checked
            && c.revoked
            && c.applies_to(&validated.meta)
        {
            return Err(Rejection::Revoked);
        }
        Ok(validated.claims.clone())
    }

    /// What a cache's answer means for the request: done (a usable hit, or a refusal), or
    /// validate (a miss, with the revocation answer if the lookup brought one back, or a hit
    /// whose signing key has left the key set: that entry is dropped without waiting).
    fn decide(&self, key: CacheKey, lookup: Lookup<C>) -> Decision<C> {
        match lookup {
            Lookup::Hit(v) => match self.recheck(&v) {
                Ok(()) => Decision::Done(Ok(v.claims.clone())),
                Err(Some(e)) => Decision::Done(Err(Rejection::InvalidToken(e))),
                Err(None) => {
                    let cache = self.cache.clone();
                    self.fire_and_forget(Box::pin(async move { cache.remove(&key).await }));
                    Decision::Validate(None)
                }
            },
            Lookup::Revoked => Decision::Done(Err(Rejection::Revoked)),
            Lookup::Miss => Decision::Validate(None),
            Lookup::MissChecked(check) => Decision::Validate(Some(check)),
        }
    }

    /// A miss: validate, check revocation, and cache the validation if the token stands.
    /// Runs once per burst of concurrent misses for a token (see `validate_once`).
    async fn validate_and_store(
        self: Arc<Self>,
        key: CacheKey,
        token: Arc<str>,
        checked: Option<RevocationCheck>,
    ) -> ValidationResult<C> {
        self.stats.validations.fetch_add(1, Ordering::Relaxed);
        let (validated, waited) = self.validate_bounded(&token).await;
        let validated = Arc::new(validated.map_err(Rejection::InvalidToken)?);
        // The lookup may already have answered for this token's ids (one round trip on Redis).
        // Its answer is only as fresh as the lookup: used when validation did not wait (a local
        // validator); after a wait (a remote validator) revocation is asked again.
        let revoked = match checked.filter(|c| !waited && c.applies_to(&validated.meta)) {
            Some(c) => Ok(c.revoked),
            None => self.cache.is_revoked(&key.token, &validated.meta).await,
        };
        match revoked {
            Ok(false) => {}
            Ok(true) => return Err(Rejection::Revoked),
            Err(e) => {
                self.stats.cache_errors.fetch_add(1, Ordering::Relaxed);
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
        self.store(key, validated.clone());
        Ok(validated)
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

    /// Re-check a hit against the clock and the key set (rule 6). `Err(None)`: the key is gone.
    fn recheck(&self, v: &ValidatedToken<C>) -> Result<(), Option<ValidationError>> {
        let meta = &v.meta;
        if meta.exp.is_some() || meta.nbf.is_some() {
            let now = now_secs();
            let leeway = self.validator.leeway();
            if meta.exp.is_some_and(|exp| exp < now.saturating_sub(leeway)) {
                return Err(Some(ValidationError::Expired));
            }
            if meta.nbf.is_some_and(|nbf| nbf > now + leeway) {
                return Err(Some(ValidationError::NotYetValid));
            }
        }
        if !self.validator.key_is_current(meta.key.as_deref()) {
            return Err(None);
        }
        Ok(())
    }

    /// Single-flight: concurrent misses for one key share one validation. The map holds weak
    /// handles; when every waiter is gone the validation is dropped and its entry removed.
    fn validate_once(
        self: &Arc<Self>,
        key: CacheKey,
        token: Arc<str>,
        checked: Option<RevocationCheck>,
    ) -> Flight<C> {
        let mut map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, weak)) = map.get(&key)
            && let Some(flight) = weak.upgrade()
        {
            return flight;
        }
        let id = self.flight_ids.fetch_add(1, Ordering::Relaxed);
        let guard = FlightGuard {
            map: Arc::downgrade(&self.inflight),
            key,
            id,
        };
        let this = self.clone();
        let span = tracing::debug_span!("jwt_cache.validate", outcome = tracing::field::Empty);
        let fut: BoxFuture<'static, ValidationResult<C>> = Box::pin(
            async move {
                let _guard = guard;
                let result = this.validate_and_store(key, token, checked).await;
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
        );
        let flight = fut.shared();
        if let Some(weak) = flight.downgrade() {
            map.insert(key, (id, weak));
        }
        flight
    }

    /// Write a validation to the cache without delaying the response.
    fn store(&self, key: CacheKey, v: Arc<ValidatedToken<C>>) {
        let Some(ttl) = self.ttl_for(&v) else { return };
        let cache = self.cache.clone();
        self.fire_and_forget(Box::pin(async move { cache.put(&key, v, ttl).await }));
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

    /// `min(configured ttl, exp - now)`; `None` when the entry must not be cached.
    fn ttl_for(&self, v: &ValidatedToken<C>) -> Option<Duration> {
        match v.meta.exp {
            Some(exp) => {
                let left_ms = exp.saturating_mul(1000).checked_sub(now_ms())?;
                let ttl = self.settings.ttl.min(Duration::from_millis(left_ms));
                (!ttl.is_zero()).then_some(ttl)
            }
            None if self.settings.cache_without_exp => Some(self.settings.ttl),
            None => None,
        }
    }
}

enum Decision<C> {
    Done(Result<Arc<C>, Rejection>),
    Validate(Option<RevocationCheck>),
}

struct FlightGuard<C> {
    map: Weak<FlightMap<C>>,
    key: CacheKey,
    id: u64,
}

impl<C> Drop for FlightGuard<C> {
    fn drop(&mut self) {
        if let Some(map) = self.map.upgrade() {
            let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
            if map.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
                map.remove(&self.key);
            }
        }
    }
}

/// Builds an [`Authenticator`] and the [`JwtCacheLayer`](crate::JwtCacheLayer) around it.
#[must_use]
pub struct JwtCacheBuilder<C> {
    validator: Option<Arc<dyn TokenValidator<C>>>,
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

impl<C: JwtClaims> Default for JwtCacheBuilder<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: JwtClaims> JwtCacheBuilder<C> {
    /// A builder for claims of type `C` (see [`JwtCacheLayer::builder`](crate::JwtCacheLayer::builder)
    /// for [`StandardClaims`](crate::StandardClaims)).
    pub fn new() -> Self {
        JwtCacheBuilder {
            validator: None,
            cache: None,
            settings: Settings::default(),
        }
    }

    /// The validator (required).
    pub fn validator(mut self, validator: impl TokenValidator<C>) -> Self {
        self.validator = Some(Arc::new(validator));
        self
    }

    /// The cache (default: a [`MemoryCache`] of 10 000 entries).
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

    /// Cache validations of tokens without `exp` for the configured ttl (default: not cached).
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

    /// The longest lifetime of a token the issuer hands out (default 24 h): how long
    /// jti and subject revocations, and token revocations of tokens without `exp`, are kept.
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

    /// Build the [`Authenticator`].
    pub fn try_build_authenticator(self) -> Result<Authenticator<C>, ConfigError> {
        let validator = self.validator.ok_or(ConfigError::Other(
            "JwtCacheBuilder: no validator configured".into(),
        ))?;
        let cache = self
            .cache
            .unwrap_or_else(|| Arc::new(MemoryCache::<C>::new(10_000)));
        Ok(Authenticator::from_parts(validator, cache, self.settings))
    }

    /// Build the [`Authenticator`].
    ///
    /// # Panics
    /// If no validator was set (a programming error; see
    /// [`try_build_authenticator`](Self::try_build_authenticator)).
    pub fn build_authenticator(self) -> Authenticator<C> {
        self.try_build_authenticator()
            .expect("JwtCacheBuilder: a validator is required")
    }

    /// Build the tower layer.
    ///
    /// # Panics
    /// If no validator was set.
    pub fn build(self) -> crate::JwtCacheLayer<C> {
        crate::JwtCacheLayer::new(self.build_authenticator())
    }
}
