//! The miss path: past the cache's synchronous answer, a shared lookup (remote validators),
//! one validation per token however many requests wait for it (single-flight), the lifetime
//! bound and the revocation check, and the store that does not delay the response.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tracing::Instrument;

use super::single_flight::Lead;
use super::{
    AuthFuture, Decision, Inner, Next, Prior, RevocationUnavailable, ValidationResult, lifetime,
};
use crate::cache::{CacheKey, Fill};
use crate::claims::JwtClaims;
use crate::clock::{now_ms, now_secs};
use crate::error::{CacheError, Rejection, ValidationError};
use crate::stats::{self, Fallback, LookupResult, Tier};
use crate::token::SignedHash;
use crate::validator::ValidatedToken;

impl<C: JwtClaims> Inner<C> {
    /// Resolve a request the in-process answer could not: look up the shared cache (when
    /// `next` says so), then validate on a miss. Returns the result and the tier that answered.
    pub(super) async fn resolve(
        self: Arc<Self>,
        key: CacheKey,
        token: Arc<str>,
        next: Next,
    ) -> (Result<Arc<C>, Rejection>, &'static str) {
        let prior = match next {
            Next::Validate(prior) => prior,
            Next::LookUp => match self.cache.get(&key, &token).await {
                Ok(lookup) => match self.decide(key, lookup, Tier::Shared) {
                    Decision::Hit(claims) => {
                        self.stats.record_lookup(Tier::Shared, LookupResult::Hit);
                        return (Ok(claims), "shared");
                    }
                    Decision::Done(result) => return (result, "shared"),
                    Decision::Validate(checked) => Prior { checked },
                },
                Err(e) => {
                    self.stats.record_fallback(Fallback::Lookup);
                    tracing::debug!(error = %e, "claims cache lookup failed; validating directly");
                    Prior { checked: None }
                }
            },
        };
        self.stats.record_miss();
        let checked = prior.checked.clone();
        let validated = loop {
            let (this, token, prior) = (self.clone(), token.clone(), prior.clone());
            let flight =
                self.flights
                    .join_or_start(key, self.stats.coalesced_counter(), move || {
                        this.validation_flight(key, token, prior)
                    });
            if let Some(result) = flight.await {
                break result;
            }
            // The flight was led on another thread, whose validator turned out to need
            // waiting (`Inner::miss_now`): it left, so start one here.
        };
        let validated = match validated {
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

    /// One validation, shared by every request that misses on the same key meanwhile.
    fn validation_flight(
        self: Arc<Self>,
        key: CacheKey,
        token: Arc<str>,
        prior: Prior,
    ) -> BoxFuture<'static, Option<ValidationResult<C>>> {
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
                Some(result)
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
        let started = Started::now();
        let (validated, waited) = self.validate_bounded(&token).await;
        let validated = self.admit(key, validated, started)?;
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
        self.settle(key, signed, validated, revoked, &token)
    }

    /// A miss whose validator answers without waiting (a local signature check: the usual
    /// miss), settled on the caller's thread: validated, revocation-checked and stored with no
    /// future boxed, under a single-flight lead so that requests for the same token meanwhile
    /// wait for this validation instead of running their own. A validator that must wait (a
    /// key set to refetch), a flight already under way, or a revocation check that must ask
    /// Redis continue on the async path.
    pub(super) fn miss_now(
        self: &Arc<Self>,
        key: CacheKey,
        token: &str,
        signed: Option<SignedHash>,
        prior: Prior,
    ) -> AuthFuture<C> {
        let Some(lead) = self.flights.lead(key) else {
            return self.miss_later(key, token, Next::Validate(prior));
        };
        let started = Started::now();
        let Some(validated) = self.validator.validate_now(token) else {
            drop(lead);
            return self.miss_later(key, token, Next::Validate(prior));
        };
        self.stats.record_miss();
        let validated = match self.admit(key, validated, started) {
            Ok(v) => v,
            Err(rejection) => return AuthFuture::ready(self.land(lead, Err(rejection))),
        };
        let signed = signed.unwrap_or_else(|| SignedHash::of(token));
        let (revoked, validated) = match prior.checked.filter(|c| c.applies_to(&validated.meta)) {
            Some(c) => (Ok(c.revoked), validated),
            None => {
                // Polled once here: an in-process answer is ready at once; one that must ask
                // Redis goes on asynchronously, the same call.
                let cache = self.cache.clone();
                let mut check = Box::pin(async move {
                    let revoked = cache.is_revoked(&signed, &validated.meta).await;
                    (revoked, validated)
                });
                match poll_once(&mut check) {
                    Poll::Ready(answer) => answer,
                    Poll::Pending => {
                        let (this, token) = (self.clone(), Arc::<str>::from(token));
                        return AuthFuture::waiting(Box::pin(async move {
                            let (revoked, validated) = check.await;
                            let result = this.settle(key, signed, validated, revoked, &token);
                            this.land(lead, result)
                        }));
                    }
                }
            }
        };
        let result = self.settle(key, signed, validated, revoked, token);
        AuthFuture::ready(self.land(lead, result))
    }

    /// A led validation's result: handed to the requests that joined, and counted as this
    /// request's outcome.
    fn land(
        &self,
        lead: Lead<CacheKey, Option<ValidationResult<C>>>,
        result: ValidationResult<C>,
    ) -> Result<Arc<C>, Rejection> {
        lead.land(Some(result.clone()));
        self.finish(result.map(|v| v.claims.clone()), "validator")
    }

    /// Count a validation's outcome and bound its lifetime: what a miss keeps of it.
    fn admit(
        &self,
        key: CacheKey,
        validated: Result<ValidatedToken<C>, ValidationError>,
        started: Started,
    ) -> ValidationResult<C> {
        let result = stats::ValidationResult::of(&validated);
        self.stats.record_validation(result);
        started.record(self, result);
        let validated = match validated {
            Ok(v) => v,
            Err(e) => {
                self.remember_refusal(key, &e);
                return Err(Rejection::InvalidToken(e));
            }
        };
        if let Err(e) = lifetime::check_lifetime(&self.settings, &validated.meta, now_secs()) {
            self.remember_refusal(key, &e);
            return Err(Rejection::InvalidToken(e));
        }
        Ok(Arc::new(validated))
    }

    /// A validation and its revocation answer: refused, accepted, or accepted and cached.
    fn settle(
        &self,
        key: CacheKey,
        signed: SignedHash,
        validated: Arc<ValidatedToken<C>>,
        revoked: Result<bool, CacheError>,
        token: &str,
    ) -> ValidationResult<C> {
        match revoked {
            Ok(false) => {}
            Ok(true) => return Err(Rejection::Revoked),
            Err(e) => {
                self.stats.record_fallback(Fallback::RevocationCheck);
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
        self.store(key, signed, validated.clone(), token);
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
        if let Poll::Ready(r) = poll_once(&mut fut) {
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

    /// Write a validation to the cache without delaying the response.
    fn store(&self, key: CacheKey, signed: SignedHash, v: Arc<ValidatedToken<C>>, token: &str) {
        let Some(ttl) = lifetime::ttl_for(&self.settings, &v.meta, now_ms()) else {
            return;
        };
        if let Some(memo) = &self.memo {
            memo.insert(super::memo::MemoKey(Box::from(token.as_bytes())), key.token);
        }
        // A local validation is kept in process only: reading it back from a shared store
        // would cost more than verifying again.
        let fill = if self.local {
            Fill::Local
        } else {
            Fill::Shared
        };
        let v = match self.cache.store_now(&key, &signed, v, ttl, fill) {
            Ok(()) => return,
            Err(v) => v,
        };
        let cache = self.cache.clone();
        self.fire_and_forget(Box::pin(async move {
            cache.put(&key, &signed, v, ttl, fill).await
        }));
    }

    /// Run a cache write without delaying the response: polled once here (an in-process cache
    /// finishes at once) and, if it must wait, spawned on the tokio runtime.
    pub(super) fn fire_and_forget(&self, mut fut: BoxFuture<'static, Result<(), CacheError>>) {
        match poll_once(&mut fut) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => {
                self.stats.record_cache_error();
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
}

/// Poll a future once, with no waker to call back: what is ready is taken at once, what is
/// not goes on elsewhere (awaited, or spawned).
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(
        futures_util::task::noop_waker_ref(),
    ))
}

/// When a validation started, for the latency histogram (nothing without `metrics`).
#[derive(Clone, Copy)]
struct Started(#[cfg(feature = "metrics")] std::time::Instant);

impl Started {
    fn now() -> Self {
        Started(
            #[cfg(feature = "metrics")]
            std::time::Instant::now(),
        )
    }

    fn record<C>(self, inner: &Inner<C>, result: stats::ValidationResult) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &inner.metrics {
            m.record_validation(self.0.elapsed(), result);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (inner, result);
    }
}
