//! The value stored under a cache key.
//!
//! Value: one version byte; with an integrity key, a 32-byte HMAC-SHA256 tag over the Redis
//! key name, the entry's absolute expiry and the payload; the absolute expiry `not_after`
//! (milliseconds since the Unix epoch, 8 bytes big-endian); then the payload: the
//! MessagePack array `[meta, claims]` (maps with field names, so any serde claims type
//! round-trips and unknown fields are skipped), where `meta` holds only what the claims do
//! not already say: `k` (the verifying key), and `e`, `n`, `i`, `j`, `s` (exp, nbf, iat, jti,
//! sub; nil = absent) only when the serialized claims lack that claim or hold another value.
//! The registered claims are usually in the claims, so an entry does not store them twice.
//!
//! The design note's claims (`sub`, `email`, `username`, `exp`) take 109 bytes of value under
//! a 28-byte key: 200 bytes of Redis memory (`MEMORY USAGE`), the JSON payload of versions
//! `3`/`4` took 312.

use std::sync::Arc;

use aws_lc_rs::hmac;
use jwt_cache::JwtClaims;
use jwt_cache::validator::{TokenMeta, ValidatedToken};
use serde::{Deserialize, Serialize};

/// Versions `1`–`4` (JSON payloads, before `not_after`) are refused: such entries are misses.
const PLAIN: u8 = b'5';
const SIGNED: u8 = b'6';
const TAG_LEN: usize = 32;
/// MessagePack: a fixed array of two elements (`[meta, claims]`).
const PAIR: u8 = 0x92;

/// What the entry says of the registered claims beside the claims themselves: only the
/// fields whose value the serialized claims do not carry (`Some(None)`: absent).
#[derive(Default, Serialize, Deserialize)]
struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "explicit")]
    e: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "explicit")]
    n: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "explicit")]
    i: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "explicit")]
    j: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "explicit")]
    s: Option<Option<String>>,
}

/// A field written only when set, whose value may be nil (`Some(None)`).
mod explicit {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<T: Serialize, S: Serializer>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.as_ref().and_then(Option::as_ref).serialize(s)
    }

    pub(super) fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A registered claim for `meta`: written only when the claims do not already say it.
fn unless_said<T: PartialEq + Clone>(ours: &Option<T>, said: &Option<T>) -> Option<Option<T>> {
    (ours != said).then(|| ours.clone())
}

/// The registered claims as the serialized claims hold them (not `TokenMeta`, which would
/// also read a claim named `key`: a claims type whose `key` is not a string must still decode).
#[derive(Default, PartialEq, Deserialize)]
struct Registered {
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    sub: Option<String>,
}

/// Encodes and decodes values, with an optional integrity key.
#[derive(Clone)]
pub(crate) struct Codec {
    integrity: Option<Arc<hmac::Key>>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("integrity", &self.integrity.is_some())
            .finish()
    }
}

impl Codec {
    pub(crate) fn new(secret: Option<&[u8]>) -> Self {
        Codec {
            integrity: secret.map(|s| Arc::new(hmac::Key::new(hmac::HMAC_SHA256, s))),
        }
    }

    /// The tag binds the key name (a value copied under another key is refused) and the
    /// absolute expiry (a value replayed after its lifetime, or re-set without a TTL, is
    /// refused).
    fn tag(key: &hmac::Key, redis_key: &str, not_after: &[u8; 8], payload: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(key);
        ctx.update(&(redis_key.len() as u64).to_be_bytes());
        ctx.update(redis_key.as_bytes());
        ctx.update(not_after);
        ctx.update(payload);
        ctx.sign()
    }

