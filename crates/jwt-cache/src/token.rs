//! Reading the bearer token out of an `Authorization` header (RFC 6750 §2.1, RFC 7235 §2.1)
//! and the compact-form check done before any hashing (RFC 7515 §7.1, RFC 8725 §3.11).

use sha2::{Digest, Sha256};

use crate::error::{Rejection, ValidationError};

/// Read access to a request's headers (and, when the adapter knows it, its method): what an
/// adapter hands the authenticator.
pub trait RequestHeaders {
    /// Call `f` with each value of the header `name` (lower-case), in order.
    fn each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8]));

    /// The request's method (`"GET"`, `"POST"`, …), when known. A token taken from a cookie
    /// authenticates an unsafe method (anything but `GET`, `HEAD`, `OPTIONS`) only for a
    /// same-origin request: `None` (the default) counts as unsafe.
    fn method(&self) -> Option<&str> {
        None
    }
}

/// The values of one `Authorization` header given as a list (tests, other frameworks).
impl RequestHeaders for [(&str, &[u8])] {
    fn each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
        for (n, v) in self {
            if n.eq_ignore_ascii_case(name) {
                f(v);
            }
        }
    }
}

/// Default limit on a token's length in bytes.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// Parse the `Authorization` header values of a request into a bearer token.
///
/// - no header, or a scheme other than `Bearer`: `Ok(None)` (no bearer credentials);
/// - several `Authorization` headers, `Bearer` without a token, bytes outside the
///   `b64token` grammar, or extra parameters: [`Rejection::InvalidRequest`];
/// - otherwise the token, still to be checked by [`check_compact`].
///
/// The scheme is matched case-insensitively; one or more spaces separate it from the token
/// (RFC 7235 `1*SP`); surrounding optional whitespace is ignored.
///
/// ```
/// use jwt_cache::adapter::parse_authorization;
/// assert_eq!(parse_authorization([&b"Bearer abc.def.ghi"[..]]).unwrap(), Some("abc.def.ghi"));
/// assert_eq!(parse_authorization([&b"Basic dXNlcjpwYXNz"[..]]).unwrap(), None);
/// assert!(parse_authorization([&b"Bearer"[..]]).is_err());
/// ```
pub fn parse_authorization<'a, I>(values: I) -> Result<Option<&'a str>, Rejection>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    match bearer_token(values)? {
        None => Ok(None),
        Some(token) if is_b64token(token) => Ok(std::str::from_utf8(token).ok()),
        Some(_) => Err(malformed_credentials()),
    }
}

pub(crate) fn malformed_credentials() -> Rejection {
    Rejection::InvalidRequest("malformed bearer credentials")
}

/// The raw bytes after `Bearer`, unchecked (beyond being non-empty).
pub(crate) fn bearer_token<'a, I>(values: I) -> Result<Option<&'a [u8]>, Rejection>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut values = values.into_iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    let value = trim_ows(value);
    let (scheme, rest) = match value.iter().position(|b| *b == b' ') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, &value[value.len()..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let token = trim_ows(rest);
    if token.is_empty() {
        return Err(Rejection::InvalidRequest("bearer token missing"));
    }
    Ok(Some(token))
}

/// Where the authenticator looks for a token: the `Authorization: Bearer` header (the
/// default), a named cookie, a named header carrying the bare token. A request must carry
/// its token in at most one of them: two places (or two cookies, or two custom headers) are
/// refused as ambiguous, never resolved silently.
#[derive(Debug, Clone)]
pub(crate) struct TokenSources {
    pub(crate) bearer: bool,
    pub(crate) cookie: Option<std::sync::Arc<str>>,
    pub(crate) header: Option<std::sync::Arc<str>>,
    /// Origins (`scheme://host[:port]`, lower-case) whose cross-origin requests may use the
    /// cookie token for an unsafe method.
    pub(crate) cookie_origins: std::sync::Arc<[String]>,
}

impl Default for TokenSources {
    fn default() -> Self {
        TokenSources {
            bearer: true,
            cookie: None,
            header: None,
            cookie_origins: std::sync::Arc::from(Vec::new()),
        }
    }
}

/// Whether a request's method is safe (RFC 9110 §9.2.1: `GET`, `HEAD`, `OPTIONS`; `TRACE` is
/// not served by anything we front). Unknown counts as unsafe.
fn safe_method(method: Option<&str>) -> bool {
    matches!(method, Some("GET" | "HEAD" | "OPTIONS"))
}

/// How many values a header has, and its last one (optional whitespace trimmed).
fn values<'a>(
    headers: &'a (impl RequestHeaders + ?Sized),
    name: &str,
) -> (usize, Option<&'a [u8]>) {
    let mut value = None;
    let mut n = 0;
    headers.each_value(name, &mut |v| {
        n += 1;
        value = Some(trim_ows(v));
    });
    (n, value)
}

