//! The value stored under a cache key, and the key scheme.
//!
//! Value: one version byte, then (with an integrity key) a 32-byte HMAC-SHA256 tag over the
//! Redis key name and the payload, then the payload: the JSON array `[meta, claims]`, where
//! `meta` holds only what the claims do not already say: `k` (the verifying key), and `e`,
//! `n`, `i`, `j`, `s` (exp, nbf, iat, jti, sub) only when the serialized claims lack that
//! claim or hold another value. The registered claims are usually in the claims, so an entry
//! does not store them twice.

use std::sync::Arc;

use aws_lc_rs::hmac;
use base64::Engine;
use jwt_cache::{CacheKey, JwtClaims, TokenHash, TokenMeta, ValidatedToken};
use sha2::{Digest, Sha256};

const PLAIN: u8 = b'1';
const SIGNED: u8 = b'2';
const TAG_LEN: usize = 32;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The key scheme. `{…}` is a Redis Cluster hash tag: a token's cache entries and its token
/// revocation marker live in one slot.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: impl Into<String>) -> Self {
        Keys {
            prefix: prefix.into(),
        }
    }

    /// `{prefix}{<token sha256, base64url>}:<validator fingerprint, base64url>`
    pub(crate) fn entry(&self, key: &CacheKey) -> String {
        format!(
            "{}{{{}}}:{}",
            self.prefix,
            b64(&key.token.0),
            b64(&key.fingerprint.0)
        )
    }

    /// `{prefix}{<token sha256>}:r`
    pub(crate) fn token_revoked(&self, token: &TokenHash) -> String {
        format!("{}{{{}}}:r", self.prefix, b64(&token.0))
    }

    /// `{prefix}j:<sha256(jti)>`
    pub(crate) fn jti_revoked(&self, jti: &str) -> String {
        format!("{}j:{}", self.prefix, b64(&Sha256::digest(jti.as_bytes())))
    }

    /// `{prefix}s:<sha256(sub)>`, value: revoke tokens with `iat` before this (seconds).
    pub(crate) fn subject_revoked(&self, sub: &str) -> String {
        format!("{}s:{}", self.prefix, b64(&Sha256::digest(sub.as_bytes())))
    }
}

const FIELDS: [(&str, &str); 5] = [
    ("e", "exp"),
    ("n", "nbf"),
    ("i", "iat"),
    ("j", "jti"),
    ("s", "sub"),
];

