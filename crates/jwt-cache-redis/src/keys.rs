//! The Redis key scheme.
//!
//! Entries, markers and the revocation log live in different slots of a Cluster; fred sends
//! a lookup's pipeline to each node involved in parallel, so it is still one round trip of
//! latency. (`{rev}` is the log's hash tag: its keys move together.)

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

    /// `{prefix}e:<base64url of 128 bits of SHA-256(validator fingerprint ‖ SHA-256(token))>`:
    /// an entry covers the token's exact bytes, in one validator's namespace. 128 bits keep
    /// the key short (28 bytes with the default prefix; an entry's Redis footprint is what a
    /// fleet pays per user) and still take 2^128 work to find another token naming the same
    /// entry: only the issuer can make tokens that validate, so a birthday collision between
    /// two tokens of one's own gains nothing.
    pub(crate) fn entry(&self, key: &CacheKey) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(key.fingerprint.0);
        h.update(key.token.0);
        format!("{}e:{}", self.prefix, b64(&h.finalize()[..16]))
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
