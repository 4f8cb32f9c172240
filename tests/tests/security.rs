//! The holes an attacker's review found (security issue), each held by a test: ECDSA twins
//! after logout, HMAC keys from PEM, revocations that lapse before their tokens, the leeway of
//! one service deciding marker lifetimes, and a joining request's own revocation answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use jwt_cache::cache::{CacheKey, Lookup, Revocation, RevocationCheck, SignedHash};
use jwt_cache::jsonwebtoken::{Algorithm, EncodingKey};
use jwt_cache::validator::{Fingerprint, TokenMeta, ValidatedToken};
use jwt_cache::{
    CacheError, ClaimsCache, ConfigError, JwtCacheLayer, JwtValidator, MemoryCache, StandardClaims,
    TokenValidator, ValidationError, VerificationKey,
};
use jwt_cache_tests::harness::Stack;
use jwt_cache_tests::{
    AUD, CountingValidator, ISS, claims, keys, now, rs256, rs256_validator, sign_with,
};
use serde_json::json;

/// The order n of P-256.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The other valid encoding of an ES256 token's signature: (r, s) → (r, n − s).
fn ecdsa_twin(token: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let mut sig = b64.decode(sig).unwrap();
    assert_eq!(sig.len(), 64);
    let s = &mut sig[32..];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = P256_N[i] as i16 - s[i] as i16 - borrow;
        borrow = (d < 0) as i16;
        s[i] = d.rem_euclid(256) as u8;
    }
    format!("{signed}.{}", b64.encode(&sig))
}

fn es256(claims: &serde_json::Value) -> String {
    let key = EncodingKey::from_ec_pem(keys::EC_PRIVATE).unwrap();
    sign_with(Algorithm::ES256, &key, None, claims)
}

fn es256_validator() -> JwtValidator {
    JwtValidator::es256_pem(keys::EC_PUBLIC)
        .unwrap()
        .issuer(ISS)
        .audience(AUD)
        .leeway(0)
}

#[tokio::test]
async fn logout_revokes_the_high_s_twin_of_an_ecdsa_token() {
    let layer = JwtCacheLayer::builder(es256_validator())
        .cache(MemoryCache::new(100))
        .build();
    let s = Stack::new(layer.clone());
    let token = es256(&claims("alice"));
    let twin = ecdsa_twin(&token);
    assert_ne!(twin, token);
    assert_eq!(SignedHash::of(&twin), SignedHash::of(&token));
    // Both encodings are valid signatures.
    assert_eq!(s.send(Some(&token)).await.body, "alice");
    assert_eq!(s.send(Some(&twin)).await.body, "alice", "the twin verifies");
    layer.authenticator().revoke_token(&token).await.unwrap();
    for t in [&token, &twin] {
        let r = s.send(Some(t)).await;
        assert_eq!(r.status, 401);
        assert!(r.challenge.unwrap().contains("token revoked"));
    }
    // A twin never seen before the logout is refused too (the miss path).
    let fresh = es256(&claims("bob"));
    layer.authenticator().revoke_token(&fresh).await.unwrap();
    assert_eq!(s.send(Some(&ecdsa_twin(&fresh))).await.status, 401);
}

#[tokio::test]
async fn revoke_token_also_revokes_its_jti() {
    let layer = JwtCacheLayer::builder(rs256_validator(AUD)).build();
    let s = Stack::new(layer.clone());
    let c = claims("alice");
    let token = rs256(&c);
    // Another token with the same jti (re-issued with another iat): different signed bytes.
    let mut c2 = c.clone();
    // One second before the first token's own iat (not `now() - 1`: the clock may have
    // ticked since `claims` read it, giving the same iat and the same signed part).
    c2["iat"] = json!(c["iat"].as_u64().unwrap() - 1);
    let sibling = rs256(&c2);
    assert_ne!(SignedHash::of(&sibling), SignedHash::of(&token));
    assert_eq!(s.send(Some(&sibling)).await.status, 200);
    layer.authenticator().revoke_token(&token).await.unwrap();
    assert_eq!(s.send(Some(&sibling)).await.status, 401);
}

#[test]
fn an_hmac_key_is_never_made_from_pem_material() {
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        assert!(matches!(
            JwtValidator::from_pem(alg, keys::RSA_PUBLIC),
            Err(ConfigError::PemAsHmacSecret)
        ));
        // Long enough to pass the length check, so only the PEM check refuses it.
        assert!(keys::RSA_PUBLIC.len() >= 64);
        assert!(matches!(
            VerificationKey::hmac(keys::RSA_PUBLIC, alg),
            Err(ConfigError::PemAsHmacSecret)
        ));
    }
    let msg = ConfigError::PemAsHmacSecret.to_string();
    assert!(msg.contains("public key"), "{msg}");
    // A real secret still works.
    assert!(JwtValidator::hs256([7u8; 32]).is_ok());
}

