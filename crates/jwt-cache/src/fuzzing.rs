//! Entry points for the fuzz targets and the regression tests that replay their corpora
//! (feature `fuzzing`, not a public API: no semver promise). Each runs one parser on untrusted
//! bytes and checks what must hold whatever the input; a violation panics, which is what a
//! fuzzer reports.

use crate::error::Rejection;
use crate::token::{RequestHeaders, TokenSources, classify, unverified_meta};

/// Headers given as a list, with the method.
struct Request<'a> {
    method: Option<&'a str>,
    headers: &'a [(&'a str, &'a [u8])],
}

impl RequestHeaders for Request<'_> {
    fn each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
        self.headers.each_value(name, f)
    }

    fn method(&self) -> Option<&str> {
        self.method
    }
}

/// The token a request carries, as the authenticator reads it: the configured sources
/// (bearer header, `cookie`, custom `header`), the cookie's cross-site rule, then the
/// compact-form (or, `opaque`, `b64token`) check. Checks that a token handed on is ASCII
/// base64url/b64token within `max_len`, and that a refusal is a 401/403 (never a panic or
/// another status).
pub fn token_from_request(
    method: Option<&str>,
    headers: &[(&str, &[u8])],
    cookie: Option<&str>,
    header: Option<&str>,
    max_len: usize,
    opaque: bool,
) -> Result<Option<String>, Rejection> {
    let sources = TokenSources {
        bearer: true,
        cookie: cookie.map(std::sync::Arc::from),
        header: header.map(|h| std::sync::Arc::from(h.to_ascii_lowercase())),
        cookie_origins: std::sync::Arc::from(vec!["https://app.example".to_owned()]),
    };
    let request = Request { method, headers };
    let result = sources
        .extract(&request)
        .and_then(|raw| raw.map(|raw| classify(raw, max_len, opaque)).transpose());
    match &result {
        Ok(Some(token)) => {
            assert!(
                token.len() <= max_len,
                "a token over the limit was handed on"
            );
            assert!(token.bytes().all(|b| b.is_ascii_graphic()), "{token:?}");
            if !opaque {
                assert_eq!(token.split('.').count(), 3, "{token:?}");
                assert!(
                    token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
                    "{token:?}"
                );
            }
        }
        Ok(None) => {}
        Err(r) => assert!(matches!(r.status(), 401 | 403), "{r:?}"),
    }
    result.map(|t| t.map(str::to_owned))
}

/// What is read from a token before any verification: the registered claims the revocation
/// and lifetime rules use, the header (`alg`, `kid`), the issuer that picks a validator.
/// Nothing may panic; what is read must come from the token's own segments.
pub fn unverified(token: &str) {
    let _ = unverified_meta(token);
    let _ = jsonwebtoken::decode_header(token);
    let _ = crate::validator::issuers::unverified_iss(token);
    let _ = crate::token::SignedHash::of(token);
    let _ = crate::validator::check_compact(token, crate::token::DEFAULT_MAX_TOKEN_LEN);
}

/// A JWKS document (untrusted: the key set endpoint may be hostile): the number of usable
/// keys, or why none.
#[cfg(feature = "jwks")]
pub fn jwks_document(body: &[u8]) -> Result<usize, String> {
    crate::validator::jwks::parse_document(body)
}

/// An OpenID Connect discovery document, for `issuer`: the `jwks_uri`, or why not. A document
/// naming another issuer is never accepted.
#[cfg(feature = "jwks")]
pub fn discovery_document(body: &[u8], issuer: &str) -> Result<String, String> {
    let result = crate::validator::jwks::parse_discovery(body, issuer, "https://fuzz.example")
        .map_err(|e| e.to_string());
    if result.is_ok() {
        #[derive(serde::Deserialize)]
        struct Issuer {
            issuer: String,
        }
        let named: Issuer = serde_json::from_slice(body).expect("accepted, so it parses");
        assert_eq!(
            named.issuer, issuer,
            "a document naming another issuer was accepted"
        );
    }
    result
}

/// An introspection answer (untrusted: the server's 200 body), judged by a validator for
/// audience `content`: accepted only when active, for that audience, not a refresh token, and
/// within `exp`/`nbf` (leeway 60 s); a body that is not an answer is `Unavailable` (503).
#[cfg(feature = "introspection")]
pub fn introspection_answer(body: &[u8]) -> Result<(), crate::error::ValidationError> {
    use crate::validator::IntrospectionValidator;
    // Built once: a validator holds an HTTP client, whose set-up would dominate every run.
    static VALIDATOR: std::sync::OnceLock<IntrospectionValidator<crate::claims::StandardClaims>> =
        std::sync::OnceLock::new();
    let v = VALIDATOR.get_or_init(|| {
        IntrospectionValidator::builder("https://id.example/introspect")
            .audience("content")
            .build()
            .expect("a valid configuration")
    });
    let verdict = v.judge(body);
    if verdict.is_ok() {
        // Read back the two fields that decide, the way the validator reads the answer: other
        // fields are skipped unread, as serde skips them (found by fuzzing: a field the
        // validator ignores may hold bytes that are not UTF-8, which a full parse refuses).
        #[derive(serde::Deserialize)]
        struct Decisive {
            active: bool,
            aud: crate::claims::Audience,
        }
        let answer: Decisive = serde_json::from_slice(body).expect("accepted: an answer");
        assert!(answer.active, "not active, accepted");
        assert!(
            answer.aud.contains("content"),
            "accepted without naming the audience"
        );
    }
    verdict.map(|_| ())
}

// One function per fuzz target: the raw input, parsed the way the target documents it.

/// `token_extraction`: a first line `METHOD COOKIE HEADER OPAQUE MAX_LEN` (`-` for no cookie
/// or custom header), then one `name: value` line per header.
pub fn token_extraction(data: &[u8]) {
    let mut lines = data.split(|b| *b == b'\n');
    let first = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let mut f = first.split(' ');
    let method = f.next().filter(|m| !m.is_empty() && *m != "-");
    let cookie = f.next().filter(|c| !c.is_empty() && *c != "-");
    let header = f.next().filter(|h| !h.is_empty() && *h != "-");
    let opaque = f.next() == Some("1");
    let max_len = f
        .next()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(8192)
        .min(1 << 16);
    let headers: Vec<(String, Vec<u8>)> = lines
        .filter_map(|l| {
            let i = l.iter().position(|b| *b == b':')?;
            let name = String::from_utf8_lossy(&l[..i]).to_ascii_lowercase();
            let value = l[i + 1..]
                .strip_prefix(b" ")
                .unwrap_or(&l[i + 1..])
                .to_vec();
            Some((name, value))
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let _ = token_from_request(method, &refs, cookie, header, max_len, opaque);
}

/// `unverified_token`: the bytes as a token (lossy UTF-8).
pub fn unverified_token(data: &[u8]) {
    unverified(&String::from_utf8_lossy(data));
}

/// `key_set_documents`: the bytes as a JWKS and as a discovery document for
/// `https://id.example`.
#[cfg(feature = "jwks")]
pub fn key_set_documents(data: &[u8]) {
    let _ = jwks_document(data);
    let _ = discovery_document(data, "https://id.example");
}

/// `introspection_answer`: the bytes as a 200 answer.
#[cfg(feature = "introspection")]
pub fn introspection_answer_bytes(data: &[u8]) {
    let _ = introspection_answer(data);
}
