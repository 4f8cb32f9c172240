//! The checks of a compact JWS once its header has chosen a key: the signature, verified with
//! a public key parsed once (not per request), and the registered claims, checked with
//! `jsonwebtoken`'s rules on one decode of the payload.
//!
//! `jsonwebtoken::decode` re-parses the public key and the header on every call and reads the
//! payload twice; on a miss that was most of what a cache adds to validation. The rules below
//! are jsonwebtoken 12's (`validation::validate`), with the same error kinds, so a token is
//! accepted or refused exactly as before.

use std::borrow::Cow;
use std::sync::Arc;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use serde::Deserialize;

use crate::claims::RegisteredClaims;

/// A public key parsed for one algorithm, `None` for HMAC (verified by `jsonwebtoken`) or a
/// key aws-lc-rs does not take in this form (verified by `jsonwebtoken` too, only slower).
pub(crate) fn parse(key: &DecodingKey, alg: Algorithm) -> Option<Arc<ParsedPublicKey>> {
    let params: &'static dyn VerificationAlgorithm = match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &sig::ED25519,
        // HMAC (and any algorithm added later): jsonwebtoken verifies.
        _ => return None,
    };
    let bytes: Cow<'_, [u8]> = match key.kind() {
        DecodingKeyKind::SecretOrDer(der) => Cow::Borrowed(der),
        DecodingKeyKind::RsaModulusExponent { n, e } => Cow::Owned(rsa_public_key_der(n, e)),
    };
    ParsedPublicKey::new(params, bytes).ok().map(Arc::new)
}

/// PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` in DER,
/// from a JWK's big-endian `n` and `e`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn header(out: &mut Vec<u8>, tag: u8, len: usize) {
        out.push(tag);
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let be = len.to_be_bytes();
            let skip = be.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (be.len() - skip) as u8);
            out.extend_from_slice(&be[skip..]);
        }
    }
    fn integer(out: &mut Vec<u8>, unsigned: &[u8]) {
        let skip = unsigned.iter().take_while(|b| **b == 0).count();
        let digits = &unsigned[skip.min(unsigned.len().saturating_sub(1))..];
        let pad = digits.first().is_none_or(|b| b & 0x80 != 0);
        header(out, 0x02, digits.len() + pad as usize);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(digits);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 8);
    header(&mut out, 0x30, body.len());
    out.extend_from_slice(&body);
    out
}

/// Whether `signature` (base64url) signs `message` under `key` with `alg`: with the parsed
/// key when there is one, else through `jsonwebtoken`.
pub(crate) fn verify(
    parsed: Option<&ParsedPublicKey>,
    key: &DecodingKey,
    alg: Algorithm,
    message: &str,
    signature: &str,
) -> Result<bool, Error> {
    match parsed {
        Some(parsed) => {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(signature)
                .map_err(|e| Error::from(ErrorKind::Base64(e)))?;
            Ok(parsed.verify_sig(message.as_bytes(), &raw).is_ok())
        }
        None => jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg),
    }
}

/// What is checked of the claims (jsonwebtoken's `Validation`, as `JwtValidator` configures
/// it: `exp` and `nbf` checked, `aud` checked).
pub(crate) struct ClaimRules<'a> {
    pub(crate) issuers: &'a [String],
    pub(crate) audiences: &'a [String],
    pub(crate) required: &'a [String],
    pub(crate) leeway: u64,
}

/// A NumericDate as written: exact when an integer, a float otherwise (jsonwebtoken rounds
/// it for validation; the cache keeps whole seconds).
#[derive(Clone, Copy, Debug)]
enum Numeric {
    Int(u64),
    Float(f64),
}

impl<'de> Deserialize<'de> for Numeric {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Numeric;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("A NumericType that can be reasonably coerced into a u64")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Numeric, E> {
                Ok(Numeric::Int(v))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Numeric, E> {
                if v.is_finite() && v >= 0.0 && v < u64::MAX as f64 {
                    Ok(Numeric::Float(v))
                } else {
                    Err(E::custom("NumericType must be representable as a u64"))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Numeric {
    /// The value jsonwebtoken validates.
    fn rounded(self) -> u64 {
        match self {
            Numeric::Int(v) => v,
            Numeric::Float(v) => v.round() as u64,
        }
    }

    /// Whole seconds, what the cache keeps.
    fn whole(self) -> u64 {
        match self {
            Numeric::Int(v) => v,
            Numeric::Float(v) => v as u64,
        }
    }
}

/// A claim that is absent, present in the expected shape, or present in another.
#[derive(Default)]
enum TryParse<T> {
    Parsed(T),
    FailedToParse,
    #[default]
    NotPresent,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TryParse<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d) {
            Ok(Some(v)) => TryParse::Parsed(v),
            Ok(None) => TryParse::NotPresent,
            Err(_) => TryParse::FailedToParse,
        })
    }
}

impl<T> TryParse<T> {
    fn parsed(self) -> Option<T> {
        match self {
            TryParse::Parsed(v) => Some(v),
            _ => None,
        }
    }
}

/// `iss` / `aud`: one string or several.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(#[serde(borrow)] Vec<Cow<'a, str>>),
}

