//! [`VerificationKey`]: a key, its `kid`, and the algorithms pinned to it.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use sha2::{Digest, Sha256};

use crate::error::ConfigError;

/// One verification key: the key, its `kid`, and the algorithms pinned to it.
///
/// Algorithms are pinned per key and must belong to the key's family, so an HS256 token can
/// never be checked against an RSA public key (algorithm confusion, RFC 8725 §3.1).
#[derive(Clone)]
pub struct VerificationKey {
    pub(crate) kid: Option<String>,
    pub(crate) key: Arc<DecodingKey>,
    family: AlgorithmFamily,
    pub(crate) algorithms: Vec<Algorithm>,
    /// The public key parsed once per pinned algorithm (`None`: verified by `jsonwebtoken`).
    pub(crate) parsed: Vec<Option<Arc<aws_lc_rs::signature::ParsedPublicKey>>>,
    pub(crate) material: [u8; 32],
    pub(crate) identity: String,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

fn family_name(f: AlgorithmFamily) -> &'static str {
    match f {
        AlgorithmFamily::Hmac => "HMAC",
        AlgorithmFamily::Rsa => "RSA",
        AlgorithmFamily::Ec => "EC",
        AlgorithmFamily::Ed => "EdDSA",
    }
}

fn invalid_key(e: jsonwebtoken::errors::Error) -> ConfigError {
    ConfigError::InvalidKey(e.to_string())
}

impl VerificationKey {
    /// The key parsed for `alg`, when `alg` is pinned and aws-lc-rs took the key.
    pub(crate) fn parsed_for(
        &self,
        alg: Algorithm,
    ) -> Option<&aws_lc_rs::signature::ParsedPublicKey> {
        let i = self.algorithms.iter().position(|a| *a == alg)?;
        self.parsed.get(i)?.as_deref()
    }

    fn new(
        key: DecodingKey,
        family: AlgorithmFamily,
        alg: Algorithm,
        material: &[u8],
    ) -> Result<Self, ConfigError> {
        ensure_provider()?;
        let k = VerificationKey {
            kid: None,
            key: Arc::new(key),
            family,
            algorithms: Vec::new(),
            parsed: Vec::new(),
            material: Sha256::digest(material).into(),
            identity: String::new(),
        };
        let mut k = k.allow(alg)?;
        k.identity = k.compute_identity();
        Ok(k)
    }

