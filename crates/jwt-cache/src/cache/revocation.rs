use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use crate::claims::TokenMeta;
use crate::error::CacheError;
use crate::token::SignedHash;

/// SHA-256 of a `jti` or a `sub`: how revocations name them (in memory, in Redis keys and in
/// the replicated revocation log), so that neither is stored in clear.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdHash(pub [u8; 32]);

impl IdHash {
    /// Hash an id.
    pub fn of(id: &str) -> Self {
        IdHash(Sha256::digest(id.as_bytes()).into())
    }
}

impl std::fmt::Debug for IdHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdHash({})", &crate::token::hex(&self.0)[..16])
    }
}

/// What revocations can cover a token by: its signed part, its `jti` and `sub` (hashed), and
/// its `iat`. Computed once when a validation is cached, so a hit checks revocation without
/// hashing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationIds {
    /// The token's signed part.
    pub signed: SignedHash,
    /// Its `jti`, hashed.
    pub jti: Option<IdHash>,
    /// Its `sub`, hashed.
    pub sub: Option<IdHash>,
    /// Its `iat`.
    pub iat: Option<u64>,
}

impl RevocationIds {
    /// The ids of a token with this signed part and these registered claims.
    pub fn of(signed: SignedHash, meta: &TokenMeta) -> Self {
        RevocationIds {
            signed,
            jti: meta.jti.as_deref().map(IdHash::of),
            sub: meta.sub.as_deref().map(IdHash::of),
            iat: meta.iat,
        }
    }
}

/// A revocation as stored: hashed ids (see [`Revocation::stored`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredRevocation {
    /// A token revocation, by signed part.
    Token(SignedHash),
    /// A `jti` revocation.
    Jti(IdHash),
    /// A subject revocation: tokens with `iat` before `issued_before` (seconds), or none.
    Subject {
        /// The `sub`, hashed.
        sub: IdHash,
        /// Tokens with `iat < issued_before` are revoked.
        issued_before: u64,
    },
}

/// A revocation: what it covers. Non-exhaustive: kinds may be added (by issuer, by key).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation {
    /// One token, by the SHA-256 of its signed part (logout): covers every encoding of the
    /// same signed content, e.g. the high-S twin of an ECDSA signature (see [`SignedHash`]).
    Token(SignedHash),
    /// Every token with this `jti`.
    Jti(String),
    /// Every token of this subject issued before `issued_before` (seconds since the Unix
    /// epoch): logout-everywhere, password change. A token with no `iat` is covered.
    Subject {
        /// The `sub` claim.
        sub: String,
        /// Tokens with `iat < issued_before` are revoked.
        issued_before: u64,
    },
}

impl Revocation {
    /// The revocation with its ids hashed, as it is stored.
    pub fn stored(&self) -> StoredRevocation {
        match self {
            Revocation::Token(h) => StoredRevocation::Token(*h),
            Revocation::Jti(j) => StoredRevocation::Jti(IdHash::of(j)),
            Revocation::Subject { sub, issued_before } => StoredRevocation::Subject {
                sub: IdHash::of(sub),
                issued_before: *issued_before,
            },
        }
    }

    /// What a subject revocation at `issued_before` covers: tokens issued strictly before it,
    /// and tokens that do not say when they were issued.
    pub fn subject_covers(issued_before: u64, iat: Option<u64>) -> bool {
        iat.is_none_or(|iat| iat < issued_before)
    }

    /// Whether this revocation covers a token.
    pub fn covers(&self, token: &SignedHash, meta: &TokenMeta) -> bool {
        match self {
            Revocation::Token(h) => h == token,
            Revocation::Jti(j) => meta.jti.as_deref() == Some(j.as_str()),
            Revocation::Subject { sub, issued_before } => {
                meta.sub.as_deref() == Some(sub.as_str())
                    && Self::subject_covers(*issued_before, meta.iat)
            }
        }
    }
}

