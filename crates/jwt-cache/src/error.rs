//! Errors: why a token was refused, why a cache failed, and how a refusal is answered.

use std::fmt;

/// Why a validator refused a token. Every variant but [`Unavailable`](Self::Unavailable)
/// is a property of the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// Not a compact JWS, bad base64url, bad JSON, or a claim of the wrong type.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The signature does not verify with the selected key.
    #[error("bad signature")]
    BadSignature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not an accepted issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` names none of the accepted audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// The `kid` names no key in the key set.
    #[error("unknown key")]
    UnknownKey,
    /// The header's `alg` is not allowed for the key (includes `none` and algorithm confusion).
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// The header's `typ` is not the required one.
    #[error("wrong token type")]
    WrongType,
    /// A required claim is missing.
    #[error("missing required claim `{0}`")]
    MissingClaim(String),
    /// `exp` is further away than the authenticator's `max_token_lifetime`: a revocation
    /// marker could lapse before such a token does, so it is refused.
    #[error("token lifetime exceeds the allowed maximum")]
    LifetimeTooLong,
    /// The authorization server says the token is not active (RFC 7662 `"active": false`:
    /// revoked, expired, or never issued by it).
    #[error("token not active")]
    Inactive,
    /// The validator could not decide (auth service or key set unreachable). Transient:
    /// never cached, answered with 503.
    #[error("validator unavailable: {0}")]
    Unavailable(String),
}

impl ValidationError {
    /// A short fixed phrase for `error_description` (no token data echoed back).
    pub fn description(&self) -> &'static str {
        match self {
            ValidationError::Malformed(_) => "malformed token",
            ValidationError::BadSignature => "bad signature",
            ValidationError::Expired => "token expired",
            ValidationError::NotYetValid => "token not yet valid",
            ValidationError::WrongIssuer => "wrong issuer",
            ValidationError::WrongAudience => "wrong audience",
            ValidationError::UnknownKey => "unknown key",
            ValidationError::AlgorithmNotAllowed => "algorithm not allowed",
            ValidationError::WrongType => "wrong token type",
            ValidationError::MissingClaim(_) => "missing required claim",
            ValidationError::LifetimeTooLong => "token lifetime too long",
            ValidationError::Inactive => "token not active",
            ValidationError::Unavailable(_) => "validator unavailable",
        }
    }
}

/// A cache backend failed (timeout, connection, encoding). The authenticator treats it as a
/// miss and validates directly: a cache is an accelerator, never a dependency.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The backend did not answer in time.
    #[error("cache timeout")]
    Timeout,
    /// The backend failed.
    #[error("cache backend error: {0}")]
    Backend(String),
    /// A stored value did not decode (or failed its integrity check).
    #[error("cache value did not decode: {0}")]
    Decode(String),
    /// A value could not be encoded for storage (the claims type failed to serialize).
    #[error("cache value could not be encoded: {0}")]
    Encode(String),
    /// The backend's circuit breaker is open after repeated failures: no call was made.
    #[error("cache circuit breaker open")]
    CircuitOpen,
    /// The in-process revocation set is full of live revocations: this one was not recorded.
    #[error("revocation set full ({capacity} live revocations)")]
    RevocationsFull {
        /// The configured bound.
        capacity: usize,
    },
}

/// Why a request was not authenticated. Adapters turn it into a response with
/// [`status`](Self::status) and [`www_authenticate`](Self::www_authenticate).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No bearer credentials at all (no `Authorization` header, or another scheme).
    MissingToken,
    /// The `Authorization` header is not a well-formed `Bearer` credential (RFC 6750 §2.1).
    InvalidRequest(&'static str),
    /// The token was refused.
    InvalidToken(ValidationError),
    /// The token is valid but revoked.
    Revoked,
    /// Could not decide: the validator is unavailable, or (fail-closed) the revocation store is.
    Unavailable(String),
    /// The token is valid but lacks the scope (or role) the route requires: 403
    /// `insufficient_scope` (RFC 6750 §3.1), with the required scope in the challenge.
    InsufficientScope(std::sync::Arc<str>),
    /// A token taken from a cookie, on an unsafe method (anything but `GET`, `HEAD`,
    /// `OPTIONS`) of a request that is neither same-origin nor from an allowed origin: 403.
    /// Browsers attach cookies to cross-site requests (request forgery); they never attach a
    /// bearer header.
    CrossSite,
}

impl Rejection {
    /// HTTP status: 401, or 503 when the decision could not be made.
    ///
    /// RFC 6750 §3.1 suggests 400 for `invalid_request`; like most resource servers we answer
    /// every authentication failure with 401 so clients have one thing to handle.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Unavailable(_)
            | Rejection::InvalidToken(ValidationError::Unavailable(_)) => 503,
            Rejection::InsufficientScope(_) | Rejection::CrossSite => 403,
            _ => 401,
        }
    }

    /// The RFC 6750 `error` code, if any (`None` for a request without credentials).
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Rejection::MissingToken => None,
            Rejection::InvalidRequest(_) | Rejection::CrossSite => Some("invalid_request"),
            Rejection::InvalidToken(ValidationError::Unavailable(_))
            | Rejection::Unavailable(_) => None,
            Rejection::InvalidToken(_) | Rejection::Revoked => Some("invalid_token"),
            Rejection::InsufficientScope(_) => Some("insufficient_scope"),
        }
    }

    /// A short, fixed `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            Rejection::MissingToken => "bearer token required",
            Rejection::InvalidRequest(why) => why,
            Rejection::InvalidToken(e) => e.description(),
            Rejection::Revoked => "token revoked",
            Rejection::Unavailable(_) => "authentication temporarily unavailable",
            Rejection::InsufficientScope(_) => "insufficient scope",
            Rejection::CrossSite => "cross-site request with a cookie token",
        }
    }

    /// The headers every adapter puts on the response: `WWW-Authenticate` for a 401, and
    /// `Cache-Control: no-store`.
    pub fn response_headers(
        &self,
        realm: Option<&str>,
    ) -> impl Iterator<Item = (&'static str, String)> {
        self.www_authenticate(realm)
            .map(|v| ("www-authenticate", v))
            .into_iter()
            .chain(std::iter::once(("cache-control", "no-store".to_owned())))
    }

    /// The `WWW-Authenticate` value for a 401 or a 403 (RFC 6750 §3), `None` for a 503.
    pub fn www_authenticate(&self, realm: Option<&str>) -> Option<String> {
        if self.status() == 503 {
            return None;
        }
        let mut v = String::from("Bearer");
        let mut sep = " ";
        if let Some(realm) = realm {
            v.push_str(sep);
            v.push_str("realm=\"");
            v.push_str(realm);
            v.push('"');
            sep = ", ";
        }
        if let Some(code) = self.error_code() {
            v.push_str(sep);
            v.push_str("error=\"");
            v.push_str(code);
            v.push_str("\", error_description=\"");
            v.push_str(self.description());
            v.push('"');
        }
        if let Rejection::InsufficientScope(scope) = self {
            v.push_str(", scope=\"");
            v.push_str(scope);
            v.push('"');
        }
        Some(v)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::InvalidToken(e) => write!(f, "invalid token: {e}"),
            Rejection::Unavailable(why) => write!(f, "authentication unavailable: {why}"),
            other => f.write_str(other.description()),
        }
    }
}

