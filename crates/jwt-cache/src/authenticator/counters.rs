//! The authenticator's counters: relaxed atomics bumped on the request path (two on an
//! in-process hit), read by [`AuthStats`](super::AuthStats)' accessors and, with the `metrics`
//! feature, by OpenTelemetry observable instruments at collection time.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Rejection, ValidationError};

/// `outcome` and `reason` of `jwt_cache.requests`, one slot each.
pub(crate) const OUTCOMES: [(&str, &str); 19] = [
    ("accepted", ""),
    ("anonymous", ""),
    ("unavailable", ""),
    ("rejected", "missing_token"),
    ("rejected", "invalid_request"),
    ("rejected", "revoked"),
    ("rejected", "malformed"),
    ("rejected", "bad_signature"),
    ("rejected", "expired"),
    ("rejected", "not_yet_valid"),
    ("rejected", "wrong_issuer"),
    ("rejected", "wrong_audience"),
    ("rejected", "unknown_key"),
    ("rejected", "algorithm_not_allowed"),
    ("rejected", "wrong_type"),
    ("rejected", "missing_claim"),
    ("rejected", "lifetime_too_long"),
    ("rejected", "inactive"),
    ("rejected", "other"),
];

pub(crate) const ACCEPTED: usize = 0;
pub(crate) const ANONYMOUS: usize = 1;
const UNAVAILABLE: usize = 2;

/// The slot of a rejection in [`OUTCOMES`].
pub(crate) fn rejection_slot(r: &Rejection) -> usize {
    match r {
        Rejection::Unavailable(_) | Rejection::InvalidToken(ValidationError::Unavailable(_)) => {
            UNAVAILABLE
        }
        Rejection::MissingToken => 3,
        Rejection::InvalidRequest(_) => 4,
        Rejection::Revoked => 5,
        Rejection::InvalidToken(e) => match e {
            ValidationError::Malformed(_) => 6,
            ValidationError::BadSignature => 7,
            ValidationError::Expired => 8,
            ValidationError::NotYetValid => 9,
            ValidationError::WrongIssuer => 10,
            ValidationError::WrongAudience => 11,
            ValidationError::UnknownKey => 12,
            ValidationError::AlgorithmNotAllowed => 13,
            ValidationError::WrongType => 14,
            ValidationError::MissingClaim(_) => 15,
            ValidationError::LifetimeTooLong => 16,
            ValidationError::Inactive => 17,
            _ => 18,
        },
        _ => 18,
    }
}

/// `tier` of `jwt_cache.lookups`: the cache's synchronous (in-process) answer, its
/// asynchronous (shared: Redis) one, and the negative cache of refusals.
pub(crate) const TIERS: [&str; 3] = ["in_process", "shared", "negative"];
/// `result` of `jwt_cache.lookups`.
pub(crate) const RESULTS: [&str; 4] = ["hit", "miss", "revoked", "unchecked"];

pub(crate) const IN_PROCESS: usize = 0;
pub(crate) const SHARED: usize = 1;
pub(crate) const NEGATIVE: usize = 2;
pub(crate) const HIT: usize = 0;
pub(crate) const MISS: usize = 1;
pub(crate) const REVOKED: usize = 2;
pub(crate) const UNCHECKED: usize = 3;

/// `result` of `jwt_cache.validations`.
pub(crate) const VALIDATION_RESULTS: [&str; 3] = ["valid", "invalid", "unavailable"];

/// The slot of a validation's result in [`VALIDATION_RESULTS`].
pub(crate) fn validation_slot(result: &Result<(), &ValidationError>) -> usize {
    match result {
        Ok(()) => 0,
        Err(ValidationError::Unavailable(_)) => 2,
        Err(_) => 1,
    }
}

/// `kind` of `jwt_cache.revocations`.
pub(crate) const REVOCATION_KINDS: [&str; 3] = ["token", "jti", "subject"];

/// `reason` of `jwt_cache.fallbacks`.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const FALLBACK_REASONS: [&str; 2] = ["lookup", "revocation_check"];

/// The counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Whether the request path counts (`JwtCacheBuilder::instrumented`); rare events
    /// (revocations, fallbacks, coalesced flights) are always counted.
    pub(crate) on: bool,
    /// In-process hits that were accepted: the hot path bumps this one counter, which counts
    /// as both a `lookups{in_process, hit}` and a `requests{accepted}`.
    pub(crate) hit_accepted: AtomicU64,
    pub(crate) outcomes: [AtomicU64; OUTCOMES.len()],
    pub(crate) lookups: [[AtomicU64; RESULTS.len()]; TIERS.len()],
    pub(crate) validations: [AtomicU64; VALIDATION_RESULTS.len()],
    pub(crate) revocations: [AtomicU64; REVOCATION_KINDS.len()],
    /// `[lookup failed: validated directly, revocation check failed]`.
    pub(crate) fallbacks: [AtomicU64; 2],
    pub(crate) coalesced: AtomicU64,
}

impl Counters {
    pub(crate) fn new(on: bool) -> Self {
        Counters {
            on,
            ..Counters::default()
        }
    }

    #[inline]
    pub(crate) fn outcome(&self, slot: usize) {
        if self.on {
            self.outcomes[slot].fetch_add(1, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn hit_accepted(&self) {
        if self.on {
            self.hit_accepted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `requests{outcome}` as reported: `accepted` includes the in-process hits accepted.
    pub(crate) fn outcome_at(&self, slot: usize) -> u64 {
        let n = Self::get(&self.outcomes[slot]);
        if slot == ACCEPTED {
            n + Self::get(&self.hit_accepted)
        } else {
            n
        }
    }

    /// `lookups{tier, result}` as reported: in-process hits include those accepted.
    pub(crate) fn lookups_at(&self, tier: usize, result: usize) -> u64 {
        let n = Self::get(&self.lookups[tier][result]);
        if (tier, result) == (IN_PROCESS, HIT) {
            n + Self::get(&self.hit_accepted)
        } else {
            n
        }
    }

    pub(crate) fn accepted(&self) -> u64 {
        self.outcome_at(ACCEPTED)
    }

    #[inline]
    pub(crate) fn lookup(&self, tier: usize, result: usize) {
        if self.on {
            self.lookups[tier][result].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn validation(&self, result: &Result<(), &ValidationError>) {
        if self.on {
            self.validations[validation_slot(result)].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
