//! What the authenticator remembers beside the cache: the hash memo (a token's SHA-256, once
//! per token), the negative cache (a remote validator's recent refusals), and the per-subject
//! count of revocations made from tokens. Each is a separate, bounded store, so no flood of
//! one kind can evict another's entries.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Inner;
use crate::cache::{CacheKey, IdHash};
use crate::claims::JwtClaims;
use crate::clock::{deadline_ms, now_ms};
use crate::error::ValidationError;
use crate::token::TokenHash;

/// SHA-256 once per token, not once per request: the exact bytes of tokens that validated
/// and were cached, mapped to their hash. Found with a fast keyed hash (foldhash, through
/// quick_cache) of the token's last bytes (its signature: distinct per token) and confirmed
/// on the exact bytes; garbage never gets in (filled on a successful, cached validation only),
/// so crafted tails can only cost a comparison, never a wrong answer.
pub(super) type HashMemo = quick_cache::sync::Cache<MemoKey, TokenHash>;

/// How many trailing bytes of a token the memo hashes.
const MEMO_TAIL: usize = 32;

fn memo_tail(bytes: &[u8]) -> &[u8] {
    &bytes[bytes.len().saturating_sub(MEMO_TAIL)..]
}

/// A token's exact bytes, hashed by their tail and compared whole.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct MemoKey(pub(super) Box<[u8]>);

impl std::hash::Hash for MemoKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        memo_tail(&self.0).hash(state);
    }
}

/// A borrowed token looking itself up in the memo.
#[derive(PartialEq, Eq)]
pub(super) struct MemoRef<'a>(pub(super) &'a [u8]);

impl std::hash::Hash for MemoRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        memo_tail(self.0).hash(state);
    }
}

impl quick_cache::Equivalent<MemoKey> for MemoRef<'_> {
    fn equivalent(&self, key: &MemoKey) -> bool {
        *self.0 == *key.0
    }
}

/// Tokens a remote validator refused, by cache key: the refusal and until when (ms).
pub(super) type NegativeCache = quick_cache::sync::Cache<CacheKey, (ValidationError, u64)>;

impl<C: JwtClaims> Inner<C> {
    /// A remote validator's recent refusal of this token, if any (the negative cache).
    pub(super) fn refused_before(&self, key: &CacheKey) -> Option<ValidationError> {
        let (e, until) = self.negative.as_ref()?.get(key)?;
        (until > now_ms()).then_some(e)
    }

    /// Remember a remote validator's refusal for a while; never a transient failure.
    pub(super) fn remember_refusal(&self, key: CacheKey, e: &ValidationError) {
        if let Some(negative) = &self.negative
            && !matches!(e, ValidationError::Unavailable(_))
        {
            let until = deadline_ms(now_ms(), self.settings.negative_ttl);
            negative.insert(key, (e.clone(), until));
        }
    }
}

/// How many revocations made from tokens each subject has live, so that one principal
/// cannot fill the bounded revocation set: past [`limit`](Self::limit), a logout revokes the
/// subject's tokens issued up to now instead (one entry, however many more follow).
///
/// Bounded itself (a quick_cache of subjects); a subject pushed out only has its count
/// forgotten, which costs at most another `limit` entries, each of which expires with its token.
pub(super) struct SubjectRevocations {
    counts: quick_cache::sync::Cache<IdHash, std::sync::Arc<SubjectCount>>,
    limit: u64,
}

#[derive(Default)]
pub(super) struct SubjectCount {
    /// Live revocations counted.
    n: AtomicU64,
    /// When the last of them expires (ms): past it the count starts again.
    until: AtomicU64,
}

impl SubjectRevocations {
    pub(super) fn new(limit: u64, subjects: usize) -> Self {
        SubjectRevocations {
            counts: quick_cache::sync::Cache::new(subjects.max(1)),
            limit,
        }
    }

    /// The bound per subject.
    pub(super) fn limit(&self) -> u64 {
        self.limit
    }

    /// Count one more revocation of `sub` that lives until `until_ms`: `false` when the
    /// subject is already at its bound (revoke the subject instead).
    pub(super) fn admit(&self, sub: &str, until_ms: u64, now_ms: u64) -> bool {
        let count = match self.counts.get_value_or_guard(&IdHash::of(sub), None) {
            quick_cache::sync::GuardResult::Value(c) => c,
            quick_cache::sync::GuardResult::Guard(g) => {
                let c = std::sync::Arc::new(SubjectCount::default());
                let _ = g.insert(c.clone());
                c
            }
            quick_cache::sync::GuardResult::Timeout => return true,
        };
        if count.until.load(Ordering::Acquire) <= now_ms {
            // Everything counted has expired.
            count.n.store(0, Ordering::Release);
        }
        if count.n.fetch_add(1, Ordering::AcqRel) >= self.limit {
            count.n.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        count.until.fetch_max(until_ms, Ordering::AcqRel);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memo_answers_only_for_the_exact_bytes() {
        let memo = HashMemo::new(10);
        let tail = "x".repeat(MEMO_TAIL);
        let (a, b) = (format!("aaa.bbb.{tail}"), format!("aaa.ccc.{tail}"));
        memo.insert(MemoKey(Box::from(a.as_bytes())), TokenHash::of(&a));
        // Same tail, other bytes: found in the same bucket, refused by the comparison.
        assert_eq!(memo.get(&MemoRef(b.as_bytes())), None);
        assert_eq!(memo.get(&MemoRef(a.as_bytes())), Some(TokenHash::of(&a)));
        // Tokens shorter than the tail work too.
        memo.insert(MemoKey(Box::from(&b"a.b.c"[..])), TokenHash::of("a.b.c"));
        assert_eq!(memo.get(&MemoRef(b"a.b.c")), Some(TokenHash::of("a.b.c")));
        assert_eq!(memo.get(&MemoRef(b"a.b.d")), None);
    }

    #[test]
    fn a_subject_is_admitted_up_to_its_bound_until_its_revocations_expire() {
        let s = SubjectRevocations::new(3, 10);
        let now = 1_000;
        for _ in 0..3 {
            assert!(s.admit("mallory", now + 100, now));
        }
        assert!(!s.admit("mallory", now + 100, now));
        // Another subject is not affected.
        assert!(s.admit("alice", now + 100, now));
        // Once what was counted has expired, the count starts again.
        assert!(s.admit("mallory", now + 300, now + 100));
    }
}
