//! Every rejection reason, and the RFC 8725 attacks, through the tower layer: each answered
//! with a 401 and an RFC 6750 challenge, the inner service never called.

use base64::Engine;
use jwt_cache::jsonwebtoken::{Algorithm, EncodingKey};
use jwt_cache::{ConfigError, JwtCacheLayer, JwtValidator, VerificationKey};
use jwt_cache_tests::harness::{Reply, Stack};
use jwt_cache_tests::{AUD, ISS, claims, keys, now, rs256, rs256_validator, sign_with};
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn stack(v: JwtValidator) -> Stack {
    Stack::new(JwtCacheLayer::builder(v).build())
}

/// Send a token signed with `alg`/`key` (and `kid`) for `sub`.
async fn send_signed(
    s: &Stack,
    alg: Algorithm,
    key: &EncodingKey,
    kid: Option<&str>,
    sub: &str,
) -> Reply {
    s.send(Some(&sign_with(alg, key, kid, &claims(sub)))).await
}

fn assert_invalid_token(r: &Reply, why: &str) {
    assert_eq!(r.status, 401, "{why}: {r:?}");
    assert_eq!(
        r.error_code().as_deref(),
        Some("invalid_token"),
        "{why}: {r:?}"
    );
    assert!(
        r.challenge.as_deref().unwrap().starts_with("Bearer "),
        "{why}"
    );
}

#[tokio::test]
async fn a_valid_token_passes_and_reaches_the_service() {
    let s = stack(rs256_validator(AUD));
    let r = s.send(Some(&rs256(&claims("alice")))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "alice");
    assert_eq!(s.inner_calls(), 1);
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let s = stack(rs256_validator(AUD));
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64(claims("mallory").to_string().as_bytes());
    // An empty signature is not even compact form; a junk one gets to the algorithm check.
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}.AAAA"),
    ] {
        assert_invalid_token(&s.send(Some(&token)).await, "alg none");
    }
    assert_eq!(s.inner_calls(), 0);
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_rejected() {
    // Algorithm confusion: the attacker uses the public PEM as an HMAC secret.
    let s = stack(rs256_validator(AUD));
    let key = EncodingKey::from_secret(keys::RSA_PUBLIC).unwrap();
    let token = sign_with(Algorithm::HS256, &key, None, &claims("mallory"));
    let r = s.send(Some(&token)).await;
    assert_invalid_token(&r, "HS256 confusion");
    assert!(r.challenge.unwrap().contains("algorithm not allowed"));
    assert_eq!(s.inner_calls(), 0);
}

#[tokio::test]
async fn unknown_kid_is_rejected() {
    let v = JwtValidator::new(
        VerificationKey::rsa_pem(keys::RSA_PUBLIC, Algorithm::RS256)
            .unwrap()
            .kid("k1"),
    )
    .issuer(ISS)
    .audience(AUD);
    let s = stack(v);
    let key = EncodingKey::from_rsa_pem(keys::RSA_PRIVATE).unwrap();
    let good = sign_with(Algorithm::RS256, &key, Some("k1"), &claims("a"));
    assert_eq!(s.send(Some(&good)).await.status, 200);
    let bad = sign_with(Algorithm::RS256, &key, Some("k2"), &claims("a"));
    let r = s.send(Some(&bad)).await;
    assert_invalid_token(&r, "unknown kid");
    assert!(r.challenge.unwrap().contains("unknown key"));
}

#[tokio::test]
async fn an_unknown_kid_is_refused_even_with_an_unnamed_key_beside_named_ones() {
    let v = JwtValidator::new(
        VerificationKey::rsa_pem(keys::RSA2_PUBLIC, Algorithm::RS256)
            .unwrap()
            .kid("k1"),
    )
    .with_key(VerificationKey::rsa_pem(keys::RSA_PUBLIC, Algorithm::RS256).unwrap())
    .issuer(ISS)
    .audience(AUD);
    let s = stack(v);
    let key = EncodingKey::from_rsa_pem(keys::RSA_PRIVATE).unwrap();
    // Signed by the unnamed key: accepted without a kid, refused under a kid nobody has.
    assert_eq!(
        send_signed(&s, Algorithm::RS256, &key, None, "a")
            .await
            .status,
        200
    );
    let r = send_signed(&s, Algorithm::RS256, &key, Some("k9"), "a").await;
    assert_invalid_token(&r, "unknown kid");
    assert!(r.challenge.unwrap().contains("unknown key"));
}