    /// An RSA public key in PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`), for RS*/PS*.
    pub fn rsa_pem(pem: &[u8], alg: Algorithm) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_rsa_pem(pem).map_err(invalid_key)?;
        Self::new(key, AlgorithmFamily::Rsa, alg, pem)
    }

    /// An EC public key (P-256 or P-384) in PEM, for ES256/ES384.
    pub fn ec_pem(pem: &[u8], alg: Algorithm) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ec_pem(pem).map_err(invalid_key)?;
        Self::new(key, AlgorithmFamily::Ec, alg, pem)
    }

    /// An Ed25519 public key in PEM, for EdDSA.
    pub fn ed_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ed_pem(pem).map_err(invalid_key)?;
        Self::new(key, AlgorithmFamily::Ed, Algorithm::EdDSA, pem)
    }

    /// An RSA public key in PKCS#1 DER.
    pub fn rsa_der(der: &[u8], alg: Algorithm) -> Result<Self, ConfigError> {
        Self::new(
            DecodingKey::from_rsa_der(der),
            AlgorithmFamily::Rsa,
            alg,
            der,
        )
    }

    /// An EC public key as the raw SEC1 point (what a PEM's `BIT STRING` holds).
    pub fn ec_der(der: &[u8], alg: Algorithm) -> Result<Self, ConfigError> {
        Self::new(DecodingKey::from_ec_der(der), AlgorithmFamily::Ec, alg, der)
    }

    /// An Ed25519 public key as its raw 32 bytes.
    pub fn ed_der(der: &[u8]) -> Result<Self, ConfigError> {
        Self::new(
            DecodingKey::from_ed_der(der),
            AlgorithmFamily::Ed,
            Algorithm::EdDSA,
            der,
        )
    }

    /// A shared HMAC secret for HS256/384/512. Fails on a secret shorter than the hash
    /// output (32, 48 or 64 bytes; RFC 7518 §3.2), and on PEM material: a public key is
    /// public, so using it as an HMAC secret lets anyone sign tokens (RFC 8725 §2.1,
    /// algorithm confusion moved into configuration).
    pub fn hmac(secret: &[u8], alg: Algorithm) -> Result<Self, ConfigError> {
        if looks_like_pem(secret) {
            return Err(ConfigError::PemAsHmacSecret);
        }
        let min = match alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            other => {
                return Err(ConfigError::AlgorithmMismatch {
                    alg: other,
                    family: "HMAC",
                });
            }
        };
        if secret.len() < min {
            return Err(ConfigError::WeakSecret {
                alg,
                len: secret.len(),
                min,
            });
        }
        let key = DecodingKey::from_secret(secret).map_err(invalid_key)?;
        Self::new(key, AlgorithmFamily::Hmac, alg, secret)
    }

    /// Name the key: tokens whose header `kid` equals it are verified with it.
    #[must_use]
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self.identity = self.compute_identity();
        self
    }

    /// Allow one more algorithm with this key (same family only, e.g. PS256 beside RS256).
    pub fn allow(mut self, alg: Algorithm) -> Result<Self, ConfigError> {
        if alg.family() != self.family {
            return Err(ConfigError::AlgorithmMismatch {
                alg,
                family: family_name(self.family),
            });
        }
        if self.family == AlgorithmFamily::Hmac && !self.algorithms.is_empty() {
            // One secret, one HMAC algorithm: the minimum length was checked for it.
            return Err(ConfigError::Other(
                "an HMAC secret is pinned to exactly one algorithm".into(),
            ));
        }
        if !self.algorithms.contains(&alg) {
            self.algorithms.push(alg);
            self.parsed.push(super::jws::parse(&self.key, alg));
        }
        Ok(self)
    }

    fn compute_identity(&self) -> String {
        match &self.kid {
            Some(kid) => format!("kid:{kid}"),
            None => {
                use base64::Engine;
                // 72 bits of the key material's digest: an identity, not a secret.
                let id =
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.material[..9]);
                format!("key:{id}")
            }
        }
    }
}

/// Check that jsonwebtoken has a crypto provider: with jsonwebtoken 12, enabling both
/// backends (`aws_lc_rs` and `rust_crypto`) or neither compiles but panics at the first decode.
/// We depend on `aws_lc_rs`; if feature unification also switched on `rust_crypto`, we install
/// the aws-lc-rs provider explicitly.
fn ensure_provider() -> Result<(), ConfigError> {
    use jsonwebtoken::crypto::CryptoProvider;
    if CryptoProvider::try_get_default().is_some() {
        return Ok(());
    }
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    CryptoProvider::try_get_default()
        .map(|_| ())
        .ok_or(ConfigError::CryptoProvider(
            "could not install the aws-lc-rs provider",
        ))
}

/// Whether bytes hold PEM armour (`-----BEGIN `), anywhere: key files often start with a
/// comment or whitespace.
fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// The JWA name of an algorithm: stable bytes for the fingerprint (not `Debug` output of a
/// dependency type, which an upgrade could change).
pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        // An algorithm added by a jsonwebtoken upgrade: a deliberate change of identity.
        _ => "unknown",
    }
}

/// Keys from a JWKS (RFC 7517): what is taken, and why the rest is skipped.
#[cfg(feature = "jwks")]
pub(crate) mod jwk {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
    use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

    use super::VerificationKey;

    fn signing_alg(alg: KeyAlgorithm) -> Option<Algorithm> {
        Some(match alg {
            KeyAlgorithm::HS256 => Algorithm::HS256,
            KeyAlgorithm::HS384 => Algorithm::HS384,
            KeyAlgorithm::HS512 => Algorithm::HS512,
            KeyAlgorithm::ES256 => Algorithm::ES256,
            KeyAlgorithm::ES384 => Algorithm::ES384,
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::RS384 => Algorithm::RS384,
            KeyAlgorithm::RS512 => Algorithm::RS512,
            KeyAlgorithm::PS256 => Algorithm::PS256,
            KeyAlgorithm::PS384 => Algorithm::PS384,
            KeyAlgorithm::PS512 => Algorithm::PS512,
            KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            // Encryption algorithms (RSA1_5, RSA-OAEP, …) never verify a signature.
            _ => return None,
        })
    }