/// Revocations held in memory, each until its own deadline. Never evicted before then:
/// an evicted revocation would let a revoked token back in. Ids are held hashed
/// ([`IdHash`]), and a token is checked by its precomputed [`RevocationIds`].
///
/// Bounded: at most [`capacity`](Self::capacity) revocations (default
/// [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)). When it is reached, expired revocations are
/// purged first; if the set is still full, [`insert`](Self::insert) refuses the new one with
/// [`CacheError::RevocationsFull`] and records nothing, so the caller (a logout handler) learns
/// that the revocation was not made, rather than an older one being silently dropped.
/// Updating a revocation already held always succeeds.
///
/// Used by [`MemoryCache`](crate::MemoryCache), by shared caches to keep enforcing the
/// revocations an instance has seen while the shared store is unreachable, and as the
/// replicated revocation view of a tiered cache.
#[derive(Debug)]
pub struct RevocationSet {
    any: AtomicBool,
    capacity: usize,
    maps: RwLock<Maps>,
}

impl Default for RevocationSet {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

#[derive(Debug, Default)]
struct Maps {
    tokens: HashMap<SignedHash, u64>,
    jtis: HashMap<IdHash, u64>,
    /// sub -> (issued_before, until_ms)
    subjects: HashMap<IdHash, (u64, u64)>,
    writes: usize,
}

impl Maps {
    fn len(&self) -> usize {
        self.tokens.len() + self.jtis.len() + self.subjects.len()
    }

    fn holds(&self, revocation: &StoredRevocation) -> bool {
        match revocation {
            StoredRevocation::Token(h) => self.tokens.contains_key(h),
            StoredRevocation::Jti(j) => self.jtis.contains_key(j),
            StoredRevocation::Subject { sub, .. } => self.subjects.contains_key(sub),
        }
    }

    /// Count `n` writes; every 1,024th purges what expired. A purge walks the whole set, so
    /// purging on every write (as `extend` did for every replicated announcement) made each
    /// write cost the size of the set, under the lock every request's `covers` takes.
    fn count_writes(&mut self, n: usize, now_ms: u64) {
        let before = self.writes;
        self.writes = self.writes.wrapping_add(n);
        if self.writes / 1024 != before / 1024 {
            self.purge(now_ms);
        }
    }

    fn purge(&mut self, now_ms: u64) {
        self.tokens.retain(|_, until| *until > now_ms);
        self.jtis.retain(|_, until| *until > now_ms);
        self.subjects.retain(|_, (_, until)| *until > now_ms);
    }

    fn add(&mut self, revocation: &StoredRevocation, until_ms: u64) {
        match revocation {
            StoredRevocation::Token(h) => {
                let e = self.tokens.entry(*h).or_insert(0);
                *e = (*e).max(until_ms);
            }
            StoredRevocation::Jti(j) => {
                let e = self.jtis.entry(*j).or_insert(0);
                *e = (*e).max(until_ms);
            }
            StoredRevocation::Subject { sub, issued_before } => {
                let e = self.subjects.entry(*sub).or_insert((0, 0));
                e.0 = e.0.max(*issued_before);
                e.1 = e.1.max(until_ms);
            }
        }
    }
}

impl RevocationSet {
    /// The default bound: 250 000 revocations (a few tens of MB at most).
    pub const DEFAULT_CAPACITY: usize = 250_000;

    /// An empty set of [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set holding at most `capacity` revocations.
    pub fn with_capacity(capacity: usize) -> Self {
        RevocationSet {
            any: AtomicBool::new(false),
            capacity: capacity.max(1),
            maps: RwLock::new(Maps::default()),
        }
    }

    /// The bound.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Record `revocation` until `until_ms` (milliseconds since the Unix epoch). Fails, and
    /// records nothing, when the set is full of live revocations and this one is new.
    pub fn insert(
        &self,
        revocation: &Revocation,
        until_ms: u64,
        now_ms: u64,
    ) -> Result<(), CacheError> {
        self.insert_stored(&revocation.stored(), until_ms, now_ms)
    }