fn meta_values(m: &TokenMeta) -> [serde_json::Value; 5] {
    use serde_json::Value;
    let num = |v: Option<u64>| v.map_or(Value::Null, Value::from);
    let text = |v: &Option<String>| v.as_deref().map_or(Value::Null, Value::from);
    [
        num(m.exp),
        num(m.nbf),
        num(m.iat),
        text(&m.jti),
        text(&m.sub),
    ]
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

    fn tag(key: &hmac::Key, redis_key: &str, payload: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(key);
        ctx.update(&(redis_key.len() as u64).to_be_bytes());
        ctx.update(redis_key.as_bytes());
        ctx.update(payload);
        ctx.sign()
    }

    pub(crate) fn encode<C: JwtClaims>(
        &self,
        redis_key: &str,
        v: &ValidatedToken<C>,
    ) -> Result<Vec<u8>, serde_json::Error> {
        use serde_json::{Map, Value};
        let claims = serde_json::to_value(&*v.claims)?;
        let mut meta = Map::new();
        if let Some(k) = &v.meta.key {
            meta.insert("k".into(), Value::from(k.as_str()));
        }
        for ((short, long), value) in FIELDS.iter().zip(meta_values(&v.meta)) {
            let in_claims = claims.get(long).unwrap_or(&Value::Null);
            if *in_claims != value {
                meta.insert((*short).into(), value);
            }
        }
        let payload = serde_json::to_vec(&(meta, claims))?;
        let mut out = Vec::with_capacity(1 + TAG_LEN + payload.len());
        match &self.integrity {
            None => out.push(PLAIN),
            Some(key) => {
                out.push(SIGNED);
                out.extend_from_slice(Self::tag(key, redis_key, &payload).as_ref());
            }
        }
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Decode an untrusted value: anything that does not decode, lacks the tag we require, or
    /// whose tag does not match this key name is an error (the caller treats it as a miss).
    pub(crate) fn decode<C: JwtClaims>(
        &self,
        redis_key: &str,
        value: &[u8],
    ) -> Result<ValidatedToken<C>, String> {
        let (&version, rest) = value.split_first().ok_or("empty value")?;
        let payload = match (&self.integrity, version) {
            (None, PLAIN) => rest,
            (Some(key), SIGNED) => {
                if rest.len() < TAG_LEN {
                    return Err("truncated tag".into());
                }
                let (tag, payload) = rest.split_at(TAG_LEN);
                let mut msg = Vec::with_capacity(8 + redis_key.len() + payload.len());
                msg.extend_from_slice(&(redis_key.len() as u64).to_be_bytes());
                msg.extend_from_slice(redis_key.as_bytes());
                msg.extend_from_slice(payload);
                hmac::verify(key, &msg, tag).map_err(|_| "integrity tag mismatch")?;
                payload
            }
            (Some(_), PLAIN) => return Err("unsigned value where a signed one is required".into()),
            _ => return Err(format!("unknown value version {version}")),
        };
        let (meta, claims): (
            serde_json::Map<String, serde_json::Value>,
            serde_json::Value,
        ) = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        // Each registered claim: as written in `meta` (null = absent), else from the claims.
        let field = |short: &str, long: &str| -> &serde_json::Value {
            meta.get(short)
                .or_else(|| claims.get(long))
                .unwrap_or(&serde_json::Value::Null)
        };
        let num = |short, long| -> Result<Option<u64>, String> {
            match field(short, long) {
                serde_json::Value::Null => Ok(None),
                v => v
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| format!("`{long}` is not a number")),
            }
        };
        let text = |short, long| -> Result<Option<String>, String> {
            match field(short, long) {
                serde_json::Value::Null => Ok(None),
                v => v
                    .as_str()
                    .map(|s| Some(s.to_owned()))
                    .ok_or_else(|| format!("`{long}` is not a string")),
            }
        };
        let meta_out = TokenMeta {
            exp: num("e", "exp")?,
            nbf: num("n", "nbf")?,
            iat: num("i", "iat")?,
            jti: text("j", "jti")?,
            sub: text("s", "sub")?,
            key: match meta.get("k") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(v.as_str().ok_or("`k` is not a string")?.to_owned()),
            },
        };
        let claims: C = serde_json::from_value(claims).map_err(|e| e.to_string())?;
        Ok(ValidatedToken {
            claims: Arc::new(claims),
            meta: meta_out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_cache::{Fingerprint, StandardClaims};

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
        let keys = Keys::new("jwt:");
        let k = CacheKey {
            fingerprint: Fingerprint([1; 16]),
            token: TokenHash::of("a.b.c"),
        };
        let name = keys.entry(&k);
        assert!(name.starts_with("jwt:{") && name.contains("}:"));
        for codec in [Codec::new(None), Codec::new(Some(&[7u8; 32]))] {
            let bytes = codec.encode(&name, &sample()).unwrap();
            let back: ValidatedToken<StandardClaims> = codec.decode(&name, &bytes).unwrap();
            assert_eq!(back.meta, sample().meta);
            assert_eq!(*back.claims, *sample().claims);
            assert!(codec.decode::<StandardClaims>(&name, b"").is_err());
            assert!(codec.decode::<StandardClaims>(&name, b"1{garbage").is_err());
            assert!(
                codec
                    .decode::<StandardClaims>(&name, &bytes[..bytes.len() - 1])
                    .is_err()
            );
        }
        let signed = Codec::new(Some(&[7u8; 32]));
        let bytes = signed.encode(&name, &sample()).unwrap();
        // Moved under another key: the tag covers the key name.
        assert!(
            signed
                .decode::<StandardClaims>("jwt:{other}:x", &bytes)
                .is_err()
        );
        // Another secret.
        assert!(
            Codec::new(Some(&[8u8; 32]))
                .decode::<StandardClaims>(&name, &bytes)
                .is_err()
        );
        // Meta that differs from the claims survives the round trip.
        let mut odd = sample();
        odd.meta.exp = Some(99);
        odd.meta.jti = Some("j".into());
        odd.meta.sub = None;
        let plain = Codec::new(None);
        let back: ValidatedToken<StandardClaims> = plain
            .decode(&name, &plain.encode(&name, &odd).unwrap())
            .unwrap();
        assert_eq!(back.meta, odd.meta);
        // An unsigned value where signed ones are required.
        let plain = Codec::new(None).encode(&name, &sample()).unwrap();
        assert!(signed.decode::<StandardClaims>(&name, &plain).is_err());
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
        let valid = Codec::new(None).encode(name, &sample()).unwrap();
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
                let _ = codec.decode::<StandardClaims>(name, &v);
            }
        }
    }
}
