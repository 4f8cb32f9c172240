//! [`JwtValidator`]: local signature verification on `jsonwebtoken` (aws-lc-rs backend).

use std::sync::Arc;

use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily};

use super::jws;
use super::key::VerificationKey;
use super::token_validator::TokenValidator;
use super::{Fingerprint, ValidatedToken};
use crate::claims::JwtClaims;
use crate::clock::now_secs;
use crate::error::{ConfigError, ValidationError};

#[derive(Clone, Debug)]
struct Policy {
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: u64,
    required: Vec<String>,
    typ: Option<String>,
}

/// Local JWT validation with `jsonwebtoken` on the aws-lc-rs backend: RS256/384/512,
/// PS256/384/512, ES256/384, EdDSA and HS256/384/512.
///
/// Defaults: `exp` required, `nbf` checked when present, 60 s leeway (jsonwebtoken's),
/// a token carrying an `aud` is refused unless an audience is configured (RFC 7519 §4.1.3).
/// Configuring an issuer or an audience also makes that claim required.
///
/// ```
/// # use jwt_cache::{JwtValidator, VerificationKey};
/// # use jsonwebtoken::Algorithm;
/// let secret = [7u8; 32];
/// let validator = JwtValidator::new(VerificationKey::hmac(&secret, Algorithm::HS256)?)
///     .issuer("https://id.example")
///     .audience("content")
///     .require_typ("at+jwt");
/// # Ok::<(), jwt_cache::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct JwtValidator {
    keys: Vec<VerificationKey>,
    #[cfg(feature = "jwks")]
    source: Option<super::jwks::JwksKeySource>,
    policy: Policy,
}

/// Every algorithm a key can be pinned to.
const ALGORITHMS: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];

/// Why no key verified a token: a `kid` naming no key is told apart, so a key source can
/// refetch.
enum Miss {
    UnknownKid,
    Refused(ValidationError),
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("JwtValidator");
        d.field("keys", &self.keys);
        #[cfg(feature = "jwks")]
        d.field("source", &self.source);
        d.field("policy", &self.policy).finish()
    }
}

impl JwtValidator {
    /// A validator with one key.
    pub fn new(key: VerificationKey) -> Self {
        Self::with_keys(vec![key])
    }

    fn with_keys(keys: Vec<VerificationKey>) -> Self {
        JwtValidator {
            keys,
            #[cfg(feature = "jwks")]
            source: None,
            policy: Policy {
                issuers: Vec::new(),
                audiences: Vec::new(),
                leeway: 60,
                required: vec!["exp".into()],
                typ: None,
            },
        }
    }

    /// A validator whose keys come from a JWKS, kept current by `source` (see
    /// [`JwksKeySource`](super::jwks::JwksKeySource)). Keys added with
    /// [`with_key`](Self::with_key) are used beside the set.
    #[cfg(feature = "jwks")]
    pub fn from_key_source(source: super::jwks::JwksKeySource) -> Self {
        let mut v = Self::with_keys(Vec::new());
        v.source = Some(source);
        v
    }