    /// [`insert`](Self::insert) for a revocation already in its stored form.
    pub fn insert_stored(
        &self,
        revocation: &StoredRevocation,
        until_ms: u64,
        now_ms: u64,
    ) -> Result<(), CacheError> {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        if m.len() >= self.capacity && !m.holds(revocation) {
            m.purge(now_ms);
            if m.len() >= self.capacity {
                return Err(CacheError::RevocationsFull {
                    capacity: self.capacity,
                });
            }
        }
        m.add(revocation, until_ms);
        m.count_writes(1, now_ms);
        self.any.store(true, Ordering::Release);
        Ok(())
    }

    /// Add revocations from a replicated source (a view reloading): nothing is refused, since
    /// a view must not forget a revocation (past the capacity it still takes them all), and
    /// nothing held is dropped before it expires.
    pub fn extend(
        &self,
        revocations: impl IntoIterator<Item = (StoredRevocation, u64)>,
        now_ms: u64,
    ) {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        let mut added = 0;
        for (r, until) in revocations {
            if until > now_ms {
                m.add(&r, until);
                added += 1;
            }
        }
        m.count_writes(added, now_ms);
        if m.len() > 0 {
            self.any.store(true, Ordering::Release);
        }
    }

    /// Whether a live revocation covers a token with these ids.
    pub fn covers(&self, ids: &RevocationIds, now_ms: u64) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
        if m.tokens.get(&ids.signed).is_some_and(|u| *u > now_ms) {
            return true;
        }
        if let Some(j) = &ids.jti
            && m.jtis.get(j).is_some_and(|u| *u > now_ms)
        {
            return true;
        }
        if let Some(s) = &ids.sub
            && let Some((before, until)) = m.subjects.get(s)
            && *until > now_ms
            && Revocation::subject_covers(*before, ids.iat)
        {
            return true;
        }
        false
    }

    /// Whether a live revocation covers the token (hashes its ids; on a hit path, keep the
    /// [`RevocationIds`] and use [`covers`](Self::covers)).
    pub fn is_revoked(&self, token: &SignedHash, meta: &TokenMeta, now_ms: u64) -> bool {
        self.any.load(Ordering::Acquire) && self.covers(&RevocationIds::of(*token, meta), now_ms)
    }

    /// Number of revocations held (live or not yet purged): the gauge to watch against
    /// [`capacity`](Self::capacity).
    pub fn len(&self) -> usize {
        self.maps.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_refuses_new_revocations_when_full_of_live_ones() {
        let set = RevocationSet::with_capacity(2);
        let now = 1_000;
        set.insert(&Revocation::Jti("a".into()), now + 10, now)
            .unwrap();
        set.insert(&Revocation::Jti("b".into()), now + 5_000, now)
            .unwrap();
        // Full of live revocations: a new one is refused, nothing is evicted.
        let err = set
            .insert(&Revocation::Jti("c".into()), now + 10, now)
            .unwrap_err();
        assert!(matches!(err, CacheError::RevocationsFull { capacity: 2 }));
        assert_eq!(set.len(), 2);
        let meta = |j: &str| TokenMeta {
            jti: Some(j.into()),
            ..Default::default()
        };
        let h = SignedHash([0; 32]);
        assert!(set.is_revoked(&h, &meta("a"), now));
        assert!(!set.is_revoked(&h, &meta("c"), now));
        // Updating one already held always works.
        set.insert(&Revocation::Jti("a".into()), now + 20, now)
            .unwrap();
        // Once one has expired, it makes room.
        set.insert(&Revocation::Jti("c".into()), now + 100, now + 30)
            .unwrap();
        assert!(set.is_revoked(&h, &meta("c"), now + 30));
        assert!(set.is_revoked(&h, &meta("b"), now + 30));
        assert_eq!(set.len(), 2);
    }
}
