//! Property tests (proptest) of the invariants users rely on, over random tokens, claims,
//! clocks and configurations. Each property is stated in its test's name.

use std::time::Duration;

use proptest::prelude::*;

use crate::authenticator::{Settings, lifetime};
use crate::cache::{Revocation, RevocationIds, RevocationSet, SignedHash};
use crate::claims::TokenMeta;
use crate::clock::REVOCATION_MARGIN;
use crate::token::{RequestHeaders, TokenSources};
use crate::validator::Fingerprint;

fn settings(ttl: u64, max_lifetime: u64, without_exp: bool) -> Settings {
    Settings {
        ttl: Duration::from_secs(ttl),
        max_token_lifetime: Duration::from_secs(max_lifetime),
        cache_without_exp: without_exp,
        ..Settings::default()
    }
}

fn meta(exp: Option<u64>, iat: Option<u64>, nbf: Option<u64>) -> TokenMeta {
    TokenMeta {
        exp,
        iat,
        nbf,
        ..Default::default()
    }
}

proptest! {
    /// No cached entry is served past the token's `exp`, nor past `iat + max_token_lifetime`:
    /// the TTL an entry gets ends no later than either, and a hit re-checked after either is
    /// refused (past the leeway).
    #[test]
    fn no_entry_outlives_its_token(
        now in 1_000_000u64..4_000_000_000,
        exp_off in proptest::option::of(-100_000i64..400_000),
        iat_off in proptest::option::of(-400_000i64..100),
        ttl in 0u64..100_000,
        max_lifetime in 1u64..200_000,
        without_exp: bool,
        leeway in 0u64..300,
        later in 0u64..500_000,
    ) {
        let s = settings(ttl, max_lifetime, without_exp);
        let at = |off: i64| now.saturating_add_signed(off);
        let m = meta(exp_off.map(at), iat_off.map(at), None);
        if let Some(entry_ttl) = lifetime::ttl_for(&s, &m, now * 1000) {
            let until = now * 1000 + entry_ttl.as_millis() as u64;
            match (m.exp, m.iat) {
                (Some(exp), _) => prop_assert!(until <= exp * 1000, "entry until {until} past exp {exp}"),
                // No `exp`: the token expires `max_token_lifetime` after `iat`.
                (None, Some(iat)) => prop_assert!(until <= (iat + max_lifetime) * 1000, "past iat + max lifetime"),
                (None, None) => prop_assert!(false, "a token that never expires was cached"),
            }
            prop_assert!(entry_ttl <= Duration::from_secs(ttl));
        }
        // A hit looked at `later` seconds from now.
        let then = now + later;
        let served = lifetime::recheck(&s, &m, then, leeway).is_ok();
        if served {
            let exp = lifetime::effective_exp(&s, &m).expect("served: it expires");
            prop_assert!(then <= exp + leeway.max(REVOCATION_MARGIN.as_secs()), "served at {then}, exp {exp}");
            prop_assert!(exp <= then + max_lifetime, "lives longer than max_token_lifetime");
        }
    }

    /// A revocation made from a token outlives every moment that token can be accepted, and
    /// no more than the margin beyond: whatever `exp`, `iat`, and the clock.
    #[test]
    fn a_revocation_outlives_what_it_covers(
        now in 1_000_000u64..4_000_000_000,
        exp in proptest::option::of(0u64..u64::MAX),
        iat in proptest::option::of(0u64..5_000_000_000),
        max_lifetime in 1u64..200_000,
        leeway in 0u64..300,
    ) {
        let s = settings(600, max_lifetime, false);
        let m = meta(exp, iat, None);
        let ttl = lifetime::revocation_ttl(&s, &m, now);
        let revoked_until = now + ttl.as_secs();
        // The last second the token can be accepted here: exp + leeway, if it is accepted at
        // all (the lifetime bound refuses the rest).
        if lifetime::check_lifetime(&s, &m, now).is_ok() {
            let exp = lifetime::effective_exp(&s, &m).unwrap();
            prop_assert!(revoked_until >= exp + leeway.min(REVOCATION_MARGIN.as_secs()),
                "revocation ends {revoked_until}, token accepted until {}", exp + leeway);
        }
        prop_assert!(ttl <= s.max_token_lifetime + REVOCATION_MARGIN + Duration::from_secs(1));
    }

    /// Two validators with different identities never share an entry: different inputs, a
    /// different fingerprint (and the fingerprint is part of every cache key).
    #[test]
    fn different_validators_never_share_a_fingerprint(
        a in proptest::collection::vec(any::<Vec<u8>>(), 1..4),
        b in proptest::collection::vec(any::<Vec<u8>>(), 1..4),
    ) {
        let fa = Fingerprint::of(&a.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let fb = Fingerprint::of(&b.iter().map(Vec::as_slice).collect::<Vec<_>>());
        prop_assert_eq!(a == b, fa == fb);
    }

    /// A revocation always wins: whatever revocations and tokens, a token is covered exactly
    /// when a live revocation names its signed part, its `jti`, or its subject issued before.
    #[test]
    fn revocations_cover_exactly_what_they_name(
        tokens in proptest::collection::vec((0u8..6, proptest::option::of(0u8..6), proptest::option::of(0u8..4), proptest::option::of(0u64..20)), 1..12),
        revocations in proptest::collection::vec((0u8..3, 0u8..6, 0u64..20), 0..12),
    ) {
        let set = RevocationSet::with_capacity(1000);
        let now = 1_000;
        for (kind, id, before) in &revocations {
            let r = match kind {
                0 => Revocation::Token(SignedHash([*id; 32])),
                1 => Revocation::Jti(format!("j{id}")),
                _ => Revocation::Subject { sub: format!("s{}", id % 4), issued_before: *before },
            };
            set.insert(&r, now + 10_000, now).unwrap();
        }
        for (signed, jti, sub, iat) in &tokens {
            let m = TokenMeta {
                jti: jti.map(|j| format!("j{j}")),
                sub: sub.map(|s| format!("s{s}")),
                iat: *iat,
                ..Default::default()
            };
            let ids = RevocationIds::of(SignedHash([*signed; 32]), &m);
            let expected = revocations.iter().any(|(kind, id, before)| match kind {
                0 => id == signed,
                1 => jti.is_some_and(|j| j == *id),
                _ => sub.is_some_and(|s| s == id % 4) && iat.is_none_or(|i| i < *before),
            });
            prop_assert_eq!(set.covers(&ids, now), expected);
            // And none of it outlives its deadline.
            prop_assert!(!set.covers(&ids, now + 10_000));
        }
    }

    /// Exactly one token source, or a refusal: a request carrying a token in two places (bearer
    /// header, cookie, custom header) is refused as ambiguous, never resolved silently.
    #[test]
    fn exactly_one_token_source_or_a_refusal(
        bearer in proptest::option::of("[A-Za-z0-9_-]{1,8}\\.[A-Za-z0-9_-]{1,8}\\.[A-Za-z0-9_-]{1,8}"),
        cookie in proptest::option::of("[A-Za-z0-9_-]{1,8}\\.[A-Za-z0-9_-]{1,8}\\.[A-Za-z0-9_-]{1,8}"),
        custom in proptest::option::of("[A-Za-z0-9_-]{1,8}\\.[A-Za-z0-9_-]{1,8}\\.[A-Za-z0-9_-]{1,8}"),
    ) {
        let sources = TokenSources {
            bearer: true,
            cookie: Some("session".into()),
            header: Some("x-token".into()),
            cookie_origins: std::sync::Arc::from(Vec::new()),
        };
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        if let Some(b) = &bearer { headers.push(("authorization".into(), format!("Bearer {b}").into_bytes())); }
        if let Some(c) = &cookie { headers.push(("cookie".into(), format!("session={c}").into_bytes())); }
        if let Some(h) = &custom { headers.push(("x-token".into(), h.clone().into_bytes())); }
        let list: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        struct Get<'a>(&'a [(&'a str, &'a [u8])]);
        impl RequestHeaders for Get<'_> {
            fn each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
                self.0.each_value(name, f)
            }
            fn method(&self) -> Option<&str> { Some("GET") }
        }
        let present = [bearer.is_some(), cookie.is_some(), custom.is_some()].iter().filter(|p| **p).count();
        let request = Get(&list);
        let got = sources.extract(&request);
        match present {
            0 => prop_assert_eq!(got, Ok(None)),
            1 => {
                let want = bearer.or(cookie).or(custom).unwrap();
                prop_assert_eq!(got, Ok(Some(want.as_bytes())));
            }
            _ => prop_assert!(got.is_err(), "two places, resolved: {:?}", got),
        }
    }
}
