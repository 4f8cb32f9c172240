//! The authenticator's counters: relaxed atomics bumped on the request path (one on an
//! in-process hit), read by [`AuthStats`]' accessors and, with the `metrics` feature, by
//! OpenTelemetry observable instruments at collection time.
//!
//! Every labelled family is an enum that carries its labels (`RequestOutcome::Revoked.labels()`)
//! and indexes its own array of atomics: a wrong slot cannot be written. Below the
//! authenticator and the metrics (both read it); imports only `error`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Rejection, ValidationError};

/// Declares a stats type in the one shape every stats type of the project has: relaxed atomics
/// that only the declaring crate writes, read through an accessor of the same name.
///
/// ```
/// jwt_cache::counters! {
///     /// Counters of something.
///     pub struct SomethingStats {
///         /// Things done.
///         done,
///     }
/// }
/// let s = SomethingStats::default();
/// s.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
/// assert_eq!(s.done(), 1);
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! counters {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $( $(#[$fm:meta])* $field:ident ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Default)]
        $vis struct $name {
            $( pub(crate) $field: ::std::sync::atomic::AtomicU64, )*
        }

        impl $name {
            $(
                $(#[$fm])*
                pub fn $field(&self) -> u64 {
                    self.$field.load(::std::sync::atomic::Ordering::Relaxed)
                }
            )*
        }
    };
}

/// Declares a counter family: an enum, its `ALL` list in slot order, and its label(s) of type
/// `$labels`.
macro_rules! family {
    ($(#[$m:meta])* $name:ident: $labels:ty { $($variant:ident => $label:expr),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum $name { $($variant),+ }

        impl $name {
            /// Every member, in slot order.
            pub(crate) const ALL: &'static [$name] = &[$($name::$variant),+];
            /// How many.
            pub(crate) const COUNT: usize = Self::ALL.len();

            /// Its slot in the family's array.
            #[inline]
            pub(crate) const fn slot(self) -> usize {
                self as usize
            }

            /// Its label(s).
            #[allow(dead_code)]
            pub(crate) const fn labels(self) -> $labels {
                match self { $($name::$variant => $label),+ }
            }
        }
    };
}

family! {
    /// `outcome` and `reason` of `jwt_cache.requests`.
    RequestOutcome: (&'static str, &'static str) {
        Accepted => ("accepted", ""),
        Anonymous => ("anonymous", ""),
        Unavailable => ("unavailable", ""),
        MissingToken => ("rejected", "missing_token"),
        InvalidRequest => ("rejected", "invalid_request"),
        Revoked => ("rejected", "revoked"),
        Malformed => ("rejected", "malformed"),
        BadSignature => ("rejected", "bad_signature"),
        Expired => ("rejected", "expired"),
        NotYetValid => ("rejected", "not_yet_valid"),
        WrongIssuer => ("rejected", "wrong_issuer"),
        WrongAudience => ("rejected", "wrong_audience"),
        UnknownKey => ("rejected", "unknown_key"),
        AlgorithmNotAllowed => ("rejected", "algorithm_not_allowed"),
        WrongType => ("rejected", "wrong_type"),
        MissingClaim => ("rejected", "missing_claim"),
        LifetimeTooLong => ("rejected", "lifetime_too_long"),
        Inactive => ("rejected", "inactive"),
        CrossSite => ("rejected", "cross_site"),
        InsufficientScope => ("rejected", "insufficient_scope"),
        Other => ("rejected", "other"),
    }
}

impl RequestOutcome {
    /// The outcome of a refusal.
    pub(crate) fn of(r: &Rejection) -> Self {
        match r {
            Rejection::Unavailable(_)
            | Rejection::InvalidToken(ValidationError::Unavailable(_)) => Self::Unavailable,
            Rejection::MissingToken => Self::MissingToken,
            Rejection::InvalidRequest(_) => Self::InvalidRequest,
            Rejection::Revoked => Self::Revoked,
            Rejection::CrossSite => Self::CrossSite,
            Rejection::InsufficientScope(_) => Self::InsufficientScope,
            Rejection::InvalidToken(e) => match e {
                ValidationError::Malformed(_) => Self::Malformed,
                ValidationError::BadSignature => Self::BadSignature,
                ValidationError::Expired => Self::Expired,
                ValidationError::NotYetValid => Self::NotYetValid,
                ValidationError::WrongIssuer => Self::WrongIssuer,
                ValidationError::WrongAudience => Self::WrongAudience,
                ValidationError::UnknownKey => Self::UnknownKey,
                ValidationError::AlgorithmNotAllowed => Self::AlgorithmNotAllowed,
                ValidationError::WrongType => Self::WrongType,
                ValidationError::MissingClaim(_) => Self::MissingClaim,
                ValidationError::LifetimeTooLong => Self::LifetimeTooLong,
                ValidationError::Inactive => Self::Inactive,
                _ => Self::Other,
            },
        }
    }
}

family! {
    /// `tier` of `jwt_cache.lookups`: the cache's synchronous (in-process) answer, its
    /// asynchronous (shared: Redis) one, and the negative cache of refusals.
    Tier: &'static str {
        InProcess => "in_process",
        Shared => "shared",
        Negative => "negative",
    }
}

family! {
    /// `result` of `jwt_cache.lookups`.
    LookupResult: &'static str {
        Hit => "hit",
        Miss => "miss",
        Revoked => "revoked",
        Unchecked => "unchecked",
    }
}

family! {
    /// `result` of `jwt_cache.validations`.
    ValidationResult: &'static str {
        Valid => "valid",
        Invalid => "invalid",
        Unavailable => "unavailable",
    }
}

