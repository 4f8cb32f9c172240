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
//! | channel `<prefix>{rev}:events` | `"<seq> <member> <until_ms> <issued_before or ->"`, published by the same script |
//!
//! A revocation is written (log, sequence number and announcement) by one script: no instance
//! can see a sequence number without the revocation behind it. Expired revocations are purged
//! by the same script, so the log holds only live ones: small.

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
    pub(crate) channel: String,
}

impl RevocationLog {
    pub(crate) fn new(prefix: &str) -> Self {
        let tag = format!("{prefix}{{rev}}");
        RevocationLog {
            seq: format!("{tag}:seq"),
            log: format!("{tag}:log"),
            subjects: format!("{tag}:subjects"),
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

    /// An announcement: `(seq, revocation, until_ms)`.
    pub(crate) fn parse_event(text: &str) -> Option<(u64, StoredRevocation, u64)> {
        let mut parts = text.split(' ');
        let seq = parts.next()?.parse().ok()?;
        let member = parts.next()?;
        let until = parts.next()?.parse().ok()?;
        let before = parts.next()?;
        let before = if before == "-" {
            None
        } else {
            Some(before.parse().ok()?)
        };
        Some((seq, Self::parse(member, before)?, until))
    }
}

/// `KEYS` = seq, log, subjects; `ARGV` = member, until_ms, issued_before or `-`, now_ms,
/// channel. Keeps the longest expiry and the latest `issued_before`, purges what expired,
/// increments the sequence number and announces, in one step. Returns the sequence number.
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
redis.call('PUBLISH', ARGV[5], seq .. ' ' .. ARGV[1] .. ' ' .. string.format('%d', until_ms) .. ' ' .. before)
return seq
"#;

/// `KEYS` = seq, log, subjects; `ARGV` = now_ms. The sequence number and the live log, read
/// atomically: `{seq, {member, score, ...}, {subject, before, ...}}`.
pub(crate) const SNAPSHOT_SCRIPT: &str = r#"
local seq = redis.call('GET', KEYS[1]) or '0'
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'WITHSCORES')
local subjects = redis.call('HGETALL', KEYS[3])
return {seq, live, subjects}
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
            let event = format!("42 {m} 1000 {before}");
            assert_eq!(RevocationLog::parse_event(&event), Some((42, r, 1000)));
        }
        for bad in [
            "",
            "x",
            "1 t:zz 5 -",
            "1 q:AAAA 5 -",
            "a t:AAAA 5 -",
            "1 s:AAAA 5 x",
        ] {
            assert_eq!(RevocationLog::parse_event(bad), None, "{bad:?}");
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
