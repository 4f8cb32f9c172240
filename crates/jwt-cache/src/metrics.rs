//! OpenTelemetry metrics (feature `metrics`): what an operator scrapes.
//!
//! Give the authenticator a [`Meter`] with
//! [`JwtCacheBuilder::meter`](crate::JwtCacheBuilder::meter) (without one, the global meter
//! provider's `jwt-cache` meter is used, so install yours first). The authenticator registers
//! its instruments and asks its validator and cache to register theirs (a `JwksKeySource`, a
//! `RedisCache`, a `TieredCache`).
//!
//! Counters are relaxed atomics bumped on the request path and reported through **observable**
//! instruments at collection time, so an accepted in-process hit pays one atomic increment and no
//! OpenTelemetry call; the one synchronous instrument, the validation-duration histogram, is
//! recorded only where a validation runs.
//!
//! | instrument | kind | attributes | in Prometheus |
//! |---|---|---|---|
//! | `jwt_cache.requests` | counter | `outcome` (`accepted`, `anonymous`, `rejected`, `unavailable`), `reason` (for `rejected`: `expired`, `bad_signature`, `revoked`, …) | `jwt_cache_requests_total` |
//! | `jwt_cache.lookups` | counter | `tier` (`in_process`, `shared`, `negative`), `result` (`hit`, `miss`, `revoked`, `unchecked`) | `jwt_cache_lookups_total` |
//! | `jwt_cache.validations` | counter | `validator` (`local`, `remote`), `result` (`valid`, `invalid`, `unavailable`) | `jwt_cache_validations_total` |
//! | `jwt_cache.validation.duration` | histogram, s | `validator`, `result` | `jwt_cache_validation_duration_seconds` |
//! | `jwt_cache.singleflight.coalesced` | counter | | `jwt_cache_singleflight_coalesced_total` |
//! | `jwt_cache.fallbacks` | counter | `reason` (`lookup`: validated directly; `revocation_check`: accepted unchecked, or 503 fail-closed) | `jwt_cache_fallbacks_total` |
//! | `jwt_cache.revocations` | counter | `kind` (`token`, `jti`, `subject`) | `jwt_cache_revocations_total` |
//! | `jwt_cache.jwks.fetches` | counter | `result` (`ok`, `error`) | `jwt_cache_jwks_fetches_total` |
//! | `jwt_cache.jwks.unknown_kid` | counter | `action` (`refetch`, `refused`) | `jwt_cache_jwks_unknown_kid_total` |
//! | `jwt_cache.jwks.keys` | gauge | | `jwt_cache_jwks_keys` |
//!
//! `jwt-cache-redis` adds `jwt_cache.backend.errors{backend, kind}`,
//! `jwt_cache.breaker.state{backend}` and the revocation view's `jwt_cache.revocation_view.*`.
//! The full list, what healthy looks like and the alert rules: [the operations guide](crate::guide::operations).

use std::sync::Arc;
use std::time::Duration;

pub use opentelemetry::KeyValue;
pub use opentelemetry::metrics::Meter;
use opentelemetry::metrics::{AsyncInstrument, Histogram};

use crate::stats::{
    AuthStats, Fallback, LookupResult, RequestOutcome, RevocationKind, Tier, ValidationResult,
};

/// The meter used when none is given: the global provider's `jwt-cache` meter.
pub fn default_meter() -> Meter {
    opentelemetry::global::meter("jwt-cache")
}

/// The one synchronous instrument of an authenticator, recorded where a validation runs; its
/// counters are observable instruments over [`AuthStats`], registered by [`register`](Self::register).
pub(crate) struct AuthMetrics {
    duration: Histogram<f64>,
    /// The histogram's attributes, one set per validation result.
    attrs: Vec<[KeyValue; 2]>,
}

impl std::fmt::Debug for AuthMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthMetrics").finish_non_exhaustive()
    }
}

/// Seconds: from 50 µs (a local verification) to 10 s (a validation timeout).
const DURATION_BOUNDS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 10.0,
];

/// Each counter of a labelled family, with its one attribute.
fn labelled<F: Copy>(
    key: &'static str,
    members: &[F],
    label: impl Fn(F) -> &'static str,
    count: impl Fn(F) -> u64,
) -> Vec<(u64, Vec<KeyValue>)> {
    members
        .iter()
        .map(|m| (count(*m), vec![KeyValue::new(key, label(*m))]))
        .collect()
}