    /// Encode a validation that stops being servable at `not_after_ms`.
    pub(crate) fn encode<C: JwtClaims>(
        &self,
        redis_key: &str,
        not_after_ms: u64,
        v: &ValidatedToken<C>,
    ) -> Result<Vec<u8>, rmp_serde::encode::Error> {
        let claims = rmp_serde::to_vec_named(&*v.claims)?;
        // What the claims say (nothing, when they do not read as registered claims: then
        // the meta says it all).
        let said: Registered = rmp_serde::from_slice(&claims).unwrap_or_default();
        let m = &v.meta;
        let meta = Meta {
            k: m.key.clone(),
            e: unless_said(&m.exp, &said.exp),
            n: unless_said(&m.nbf, &said.nbf),
            i: unless_said(&m.iat, &said.iat),
            j: unless_said(&m.jti, &said.jti),
            s: unless_said(&m.sub, &said.sub),
        };
        let mut payload = Vec::with_capacity(claims.len() + 32);
        payload.push(PAIR);
        payload.extend_from_slice(&rmp_serde::to_vec_named(&meta)?);
        payload.extend_from_slice(&claims);
        let not_after = not_after_ms.to_be_bytes();
        let mut out = Vec::with_capacity(1 + TAG_LEN + 8 + payload.len());
        match &self.integrity {
            None => out.push(PLAIN),
            Some(key) => {
                out.push(SIGNED);
                out.extend_from_slice(Self::tag(key, redis_key, &not_after, &payload).as_ref());
            }
        }
        out.extend_from_slice(&not_after);
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// The `not_after` of a value that [`decode`](Self::decode) accepted.
    pub(crate) fn not_after(value: &[u8]) -> Option<u64> {
        let at = match *value.first()? {
            PLAIN => 1,
            SIGNED => 1 + TAG_LEN,
            _ => return None,
        };
        Some(u64::from_be_bytes(value.get(at..at + 8)?.try_into().ok()?))
    }

    /// Decode an untrusted value at `now_ms`: anything that does not decode, lacks the tag we
    /// require, whose tag does not match this key name and expiry, or whose `not_after` has
    /// passed is an error (the caller treats it as a miss).
    pub(crate) fn decode<C: JwtClaims>(
        &self,
        redis_key: &str,
        value: &[u8],
        now_ms: u64,
    ) -> Result<ValidatedToken<C>, String> {
        fn split_not_after(rest: &[u8]) -> Result<(&[u8; 8], &[u8]), String> {
            let (n, payload) = rest.split_first_chunk::<8>().ok_or("truncated expiry")?;
            Ok((n, payload))
        }
        let (&version, rest) = value.split_first().ok_or("empty value")?;
        let (not_after, payload) = match (&self.integrity, version) {
            (None, PLAIN) => split_not_after(rest)?,
            (Some(key), SIGNED) => {
                let (tag, rest) = rest.split_first_chunk::<TAG_LEN>().ok_or("truncated tag")?;
                let (not_after, payload) = split_not_after(rest)?;
                let expected = Self::tag(key, redis_key, not_after, payload);
                aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), tag)
                    .map_err(|_| "integrity tag mismatch")?;
                (not_after, payload)
            }
            (Some(_), PLAIN) => return Err("unsigned value where a signed one is required".into()),
            _ => return Err(format!("unknown value version {version}")),
        };
        if u64::from_be_bytes(*not_after) <= now_ms {
            return Err("entry past its not_after".into());
        }
        let decode = |e: rmp_serde::decode::Error| e.to_string();
        let (meta, claims): (Meta, C) = rmp_serde::from_slice(payload).map_err(decode)?;
        // Each registered claim: as written in `meta`, else as the claims hold it (read only
        // when some claim is not in `meta`).
        let said: Registered = match &meta {
            Meta {
                e: Some(_),
                n: Some(_),
                i: Some(_),
                j: Some(_),
                s: Some(_),
                ..
            } => Registered::default(),
            _ => {
                let (_, said): (serde::de::IgnoredAny, Registered) =
                    rmp_serde::from_slice(payload).map_err(decode)?;
                said
            }
        };
        let meta_out = TokenMeta {
            exp: meta.e.unwrap_or(said.exp),
            nbf: meta.n.unwrap_or(said.nbf),
            iat: meta.i.unwrap_or(said.iat),
            jti: meta.j.unwrap_or(said.jti),
            sub: meta.s.unwrap_or(said.sub),
            key: meta.k,
        };
        Ok(ValidatedToken {
            claims: Arc::new(claims),
            meta: meta_out,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The codec round-trips, and any single changed bit (in the key name, `not_after`,
        /// the payload or the tag) is refused; so is the value under another key name.
        #[test]
        fn round_trip_and_every_single_bit_flip_is_refused(
            key in "[a-z:{}]{1,24}",
            other in "[a-z:{}]{1,24}",
            sub in "\\PC{0,30}",
            not_after in 1_000_000u64..4_000_000_000_000,
            flip in any::<usize>(),
        ) {
            use jwt_cache::StandardClaims;
            use jwt_cache::validator::{TokenMeta, ValidatedToken};
            let codec = super::Codec::new(Some(b"0123456789abcdefghijklmnopqrstuv-prop"));
            let v = ValidatedToken::new(
                StandardClaims { sub: sub.clone(), ..Default::default() },
                TokenMeta { sub: Some(sub.clone()), ..Default::default() },
            );
            let value = codec.encode(&key, not_after, &v).unwrap();
            let now = not_after - 1;
            let back = codec.decode::<StandardClaims>(&key, &value, now).unwrap();
            prop_assert_eq!(&back.claims.sub, &sub);
            prop_assert!(codec.decode::<StandardClaims>(&key, &value, not_after).is_err(), "past not_after");
            if other != key {
                prop_assert!(codec.decode::<StandardClaims>(&other, &value, now).is_err());
            }
            let mut changed = value.clone();
            let bit = flip % (changed.len() * 8);
            changed[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(codec.decode::<StandardClaims>(&key, &changed, now).is_err(), "bit {}", bit);
            // Without the key, a signed value is never taken for a plain one.
            prop_assert!(super::Codec::new(None).decode::<StandardClaims>(&key, &value, now).is_err());
        }
    }

    use super::*;
    use jwt_cache::StandardClaims;

    const NOW: u64 = 1_000_000;
    const LATER: u64 = NOW + 60_000;

    fn sample() -> ValidatedToken<StandardClaims> {
        ValidatedToken {
            claims: Arc::new(
                serde_json::from_value(serde_json::json!({"sub": "alice", "exp": 10})).unwrap(),
            ),
            meta: TokenMeta {
                exp: Some(10),
                sub: Some("alice".into()),
                key: Some("kid:a".into()),
                ..Default::default()
            },
        }
    }

    #[test]
    fn round_trip_and_tamper() {
        let name = "jwt:{s}:t:f".to_owned();
        for codec in [Codec::new(None), Codec::new(Some(&[7u8; 32]))] {
            let bytes = codec.encode(&name, LATER, &sample()).unwrap();
            let back: ValidatedToken<StandardClaims> = codec.decode(&name, &bytes, NOW).unwrap();
            assert_eq!(Codec::not_after(&bytes), Some(LATER));
            assert_eq!(back.meta, sample().meta);
            assert_eq!(*back.claims, *sample().claims);
            assert!(codec.decode::<StandardClaims>(&name, b"", NOW).is_err());
            assert!(
                codec
                    .decode::<StandardClaims>(&name, b"1{garbage", NOW)
                    .is_err()
            );
            assert!(
                codec
                    .decode::<StandardClaims>(&name, &bytes[..bytes.len() - 1], NOW)
                    .is_err()
            );
        }
        let signed = Codec::new(Some(&[7u8; 32]));
        let bytes = signed.encode(&name, LATER, &sample()).unwrap();
        // Moved under another key: the tag covers the key name.
        assert!(
            signed
                .decode::<StandardClaims>("jwt:{other}:x", &bytes, NOW)
                .is_err()
        );
        // Another secret.
        assert!(
            Codec::new(Some(&[8u8; 32]))
                .decode::<StandardClaims>(&name, &bytes, NOW)
                .is_err()
        );
        // Meta that differs from the claims survives the round trip.
        let mut odd = sample();
        odd.meta.exp = Some(99);
        odd.meta.jti = Some("j".into());
        odd.meta.sub = None;
        let plain = Codec::new(None);
        let back: ValidatedToken<StandardClaims> = plain
            .decode(&name, &plain.encode(&name, LATER, &odd).unwrap(), NOW)
            .unwrap();
        assert_eq!(back.meta, odd.meta);
        // Past its not_after: refused, signed or not; and the expiry is covered by the tag.
        for codec in [Codec::new(None), Codec::new(Some(&[7u8; 32]))] {
            let bytes = codec.encode(&name, NOW + 5, &sample()).unwrap();
            assert!(codec.decode::<StandardClaims>(&name, &bytes, NOW).is_ok());
            assert!(
                codec
                    .decode::<StandardClaims>(&name, &bytes, NOW + 5)
                    .is_err()
            );
        }
        let mut pushed = signed.encode(&name, NOW + 5, &sample()).unwrap();
        // Move not_after (bytes 33..41) a day later: the tag no longer matches.
        pushed[33..41].copy_from_slice(&(NOW + 86_400_000).to_be_bytes());
        assert!(
            signed
                .decode::<StandardClaims>(&name, &pushed, NOW + 10)
                .is_err()
        );
        // An unsigned value where signed ones are required.
        let plain = Codec::new(None).encode(&name, LATER, &sample()).unwrap();
        assert!(signed.decode::<StandardClaims>(&name, &plain, NOW).is_err());
    }

    #[test]
    fn random_values_never_panic() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let name = "jwt:{k}:f";
        let valid = Codec::new(None).encode(name, LATER, &sample()).unwrap();
        for codec in [Codec::new(None), Codec::new(Some(&[7u8; 32]))] {
            for i in 0..5000 {
                let mut v: Vec<u8> = if i % 2 == 0 {
                    (0..(next() % 80)).map(|_| next() as u8).collect()
                } else {
                    // A valid value with bytes changed or cut.
                    let mut v = valid.clone();
                    let at = (next() as usize) % v.len();
                    v[at] = next() as u8;
                    v.truncate((next() as usize) % (v.len() + 1));
                    v
                };
                if i % 3 == 0 && !v.is_empty() {
                    v[0] = b'1' + (i % 2) as u8;
                }
                let got = codec.decode::<StandardClaims>(name, &v, NOW);
                // Random bytes never decode, and nothing but the signer's own output passes
                // the tag check.
                if i % 2 == 0 || codec.integrity.is_some() {
                    assert!(got.is_err(), "{v:?} decoded");
                }
            }
        }
    }
}