impl OneOrMany<'_> {
    /// Whether any value is among `allowed` (jsonwebtoken's rule for arrays too).
    fn any_in(&self, allowed: &[String]) -> bool {
        match self {
            OneOrMany::One(v) => allowed.iter().any(|a| a == v),
            OneOrMany::Many(vs) => vs.iter().any(|v| allowed.iter().any(|a| a == v)),
        }
    }
}

/// The claims read for validation and for the cache, in one parse of the payload.
#[derive(Deserialize)]
struct Registered<'a> {
    #[serde(default, deserialize_with = "numeric")]
    exp: TryParse<Numeric>,
    #[serde(default, deserialize_with = "numeric")]
    nbf: TryParse<Numeric>,
    /// Not validated; kept as the cache's `iat` (negative or fractional: whole seconds, or
    /// none).
    #[serde(default)]
    iat: Option<f64>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default, borrow)]
    iss: TryParse<OneOrMany<'a>>,
    #[serde(default, borrow)]
    aud: TryParse<OneOrMany<'a>>,
}

/// A NumericDate that is there; anything else there (a string, a negative number, `null`) is
/// a claim in the wrong format, as jsonwebtoken reads it.
fn numeric<'de, D: serde::Deserializer<'de>>(d: D) -> Result<TryParse<Numeric>, D::Error> {
    Ok(match Numeric::deserialize(d) {
        Ok(v) => TryParse::Parsed(v),
        Err(_) => TryParse::FailedToParse,
    })
}

/// The payload's bytes (base64url-decoded).
pub(crate) fn payload(token: &str) -> Result<Vec<u8>, Error> {
    let encoded = token.split('.').nth(1).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| Error::from(ErrorKind::Base64(e)))
}