/// The one value of a header, if it has exactly one.
fn single<'a>(headers: &'a (impl RequestHeaders + ?Sized), name: &str) -> Option<&'a [u8]> {
    match values(headers, name) {
        (1, value) => value,
        _ => None,
    }
}

impl TokenSources {
    /// Cross-site request forgery: browsers attach cookies to cross-site requests, never a
    /// bearer header. A token that came from the cookie authenticates an unsafe method only
    /// when the request is same-origin by `Sec-Fetch-Site`, or (browsers that send no fetch
    /// metadata) its `Origin` is the `Host` it was sent to, or its `Origin` is allowed.
    /// `Err`: refuse with 403.
    fn check_cookie_request(
        &self,
        headers: &(impl RequestHeaders + ?Sized),
    ) -> Result<(), Rejection> {
        if safe_method(headers.method()) {
            return Ok(());
        }
        let origin = single(headers, "origin");
        if let Some(origin) = origin
            && self
                .cookie_origins
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(origin))
        {
            return Ok(());
        }
        match single(headers, "sec-fetch-site") {
            Some(site) if site.eq_ignore_ascii_case(b"same-origin") => return Ok(()),
            Some(_) => return Err(Rejection::CrossSite),
            None => {}
        }
        // No fetch metadata (an older browser): same-origin when `Origin` names the host the
        // request was sent to.
        let host = single(headers, "host");
        if let (Some(origin), Some(host)) = (origin, host) {
            let origin_host = origin
                .strip_prefix(b"https://")
                .or_else(|| origin.strip_prefix(b"http://"));
            if origin_host.is_some_and(|h| h.eq_ignore_ascii_case(host)) {
                return Ok(());
            }
        }
        Err(Rejection::CrossSite)
    }
}

fn ambiguous() -> Rejection {
    Rejection::InvalidRequest("token in more than one place")
}

/// The token a source saw `hits` times (`value` the last): none, exactly one non-empty, or a
/// refusal (empty, or more than one).
fn only<'a>(
    hits: usize,
    value: Option<&'a [u8]>,
    empty: &'static str,
) -> Result<Option<&'a [u8]>, Rejection> {
    match (hits, value) {
        (0, _) => Ok(None),
        (1, Some(v)) if !v.is_empty() => Ok(Some(v)),
        (1, _) => Err(Rejection::InvalidRequest(empty)),
        _ => Err(ambiguous()),
    }
}

impl TokenSources {
    /// The raw token, unchecked beyond being non-empty; `None`: no token anywhere.
    pub(crate) fn extract<'a>(
        &self,
        headers: &'a (impl RequestHeaders + ?Sized),
    ) -> Result<Option<&'a [u8]>, Rejection> {
        let mut found: Option<&'a [u8]> = None;
        let mut from_cookie = false;
        let mut place = |token: &'a [u8]| -> Result<(), Rejection> {
            match found.replace(token) {
                None => Ok(()),
                Some(_) => Err(ambiguous()),
            }
        };
        if self.bearer {
            let mut values: [Option<&'a [u8]>; 2] = [None, None];
            let mut n = 0;
            headers.each_value("authorization", &mut |v| {
                if n < 2 {
                    values[n] = Some(v);
                }
                n += 1;
            });
            if let Some(t) = bearer_token(values.iter().flatten().copied())? {
                place(t)?;
            }
        }
        if let Some(name) = &self.cookie {
            let mut hits = 0;
            let mut value = None;
            headers.each_value("cookie", &mut |v| {
                for pair in v.split(|b| *b == b';') {
                    let pair = trim_ows(pair);
                    if let Some(eq) = pair.iter().position(|b| *b == b'=')
                        && &pair[..eq] == name.as_bytes()
                    {
                        let mut val = &pair[eq + 1..];
                        if let [b'"', inner @ .., b'"'] = val {
                            val = inner;
                        }
                        hits += 1;
                        value = Some(val);
                    }
                }
            });
            if let Some(v) = only(hits, value, "empty token cookie")? {
                place(v)?;
                from_cookie = true;
            }
        }
        if let Some(name) = &self.header {
            let (hits, value) = values(headers, name);
            if let Some(v) = only(hits, value, "empty token header")? {
                place(v)?;
            }
        }
        if from_cookie {
            self.check_cookie_request(headers)?;
        }
        Ok(found)
    }
}

