//! The lifetime rules: pure functions of the settings, the token's registered claims and the
//! clock. No I/O, no state: what every phase (hit, miss, revoke) asks about time.
//!
//! - A token stops being acceptable at its `exp`, or for a token without one, at its `iat`
//!   plus `max_token_lifetime` ([`effective_exp`]); without either it is refused.
//! - A token living longer than `max_token_lifetime` is refused, so no revocation marker
//!   lapses before what it covers ([`check_lifetime`]).
//! - A hit is re-checked against the clock each time ([`recheck`]).
//! - A cached entry never outlives its token ([`ttl_for`]), and a revocation made from a token
//!   lives as long as that token can, plus the fleet-wide margin, no longer
//!   ([`revocation_ttl`]).

use std::time::Duration;

use super::Settings;
use crate::claims::TokenMeta;
use crate::clock::REVOCATION_MARGIN;
use crate::error::ValidationError;

/// When a token stops being acceptable (seconds): its `exp`, or for a token without one, its
/// `iat` plus `max_token_lifetime`. `None`: neither (such a token is refused).
pub(crate) fn effective_exp(settings: &Settings, meta: &TokenMeta) -> Option<u64> {
    meta.exp.or_else(|| {
        meta.iat
            .map(|iat| iat.saturating_add(settings.max_token_lifetime.as_secs()))
    })
}

/// Revocation markers must outlive every token they cover: refuse a token that lives longer
/// than `max_token_lifetime`, one accepted more than [`REVOCATION_MARGIN`] past its expiry
/// (whatever the validator's leeway), and one that says neither when it expires nor when it
/// was issued.
pub(crate) fn check_lifetime(
    settings: &Settings,
    meta: &TokenMeta,
    now: u64,
) -> Result<(), ValidationError> {
    let Some(exp) = effective_exp(settings, meta) else {
        return Err(ValidationError::MissingClaim("exp".into()));
    };
    if exp > now.saturating_add(settings.max_token_lifetime.as_secs()) {
        return Err(ValidationError::LifetimeTooLong);
    }
    if exp.saturating_add(REVOCATION_MARGIN.as_secs()) < now {
        return Err(ValidationError::Expired);
    }
    Ok(())
}

/// Re-check a hit against the clock (with the validator's `leeway`) and the lifetime bound.
pub(crate) fn recheck(
    settings: &Settings,
    meta: &TokenMeta,
    now: u64,
    leeway: u64,
) -> Result<(), ValidationError> {
    if meta.exp.is_some_and(|exp| exp < now.saturating_sub(leeway)) {
        return Err(ValidationError::Expired);
    }
    if meta.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(ValidationError::NotYetValid);
    }
    check_lifetime(settings, meta, now)
}

/// `min(configured ttl, exp - now)`; `None` when the entry must not be cached (a token
/// without `exp`, unless opted in, and then never past `iat + max_token_lifetime`).
pub(crate) fn ttl_for(settings: &Settings, meta: &TokenMeta, now_ms: u64) -> Option<Duration> {
    if meta.exp.is_none() && !settings.cache_without_exp {
        return None;
    }
    let exp = effective_exp(settings, meta)?;
    let left_ms = exp.saturating_mul(1000).checked_sub(now_ms)?;
    let ttl = settings.ttl.min(Duration::from_millis(left_ms));
    (!ttl.is_zero()).then_some(ttl)
}

/// How long a revocation made from a token (its signed part, its `jti`) is kept: as long as
/// the token can be accepted (its effective expiry, at most `max_token_lifetime` away) plus
/// [`REVOCATION_MARGIN`]; a token that says nothing of its expiry gets the whole
/// `max_token_lifetime`.
pub(crate) fn revocation_ttl(settings: &Settings, meta: &TokenMeta, now: u64) -> Duration {
    let lifetime = settings.max_token_lifetime;
    let left = match effective_exp(settings, meta) {
        Some(exp) => Duration::from_secs(exp.saturating_sub(now).saturating_add(1)).min(lifetime),
        None => lifetime,
    };
    left.saturating_add(REVOCATION_MARGIN)
}

/// How long a revocation not made from one token (a `jti` or a subject named by the caller)
/// is kept: the longest any token it covers can live, plus [`REVOCATION_MARGIN`].
pub(crate) fn full_revocation_ttl(settings: &Settings) -> Duration {
    settings
        .max_token_lifetime
        .saturating_add(REVOCATION_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(exp: Option<u64>, iat: Option<u64>) -> TokenMeta {
        TokenMeta {
            exp,
            iat,
            ..Default::default()
        }
    }

    #[test]
    fn a_revocation_from_a_token_lives_as_long_as_the_token_plus_the_margin() {
        let s = Settings::default();
        let now = 1_000_000;
        // A 60-second token: 61 s + the margin, not a day.
        assert_eq!(
            revocation_ttl(&s, &meta(Some(now + 60), None), now),
            Duration::from_secs(61) + REVOCATION_MARGIN
        );
        // Never past max_token_lifetime + margin, whatever the token says.
        assert_eq!(
            revocation_ttl(&s, &meta(Some(u64::MAX), None), now),
            full_revocation_ttl(&s)
        );
        // No exp: iat + max_token_lifetime, which is the bound.
        assert_eq!(
            revocation_ttl(&s, &meta(None, Some(now - 100)), now),
            s.max_token_lifetime - Duration::from_secs(99) + REVOCATION_MARGIN
        );
        assert_eq!(
            revocation_ttl(&s, &meta(None, None), now),
            full_revocation_ttl(&s)
        );
    }

    #[test]
    fn lifetimes_saturate_and_bound() {
        let s = Settings::default();
        let now = 1_000_000;
        assert_eq!(
            check_lifetime(&s, &meta(Some(u64::MAX), None), now),
            Err(ValidationError::LifetimeTooLong)
        );
        assert!(check_lifetime(&s, &meta(Some(now + 10), None), now).is_ok());
        assert_eq!(
            check_lifetime(&s, &meta(None, None), now),
            Err(ValidationError::MissingClaim("exp".into()))
        );
        assert_eq!(ttl_for(&s, &meta(None, Some(now)), now * 1000), None);
        assert_eq!(
            ttl_for(&s, &meta(Some(now + 5), None), now * 1000),
            Some(Duration::from_secs(5))
        );
        assert_eq!(ttl_for(&s, &meta(Some(now), None), now * 1000), None);
    }
}