#[tokio::test]
async fn tokens_that_outlive_max_token_lifetime_are_refused() {
    let layer = JwtCacheLayer::builder(rs256_validator(AUD))
        .max_token_lifetime(Duration::from_secs(60))
        .build();
    let s = Stack::new(layer.clone());
    let long = rs256(&claims("alice")); // exp in an hour
    let r = s.send(Some(&long)).await;
    assert_eq!(r.status, 401);
    assert!(r.challenge.unwrap().contains("token lifetime too long"));
    let short = rs256(&{
        let mut c = claims("alice");
        c["exp"] = json!(now() + 30);
        c
    });
    assert_eq!(s.send(Some(&short)).await.status, 200);
    // A jti revocation outlives every token it can cover: still refused after a while.
    let jti = jwt_cache::cache::unverified_meta(&short)
        .unwrap()
        .jti
        .unwrap();
    layer.authenticator().revoke_jti(&jti).await.unwrap();
    assert_eq!(s.send(Some(&short)).await.status, 401);
}

#[tokio::test]
async fn tokens_without_exp_expire_max_token_lifetime_after_iat() {
    let v = rs256_validator(AUD).required_claims(&[]);
    let layer = JwtCacheLayer::builder(v)
        .max_token_lifetime(Duration::from_secs(60))
        .cache_tokens_without_exp(true)
        .build();
    let s = Stack::new(layer);
    let without_exp = |iat: Option<u64>| {
        let mut c = claims("alice");
        c.as_object_mut().unwrap().remove("exp");
        match iat {
            Some(iat) => c["iat"] = json!(iat),
            None => {
                c.as_object_mut().unwrap().remove("iat");
            }
        }
        rs256(&c)
    };
    assert_eq!(s.send(Some(&without_exp(Some(now())))).await.status, 200);
    let old = s.send(Some(&without_exp(Some(now() - 3600)))).await;
    assert_eq!(old.status, 401);
    assert!(old.challenge.unwrap().contains("token expired"));
    let forever = s.send(Some(&without_exp(None))).await;
    assert_eq!(forever.status, 401);
    assert!(
        forever
            .challenge
            .unwrap()
            .contains("missing required claim")
    );
}

/// A validator that accepts a token long expired: its leeway is huge (a misconfigured custom
/// validator, or one that does not check `exp`).
struct Lax;

#[async_trait]
impl TokenValidator<StandardClaims> for Lax {
    async fn validate(
        &self,
        token: &str,
    ) -> Result<ValidatedToken<StandardClaims>, ValidationError> {
        let meta = jwt_cache::cache::unverified_meta(token).unwrap();
        Ok(ValidatedToken {
            claims: Arc::new(StandardClaims {
                sub: meta.sub.clone().unwrap_or_default(),
                email: None,
                username: None,
                iss: None,
                aud: None,
                exp: meta.exp,
                nbf: None,
                iat: meta.iat,
                jti: meta.jti.clone(),
                scope: None,
                roles: None,
                client_id: None,
            }),
            meta,
        })
    }
    fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&[b"lax"])
    }
    fn leeway(&self) -> u64 {
        3600
    }
}

#[tokio::test]
async fn no_service_accepts_a_token_past_the_fleet_margin_whatever_its_leeway() {
    // A JwtValidator's leeway is capped at the margin.
    let capped = rs256_validator(AUD).leeway(10_000);
    assert_eq!(
        TokenValidator::<StandardClaims>::leeway(&capped),
        jwt_cache::cache::REVOCATION_MARGIN.as_secs()
    );
    // A custom validator with a larger one: the authenticator refuses past the margin, so a
    // revocation marker (which lives exp + margin) is never outlived.
    let s = Stack::new(JwtCacheLayer::builder(Lax).build());
    let expired = |ago: u64| {
        rs256(&{
            let mut c = claims("alice");
            c["exp"] = json!(now() - ago);
            c
        })
    };
    assert_eq!(
        s.send(Some(&expired(60))).await.status,
        200,
        "within the margin"
    );
    let r = s.send(Some(&expired(400))).await;
    assert_eq!(r.status, 401);
    assert!(r.challenge.unwrap().contains("token expired"));
}