impl ValidationResult {
    /// The result of a validation.
    pub(crate) fn of<T>(result: &Result<T, ValidationError>) -> Self {
        match result {
            Ok(_) => Self::Valid,
            Err(ValidationError::Unavailable(_)) => Self::Unavailable,
            Err(_) => Self::Invalid,
        }
    }
}

family! {
    /// `kind` of `jwt_cache.revocations`.
    RevocationKind: &'static str {
        Token => "token",
        Jti => "jti",
        Subject => "subject",
    }
}

family! {
    /// `reason` of `jwt_cache.fallbacks`: a lookup that failed (validated directly), a
    /// revocation check that failed.
    Fallback: &'static str {
        Lookup => "lookup",
        RevocationCheck => "revocation_check",
    }
}

/// Counters, for tests and dashboards: relaxed atomics (one on an in-process hit), which the
/// `metrics` feature reports through OpenTelemetry observable instruments. Read through the
/// accessors.
#[derive(Debug, Default)]
pub struct AuthStats {
    /// Whether the request path counts (`JwtCacheBuilder::instrumented`); rare events
    /// (revocations, fallbacks, coalesced flights) are always counted.
    on: bool,
    /// In-process hits that were accepted: the hot path bumps this one counter, which counts
    /// as both a `lookups{in_process, hit}` and a `requests{accepted}`.
    hit_accepted: AtomicU64,
    outcomes: [AtomicU64; RequestOutcome::COUNT],
    lookups: [[AtomicU64; LookupResult::COUNT]; Tier::COUNT],
    validation_results: [AtomicU64; ValidationResult::COUNT],
    revocations: [AtomicU64; RevocationKind::COUNT],
    fallbacks: [AtomicU64; Fallback::COUNT],
    coalesced: AtomicU64,
    misses: AtomicU64,
    validations: AtomicU64,
    cache_errors: AtomicU64,
}