    /// A verification key from one JWK, pinned to the JWK's `alg` or, when it names none (as
    /// Entra and Cognito publish), to the configured algorithms that fit the key (family and
    /// curve). `Err` says why the key is skipped.
    pub(crate) fn from_jwk(
        jwk: &Jwk,
        configured: &[Algorithm],
        allow_symmetric: bool,
    ) -> Result<VerificationKey, String> {
        match &jwk.common.public_key_use {
            None | Some(PublicKeyUse::Signature) => {}
            Some(other) => return Err(format!("`use` is {other:?}, not `sig`")),
        }
        let (family, fits_curve): (AlgorithmFamily, &dyn Fn(Algorithm) -> bool) =
            match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => (AlgorithmFamily::Rsa, &|_| true),
                AlgorithmParameters::EllipticCurve(p) => match p.curve {
                    EllipticCurve::P256 => (AlgorithmFamily::Ec, &|a| a == Algorithm::ES256),
                    EllipticCurve::P384 => (AlgorithmFamily::Ec, &|a| a == Algorithm::ES384),
                    ref other => return Err(format!("EC curve {other:?} is not supported")),
                },
                AlgorithmParameters::OctetKeyPair(p) => match p.curve {
                    EllipticCurve::Ed25519 => (AlgorithmFamily::Ed, &|_| true),
                    ref other => return Err(format!("OKP curve {other:?} is not supported")),
                },
                AlgorithmParameters::OctetKey(_) if !allow_symmetric => {
                    return Err("a symmetric (`oct`) key; not allowed".into());
                }
                AlgorithmParameters::OctetKey(_) => (AlgorithmFamily::Hmac, &|_| true),
                _ => return Err("unsupported key type".into()),
            };
        let algorithms: Vec<Algorithm> = match jwk.common.key_algorithm {
            Some(a) => {
                let alg = signing_alg(a).ok_or_else(|| format!("`alg` {a:?} does not sign"))?;
                vec![alg]
            }
            None => configured.to_vec(),
        };
        let algorithms: Vec<Algorithm> = algorithms
            .into_iter()
            .filter(|a| a.family() == family && fits_curve(*a))
            .collect();
        let Some(&first) = algorithms.first() else {
            return Err(format!(
                "no allowed algorithm fits this {family:?} key (allowed: {configured:?})"
            ));
        };
        if !configured.contains(&first) && jwk.common.key_algorithm.is_some() {
            return Err(format!(
                "`alg` {first:?} is not among the allowed {configured:?}"
            ));
        }
        let material = material(jwk);
        let mut key = match &jwk.algorithm {
            AlgorithmParameters::OctetKey(p) => {
                use base64::Engine;
                let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p.value.trim_end_matches('='))
                    .map_err(|e| format!("`k`: {e}"))?;
                VerificationKey::hmac(&secret, first).map_err(|e| e.to_string())?
            }
            _ => {
                let decoding = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
                VerificationKey::new(decoding, family, first, &material)
                    .map_err(|e| e.to_string())?
            }
        };
        for alg in algorithms.into_iter().skip(1) {
            key = key.allow(alg).map_err(|e| e.to_string())?;
        }
        key.kid = jwk.common.key_id.clone();
        // The identity names the kid and the material: an issuer that reuses a kid for a new
        // key does not keep the old key's cached validations alive.
        use base64::Engine;
        key.identity = format!(
            "jwk:{}:{}",
            key.kid.as_deref().unwrap_or_default(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key.material[..9])
        );
        Ok(key)
    }

    /// The key's public parameters, as the bytes its identity digests.
    fn material(jwk: &Jwk) -> Vec<u8> {
        let parts: Vec<&str> = match &jwk.algorithm {
            AlgorithmParameters::RSA(p) => vec!["RSA", &p.n, &p.e],
            AlgorithmParameters::EllipticCurve(p) => vec!["EC", &p.x, &p.y],
            AlgorithmParameters::OctetKeyPair(p) => vec!["OKP", &p.x],
            AlgorithmParameters::OctetKey(p) => vec!["oct", &p.value],
            _ => vec!["other"],
        };
        parts.join("\u{0}").into_bytes()
    }
}
