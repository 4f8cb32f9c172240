//! The revocation log in Redis: what a [`TieredCache`](crate::TieredCache) replicates into
//! every instance.
//!
//! Three keys and a channel, all under one Cluster hash tag (`{<prefix>rev}`), so one script
//! writes them atomically on one node:
//!
//! | key | what |
//! |---|---|
//! | `<prefix>{rev}:seq` | the sequence number of the last revocation (INCR) |
//! | `<prefix>{rev}:log` | sorted set: every live revocation (`t:` signed part, `j:` jti hash, `s:` subject hash), scored by its expiry in ms |
//! | `<prefix>{rev}:subjects` | hash: subject member → `issued_before` (seconds) |
//! | `<prefix>{rev}:head` | the id of the last revocation (16 hex digits, random): the log's history identity |
//! | `<prefix>{rev}:recent` | list: the last [`RECENT`] announcements, oldest first (for a view that missed some) |
//! | channel `<prefix>{rev}:events` | `"<seq> <member> <until_ms> <issued_before or -> <previous head or -> <head>"`, published by the same script |
//!
//! A revocation is written (log, sequence number, head and announcement) by one script: no
//! instance can see a sequence number without the revocation behind it. Expired revocations
//! are purged by the same script, so the log holds only live ones: small.
//!
//! **History identity.** Sequence numbers alone cannot tell one history from another: after
//! Redis loses its data (a restart without persistence, a failover to a lagging replica,
//! `FLUSHALL`, eviction) the numbers start again and a view would take the new revocations for
//! ones it has seen. So every revocation carries a random id, the log's `head` names the last
//! one, and each announcement names the head it follows: a view applies an announcement only
//! when it follows the view's own head, and a probe confirms the view only when Redis has the
//! view's sequence number **and** head. Anything else (a different head, a missing one, a
//! sequence number behind the view's) is a different history: the view reloads, merging, never
//! forgetting a revocation it holds.
//!
//! **Catching up.** A view that missed announcements (a lagged receiver under a burst of
//! revocations, a reconnection) first reads the ones it missed from `recent`, with the
//! sequence number and head, in one script, and applies them exactly as if they had been
//! delivered: each must follow the view's head with the next sequence number, and the view
//! must end at Redis's sequence number and head. Anything else (more missed than `recent`
//! holds, another history, an announcement written without the list) falls back to the full
//! reload. A catch-up costs what was missed; a reload costs every live revocation.

use base64::Engine;
use jwt_cache::cache::{IdHash, SignedHash, StoredRevocation};

use crate::keys::b64;

fn unb64(s: &str) -> Option<[u8; 32]> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?
        .try_into()
        .ok()
}

/// The names of the log's keys and channel.
#[derive(Debug, Clone)]
pub(crate) struct RevocationLog {
    pub(crate) seq: String,
    pub(crate) log: String,
    pub(crate) subjects: String,
    pub(crate) head: String,
    pub(crate) recent: String,
    pub(crate) channel: String,
}

/// How many announcements the log keeps for catching up (`<prefix>{rev}:recent`): about 100
/// bytes each in Redis, ~1 MB.
pub(crate) const RECENT: usize = 10_000;

/// Where a view stands in the log's history: the last sequence number applied and the id of
/// that revocation (0: none, an empty log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Position {
    pub(crate) seq: u64,
    pub(crate) head: u64,
}

/// A revocation's id: 64 random bits (not a secret: it names a point of the log's history,
/// so that a log that started again is told apart). Never 0.
pub(crate) fn new_head() -> u64 {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let id = std::collections::hash_map::RandomState::new().hash_one((
        n,
        std::time::SystemTime::now(),
        std::process::id(),
    ));
    id.max(1)
}

/// A head as written in Redis: 16 hex digits.
pub(crate) fn format_head(head: u64) -> String {
    format!("{head:016x}")
}

/// A head read from Redis or an announcement: `-` or absent is 0 (no revocation yet);
/// anything that is not 16 hex digits is `None` (untrusted input).
pub(crate) fn parse_head(s: Option<&str>) -> Option<u64> {
    match s {
        None | Some("-") => Some(0),
        Some(h) if h.len() == 16 => u64::from_str_radix(h, 16).ok(),
        Some(_) => None,
    }
}

