//! The bad-input table of the security guide, one test per row: each hostile input sent
//! through the demo's router (its whole middleware stack around `JwtCacheLayer`), with the
//! answer it must get. Nothing panics, nothing answers 500, nothing unauthenticated gets 200.

use axum::body::Body;
use http::{Request, StatusCode};
use jwt_cache::jsonwebtoken::{self, Algorithm, EncodingKey};
use jwt_cache::{JwtCacheBuilder, MemoryCache, StandardClaims};
use jwt_cache_tests::{AUD, ISS, claims, keys, now, rs256, rs256_validator};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The demo's router over an RS256 validator for [`AUD`], with tokens up to `max_len` bytes.
fn demo(max_len: usize) -> axum::Router {
    let auth = JwtCacheBuilder::<StandardClaims>::new(rs256_validator(AUD))
        .cache(MemoryCache::new(100))
        .max_token_len(max_len)
        .build_authenticator();
    jwt_cache_demo::app(auth, None)
}

/// Send `GET /me` with these headers; the status and the RFC 6750 `error` code.
async fn send(router: axum::Router, headers: Vec<(&str, Vec<u8>)>) -> (StatusCode, Option<String>) {
    let mut req = Request::builder().uri("/me");
    for (name, value) in headers {
        req = req.header(name, http::HeaderValue::from_bytes(&value).unwrap());
    }
    let res = router
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let code = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| {
            let start = c.find("error=\"")? + 7;
            Some(c[start..start + c[start..].find('"')?].to_owned())
        });
    (res.status(), code)
}

fn bearer(token: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![("authorization", format!("Bearer {token}").into_bytes())]
}

/// A token with this exact header and payload JSON text, signed with the test RSA key.
fn signed_raw(header: &str, payload: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let message = format!("{}.{}", b64.encode(header), b64.encode(payload));
    let key = EncodingKey::from_rsa_pem(keys::RSA_PRIVATE).unwrap();
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::RS256).unwrap();
    format!("{message}.{sig}")
}

/// A token signed with the test key, with these claims changed.
fn with(changes: Value) -> String {
    let mut c = claims("alice");
    for (k, v) in changes.as_object().unwrap() {
        c[k] = v.clone();
    }
    rs256(&c)
}

/// The standard claims as JSON text, for raw payloads.
fn payload_text() -> String {
    claims("alice").to_string()
}

async fn expect(headers: Vec<(&str, Vec<u8>)>, status: u16, code: Option<&str>) {
    expect_with(demo(8192), headers, status, code).await
}

async fn expect_with(
    router: axum::Router,
    headers: Vec<(&str, Vec<u8>)>,
    status: u16,
    code: Option<&str>,
) {
    let shown: Vec<String> = headers
        .iter()
        .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(&v[..v.len().min(80)])))
        .collect();
    let (got, got_code) = send(router, headers).await;
    assert_ne!(got, StatusCode::INTERNAL_SERVER_ERROR, "{shown:?}");
    assert_eq!(
        (got.as_u16(), got_code.as_deref()),
        (status, code),
        "{shown:?}"
    );
}

#[tokio::test]
async fn no_header() {
    expect(vec![], 401, None).await;
}

#[tokio::test]
async fn empty_header() {
    expect(vec![("authorization", Vec::new())], 401, None).await;
}

#[tokio::test]
async fn two_authorization_headers() {
    let t = rs256(&claims("alice"));
    let mut h = bearer(&t);
    h.extend(bearer(&t));
    expect(h, 401, Some("invalid_request")).await;
}

#[tokio::test]
async fn a_one_megabyte_header() {
    let huge = "a".repeat(1 << 20);
    expect(bearer(&huge), 401, Some("invalid_token")).await;
    let huge_jws = format!("{}.{}.{}", "a".repeat(1 << 19), "b".repeat(1 << 19), "c");
    expect(bearer(&huge_jws), 401, Some("invalid_token")).await;
}

