//! The Redis key scheme.
//!
//! `{…}` is a Redis Cluster hash tag: a token's cache entries and its token revocation marker
//! share the tag of the token's signed part, so they live in one slot and come back in one
//! round trip.

use base64::Engine;
use jwt_cache::{CacheKey, SignedHash};
use sha2::{Digest, Sha256};

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

    /// `{prefix}{<sha256 of the signed part>}:<sha256 of the token>:<validator fingerprint>`,
    /// each base64url: the entry covers the token's exact bytes, and shares its slot with the
    /// token's revocation marker.
    pub(crate) fn entry(&self, signed: &SignedHash, key: &CacheKey) -> String {
        format!(
            "{}{{{}}}:{}:{}",
            self.prefix,
            b64(&signed.0),
            b64(&key.token.0),
            b64(&key.fingerprint.0)
        )
    }

    /// `{prefix}{<sha256 of the signed part>}:r`: revokes every encoding of that content.
    pub(crate) fn token_revoked(&self, signed: &SignedHash) -> String {
        format!("{}{{{}}}:r", self.prefix, b64(&signed.0))
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