    /// RS256 with an RSA public key in PEM.
    pub fn rs256_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Ok(Self::new(VerificationKey::rsa_pem(
            pem.as_ref(),
            Algorithm::RS256,
        )?))
    }

    /// ES256 with a P-256 public key in PEM.
    pub fn es256_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Ok(Self::new(VerificationKey::ec_pem(
            pem.as_ref(),
            Algorithm::ES256,
        )?))
    }

    /// EdDSA with an Ed25519 public key in PEM.
    pub fn eddsa_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Ok(Self::new(VerificationKey::ed_pem(pem.as_ref())?))
    }

    /// HS256 with a shared secret of at least 32 bytes.
    pub fn hs256(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Ok(Self::new(VerificationKey::hmac(
            secret.as_ref(),
            Algorithm::HS256,
        )?))
    }

    /// A validator for an asymmetric `alg` (RS*, PS*, ES*, EdDSA) with a public key in PEM.
    ///
    /// An HMAC algorithm is refused with [`ConfigError::PemAsHmacSecret`]: a PEM file holds a
    /// public key, and a public key used as an HMAC secret lets anyone sign tokens. HMAC
    /// secrets come through [`hs256`](Self::hs256) / [`VerificationKey::hmac`].
    pub fn from_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let pem = pem.as_ref();
        let key = match alg.family() {
            AlgorithmFamily::Rsa => VerificationKey::rsa_pem(pem, alg)?,
            AlgorithmFamily::Ec => VerificationKey::ec_pem(pem, alg)?,
            AlgorithmFamily::Ed => VerificationKey::ed_pem(pem)?,
            AlgorithmFamily::Hmac => return Err(ConfigError::PemAsHmacSecret),
        };
        Ok(Self::new(key))
    }

    /// Add a key (select among several by `kid`).
    #[must_use]
    pub fn with_key(mut self, key: VerificationKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Accept tokens from this issuer (call again to accept several). Makes `iss` required.
    #[must_use]
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.policy.issuers.push(iss.into());
        self.require("iss");
        self
    }

    /// Accept tokens for this audience (call again to accept several). Makes `aud` required.
    #[must_use]
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.policy.audiences.push(aud.into());
        self.require("aud");
        self
    }

    /// Clock leeway for `exp` and `nbf`, in seconds (default 60), at most
    /// [`REVOCATION_MARGIN`](crate::clock::REVOCATION_MARGIN) (300 s; larger values are
    /// capped): revocation markers outlive tokens by that fleet-wide margin, no more.
    #[must_use]
    pub fn leeway(mut self, secs: u64) -> Self {
        self.policy.leeway = secs.min(crate::clock::REVOCATION_MARGIN.as_secs());
        self
    }

    /// Set the registered claims that must be present (`exp`, `nbf`, `sub`, `iss`, `aud`);
    /// replaces the default `["exp"]`. A token without `exp` is not cached unless the
    /// authenticator opts in.
    #[must_use]
    pub fn required_claims(mut self, claims: &[&str]) -> Self {
        self.policy.required = claims.iter().map(|s| s.to_string()).collect();
        if !self.policy.issuers.is_empty() {
            self.require("iss");
        }
        if !self.policy.audiences.is_empty() {
            self.require("aud");
        }
        self
    }

    /// Require the header `typ` (compared case-insensitively, with or without the
    /// `application/` prefix), e.g. `at+jwt` (RFC 9068) so an ID token is never taken for an
    /// access token.
    #[must_use]
    pub fn require_typ(mut self, typ: impl Into<String>) -> Self {
        self.policy.typ = Some(normalize_typ(&typ.into()));
        self
    }

    fn require(&mut self, claim: &str) {
        if !self.policy.required.iter().any(|c| c == claim) {
            self.policy.required.push(claim.to_owned());
        }
    }

    /// Verify with the keys at hand. `Err(seen)`: the token names a `kid` that none of them
    /// has, and the key source (at generation `seen`) may learn it by refetching.
    fn verify_now<C: JwtClaims>(
        &self,
        token: &str,
    ) -> Result<Result<ValidatedToken<C>, ValidationError>, u64> {
        let header = match jsonwebtoken::decode_header(token) {
            Ok(h) => h,
            Err(e) => return Ok(Err(header_error(token, e))),
        };
        if let Err(e) = check_header_extensions(token) {
            return Ok(Err(e));
        }
        if let Some(want) = &self.policy.typ {
            match header.typ.as_deref() {
                Some(t) if normalize_typ(t) == *want => {}
                _ => return Ok(Err(ValidationError::WrongType)),
            }
        }
        #[cfg(feature = "jwks")]
        if let Some(source) = &self.source {
            let set = source.current();
            let keys: Vec<&VerificationKey> = self.keys.iter().chain(set.keys.iter()).collect();
            if keys.is_empty() && !source.is_healthy() {
                return Ok(Err(ValidationError::Unavailable("no key set yet".into())));
            }
            return match self.verify_with(token, &header, &keys) {
                Err(Miss::UnknownKid) => Err(set.generation),
                Err(Miss::Refused(e)) => Ok(Err(e)),
                Ok(v) => Ok(Ok(v)),
            };
        }
        let keys: Vec<&VerificationKey> = self.keys.iter().collect();
        Ok(self
            .verify_with(token, &header, &keys)
            .map_err(Miss::into_error))
    }

    async fn verify<C: JwtClaims>(
        &self,
        token: &str,
    ) -> Result<ValidatedToken<C>, ValidationError> {
        #[cfg_attr(not(feature = "jwks"), allow(unused_variables))]
        let seen = match self.verify_now(token) {
            Ok(done) => return done,
            Err(seen) => seen,
        };
        #[cfg(feature = "jwks")]
        if let Some(source) = &self.source {
            // Only a key source answers "unknown kid, ask again": refetch (at most once per
            // interval, one fetch however many ask) and verify with the new set.
            let header = jsonwebtoken::decode_header(token).map_err(|e| header_error(token, e))?;
            let kid = header.kid.as_deref().unwrap_or_default();
            let set = source.after_unknown_kid(kid, seen).await?;
            let keys: Vec<&VerificationKey> = self.keys.iter().chain(set.keys.iter()).collect();
            return self
                .verify_with(token, &header, &keys)
                .map_err(Miss::into_error);
        }
        Err(ValidationError::UnknownKey)
    }

    fn verify_with<C: JwtClaims>(
        &self,
        token: &str,
        header: &jsonwebtoken::Header,
        keys: &[&VerificationKey],
    ) -> Result<ValidatedToken<C>, Miss> {
        let alg = header.alg;
        let candidates: Vec<&VerificationKey> = match header.kid.as_deref() {
            Some(kid) => {
                let named: Vec<&VerificationKey> = keys
                    .iter()
                    .copied()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .collect();
                let any_named = keys.iter().any(|k| k.kid.is_some());
                if !named.is_empty() {
                    named
                } else if any_named {
                    // The operator names keys: a kid that names none is refused (RFC 8725).
                    return Err(Miss::UnknownKid);
                } else {
                    // No key is named, so a kid cannot name one: the token's kid is ignored
                    // and the (unnamed) keys are tried, as if it had none.
                    keys.to_vec()
                }
            }
            None => keys.to_vec(),
        };
        if !ALGORITHMS.contains(&alg) {
            return Err(Miss::Refused(ValidationError::AlgorithmNotAllowed));
        }
        let Some((message, signature)) = token.rsplit_once('.') else {
            return Err(Miss::Refused(ValidationError::Malformed(
                "not a compact JWS".into(),
            )));
        };
        let mut last = ValidationError::AlgorithmNotAllowed;
        for key in candidates {
            if !key.algorithms.contains(&alg) {
                continue;
            }
            match jws::verify(key.parsed_for(alg), &key.key, alg, message, signature) {
                Ok(true) => return self.read_claims(token, key).map_err(Miss::Refused),
                // Only a bad signature makes another candidate key worth trying.
                Ok(false) => last = ValidationError::BadSignature,
                Err(e) => return Err(Miss::Refused(map_error(e))),
            }
        }
        Err(Miss::Refused(last))
    }

    /// The claims of a token whose signature `key` verified: decoded into `C`, checked
    /// against the policy, and what the cache keeps of them.
    fn read_claims<C: JwtClaims>(
        &self,
        token: &str,
        key: &VerificationKey,
    ) -> Result<ValidatedToken<C>, ValidationError> {
        let payload = jws::payload(token).map_err(map_error)?;
        let claims: C = serde_json::from_slice(&payload)
            .map_err(|e| map_error(jsonwebtoken::errors::Error::from(e)))?;
        let rules = jws::ClaimRules {
            issuers: &self.policy.issuers,
            audiences: &self.policy.audiences,
            required: &self.policy.required,
            leeway: self.policy.leeway,
        };
        let reg = jws::check_claims(&payload, &rules, now_secs()).map_err(map_error)?;
        Ok(ValidatedToken {
            claims: Arc::new(claims),
            meta: reg.into_meta(Some(key.identity.clone())),
        })
    }
}

