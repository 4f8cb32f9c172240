//! The Redis key scheme.
//!
//! `{…}` is a Redis Cluster hash tag: every cache entry of one token (one per validator
//! namespace) lives in one slot. A lookup's markers live in other slots; fred sends the
//! pipeline to each node involved in parallel, so it is still one round trip of latency.

use base64::Engine;
use jwt_cache::cache::{CacheKey, IdHash, SignedHash};

/// Base64url without padding: how hashes are written in key names and log members.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The key scheme (see the module docs).
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

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}{<sha256 of the token, base64url>}:<validator fingerprint, base64url>`: an
    /// entry covers the token's exact bytes.
    pub(crate) fn entry(&self, key: &CacheKey) -> String {
        format!(
            "{}{{{}}}:{}",
            self.prefix,
            b64(&key.token.0),
            b64(&key.fingerprint.0)
        )
    }

    /// `{prefix}t:<sha256 of the signed part, base64url>`: revokes every encoding of that
    /// content (the `t:` keeps it apart from entries, which are keyed on the whole token).
    pub(crate) fn token_revoked(&self, signed: &SignedHash) -> String {
        format!("{}t:{}", self.prefix, b64(&signed.0))
    }

    /// `{prefix}j:<sha256(jti)>`
    pub(crate) fn jti_revoked(&self, jti: &str) -> String {
        format!("{}j:{}", self.prefix, b64(&IdHash::of(jti).0))
    }

    /// `{prefix}s:<sha256(sub)>`, value: revoke tokens with `iat` before this (seconds).
    pub(crate) fn subject_revoked(&self, sub: &str) -> String {
        format!("{}s:{}", self.prefix, b64(&IdHash::of(sub).0))
    }
}