/// A shared cache scripted to model a race: the first lookup finds no revocation, every later
/// one finds the token revoked, and the leader's re-check after its (slow) validation does
/// not (the marker it asked for was, say, deleted and re-added in between). Only each
/// request's own lookup answer can refuse the joining request.
#[derive(Default)]
struct Scripted {
    lookups: AtomicUsize,
}

#[async_trait]
impl ClaimsCache<StandardClaims> for Scripted {
    async fn get(&self, _: &CacheKey, token: &str) -> Result<Lookup<StandardClaims>, CacheError> {
        let n = self.lookups.fetch_add(1, Ordering::SeqCst);
        let peek = jwt_cache::cache::unverified_meta(token).unwrap();
        Ok(Lookup::Miss(Some(RevocationCheck {
            jti: peek.jti,
            sub: peek.sub,
            iat: peek.iat,
            revoked: n >= 1,
        })))
    }
    async fn put(
        &self,
        _: &CacheKey,
        _: &SignedHash,
        _: Arc<ValidatedToken<StandardClaims>>,
        _: Duration,
        _: jwt_cache::cache::Fill,
    ) -> Result<(), CacheError> {
        Ok(())
    }
    async fn remove(&self, _: &CacheKey) -> Result<(), CacheError> {
        Ok(())
    }
    async fn is_revoked(&self, _: &SignedHash, _: &TokenMeta) -> Result<bool, CacheError> {
        Ok(false)
    }
    async fn revoke(&self, _: &Revocation, _: Duration) -> Result<(), CacheError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_joining_a_shared_validation_applies_its_own_revocation_answer() {
    let v = CountingValidator::new(rs256_validator(AUD))
        .remote()
        .with_delay(Duration::from_millis(400));
    let s = Stack::new(
        JwtCacheLayer::builder(v.clone())
            .cache(Scripted::default())
            .build(),
    );
    let token = rs256(&claims("alice"));
    let leader = {
        let (s, t) = (s.clone(), token.clone());
        tokio::spawn(async move { s.send(Some(&t)).await })
    };
    // The leader is inside its validation (counted on entry, after its lookup): not a sleep
    // that a slow start of the spawned task could outlast.
    while v.calls() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let joiner = s.send(Some(&token)).await;
    assert_eq!(joiner.status, 401, "the joiner's lookup said revoked");
    assert_eq!(leader.await.unwrap().status, 200, "the leader's did not");
    assert_eq!(v.calls(), 1, "one shared validation");
}

#[tokio::test]
async fn a_remote_validators_refusals_are_remembered_briefly_and_apart() {
    let v = CountingValidator::new(rs256_validator(AUD)).remote();
    let s = Stack::new(
        JwtCacheLayer::builder(v.clone())
            .cache(MemoryCache::new(100))
            .negative_cache(8, Duration::from_millis(300))
            .build(),
    );
    let good = rs256(&claims("alice"));
    assert_eq!(s.send(Some(&good)).await.status, 200);
    // A refused token is refused again from memory: one validator call for five requests.
    let forged = {
        let (signed, _) = good.rsplit_once('.').unwrap();
        let other = rs256(&claims("zed"));
        format!("{signed}.{}", other.rsplit_once('.').unwrap().1)
    };
    let calls = v.calls();
    for _ in 0..5 {
        let r = s.send(Some(&forged)).await;
        assert!(r.challenge.unwrap().contains("bad signature"));
    }
    assert_eq!(v.calls(), calls + 1);
    // ... for a while only.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(s.send(Some(&forged)).await.status, 401);
    assert_eq!(v.calls(), calls + 2);
    // A flood of garbage fills only the negative cache: the good token stays a hit.
    for i in 0..200 {
        let junk = rs256(&claims(&format!("junk{i}")))
            .rsplit_once('.')
            .map(|(signed, _)| format!("{signed}.{}", forged.rsplit_once('.').unwrap().1))
            .unwrap();
        assert_eq!(s.send(Some(&junk)).await.status, 401);
    }
    let calls = v.calls();
    assert_eq!(s.send(Some(&good)).await.status, 200);
    assert_eq!(v.calls(), calls, "still a hit");
    // A transient failure is never remembered.
    v.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let fresh = rs256(&claims("bob"));
    for _ in 0..3 {
        assert_eq!(s.send(Some(&fresh)).await.status, 503);
    }
    v.down.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(s.send(Some(&fresh)).await.status, 200);
}