impl Miss {
    fn into_error(self) -> ValidationError {
        match self {
            Miss::UnknownKid => ValidationError::UnknownKey,
            Miss::Refused(e) => e,
        }
    }
}

/// Header parameters that change what the signature or the payload means, none of which we
/// implement, refuse the token (RFC 7515 §4.1.11: a recipient must reject a `crit` it does not
/// understand; RFC 7797 `b64: false` signs an unencoded payload; `cty: JWT` nests another
/// token, RFC 8725 §2.8). A quick scan of the decoded header first: the usual header pays
/// one base64 decode of a few dozen bytes.
fn check_header_extensions(token: &str) -> Result<(), ValidationError> {
    use base64::Engine;
    #[derive(serde::Deserialize)]
    struct Extensions {
        crit: Option<serde::de::IgnoredAny>,
        b64: Option<serde::de::IgnoredAny>,
        cty: Option<String>,
    }
    let segment = token.split('.').next().unwrap_or_default();
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment) else {
        return Err(ValidationError::Malformed("header is not base64url".into()));
    };
    let mentions = |name: &[u8]| bytes.windows(name.len()).any(|w| w == name);
    if !mentions(b"crit") && !mentions(b"b64") && !mentions(b"cty") {
        return Ok(());
    }
    let ext: Extensions = serde_json::from_slice(&bytes)
        .map_err(|e| ValidationError::Malformed(format!("header: {e}")))?;
    if ext.crit.is_some() {
        return Err(ValidationError::Malformed(
            "a critical header extension (crit) is not understood".into(),
        ));
    }
    if ext.b64.is_some() {
        return Err(ValidationError::Malformed(
            "unencoded payloads (b64, RFC 7797) are not accepted".into(),
        ));
    }
    if ext.cty.is_some_and(|c| c.eq_ignore_ascii_case("jwt")) {
        return Err(ValidationError::Malformed(
            "nested tokens (cty: JWT) are not accepted".into(),
        ));
    }
    Ok(())
}