#[inline]
fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[inline]
fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl AuthStats {
    pub(crate) fn new(on: bool) -> Self {
        AuthStats {
            on,
            ..AuthStats::default()
        }
    }

    /// Requests authenticated (claims handed on).
    pub fn accepted(&self) -> u64 {
        self.outcome(RequestOutcome::Accepted)
    }

    /// Requests refused with a 401 or 403 (every reason).
    pub fn rejected(&self) -> u64 {
        RequestOutcome::ALL
            .iter()
            .filter(|o| o.labels().0 == "rejected")
            .map(|o| self.outcome(*o))
            .sum()
    }

    /// Requests answered 503 (validator or, fail-closed, revocation store unavailable).
    pub fn unavailable(&self) -> u64 {
        self.outcome(RequestOutcome::Unavailable)
    }

    /// Lookups answered with a usable hit by the in-process tier.
    pub fn in_process_hits(&self) -> u64 {
        self.lookups(Tier::InProcess, LookupResult::Hit)
    }

    /// Lookups that found nothing usable.
    pub fn misses(&self) -> u64 {
        get(&self.misses)
    }

    /// Validator calls made (single-flight: one per burst of concurrent misses).
    pub fn validations(&self) -> u64 {
        get(&self.validations)
    }

    /// Cache operations that failed (each fell back to direct validation).
    pub fn cache_errors(&self) -> u64 {
        get(&self.cache_errors)
    }

    /// Requests that joined a validation already under way.
    pub fn coalesced(&self) -> u64 {
        get(&self.coalesced)
    }

    /// `requests{outcome}` as reported: `accepted` includes the in-process hits accepted.
    pub(crate) fn outcome(&self, o: RequestOutcome) -> u64 {
        let n = get(&self.outcomes[o.slot()]);
        if o == RequestOutcome::Accepted {
            n + get(&self.hit_accepted)
        } else {
            n
        }
    }

    /// `lookups{tier, result}` as reported: in-process hits include those accepted.
    pub(crate) fn lookups(&self, tier: Tier, result: LookupResult) -> u64 {
        let n = get(&self.lookups[tier.slot()][result.slot()]);
        if (tier, result) == (Tier::InProcess, LookupResult::Hit) {
            n + get(&self.hit_accepted)
        } else {
            n
        }
    }

    #[allow(dead_code)]
    pub(crate) fn validation_results(&self, r: ValidationResult) -> u64 {
        get(&self.validation_results[r.slot()])
    }

    #[allow(dead_code)]
    pub(crate) fn revocations(&self, k: RevocationKind) -> u64 {
        get(&self.revocations[k.slot()])
    }

    #[allow(dead_code)]
    pub(crate) fn fallbacks(&self, f: Fallback) -> u64 {
        get(&self.fallbacks[f.slot()])
    }

    // Recording.

    #[inline]
    pub(crate) fn record_outcome(&self, o: RequestOutcome) {
        if self.on {
            bump(&self.outcomes[o.slot()]);
        }
    }

    #[inline]
    pub(crate) fn record_hit_accepted(&self) {
        if self.on {
            bump(&self.hit_accepted);
        }
    }

    #[inline]
    pub(crate) fn record_lookup(&self, tier: Tier, result: LookupResult) {
        if self.on {
            bump(&self.lookups[tier.slot()][result.slot()]);
        }
    }

    pub(crate) fn record_validation(&self, r: ValidationResult) {
        bump(&self.validations);
        if self.on {
            bump(&self.validation_results[r.slot()]);
        }
    }

    pub(crate) fn record_revocation(&self, k: RevocationKind) {
        bump(&self.revocations[k.slot()]);
    }

    /// A cache failure worked around.
    pub(crate) fn record_fallback(&self, f: Fallback) {
        bump(&self.cache_errors);
        bump(&self.fallbacks[f.slot()]);
    }

    pub(crate) fn record_cache_error(&self) {
        bump(&self.cache_errors);
    }

    pub(crate) fn record_miss(&self) {
        bump(&self.misses);
    }

    /// The counter single-flight bumps for each request that joined a flight.
    pub(crate) fn coalesced_counter(&self) -> &AtomicU64 {
        &self.coalesced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rejection_has_its_own_reason() {
        let cases = [
            (Rejection::MissingToken, "missing_token"),
            (Rejection::InvalidRequest("x"), "invalid_request"),
            (Rejection::Revoked, "revoked"),
            (Rejection::CrossSite, "cross_site"),
            (
                Rejection::InsufficientScope("s".into()),
                "insufficient_scope",
            ),
            (Rejection::InvalidToken(ValidationError::Expired), "expired"),
            (
                Rejection::InvalidToken(ValidationError::Inactive),
                "inactive",
            ),
        ];
        for (r, reason) in cases {
            assert_eq!(RequestOutcome::of(&r).labels().1, reason, "{r:?}");
        }
        assert_eq!(
            RequestOutcome::of(&Rejection::Unavailable("x".into())),
            RequestOutcome::Unavailable
        );
        // Slots are the declaration order.
        for (i, o) in RequestOutcome::ALL.iter().enumerate() {
            assert_eq!(o.slot(), i);
        }
    }
}