#[tokio::test]
async fn with_no_named_key_a_kid_is_ignored() {
    // rs256_pem(...) names no key: issuers that always send a kid still work.
    let s = stack(rs256_validator(AUD));
    let key = EncodingKey::from_rsa_pem(keys::RSA_PRIVATE).unwrap();
    assert_eq!(
        send_signed(&s, Algorithm::RS256, &key, Some("2024-01"), "a")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn kid_selects_among_several_keys() {
    let v = JwtValidator::new(
        VerificationKey::rsa_pem(keys::RSA_PUBLIC, Algorithm::RS256)
            .unwrap()
            .kid("one"),
    )
    .with_key(
        VerificationKey::rsa_pem(keys::RSA2_PUBLIC, Algorithm::RS256)
            .unwrap()
            .kid("two"),
    )
    .issuer(ISS)
    .audience(AUD);
    let s = stack(v);
    let k1 = EncodingKey::from_rsa_pem(keys::RSA_PRIVATE).unwrap();
    let k2 = EncodingKey::from_rsa_pem(keys::RSA2_PRIVATE).unwrap();
    assert_eq!(
        send_signed(&s, Algorithm::RS256, &k1, Some("one"), "a")
            .await
            .status,
        200
    );
    assert_eq!(
        send_signed(&s, Algorithm::RS256, &k2, Some("two"), "b")
            .await
            .status,
        200
    );
    // Key two's token labelled as key one: bad signature.
    let r = send_signed(&s, Algorithm::RS256, &k2, Some("one"), "c").await;
    assert_invalid_token(&r, "kid mismatch");
    assert!(r.challenge.unwrap().contains("bad signature"));
}

#[tokio::test]
async fn tampered_payload_is_rejected() {
    let s = stack(rs256_validator(AUD));
    let token = rs256(&claims("alice"));
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims("alice");
    forged["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(forged.to_string().as_bytes()),
        parts[2]
    );
    let r = s.send(Some(&tampered)).await;
    assert_invalid_token(&r, "tampered");
    assert!(r.challenge.unwrap().contains("bad signature"));
    assert_eq!(s.inner_calls(), 0);
}

#[tokio::test]
async fn wrong_issuer_and_audience_are_rejected() {
    let s = stack(rs256_validator(AUD));
    let mut c = claims("a");
    c["iss"] = json!("https://evil.example");
    let r = s.send(Some(&rs256(&c))).await;
    assert_invalid_token(&r, "iss");
    assert!(r.challenge.unwrap().contains("wrong issuer"));

    let mut c = claims("a");
    c["aud"] = json!("billing");
    let r = s.send(Some(&rs256(&c))).await;
    assert_invalid_token(&r, "aud");
    assert!(r.challenge.unwrap().contains("wrong audience"));

    // Configured issuer/audience make the claims required.
    let mut c = claims("a");
    c.as_object_mut().unwrap().remove("iss");
    assert_invalid_token(&s.send(Some(&rs256(&c))).await, "missing iss");
    let mut c = claims("a");
    c.as_object_mut().unwrap().remove("aud");
    assert_invalid_token(&s.send(Some(&rs256(&c))).await, "missing aud");
}

#[tokio::test]
async fn expired_and_not_yet_valid_are_rejected() {
    let s = stack(rs256_validator(AUD));
    let mut c = claims("a");
    c["exp"] = json!(now() - 10);
    let r = s.send(Some(&rs256(&c))).await;
    assert_invalid_token(&r, "expired");
    assert!(r.challenge.unwrap().contains("token expired"));

    let mut c = claims("a");
    c["nbf"] = json!(now() + 600);
    let r = s.send(Some(&rs256(&c))).await;
    assert_invalid_token(&r, "nbf");
    assert!(r.challenge.unwrap().contains("not yet valid"));

    let mut c = claims("a");
    c.as_object_mut().unwrap().remove("exp");
    let r = s.send(Some(&rs256(&c))).await;
    assert_invalid_token(&r, "no exp");
    assert!(r.challenge.unwrap().contains("missing required claim"));
}

#[tokio::test]
async fn leeway_applies() {
    let s = stack(rs256_validator(AUD).leeway(60));
    let mut c = claims("a");
    c["exp"] = json!(now() - 10);
    assert_eq!(s.send(Some(&rs256(&c))).await.status, 200);
}

#[tokio::test]
async fn malformed_tokens_are_rejected_before_validation() {
    let s = stack(rs256_validator(AUD));
    let good = rs256(&claims("a"));
    let oversized = format!("{}{}", good, "A".repeat(9000));
    for (token, why) in [
        ("abc", "one part"),
        ("a.b", "two parts"),
        ("a.b.c.d", "four parts"),
        ("a..c", "empty part"),
        ("a/b.c.d+", "base64 (not url) alphabet"),
        ("YQ.YQ.YQ==", "padding"),
        ("a.b.c", "not JSON"),
        (oversized.as_str(), "oversized"),
    ] {
        assert_invalid_token(&s.send(Some(token)).await, why);
    }
    assert_eq!(s.inner_calls(), 0);
}

#[tokio::test]
async fn header_errors_are_invalid_request() {
    let s = stack(rs256_validator(AUD));
    let good = rs256(&claims("a"));
    for (value, why) in [
        (b"Bearer".to_vec(), "no token"),
        (b"Bearer ".to_vec(), "empty token"),
        (b"Bearer a b".to_vec(), "space"),
        ("Bearer \u{e9}.b.c".as_bytes().to_vec(), "non-ASCII"),
        (b"Bearer a.b.c, realm=x".to_vec(), "extra params"),
    ] {
        let r = s.send_headers(&[&value]).await;
        assert_eq!(r.status, 401, "{why}");
        assert_eq!(r.error_code().as_deref(), Some("invalid_request"), "{why}");
    }
    let two = format!("Bearer {good}");
    let r = s.send_headers(&[two.as_bytes(), two.as_bytes()]).await;
    assert_eq!(
        r.error_code().as_deref(),
        Some("invalid_request"),
        "two headers"
    );
    assert_eq!(s.inner_calls(), 0);
}

#[tokio::test]
async fn missing_or_other_scheme_gets_a_bare_challenge() {
    let s = stack(rs256_validator(AUD));
    for r in [
        s.send(None).await,
        s.send_headers(&[b"Basic dXNlcjpwYXNz"]).await,
    ] {
        assert_eq!(r.status, 401);
        assert_eq!(r.challenge.as_deref(), Some("Bearer"));
    }
    // The scheme is case-insensitive.
    let token = rs256(&claims("a"));
    let r = s
        .send_headers(&[format!("bearer {token}").as_bytes()])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.inner_calls(), 1);
}

#[tokio::test]
async fn realm_is_in_the_challenge() {
    let s = Stack::new(
        JwtCacheLayer::builder(rs256_validator(AUD))
            .realm("api")
            .build(),
    );
    assert_eq!(
        s.send(None).await.challenge.as_deref(),
        Some("Bearer realm=\"api\"")
    );
    let r = s.send(Some("a.b.c")).await;
    assert!(
        r.challenge
            .unwrap()
            .starts_with("Bearer realm=\"api\", error=\"invalid_token\"")
    );
}

#[tokio::test]
async fn typ_is_checked_when_required() {
    let s = stack(rs256_validator(AUD).require_typ("at+jwt"));
    let key = EncodingKey::from_rsa_pem(keys::RSA_PRIVATE).unwrap();
    let mut h = jwt_cache::jsonwebtoken::Header::new(Algorithm::RS256);
    h.typ = Some("application/at+jwt".into());
    let at = jwt_cache::jsonwebtoken::encode(&h, &claims("a"), &key).unwrap();
    assert_eq!(s.send(Some(&at)).await.status, 200);
    // An ID token (typ JWT) is not an access token.
    let id = rs256(&claims("a"));
    let r = s.send(Some(&id)).await;
    assert_invalid_token(&r, "typ");
    assert!(r.challenge.unwrap().contains("wrong token type"));
}

#[tokio::test]
async fn es256_eddsa_and_hs256_validate() {
    let ec = EncodingKey::from_ec_pem(keys::EC_PRIVATE).unwrap();
    let s = stack(
        JwtValidator::es256_pem(keys::EC_PUBLIC)
            .unwrap()
            .issuer(ISS)
            .audience(AUD),
    );
    assert_eq!(
        send_signed(&s, Algorithm::ES256, &ec, None, "e")
            .await
            .status,
        200
    );
    // An RS256 token is not accepted by an ES256 validator.
    assert_invalid_token(&s.send(Some(&rs256(&claims("e")))).await, "RS256 at ES256");

    let ed = EncodingKey::from_ed_pem(keys::ED_PRIVATE).unwrap();
    let s = stack(
        JwtValidator::eddsa_pem(keys::ED_PUBLIC)
            .unwrap()
            .issuer(ISS)
            .audience(AUD),
    );
    assert_eq!(
        send_signed(&s, Algorithm::EdDSA, &ed, None, "d")
            .await
            .status,
        200
    );

    let secret = [5u8; 48];
    let s = stack(
        JwtValidator::new(VerificationKey::hmac(&secret, Algorithm::HS384).unwrap())
            .issuer(ISS)
            .audience(AUD),
    );
    let hk = EncodingKey::from_secret(&secret).unwrap();
    assert_eq!(
        send_signed(&s, Algorithm::HS384, &hk, None, "h")
            .await
            .status,
        200
    );
    // Same secret, another HMAC algorithm: not allowed for the key.
    assert_invalid_token(
        &send_signed(&s, Algorithm::HS256, &hk, None, "h").await,
        "HS256 at HS384",
    );
}

#[test]
fn construction_fails_loudly_on_bad_configuration() {
    assert!(matches!(
        JwtValidator::hs256(b"short secret"),
        Err(ConfigError::WeakSecret { .. })
    ));
    assert!(matches!(
        VerificationKey::hmac(&[1u8; 40], Algorithm::HS512),
        Err(ConfigError::WeakSecret { min: 64, .. })
    ));
    assert!(matches!(
        VerificationKey::rsa_pem(keys::RSA_PUBLIC, Algorithm::ES256),
        Err(ConfigError::AlgorithmMismatch { .. })
    ));
    assert!(matches!(
        VerificationKey::rsa_pem(keys::RSA_PUBLIC, Algorithm::HS256),
        Err(ConfigError::AlgorithmMismatch { .. })
    ));
    assert!(matches!(
        VerificationKey::rsa_pem(keys::RSA_PUBLIC, Algorithm::RS256)
            .unwrap()
            .allow(Algorithm::HS256),
        Err(ConfigError::AlgorithmMismatch { .. })
    ));
    assert!(
        VerificationKey::rsa_pem(keys::RSA_PUBLIC, Algorithm::RS256)
            .unwrap()
            .allow(Algorithm::PS256)
            .is_ok()
    );
    assert!(matches!(
        VerificationKey::rsa_pem(b"not a pem", Algorithm::RS256),
        Err(ConfigError::InvalidKey(_))
    ));
    assert!(jwt_cache::jsonwebtoken::crypto::CryptoProvider::try_get_default().is_some());
}

/// A small deterministic generator (xorshift), so the run is reproducible without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn byte_from(&mut self, alphabet: &[u8]) -> u8 {
        alphabet[(self.next() % alphabet.len() as u64) as usize]
    }
}

