//! Revocation: logout (one token), by `jti`, by subject. Every revocation outlives what it
//! covers; one made from a token lives as long as that token can, no longer; and no single
//! subject can fill the bounded revocation set.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Authenticator, lifetime};
use crate::cache::{CacheKey, Lookup, Revocation};
use crate::claims::{JwtClaims, TokenMeta};
use crate::clock::{deadline_ms, now_ms};
use crate::error::CacheError;
use crate::stats::RevocationKind;
use crate::token::SignedHash;

impl<C: JwtClaims> Authenticator<C> {
    /// Revoke one token (logout): every encoding of its signed part (see [`SignedHash`]), and
    /// its `jti` when it has one. Both live until the token's own `exp` (read from the token,
    /// at most `max_token_lifetime` away) plus
    /// [`REVOCATION_MARGIN`](crate::cache::REVOCATION_MARGIN): as long as the token can be
    /// accepted, no longer.
    ///
    /// One subject cannot fill the revocation set: past
    /// [`max_revocations_per_subject`](crate::JwtCacheBuilder::max_revocations_per_subject)
    /// live revocations made from its tokens, a logout revokes every token of the subject
    /// issued up to now instead (one entry, see [`revoke_subject`](Self::revoke_subject)).
    ///
    /// The token is read without verification: call this with a token the request was
    /// authenticated with (as a logout route behind the layer does), so that a forged token
    /// cannot be used to revoke someone else's `jti`. An opaque token (introspection) has
    /// nothing to read: its `exp`, `jti` and `sub` are taken from its cached validation, when
    /// the cache holds one (it does right after the request authenticated with it).
    pub async fn revoke_token(&self, token: &str) -> Result<(), CacheError> {
        let key = self.cache_key(token);
        let meta = match crate::token::unverified_meta(token) {
            Some(meta) => meta,
            None => self.cached_meta(&key, token).await.unwrap_or_default(),
        };
        let settings = &self.inner.settings;
        let now_ms = now_ms();
        let now = now_ms / 1000;
        let ttl = lifetime::revocation_ttl(settings, &meta, now);
        if let Some(sub) = &meta.sub
            && !self
                .inner
                .subject_revocations
                .admit(sub, deadline_ms(now_ms, ttl), now_ms)
        {
            // This subject already holds its share of the set: one subject revocation covers
            // this token and every other it holds, issued up to this second included.
            tracing::info!(
                limit = self.inner.subject_revocations.limit(),
                "jwt_cache: a subject past its revocation bound: revoking all its tokens issued so far"
            );
            return self
                .revoke_with(
                    Revocation::Subject {
                        sub: sub.clone(),
                        issued_before: now.saturating_add(1),
                    },
                    lifetime::full_revocation_ttl(settings),
                )
                .await;
        }
        self.revoke_with(Revocation::Token(SignedHash::of(token)), ttl)
            .await?;
        if let Some(jti) = meta.jti {
            self.revoke_with(Revocation::Jti(jti), ttl).await?;
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
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Revoke every token with this `jti`, for the longest a token can live
    /// (`max_token_lifetime` plus the margin).
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
    /// `max_token_lifetime` plus [`REVOCATION_MARGIN`](crate::cache::REVOCATION_MARGIN).
    pub async fn revoke(&self, revocation: Revocation) -> Result<(), CacheError> {
        self.revoke_with(
            revocation,
            lifetime::full_revocation_ttl(&self.inner.settings),
        )
        .await
    }

    async fn revoke_with(
        &self,
        revocation: Revocation,
        ttl: std::time::Duration,
    ) -> Result<(), CacheError> {
        self.inner.cache.revoke(&revocation, ttl).await?;
        let kind = match revocation {
            Revocation::Token(_) => RevocationKind::Token,
            Revocation::Jti(_) => RevocationKind::Jti,
            Revocation::Subject { .. } => RevocationKind::Subject,
        };
        self.inner.stats.record_revocation(kind);
        Ok(())
    }
}