/// Check the registered claims of a verified payload against `rules` at `now` (seconds), and
/// hand back what the cache keeps of them.
pub(crate) fn check_claims(
    payload: &[u8],
    rules: &ClaimRules<'_>,
    now: u64,
) -> Result<RegisteredClaims, Error> {
    let c: Registered<'_> = serde_json::from_slice(payload).map_err(Error::from)?;
    let kind = |k: ErrorKind| Err(Error::from(k));
    for required in rules.required {
        let present = match required.as_str() {
            "exp" => matches!(c.exp, TryParse::Parsed(_)),
            "nbf" => matches!(c.nbf, TryParse::Parsed(_)),
            "sub" => c.sub.is_some(),
            "iss" => matches!(c.iss, TryParse::Parsed(_)),
            "aud" => matches!(c.aud, TryParse::Parsed(_)),
            _ => continue,
        };
        if !present {
            return kind(ErrorKind::MissingRequiredClaim(required.clone()));
        }
    }
    if matches!(c.exp, TryParse::FailedToParse) {
        return kind(ErrorKind::InvalidClaimFormat("exp".into()));
    }
    if matches!(c.nbf, TryParse::FailedToParse) {
        return kind(ErrorKind::InvalidClaimFormat("nbf".into()));
    }
    if matches!(c.exp, TryParse::Parsed(exp) if exp.rounded() < now.saturating_sub(rules.leeway)) {
        return kind(ErrorKind::ExpiredSignature);
    }
    if matches!(c.nbf, TryParse::Parsed(nbf) if nbf.rounded() > now.saturating_add(rules.leeway)) {
        return kind(ErrorKind::ImmatureSignature);
    }
    if !rules.issuers.is_empty() {
        match &c.iss {
            TryParse::FailedToParse => {
                return kind(ErrorKind::InvalidClaimFormat("iss".into()));
            }
            TryParse::Parsed(iss) if !iss.any_in(rules.issuers) => {
                return kind(ErrorKind::InvalidIssuer);
            }
            _ => {}
        }
    }
    match (&c.aud, rules.audiences.is_empty()) {
        (TryParse::FailedToParse, _) => {
            return kind(ErrorKind::InvalidClaimFormat("aud".into()));
        }
        // A token for some audience, and none is configured (RFC 7519 §4.1.3).
        (TryParse::Parsed(_), true) => return kind(ErrorKind::InvalidAudience),
        (TryParse::Parsed(aud), false) if !aud.any_in(rules.audiences) => {
            return kind(ErrorKind::InvalidAudience);
        }
        _ => {}
    }
    Ok(RegisteredClaims {
        exp: c.exp.parsed().map(Numeric::whole),
        nbf: c.nbf.parsed().map(Numeric::whole),
        iat: c
            .iat
            .filter(|x| x.is_finite() && *x >= 0.0)
            .map(|x| x as u64),
        jti: c.jti,
        sub: c.sub,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_components_encode_as_the_pem_s_pkcs1_der() {
        let pem = include_bytes!("../../benches/keys/rsa_public.pem");
        let from_pem = DecodingKey::from_rsa_pem(pem).unwrap();
        let DecodingKeyKind::SecretOrDer(der) = from_pem.kind() else {
            panic!("PKCS#1 DER expected");
        };
        // Take n and e out of that DER (SEQUENCE { INTEGER n, INTEGER e }) and encode again.
        let (n, e) = split_pkcs1(der);
        assert_eq!(rsa_public_key_der(n, e), *der);
        // With a redundant leading zero, too.
        let mut padded = vec![0u8];
        padded.extend_from_slice(n);
        assert_eq!(rsa_public_key_der(&padded, e), *der);
        assert!(
            parse(
                &DecodingKey::from_rsa_raw_components(n, e),
                Algorithm::RS256
            )
            .is_some()
        );
    }

    /// The unsigned big-endian `n` and `e` of a PKCS#1 `RSAPublicKey`.
    fn split_pkcs1(der: &[u8]) -> (&[u8], &[u8]) {
        fn tlv(b: &[u8]) -> (&[u8], &[u8]) {
            let (len, at) = match b[1] {
                l if l < 0x80 => (l as usize, 2),
                l => {
                    let k = (l & 0x7f) as usize;
                    (
                        b[2..2 + k].iter().fold(0, |a, x| a << 8 | *x as usize),
                        2 + k,
                    )
                }
            };
            (&b[at..at + len], &b[at + len..])
        }
        let (body, _) = tlv(der);
        let (n, rest) = tlv(body);
        let (e, _) = tlv(rest);
        (n.strip_prefix(&[0]).unwrap_or(n), e)
    }

    #[test]
    fn numeric_dates_round_for_validation_and_truncate_for_the_cache() {
        let rules = ClaimRules {
            issuers: &[],
            audiences: &[],
            required: &["exp".to_owned()],
            leeway: 0,
        };
        let c = check_claims(br#"{"exp": 100.6, "iat": -3}"#, &rules, 100).unwrap();
        assert_eq!((c.exp, c.iat), (Some(100), None));
        // 100.4 rounds to 100, not before now = 100.
        assert!(check_claims(br#"{"exp": 100.4}"#, &rules, 100).is_ok());
        assert!(matches!(
            check_claims(br#"{"exp": 99}"#, &rules, 100)
                .unwrap_err()
                .into_kind(),
            ErrorKind::ExpiredSignature
        ));
        assert!(matches!(
            check_claims(br#"{"sub": "a"}"#, &rules, 100).unwrap_err().into_kind(),
            ErrorKind::MissingRequiredClaim(c) if c == "exp"
        ));
        assert!(check_claims(br#"{"exp": -1}"#, &rules, 100).is_err());
        assert!(check_claims(br#"{"exp": "101"}"#, &rules, 100).is_err());
        assert!(check_claims(br#"{"exp": null}"#, &rules, 100).is_err());
    }

    /// A claim value as a token may carry it: absent, an integer, a float, a string, null.
    fn numeric(now: i64) -> impl Strategy<Value = Option<serde_json::Value>> {
        use serde_json::json;
        prop_oneof![
            Just(None),
            (-3i64..3).prop_map(move |d| Some(json!(now + d * 30))),
            (-200i64..200).prop_map(move |d| Some(json!(now + d))),
            (-200i64..200, 0u8..4)
                .prop_map(move |(d, q)| Some(json!((now + d) as f64 + q as f64 / 4.0))),
            Just(Some(json!(-5))),
            Just(Some(json!("12345"))),
            Just(Some(serde_json::Value::Null)),
        ]
    }

    /// `iss` / `aud` as a token may carry it.
    fn names() -> impl Strategy<Value = Option<serde_json::Value>> {
        use serde_json::json;
        prop_oneof![
            Just(None),
            Just(Some(json!("a"))),
            Just(Some(json!("b"))),
            Just(Some(json!(["b", "a"]))),
            Just(Some(json!(["b"]))),
            Just(Some(json!([]))),
            Just(Some(json!(7))),
            Just(Some(json!(["a", 7]))),
        ]
    }

    use proptest::prelude::*;

    proptest! {
        /// The claim rules are jsonwebtoken 12's: for any mix of registered claims, policy and
        /// leeway, `check_claims` accepts exactly what `jsonwebtoken::decode` accepts, and
        /// refuses with the same error kind.
        #[test]
        fn claims_are_judged_as_jsonwebtoken_judges_them(
            (exp, nbf) in (numeric(crate::clock::now_secs() as i64), numeric(crate::clock::now_secs() as i64)),
            iss in names(),
            aud in names(),
            sub in proptest::option::of("[a-z]{1,4}"),
            required in proptest::sample::subsequence(vec!["exp", "nbf", "sub", "iss", "aud", "jti"], 0..=6),
            issuers in proptest::sample::subsequence(vec!["a".to_owned(), "c".to_owned()], 0..=2),
            audiences in proptest::sample::subsequence(vec!["a".to_owned(), "c".to_owned()], 0..=2),
            leeway in prop_oneof![Just(0u64), Just(60), 0u64..120],
        ) {
            let mut claims = serde_json::Map::new();
            for (name, value) in [("exp", exp), ("nbf", nbf), ("iss", iss), ("aud", aud)] {
                if let Some(v) = value {
                    claims.insert(name.into(), v);
                }
            }
            if let Some(sub) = sub {
                claims.insert("sub".into(), sub.into());
            }
            let secret = [7u8; 32];
            let token = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(&secret).unwrap(),
            )
            .unwrap();
            let required: Vec<String> = required.into_iter().map(str::to_owned).collect();
            let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
            validation.leeway = leeway;
            validation.validate_nbf = true;
            validation.set_required_spec_claims(&required);
            if !issuers.is_empty() {
                validation.set_issuer(&issuers);
            }
            if !audiences.is_empty() {
                validation.set_audience(&audiences);
            }
            let before = crate::clock::now_secs();
            let theirs = jsonwebtoken::decode::<serde_json::Value>(
                &token,
                &DecodingKey::from_secret(&secret).unwrap(),
                &validation,
            );
            // jsonwebtoken reads the clock itself: compare only within one second.
            prop_assume!(crate::clock::now_secs() == before);
            let rules = ClaimRules {
                issuers: &issuers,
                audiences: &audiences,
                required: &required,
                leeway,
            };
            let ours = check_claims(&payload(&token).unwrap(), &rules, before);
            // Which missing claim is named first follows jsonwebtoken's HashSet order: only
            // the kind is compared.
            let kind = |e: Error| match e.into_kind() {
                ErrorKind::Json(_) => "json".to_owned(),
                ErrorKind::MissingRequiredClaim(_) => "missing".to_owned(),
                other => format!("{other:?}"),
            };
            prop_assert_eq!(
                ours.map(|_| ()).map_err(kind),
                theirs.map(|_| ()).map_err(kind),
                "claims {}", serde_json::Value::Object(claims)
            );
        }
    }

    #[test]
    fn issuer_and_audience_follow_jsonwebtoken() {
        let iss = ["https://id.example".to_owned()];
        let aud = ["content".to_owned()];
        let rules = ClaimRules {
            issuers: &iss,
            audiences: &aud,
            required: &[],
            leeway: 0,
        };
        let ok = |p: &str| check_claims(p.as_bytes(), &rules, 0).map(|_| ());
        assert!(ok(r#"{"iss": "https://id.example", "aud": "content"}"#).is_ok());
        assert!(ok(r#"{"iss": ["x", "https://id.example"], "aud": ["x", "content"]}"#).is_ok());
        assert!(ok(r#"{"iss": "https://other", "aud": "content"}"#).is_err());
        assert!(ok(r#"{"iss": 7, "aud": "content"}"#).is_err());
        assert!(ok(r#"{"aud": "feed"}"#).is_err());
        assert!(ok(r#"{"aud": 7}"#).is_err());
        let none = ClaimRules {
            issuers: &[],
            audiences: &[],
            required: &[],
            leeway: 0,
        };
        // With no audience configured, a token naming any audience is refused.
        assert!(check_claims(br#"{"aud": []}"#, &none, 0).is_err());
        assert!(check_claims(br#"{"iss": 7}"#, &none, 0).is_ok());
    }
}