impl AuthMetrics {
    pub(crate) fn register(meter: &Meter, stats: &Arc<AuthStats>, local: bool) -> Self {
        let validator = if local { "local" } else { "remote" };
        let attrs: Vec<[KeyValue; 2]> = ValidationResult::ALL
            .iter()
            .map(|r| {
                [
                    KeyValue::new("validator", validator),
                    KeyValue::new("result", r.labels()),
                ]
            })
            .collect();
        let duration = meter
            .f64_histogram("jwt_cache.validation.duration")
            .with_unit("s")
            .with_description(
                "Validations actually run (cache misses), by validator kind and result",
            )
            .with_boundaries(DURATION_BOUNDS.to_vec())
            .build();
        observe_counter(
            meter,
            "jwt_cache.requests",
            "Authentications, by outcome and, for refusals, reason",
            stats,
            |stats: &AuthStats| {
                RequestOutcome::ALL
                    .iter()
                    .map(|o| {
                        let (outcome, reason) = o.labels();
                        let mut attrs = vec![KeyValue::new("outcome", outcome)];
                        if !reason.is_empty() {
                            attrs.push(KeyValue::new("reason", reason));
                        }
                        (stats.outcome(*o), attrs)
                    })
                    .collect()
            },
        );
        observe_counter(
            meter,
            "jwt_cache.lookups",
            "Cache answers, by tier and result",
            stats,
            |stats: &AuthStats| {
                let mut out = Vec::new();
                for tier in Tier::ALL {
                    for result in LookupResult::ALL {
                        // The negative cache only ever hits.
                        if *tier == Tier::Negative && *result != LookupResult::Hit {
                            continue;
                        }
                        out.push((
                            stats.lookups(*tier, *result),
                            vec![
                                KeyValue::new("tier", tier.labels()),
                                KeyValue::new("result", result.labels()),
                            ],
                        ));
                    }
                }
                out
            },
        );
        let per_result = attrs.clone();
        observe_counter(
            meter,
            "jwt_cache.validations",
            "Validator calls (single-flight: one per burst of concurrent misses)",
            stats,
            move |stats: &AuthStats| {
                per_result
                    .iter()
                    .zip(ValidationResult::ALL)
                    .map(|(attrs, r)| (stats.validation_results(*r), attrs.to_vec()))
                    .collect()
            },
        );
        observe_counter(
            meter,
            "jwt_cache.singleflight.coalesced",
            "Requests that joined a validation already under way instead of starting one",
            stats,
            |stats: &AuthStats| vec![(stats.coalesced(), Vec::new())],
        );
        observe_counter(
            meter,
            "jwt_cache.fallbacks",
            "Cache failures worked around: a lookup that failed (validated directly), a \
             revocation check that failed (fail-open: accepted unchecked and not cached; \
             fail-closed: 503)",
            stats,
            |stats: &AuthStats| {
                labelled("reason", Fallback::ALL, Fallback::labels, |f| {
                    stats.fallbacks(f)
                })
            },
        );
        observe_counter(
            meter,
            "jwt_cache.revocations",
            "Revocations recorded through this authenticator, by kind",
            stats,
            |stats: &AuthStats| {
                labelled("kind", RevocationKind::ALL, RevocationKind::labels, |k| {
                    stats.revocations(k)
                })
            },
        );
        AuthMetrics { duration, attrs }
    }

    pub(crate) fn record_validation(&self, took: Duration, result: ValidationResult) {
        self.duration
            .record(took.as_secs_f64(), &self.attrs[result.slot()]);
    }
}

// Observable instruments stay registered with the meter provider after their handles are
// dropped (the SDK keeps the callback); each callback holds a `Weak` of what it observes and
// reports nothing once that is gone.

/// The callback of an observable instrument: `read` of `state`, while it lives.
fn reporting<T, M>(
    state: &Arc<T>,
    read: impl Fn(&T) -> Vec<(M, Vec<KeyValue>)> + Send + Sync + 'static,
) -> impl Fn(&dyn AsyncInstrument<M>) + Send + Sync + 'static
where
    T: Send + Sync + 'static,
{
    let weak = Arc::downgrade(state);
    move |o| {
        if let Some(state) = weak.upgrade() {
            for (v, attrs) in read(&state) {
                o.observe(v, &attrs);
            }
        }
    }
}

/// Register a counter whose values `read` reports (each with its attributes) at every
/// collection, while `state` lives. For caches and key sources of your own.
pub fn observe_counter<T: Send + Sync + 'static>(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
    state: &Arc<T>,
    read: impl Fn(&T) -> Vec<(u64, Vec<KeyValue>)> + Send + Sync + 'static,
) {
    let _ = meter
        .u64_observable_counter(name)
        .with_description(description)
        .with_callback(reporting(state, read))
        .build();
}

/// Register a gauge whose values `read` reports while `state` lives.
pub fn observe_gauge<T: Send + Sync + 'static>(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
    state: &Arc<T>,
    read: impl Fn(&T) -> Vec<(u64, Vec<KeyValue>)> + Send + Sync + 'static,
) {
    let _ = meter
        .u64_observable_gauge(name)
        .with_description(description)
        .with_callback(reporting(state, read))
        .build();
}

/// Register a gauge in seconds (`_seconds` in Prometheus) whose value `read` reports while
/// `state` lives (`None`: nothing to report now).
pub fn observe_seconds<T: Send + Sync + 'static>(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
    state: &Arc<T>,
    read: impl Fn(&T) -> Option<f64> + Send + Sync + 'static,
) {
    let _ = meter
        .f64_observable_gauge(name)
        .with_unit("s")
        .with_description(description)
        .with_callback(reporting(state, move |s: &T| {
            read(s).map(|v| (v, Vec::new())).into_iter().collect()
        }))
        .build();
}