#[tokio::test]
async fn non_utf8_bytes() {
    expect(
        vec![("authorization", b"Bearer \xff\xfe.\x80\x81.\xc3".to_vec())],
        401,
        Some("invalid_request"),
    )
    .await;
}

#[tokio::test]
async fn a_tab_instead_of_a_space_is_no_bearer_credential() {
    let t = rs256(&claims("alice"));
    expect(
        vec![("authorization", format!("Bearer\t{t}").into_bytes())],
        401,
        None,
    )
    .await;
}

#[tokio::test]
async fn double_spaces_and_a_lowercase_scheme_are_accepted_for_a_valid_token() {
    // RFC 7235: `1*SP` between scheme and credentials; the scheme is case-insensitive.
    let t = rs256(&claims("alice"));
    expect(
        vec![("authorization", format!("Bearer  {t}").into_bytes())],
        200,
        None,
    )
    .await;
    expect(
        vec![("authorization", format!("bearer {t}").into_bytes())],
        200,
        None,
    )
    .await;
    // ... and give nothing to an invalid one.
    let forged = format!("{}x", &t[..t.len() - 1]);
    expect(
        vec![("authorization", format!("bEaReR  {forged}").into_bytes())],
        401,
        Some("invalid_token"),
    )
    .await;
}

#[tokio::test]
async fn base64_padding_or_standard_alphabet() {
    let t = rs256(&claims("alice"));
    expect(bearer(&format!("{t}==")), 401, Some("invalid_token")).await;
    let (h, rest) = t.split_once('.').unwrap();
    expect(bearer(&format!("{h}+/.{rest}")), 401, Some("invalid_token")).await;
}

