//! Entry points for the fuzz targets and the tests that replay their corpora (feature
//! `fuzzing`, not a public API). What comes back from Redis, and what pub/sub announces, is
//! untrusted input: each entry point parses it and checks what must hold whatever it is.

use jwt_cache::StandardClaims;
use jwt_cache::validator::{TokenMeta, ValidatedToken};

use crate::codec::Codec;
use crate::log::RevocationLog;

/// The key the fuzz targets sign under.
const KEY: &[u8] = b"9f2c4e1a7b3d8c60e5f14a2b9c7d3e8f-fuzz";

/// Decode `value` as read from `redis_key`, with and without an integrity key, at `now_ms`.
/// With the key, only a value carrying a valid tag for this key name is accepted; without it,
/// only a plain one.
pub fn decode_value(redis_key: &str, value: &[u8], now_ms: u64) {
    let signed = Codec::new(Some(KEY)).decode::<StandardClaims>(redis_key, value, now_ms);
    let plain = Codec::new(None).decode::<StandardClaims>(redis_key, value, now_ms);
    if signed.is_ok() {
        assert_eq!(
            value.first(),
            Some(&b'6'),
            "a value without a tag was accepted"
        );
    }
    if plain.is_ok() {
        assert_eq!(
            value.first(),
            Some(&b'5'),
            "a signed value was taken as plain"
        );
    }
}

/// Encode a validation of `sub` (with `claims_json` as extra claims, when they parse) under
/// `redis_key`, then flip one bit anywhere (`flip` picks which): the changed value must never
/// decode, under the same key name or another.
pub fn tamper(redis_key: &str, sub: &str, not_after_ms: u64, flip: usize, other_key: &str) {
    let codec = Codec::new(Some(KEY));
    let claims = StandardClaims {
        sub: sub.to_owned(),
        ..Default::default()
    };
    let meta = TokenMeta {
        sub: Some(sub.to_owned()),
        exp: Some(not_after_ms / 1000 + 60),
        ..Default::default()
    };
    let v = ValidatedToken::new(claims, meta);
    let value = codec.encode(redis_key, not_after_ms, &v).expect("encodes");
    let now = not_after_ms.saturating_sub(1);
    // The value itself round-trips.
    let back = codec
        .decode::<StandardClaims>(redis_key, &value, now)
        .expect("a value we encoded decodes");
    assert_eq!(back.claims.sub, sub);
    // Under another key name: refused.
    if other_key != redis_key {
        assert!(
            codec
                .decode::<StandardClaims>(other_key, &value, now)
                .is_err(),
            "a value copied under another key was accepted"
        );
    }
    // One bit changed, anywhere: refused.
    let mut changed = value.clone();
    let bit = flip % (changed.len() * 8);
    changed[bit / 8] ^= 1 << (bit % 8);
    assert!(
        codec
            .decode::<StandardClaims>(redis_key, &changed, now)
            .is_err(),
        "bit {bit} of a signed value changed, and it was accepted"
    );
}

/// A pub/sub announcement of the revocation log: parses whole or not at all, and what parses
/// prints back to the same announcement.
pub fn announcement(text: &str) {
    if let Some(a) = RevocationLog::parse_event(text) {
        assert_ne!(
            a.head, 0,
            "an announcement without a history id was accepted"
        );
        let member = RevocationLog::member(&a.revocation);
        assert!(text.contains(&member), "{text:?} parsed into {member:?}");
    }
}

/// A snapshot of the log as the reload script returns it, built from untrusted parts.
pub fn snapshot(seq: &[u8], members: &[(&[u8], &[u8])], subjects: &[(&[u8], &[u8])], head: &[u8]) {
    use fred::types::Value;
    let bytes = |b: &[u8]| Value::Bytes(b.to_vec().into());
    let flat = |pairs: &[(&[u8], &[u8])]| {
        Value::Array(
            pairs
                .iter()
                .flat_map(|(a, b)| [bytes(a), bytes(b)])
                .collect(),
        )
    };
    let v = Value::Array(vec![bytes(seq), flat(members), flat(subjects), bytes(head)]);
    let _ = crate::view::parse_snapshot_for_fuzzing(v);
}

/// An answer of the catch-up script (`{seq, head, {event, …}}`), built from untrusted parts.
pub fn catch_up(seq: &[u8], head: &[u8], events: &[&[u8]]) {
    use fred::types::Value;
    let bytes = |b: &[u8]| Value::Bytes(b.to_vec().into());
    let v = Value::Array(vec![
        bytes(seq),
        bytes(head),
        Value::Array(events.iter().map(|e| bytes(e)).collect()),
    ]);
    let _ = crate::view::parse_catch_up_for_fuzzing(v);
}

// One function per fuzz target: the raw input, parsed the way the target documents it.

/// `redis_value`: a first line (the Redis key name), then the value's bytes.
pub fn redis_value(data: &[u8]) {
    let (key, value) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    let key = String::from_utf8_lossy(key);
    let now = 1_800_000_000_000;
    decode_value(&key, value, now);
    let flip = value
        .iter()
        .fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(*b as usize));
    let sub = String::from_utf8_lossy(&value[..value.len().min(40)]);
    tamper(&key, &sub, now + 60_000, flip, "jwt:other");
}

/// `revocation_log`: the whole text as one announcement; then, split on newlines, a
/// snapshot: line 1 the sequence number, line 2 the head, then `member score` and
/// `subject before` lines (the first half members, the second subjects); and a catch-up
/// answer: the same sequence number and head, then one announcement per line.
pub fn revocation_log(data: &[u8]) {
    announcement(&String::from_utf8_lossy(data));
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    let seq = lines.first().copied().unwrap_or_default();
    let head = lines.get(1).copied().unwrap_or_default();
    let pairs: Vec<(&[u8], &[u8])> = lines
        .iter()
        .skip(2)
        .map(|l| match l.iter().position(|b| *b == b' ') {
            Some(i) => (&l[..i], &l[i + 1..]),
            None => (*l, &l[l.len()..]),
        })
        .collect();
    let (members, subjects) = pairs.split_at(pairs.len() / 2);
    snapshot(seq, members, subjects, head);
    catch_up(seq, head, lines.get(2..).unwrap_or_default());
}