/// Classify the bytes after `Bearer`: a compact JWS (the fast path, one vectorizable pass),
/// a well-formed `b64token` that is not a JWS (`invalid_token`), or a malformed credential
/// (`invalid_request`).
///
/// With `opaque` (a validator that takes opaque access tokens, such as introspection), any
/// `b64token` of at most `max_len` bytes is a token.
pub(crate) fn classify(token: &[u8], max_len: usize, opaque: bool) -> Result<&str, Rejection> {
    match compact(token, max_len) {
        Ok(()) => Ok(std::str::from_utf8(token).expect("checked ASCII")),
        Err(_) if !is_b64token(token) => Err(malformed_credentials()),
        Err(_) if opaque && token.len() <= max_len => {
            Ok(std::str::from_utf8(token).expect("checked ASCII"))
        }
        Err(e) => Err(Rejection::InvalidToken(e)),
    }
}

/// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
fn is_b64token(token: &[u8]) -> bool {
    let body_end = token.iter().position(|b| *b == b'=').unwrap_or(token.len());
    let (body, pad) = token.split_at(body_end);
    !body.is_empty()
        && body.iter().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
        && pad.iter().all(|b| *b == b'=')
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Check that `token` is a JWS in compact form: three non-empty dot-separated parts of
/// base64url characters (`[A-Za-z0-9_-]`, no padding), at most `max_len` bytes.
///
/// Done before the token is hashed or parsed, so garbage costs almost nothing.
pub fn check_compact(token: &str, max_len: usize) -> Result<(), ValidationError> {
    compact(token.as_bytes(), max_len)
}

#[inline]
fn compact(bytes: &[u8], max_len: usize) -> Result<(), ValidationError> {
    if bytes.len() > max_len {
        return Err(ValidationError::Malformed(format!(
            "token longer than {max_len} bytes"
        )));
    }
    // Branch-free, 16 lanes at a time, so LLVM vectorizes it: flag any byte outside the
    // alphabet and count the dots.
    #[inline(always)]
    fn class(b: u8) -> (u8, u8) {
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        let digit = b.wrapping_sub(b'0') < 10;
        let dot = b == b'.';
        let ok = letter | digit | (b == b'-') | (b == b'_') | dot;
        ((!ok) as u8, dot as u8)
    }
    let mut bad = [0u8; 16];
    let mut dots = 0usize;
    let mut lane_dots = [0u8; 16];
    let mut chunks = bytes.chunks_exact(16);
    for (n, chunk) in (&mut chunks).enumerate() {
        for i in 0..16 {
            let (b, d) = class(chunk[i]);
            bad[i] |= b;
            lane_dots[i] += d;
        }
        if n % 255 == 254 {
            // Flush before a u8 lane can overflow.
            dots += lane_dots.iter().map(|d| *d as usize).sum::<usize>();
            lane_dots = [0u8; 16];
        }
    }
    dots += lane_dots.iter().map(|d| *d as usize).sum::<usize>();
    for &b in chunks.remainder() {
        let (b, d) = class(b);
        bad[0] |= b;
        dots += d as usize;
    }
    if bad.iter().any(|b| *b != 0) {
        return Err(ValidationError::Malformed(
            "not base64url compact serialization".into(),
        ));
    }
    if dots != 2 {
        return Err(ValidationError::Malformed(
            "a JWS has three dot-separated parts".into(),
        ));
    }
    // Exactly two dots: a segment is empty only if the token starts or ends with a dot, or the
    // first dot is followed by the second.
    let first = bytes.iter().position(|b| *b == b'.').unwrap_or(0);
    if first == 0 || bytes.get(first + 1) == Some(&b'.') || bytes.last() == Some(&b'.') {
        return Err(ValidationError::Malformed("empty segment".into()));
    }
    Ok(())
}

/// The registered claims of a token **without verifying it**: only for choosing which
/// revocation markers to fetch alongside a cache entry (a shared cache does this so entry and
/// markers come back in one round trip). Never a basis for accepting anything.
pub fn unverified_meta(token: &str) -> Option<crate::claims::TokenMeta> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let reg: crate::claims::RegisteredClaims = serde_json::from_slice(&bytes).ok()?;
    Some(reg.into_meta(None))
}