/// An announcement: the revocation, its expiry, and where it stands in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Announcement {
    pub(crate) seq: u64,
    pub(crate) revocation: StoredRevocation,
    pub(crate) until_ms: u64,
    /// The head before this revocation (0: it was the first).
    pub(crate) prev: u64,
    /// This revocation's id: the head after it.
    pub(crate) head: u64,
}

impl RevocationLog {
    pub(crate) fn new(prefix: &str) -> Self {
        let tag = format!("{prefix}{{rev}}");
        RevocationLog {
            seq: format!("{tag}:seq"),
            log: format!("{tag}:log"),
            subjects: format!("{tag}:subjects"),
            head: format!("{tag}:head"),
            recent: format!("{tag}:recent"),
            channel: format!("{tag}:events"),
        }
    }

    /// The log member naming a revocation (a subject's time is kept beside it).
    pub(crate) fn member(r: &StoredRevocation) -> String {
        match r {
            StoredRevocation::Token(h) => format!("t:{}", b64(&h.0)),
            StoredRevocation::Jti(j) => format!("j:{}", b64(&j.0)),
            StoredRevocation::Subject { sub, .. } => format!("s:{}", b64(&sub.0)),
        }
    }

    /// The members a token's revocation check looks for: token, jti, subject.
    pub(crate) fn members(
        signed: &SignedHash,
        jti: Option<IdHash>,
        sub: Option<IdHash>,
    ) -> [Option<String>; 3] {
        [
            Some(format!("t:{}", b64(&signed.0))),
            jti.map(|j| format!("j:{}", b64(&j.0))),
            sub.map(|s| format!("s:{}", b64(&s.0))),
        ]
    }

    /// A member back into a revocation; `issued_before` for subjects. Untrusted input: `None`
    /// when it does not parse.
    pub(crate) fn parse(member: &str, issued_before: Option<u64>) -> Option<StoredRevocation> {
        let (kind, hash) = member.split_once(':')?;
        let hash = unb64(hash)?;
        match kind {
            "t" => Some(StoredRevocation::Token(SignedHash(hash))),
            "j" => Some(StoredRevocation::Jti(IdHash(hash))),
            // A subject member without a readable time revokes everything of that subject
            // (fail closed on garbage).
            "s" => Some(StoredRevocation::Subject {
                sub: IdHash(hash),
                issued_before: issued_before.unwrap_or(u64::MAX),
            }),
            _ => None,
        }
    }

    /// An announcement (untrusted input: `None` when it does not parse whole).
    pub(crate) fn parse_event(text: &str) -> Option<Announcement> {
        let mut parts = text.split(' ');
        let seq = parts.next()?.parse().ok()?;
        let member = parts.next()?;
        let until_ms = parts.next()?.parse().ok()?;
        let before = parts.next()?;
        let before = if before == "-" {
            None
        } else {
            Some(before.parse().ok()?)
        };
        let prev = parse_head(Some(parts.next()?))?;
        let head = parse_head(Some(parts.next()?))?;
        if parts.next().is_some() || head == 0 {
            return None;
        }
        Some(Announcement {
            seq,
            revocation: Self::parse(member, before)?,
            until_ms,
            prev,
            head,
        })
    }
}

/// `KEYS` = seq, log, subjects, head, recent; `ARGV` = member, until_ms, issued_before or `-`,
/// now_ms, channel, the new head, how many announcements `recent` keeps. Keeps the longest
/// expiry and the latest `issued_before`, purges what expired, increments the sequence number,
/// moves the head, announces and appends the announcement to `recent`, in one step. Returns
/// the sequence number.
pub(crate) const REVOKE_SCRIPT: &str = r#"
local until_ms = tonumber(ARGV[2])
local cur = redis.call('ZSCORE', KEYS[2], ARGV[1])
if cur and tonumber(cur) > until_ms then until_ms = tonumber(cur) end
redis.call('ZADD', KEYS[2], until_ms, ARGV[1])
local before = '-'
if ARGV[3] ~= '-' then
  local new = tonumber(ARGV[3])
  local old = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
  if old and old > new then new = old end
  before = string.format('%d', new)
  redis.call('HSET', KEYS[3], ARGV[1], before)
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
for _, m in ipairs(expired) do redis.call('HDEL', KEYS[3], m) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local seq = redis.call('INCR', KEYS[1])
local prev = redis.call('GET', KEYS[4]) or '-'
redis.call('SET', KEYS[4], ARGV[6])
local event = seq .. ' ' .. ARGV[1] .. ' ' .. string.format('%d', until_ms) .. ' ' .. before .. ' ' .. prev .. ' ' .. ARGV[6]
redis.call('PUBLISH', ARGV[5], event)
redis.call('RPUSH', KEYS[5], event)
redis.call('LTRIM', KEYS[5], -tonumber(ARGV[7]), -1)
return seq
"#;