#[tokio::test]
async fn random_headers_never_panic_and_never_pass() {
    let s = stack(rs256_validator(AUD));
    let good = rs256(&claims("a"));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let alphabets: [&[u8]; 3] = [
        b"ABCXYZabcxyz0189-_.",
        b"ABCabc019-_.+/=~ \t,\"",
        &(1u8..=255).collect::<Vec<u8>>(),
    ];
    for i in 0..3000 {
        let alphabet = alphabets[i % 3];
        let len = (rng.next() % 200) as usize;
        let mut value: Vec<u8> = match i % 4 {
            0 => b"Bearer ".to_vec(),
            1 => b"bearer  ".to_vec(),
            2 => Vec::new(),
            _ => {
                // A valid token with a few bytes flipped.
                let mut t = format!("Bearer {good}").into_bytes();
                for _ in 0..3 {
                    let at = 7 + (rng.next() as usize % (t.len() - 7));
                    t[at] = rng.byte_from(alphabet);
                }
                t
            }
        };
        if i % 4 != 3 {
            value.extend((0..len).map(|_| rng.byte_from(alphabet)));
        }
        // Header values cannot hold every byte (hyper rejects those before us).
        let Ok(header) = http::HeaderValue::from_bytes(&value) else {
            continue;
        };
        let r = s.send_headers(&[header.as_bytes()]).await;
        if r.status == 200 {
            // Only possible if the flips left the token byte-identical to the valid one.
            assert_eq!(value, format!("Bearer {good}").into_bytes(), "case {i}");
        } else {
            assert_eq!(r.status, 401, "case {i}: {value:?}");
        }
    }
}