impl std::error::Error for Rejection {}

/// Refuse a secret with obviously no entropy: fewer than 10 distinct byte values, one byte
/// making up more than a quarter of it, or a shorter pattern repeated. A key from a CSPRNG,
/// raw or hex-encoded (`openssl rand -hex 32`: 16 symbols), passes.
pub fn check_secret_entropy(secret: &[u8]) -> Result<(), ConfigError> {
    let mut counts = [0usize; 256];
    for b in secret {
        counts[*b as usize] += 1;
    }
    let distinct = counts.iter().filter(|c| **c > 0).count();
    if distinct < 10 {
        return Err(ConfigError::LowEntropySecret {
            why: "fewer than 10 distinct byte values",
        });
    }
    if counts.iter().any(|c| *c * 4 > secret.len()) {
        return Err(ConfigError::LowEntropySecret {
            why: "one byte value makes up more than a quarter of it",
        });
    }
    let n = secret.len();
    if (1..=n / 2).any(|p| n.is_multiple_of(p) && secret.chunks(p).all(|c| c == &secret[..p])) {
        return Err(ConfigError::LowEntropySecret {
            why: "a shorter pattern repeated",
        });
    }
    Ok(())
}

/// A configuration mistake caught at construction (weak secret, key/algorithm mismatch…).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key could not be parsed.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The algorithm does not belong to the key's family (e.g. HS256 with an RSA key).
    #[error("algorithm {alg:?} does not match a {family} key")]
    AlgorithmMismatch {
        /// The algorithm asked for.
        alg: jsonwebtoken::Algorithm,
        /// The key's family.
        family: &'static str,
    },
    /// An HMAC secret shorter than the hash output (RFC 7518 §3.2).
    #[error("HMAC secret of {len} bytes is too weak for {alg:?}: at least {min} bytes required")]
    WeakSecret {
        /// The algorithm.
        alg: jsonwebtoken::Algorithm,
        /// The secret's length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// A secret long enough but with obviously no entropy (one byte repeated, a short pattern
    /// repeated, a handful of distinct bytes): whoever guesses it can forge what it protects.
    #[error(
        "secret has too little entropy ({why}): make one with `openssl rand -hex 32` (or 32 bytes from a CSPRNG)"
    )]
    LowEntropySecret {
        /// What gave it away.
        why: &'static str,
    },
    /// PEM material (a public key) given as an HMAC secret: anyone holding the public key
    /// could sign tokens (algorithm confusion, RFC 8725 §2.1).
    #[error(
        "an HMAC algorithm (HS256/384/512) needs a shared secret, not PEM key material: a public key used as an HMAC secret lets anyone sign tokens"
    )]
    PemAsHmacSecret,
    /// jsonwebtoken has no usable crypto provider (both or neither backend compiled in).
    #[error("jsonwebtoken has no crypto provider: {0}")]
    CryptoProvider(&'static str),
    /// A key source could not be set up (discovery failed or named another issuer, the first
    /// key set could not be fetched).
    #[error("key source: {0}")]
    KeySource(String),
    /// Something else.
    #[error("{0}")]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_with_obviously_no_entropy_are_refused() {
        for weak in [
            &b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"[..],
            b"abababababababababababababababab",
            b"0123456789abcdef0123456789abcdef",
            b"00000000000000000000000000000000123456789",
        ] {
            assert!(
                matches!(
                    check_secret_entropy(weak),
                    Err(ConfigError::LowEntropySecret { .. })
                ),
                "{:?}",
                String::from_utf8_lossy(weak)
            );
        }
        // Hex from a CSPRNG (16 symbols) and a sentence pass.
        check_secret_entropy(b"9f2c4e1a7b3d8c60e5f14a2b9c7d3e8f1a6b4c2d9e7f3a5b8c1d6e4f2a9b7c3d")
            .unwrap();
        check_secret_entropy(b"a server-side secret of at least 32 bytes!").unwrap();
    }
}