/// `KEYS` = seq, head, recent; `ARGV` = the view's sequence number. `{seq, head, {event, …}}`:
/// the announcements after the view's, oldest first, read atomically with where the log
/// stands; `{seq, head}` alone when `recent` does not reach back that far (or the log is
/// behind the view).
pub(crate) const CATCH_UP_SCRIPT: &str = r#"
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local head = redis.call('GET', KEYS[2]) or '-'
local missed = seq - tonumber(ARGV[1])
if missed < 0 or missed > redis.call('LLEN', KEYS[3]) then return {seq, head} end
local events = {}
if missed > 0 then events = redis.call('LRANGE', KEYS[3], -missed, -1) end
return {seq, head, events}
"#;

/// `KEYS` = seq, head. Where the log stands: `{seq or false, head or false}` (one slot: the
/// keys share the hash tag).
pub(crate) const POSITION_SCRIPT: &str = r#"
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}
"#;

/// `KEYS` = seq, log, subjects, head; `ARGV` = now_ms. The sequence number, the live log and
/// the head, read atomically: `{seq, {member, score, ...}, {subject, before, ...}, head}`.
pub(crate) const SNAPSHOT_SCRIPT: &str = r#"
local seq = redis.call('GET', KEYS[1]) or '0'
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'WITHSCORES')
local subjects = redis.call('HGETALL', KEYS[3])
local head = redis.call('GET', KEYS[4]) or '-'
return {seq, live, subjects, head}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_events_round_trip() {
        let s = SignedHash([1; 32]);
        let j = IdHash([2; 32]);
        let sub = IdHash([3; 32]);
        for r in [
            StoredRevocation::Token(s),
            StoredRevocation::Jti(j),
            StoredRevocation::Subject {
                sub,
                issued_before: 17,
            },
        ] {
            let m = RevocationLog::member(&r);
            let before = match r {
                StoredRevocation::Subject { issued_before, .. } => issued_before.to_string(),
                _ => "-".into(),
            };
            let event = format!("42 {m} 1000 {before} - 00000000000000ff");
            assert_eq!(
                RevocationLog::parse_event(&event),
                Some(Announcement {
                    seq: 42,
                    revocation: r,
                    until_ms: 1000,
                    prev: 0,
                    head: 0xff
                })
            );
        }
        let m = RevocationLog::member(&StoredRevocation::Token(s));
        for bad in [
            "".to_owned(),
            "x".into(),
            "1 t:zz 5 - - 00000000000000ff".into(),
            "1 q:AAAA 5 - - 00000000000000ff".into(),
            "a t:AAAA 5 - - 00000000000000ff".into(),
            "1 s:AAAA 5 x - 00000000000000ff".into(),
            // No history identity, a short one, a zero head, trailing parts.
            format!("1 {m} 5 -"),
            format!("1 {m} 5 - -"),
            format!("1 {m} 5 - - ff"),
            format!("1 {m} 5 - - -"),
            format!("1 {m} 5 - - 00000000000000ff x"),
        ] {
            assert_eq!(RevocationLog::parse_event(&bad), None, "{bad:?}");
        }
        // A subject member without a time revokes every token of the subject.
        let m = RevocationLog::member(&StoredRevocation::Subject {
            sub,
            issued_before: 1,
        });
        assert_eq!(
            RevocationLog::parse(&m, None),
            Some(StoredRevocation::Subject {
                sub,
                issued_before: u64::MAX
            })
        );
    }
}