#[tokio::test]
async fn a_payload_that_is_not_a_json_object() {
    for payload in ["[1,2,3]", "\"alice\"", "null", "{", ""] {
        let t = signed_raw(r#"{"alg":"RS256","typ":"JWT"}"#, payload);
        expect(bearer(&t), 401, Some("invalid_token")).await;
    }
}

#[tokio::test]
async fn duplicate_json_keys() {
    let exp_twice = format!(
        r#"{{"sub":"alice","iss":"{ISS}","aud":"{AUD}","iat":{n},"exp":1,"exp":{later}}}"#,
        n = now(),
        later = now() + 600
    );
    let t = signed_raw(r#"{"alg":"RS256"}"#, &exp_twice);
    expect(bearer(&t), 401, Some("invalid_token")).await;
    let alg_twice = signed_raw(r#"{"alg":"RS256","alg":"none"}"#, &payload_text());
    expect(bearer(&alg_twice), 401, Some("invalid_token")).await;
}

#[tokio::test]
async fn exp_nbf_iat_huge_negative_fractional_or_strings() {
    for (claim, value) in [
        ("exp", json!(u64::MAX)),
        ("exp", json!(1e300)),
        ("exp", json!(-1)),
        ("exp", json!(now() as f64 + 0.5)),
        ("exp", json!("2099-01-01")),
        ("nbf", json!(u64::MAX)),
        ("nbf", json!(-5)),
        ("nbf", json!("now")),
        ("iat", json!(-1)),
        ("iat", json!(1.5)),
        ("iat", json!("yesterday")),
    ] {
        let t = with(json!({ claim: value }));
        let (status, code) = send(demo(8192), bearer(&t)).await;
        assert_eq!(
            (status.as_u16(), code.as_deref()),
            (401, Some("invalid_token")),
            "{claim}: {value}"
        );
    }
}

#[tokio::test]
async fn aud_as_an_array_or_a_string() {
    // Both forms of RFC 7519 §4.1.3: accepted when one names us, refused otherwise.
    expect(bearer(&with(json!({"aud": [AUD, "other"]}))), 200, None).await;
    expect(bearer(&with(json!({"aud": AUD}))), 200, None).await;
    expect(
        bearer(&with(json!({"aud": ["other", "billing"]}))),
        401,
        Some("invalid_token"),
    )
    .await;
    expect(bearer(&with(json!({"aud": 7}))), 401, Some("invalid_token")).await;
}

#[tokio::test]
async fn critical_header_extensions() {
    let t = signed_raw(r#"{"alg":"RS256","crit":["exp"]}"#, &payload_text());
    expect(bearer(&t), 401, Some("invalid_token")).await;
}

#[tokio::test]
async fn an_unencoded_payload_b64_false() {
    let t = signed_raw(
        r#"{"alg":"RS256","b64":false,"crit":["b64"]}"#,
        &payload_text(),
    );
    expect(bearer(&t), 401, Some("invalid_token")).await;
    let t = signed_raw(r#"{"alg":"RS256","b64":false}"#, &payload_text());
    expect(bearer(&t), 401, Some("invalid_token")).await;
}

#[tokio::test]
async fn key_and_key_url_headers_are_never_used() {
    // Signed with a key of the attacker's, which the header carries or points to.
    let attacker = EncodingKey::from_rsa_pem(keys::RSA2_PRIVATE).unwrap();
    for extra in [
        json!({"jku": "http://127.0.0.1:1/jwks"}),
        json!({"x5u": "http://127.0.0.1:1/cert"}),
        json!({"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}),
        json!({"x5c": ["MIIB"]}),
    ] {
        let mut header = json!({"alg": "RS256"});
        for (k, v) in extra.as_object().unwrap() {
            header[k] = v.clone();
        }
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let message = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(payload_text())
        );
        let sig =
            jsonwebtoken::crypto::sign(message.as_bytes(), &attacker, Algorithm::RS256).unwrap();
        expect(
            bearer(&format!("{message}.{sig}")),
            401,
            Some("invalid_token"),
        )
        .await;
    }
}

#[tokio::test]
async fn a_nested_token_cty_jwt() {
    let inner = rs256(&claims("alice"));
    let t = signed_raw(
        r#"{"alg":"RS256","cty":"JWT"}"#,
        &json!({"sub": "alice", "iss": ISS, "aud": AUD, "exp": now() + 600, "token": inner})
            .to_string(),
    );
    expect(bearer(&t), 401, Some("invalid_token")).await;
}

#[tokio::test]
async fn five_segments_a_jwe() {
    let t = rs256(&claims("alice"));
    expect(
        bearer(&format!("{t}.AAAA.BBBB")),
        401,
        Some("invalid_token"),
    )
    .await;
}

#[tokio::test]
async fn alg_none_in_every_casing() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        let unsigned = signed_raw(&format!(r#"{{"alg":"{alg}"}}"#), &payload_text());
        let (head, _) = unsigned.rsplit_once('.').unwrap();
        for token in [format!("{head}."), format!("{head}.AAAA")] {
            let (status, code) = send(demo(8192), bearer(&token)).await;
            assert_eq!(
                (status.as_u16(), code.as_deref()),
                (401, Some("invalid_token")),
                "{alg}"
            );
        }
    }
}

#[tokio::test]
async fn a_token_at_the_maximum_length_and_one_byte_past_it() {
    let t = rs256(&claims("alice"));
    expect_with(demo(t.len()), bearer(&t), 200, None).await;
    expect_with(demo(t.len() - 1), bearer(&t), 401, Some("invalid_token")).await;
}

#[tokio::test]
async fn the_process_stays_up_and_serves_after_all_of_it() {
    // A valid token after every row above (each test builds its own router; this one sends
    // garbage and a valid token through one).
    let router = demo(8192);
    for garbage in [
        "",
        "Bearer",
        "Bearer .",
        "Bearer ...",
        "Bearer a.b.c.d",
        "Basic x",
    ] {
        let (status, _) = send(
            router.clone(),
            vec![("authorization", garbage.as_bytes().to_vec())],
        )
        .await;
        assert_eq!(status, 401, "{garbage:?}");
    }
    let (status, _) = send(router, bearer(&rs256(&claims("alice")))).await;
    assert_eq!(status, 200);
}