fn normalize_typ(t: &str) -> String {
    let t = t.trim().to_ascii_lowercase();
    t.strip_prefix("application/")
        .map(str::to_owned)
        .unwrap_or(t)
}

/// decode_header failed: was it the algorithm (`none`, unknown names) or the token's shape?
fn header_error(token: &str, e: jsonwebtoken::errors::Error) -> ValidationError {
    use base64::Engine;
    let head = token.split('.').next().unwrap_or_default();
    let parsed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    match parsed {
        Some(v) if v.get("alg").is_some_and(|a| a.is_string()) => {
            ValidationError::AlgorithmNotAllowed
        }
        _ => map_error(e),
    }
}

fn map_error(e: jsonwebtoken::errors::Error) -> ValidationError {
    match e.into_kind() {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => ValidationError::BadSignature,
        ErrorKind::ExpiredSignature => ValidationError::Expired,
        ErrorKind::ImmatureSignature => ValidationError::NotYetValid,
        ErrorKind::InvalidIssuer => ValidationError::WrongIssuer,
        ErrorKind::InvalidAudience => ValidationError::WrongAudience,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => ValidationError::AlgorithmNotAllowed,
        ErrorKind::MissingRequiredClaim(c) => ValidationError::MissingClaim(c),
        ErrorKind::InvalidClaimFormat(c) => {
            ValidationError::Malformed(format!("claim `{c}` has the wrong type"))
        }
        ErrorKind::Json(e) => ValidationError::Malformed(format!("claims: {e}")),
        other => ValidationError::Malformed(format!("{other:?}")),
    }
}

#[async_trait]
impl<C: JwtClaims> TokenValidator<C> for JwtValidator {
    async fn validate(&self, token: &str) -> Result<ValidatedToken<C>, ValidationError> {
        self.verify(token).await
    }

    fn validate_now(&self, token: &str) -> Option<Result<ValidatedToken<C>, ValidationError>> {
        self.verify_now(token).ok()
    }

    /// A digest of stable bytes only (JWA algorithm names, key material digests, sorted
    /// claim values, each length-prefixed): a dependency upgrade does not change it.
    fn fingerprint(&self) -> Fingerprint {
        let mut parts: Vec<Vec<u8>> = vec![b"jwt-cache/JwtValidator/2".to_vec()];
        for k in &self.keys {
            parts.push(b"key".to_vec());
            parts.push(k.kid.clone().unwrap_or_default().into_bytes());
            for alg in &k.algorithms {
                let name = match super::key::alg_name(*alg) {
                    "unknown" => format!("{alg:?}"),
                    known => known.to_owned(),
                };
                parts.push(name.into_bytes());
            }
            parts.push(k.material.to_vec());
        }
        #[cfg(feature = "jwks")]
        if let Some(source) = &self.source {
            parts.push(b"source".to_vec());
            parts.push(source.identity().as_bytes().to_vec());
        }
        let sorted = |tag: &str, v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            std::iter::once(tag.as_bytes().to_vec())
                .chain(v.into_iter().map(String::into_bytes))
                .collect::<Vec<_>>()
        };
        parts.extend(sorted("iss", &self.policy.issuers));
        parts.extend(sorted("aud", &self.policy.audiences));
        parts.extend(sorted("req", &self.policy.required));
        parts.push(b"typ".to_vec());
        parts.push(self.policy.typ.clone().unwrap_or_default().into_bytes());
        parts.push(b"leeway".to_vec());
        parts.push(self.policy.leeway.to_be_bytes().to_vec());
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        Fingerprint::of(&refs)
    }

    /// Every validation of a `JwtValidator` names its key, so an entry that names none (or a
    /// key no longer in the set) is not one of its validations.
    fn key_is_current(&self, key: Option<&str>) -> bool {
        let Some(id) = key else { return false };
        if self.keys.iter().any(|k| k.identity == id) {
            return true;
        }
        #[cfg(feature = "jwks")]
        if let Some(source) = &self.source {
            return source.has_identity(id);
        }
        false
    }

    fn leeway(&self) -> u64 {
        self.policy.leeway
    }

    fn is_local(&self) -> bool {
        true
    }

    #[cfg(all(feature = "metrics", feature = "jwks"))]
    fn observe(&self, meter: &opentelemetry::metrics::Meter) {
        if let Some(source) = &self.source {
            source.observe(meter);
        }
    }
}
