use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::claims::TokenMeta;
use crate::token::TokenHash;

/// A revocation: what it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// One token, by the SHA-256 of its bytes (logout).
    Token(TokenHash),
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
    /// What a subject revocation at `issued_before` covers: tokens issued strictly before it,
    /// and tokens that do not say when they were issued.
    pub fn subject_covers(issued_before: u64, iat: Option<u64>) -> bool {
        iat.is_none_or(|iat| iat < issued_before)
    }

    /// Whether this revocation covers a token.
    pub fn covers(&self, token: &TokenHash, meta: &TokenMeta) -> bool {
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
/// an evicted revocation would let a revoked token back in.
///
/// Used by [`MemoryCache`](crate::MemoryCache), and by shared caches to keep enforcing the
/// revocations an instance has seen while the shared store is unreachable.
#[derive(Debug, Default)]
pub struct RevocationSet {
    any: AtomicBool,
    maps: RwLock<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    tokens: HashMap<TokenHash, u64>,
    jtis: HashMap<String, u64>,
    /// sub -> (issued_before, until_ms)
    subjects: HashMap<String, (u64, u64)>,
    writes: usize,
}

impl RevocationSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record `revocation` until `until_ms` (milliseconds since the Unix epoch).
    pub fn insert(&self, revocation: &Revocation, until_ms: u64, now_ms: u64) {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        match revocation {
            Revocation::Token(h) => {
                let e = m.tokens.entry(*h).or_insert(0);
                *e = (*e).max(until_ms);
            }
            Revocation::Jti(j) => {
                let e = m.jtis.entry(j.clone()).or_insert(0);
                *e = (*e).max(until_ms);
            }
            Revocation::Subject { sub, issued_before } => {
                let e = m.subjects.entry(sub.clone()).or_insert((0, 0));
                e.0 = e.0.max(*issued_before);
                e.1 = e.1.max(until_ms);
            }
        }
        m.writes += 1;
        if m.writes.is_multiple_of(1024) {
            m.tokens.retain(|_, until| *until > now_ms);
            m.jtis.retain(|_, until| *until > now_ms);
            m.subjects.retain(|_, (_, until)| *until > now_ms);
        }
        self.any.store(true, Ordering::Release);
    }

    /// Whether a live revocation covers the token.
    pub fn is_revoked(&self, token: &TokenHash, meta: &TokenMeta, now_ms: u64) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
        if m.tokens.get(token).is_some_and(|u| *u > now_ms) {
            return true;
        }
        if let Some(j) = &meta.jti
            && m.jtis.get(j.as_str()).is_some_and(|u| *u > now_ms)
        {
            return true;
        }
        if let Some(s) = &meta.sub
            && let Some((before, until)) = m.subjects.get(s.as_str())
            && *until > now_ms
            && Revocation::subject_covers(*before, meta.iat)
        {
            return true;
        }
        false
    }

    /// Number of revocations held (live or not yet purged).
    pub fn len(&self) -> usize {
        let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
        m.tokens.len() + m.jtis.len() + m.subjects.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