#[tokio::test]
async fn several_issuers_each_with_its_own_keys_and_audiences() {
    use jwt_cache::Issuers;
    use jwt_cache_tests::{CountingValidator, keys};
    let a = CountingValidator::new(
        JwtValidator::rs256_pem(keys::RSA_PUBLIC)
            .unwrap()
            .issuer("https://a.example")
            .audience("content"),
    );
    let b = CountingValidator::new(
        JwtValidator::rs256_pem(keys::RSA2_PUBLIC)
            .unwrap()
            .issuer("https://b.example")
            .audience("billing"),
    );
    let layer = JwtCacheLayer::builder(
        Issuers::new()
            .issuer("https://a.example", a.clone())
            .issuer("https://b.example", b.clone()),
    )
    .build();
    let s = Stack::new(layer);
    let key_a = jwt_cache_tests::rsa_key();
    let key_b = EncodingKey::from_rsa_pem(keys::RSA2_PRIVATE).unwrap();
    let token = |iss: &str, aud: &str, key: &EncodingKey| {
        let mut c = claims("alice");
        c["iss"] = json!(iss);
        c["aud"] = json!(aud);
        jwt_cache_tests::sign_with(Algorithm::RS256, key, None, &c)
    };
    assert_eq!(
        s.send(Some(&token("https://a.example", "content", &key_a)))
            .await
            .status,
        200
    );
    assert_eq!(
        s.send(Some(&token("https://b.example", "billing", &key_b)))
            .await
            .status,
        200
    );
    // B's issuer with A's key: B's keys decide.
    let r = s
        .send(Some(&token("https://b.example", "billing", &key_b.clone())))
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .send(Some(&token("https://b.example", "billing", &key_a)))
        .await;
    assert!(r.challenge.unwrap().contains("bad signature"));
    // A's token for B's audience: refused by A's audience check.
    let r = s
        .send(Some(&token("https://a.example", "billing", &key_a)))
        .await;
    assert!(r.challenge.unwrap().contains("wrong audience"));
    let calls = (a.calls(), b.calls());
    // An unknown issuer: refused without asking any validator.
    let r = s
        .send(Some(&token("https://evil.example", "content", &key_a)))
        .await;
    assert_eq!(r.status, 401);
    assert!(r.challenge.unwrap().contains("wrong issuer"));
    assert_eq!((a.calls(), b.calls()), calls);
}