/// SHA-256 of a token's exact bytes: what cache entries are keyed by (a hit is only ever
/// served for the very bytes that were validated). The raw token is never stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Hash a token.
    pub fn of(token: &str) -> Self {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// A token's hash and its signed part's ([`SignedHash`]), in one pass over its bytes.
    pub fn with_signed(token: &str) -> (Self, SignedHash) {
        let signed = signed_part(token);
        let mut h = Sha256::new();
        h.update(signed.as_bytes());
        let signed_hash = SignedHash(h.clone().finalize().into());
        h.update(&token.as_bytes()[signed.len()..]);
        (TokenHash(h.finalize().into()), signed_hash)
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

/// SHA-256 of a token's signed part (`header.payload`, everything before the last `.`): what
/// token revocations are keyed by.
///
/// A signature can have more than one valid encoding (an ECDSA signature `(r, s)` has a twin
/// `(r, n - s)`; base64url has non-canonical trailing bits): every encoding of the same signed
/// content has the same `SignedHash`, so revoking one revokes them all.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignedHash(pub [u8; 32]);

impl SignedHash {
    /// Hash the signed part of a compact token (the whole string when it has no `.`).
    pub fn of(token: &str) -> Self {
        SignedHash(Sha256::digest(signed_part(token).as_bytes()).into())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

/// `header.payload` of a token with exactly three dot-separated parts; any other token (an
/// opaque access token, which may hold dots of its own) is signed content as a whole.
fn signed_part(token: &str) -> &str {
    if let Some(last) = token.rfind('.') {
        let head = &token[..last];
        if let Some(mid) = head.rfind('.')
            && !head[..mid].contains('.')
        {
            return head;
        }
    }
    token
}

impl std::fmt::Debug for SignedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignedHash({})", &self.to_hex()[..16])
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHash({})", &self.to_hex()[..16])
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Option<&'static str>, Rejection> {
        let owned: Vec<&'static [u8]> = v
            .iter()
            .map(|s| &*Box::leak(s.as_bytes().to_vec().into_boxed_slice()))
            .collect();
        parse_authorization(owned)
    }

    #[test]
    fn header_grammar() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&["Bearer a.b.c"]).unwrap(), Some("a.b.c"));
        assert_eq!(parse(&["bEaReR   a.b.c  "]).unwrap(), Some("a.b.c"));
        assert_eq!(parse(&["Basic Zm9vOmJhcg=="]).unwrap(), None);
        assert_eq!(parse(&["Bearerx a.b.c"]).unwrap(), None);
        assert_eq!(parse(&["Bearer abc=="]).unwrap(), Some("abc=="));
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            "Bearer ==",
            "Bearer a=b",
            "Bearer \u{e9}t\u{e9}",
            "Bearer a\"b",
        ] {
            assert!(
                matches!(parse(&[bad]), Err(Rejection::InvalidRequest(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse(&["Bearer a.b.c", "Bearer a.b.c"]),
            Err(Rejection::InvalidRequest(_))
        ));
    }

    #[test]
    fn compact_form() {
        assert!(check_compact("a.b.c", 100).is_ok());
        assert!(check_compact("aA0-_.b.c", 100).is_ok());
        for bad in [
            "a.b", "a.b.c.d", ".b.c", "a..c", "a.b.", "a+b.c.d", "a/b.c.d", "a=.b.c", "a.b.c ",
        ] {
            assert!(check_compact(bad, 100).is_err(), "{bad:?}");
        }
        assert!(check_compact("aaaa.bbbb.cccc", 13).is_err());
        // Long tokens: the vectorized pass flushes its per-lane dot counters.
        let long = format!(
            "{}.{}.{}",
            "a".repeat(3000),
            "b".repeat(3000),
            "c".repeat(3000)
        );
        assert!(check_compact(&long, 10_000).is_ok());
        let four = format!(
            "{}.{}.{}.d",
            "a".repeat(3000),
            "b".repeat(3000),
            "c".repeat(3000)
        );
        assert!(check_compact(&four, 10_000).is_err());
        let bad_late = format!(
            "{}.{}.{}!",
            "a".repeat(3000),
            "b".repeat(3000),
            "c".repeat(3000)
        );
        assert!(check_compact(&bad_late, 10_000).is_err());
        assert!(check_compact("aaaa.bbbb.cccc", 14).is_ok());
    }

    #[test]
    fn signed_hash_covers_header_and_payload_only() {
        assert_eq!(SignedHash::of("a.b.sig1"), SignedHash::of("a.b.sig2"));
        assert_eq!(
            SignedHash::of("a.b.c").to_hex(),
            // sha256("a.b")
            hex(&Sha256::digest(b"a.b"))
        );
        assert_ne!(SignedHash::of("a.b.c"), SignedHash::of("a.x.c"));
        // Not a JWS (an opaque token, which may hold dots): the whole token.
        assert_ne!(SignedHash::of("opaque.one"), SignedHash::of("opaque.two"));
        assert_ne!(SignedHash::of("a.b.c.d"), SignedHash::of("a.b.c.e"));
        assert_eq!(
            SignedHash::of("opaque").to_hex(),
            hex(&Sha256::digest(b"opaque"))
        );
    }

    #[test]
    fn hash_is_sha256() {
        assert_eq!(
            TokenHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
