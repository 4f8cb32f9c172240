//! [`JwksKeySource`]: a JWKS fetched over HTTP, refreshed in the background, read lock-free.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use futures_util::future::BoxFuture;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;

mod builder;
mod discovery;
mod fetch;

use self::fetch::fetch_bounded;
#[cfg(test)]
use self::fetch::max_age;
use super::key::VerificationKey;
use super::key::jwk::from_jwk;
use crate::error::ValidationError;

/// What a fetch brought back: the body and the `Cache-Control: max-age` it came with.
#[derive(Debug, Clone, Default)]
pub struct FetchedDocument {
    /// The response body (a JSON document).
    pub body: Vec<u8>,
    /// `Cache-Control: max-age`, when the response had one.
    pub max_age: Option<Duration>,
}

/// How a [`JwksKeySource`] fetches a document: an async function of the URL. Build one with
/// [`JwksKeySourceBuilder::fetch_with`], or let the source use `reqwest`.
type Fetch =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<FetchedDocument, FetchError>> + Send + Sync>;

/// Why a fetch of a key set or a discovery document failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// A status other than 2xx (and not a redirect).
    #[error("status {0}")]
    Status(u16),
    /// A redirect, which is never followed: the document must come from the configured URL.
    #[error("status {status}: redirect to {target} not followed")]
    Redirected {
        /// The 3xx status.
        status: u16,
        /// The origin it pointed to (`scheme://host:port`).
        target: String,
    },
    /// No answer within the fetch timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A document larger than the limit (1 MiB).
    #[error("document over {0} bytes")]
    TooLarge(usize),
    /// Connection, TLS, or anything else on the way, said in words (a fetch function of yours
    /// may return any text: `String` and `&str` convert into this).
    #[error("{0}")]
    Transport(String),
}

impl From<String> for FetchError {
    fn from(s: String) -> Self {
        FetchError::Transport(s)
    }
}

impl From<&str> for FetchError {
    fn from(s: &str) -> Self {
        FetchError::Transport(s.to_owned())
    }
}

/// The largest document read (a JWKS or a discovery document); larger ones are refused.
const MAX_DOCUMENT: usize = 1 << 20;

crate::counters! {
    /// Counters of a [`JwksKeySource`].
    pub struct JwksStats {
        /// Fetches of the key set (every attempt: start, background refresh, unknown `kid`).
        fetches,
        /// Fetches that failed (network, status, timeout, a document with no usable key).
        fetch_failures,
        /// Fetches triggered by an unknown `kid`.
        unknown_kid_refetches,
        /// Requests naming an unknown `kid` answered without a fetch (rate limit, remembered kid).
        unknown_kid_refused,
    }
}

/// The keys in use and what is known of how they were obtained.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    pub(crate) keys: Vec<VerificationKey>,
    /// Bumped by every successful fetch: how a request that waited for the refetch lock tells
    /// whether someone else fetched meanwhile.
    pub(crate) generation: u64,
}

impl KeySet {
    fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

#[derive(Debug, Clone)]
struct Settings {
    algorithms: Vec<Algorithm>,
    allow_symmetric: bool,
    default_refresh: Duration,
    min_refresh: Duration,
    max_refresh: Duration,
    retry: Duration,
    refetch_interval: Duration,
    unknown_kid_ttl: Duration,
    timeout: Duration,
    allow_http: bool,
}

impl Default for Settings {
    fn default() -> Self {
        use Algorithm::*;
        Settings {
            algorithms: vec![
                RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA,
            ],
            allow_symmetric: false,
            default_refresh: Duration::from_secs(300),
            min_refresh: Duration::from_secs(30),
            max_refresh: Duration::from_secs(3600),
            retry: Duration::from_secs(10),
            refetch_interval: Duration::from_secs(5),
            unknown_kid_ttl: Duration::from_secs(60),
            timeout: Duration::from_secs(3),
            allow_http: false,
        }
    }
}

/// Where the key set comes from.
#[derive(Debug, Clone)]
enum Location {
    Jwks(String),
    Issuer(String),
}

/// A JSON Web Key Set fetched from a URL (or found through OpenID Connect discovery), kept
/// current in the background, and read by the request path without a lock.
///
/// - The key set lives behind an atomic pointer swap ([`arc_swap`]): a request reads it with
///   no lock and no `await`; a refresh builds a new set and swaps it in.
/// - It is refreshed in the background before it expires: after the response's
///   `Cache-Control: max-age`, bounded by [`refresh_bounds`](JwksKeySourceBuilder::refresh_bounds)
///   (default 30 s – 1 h; 5 min when the response has none). A refresh that fails, or brings a
///   document with no usable key, keeps the last good set and is retried after
///   [`retry`](JwksKeySourceBuilder::retry) (10 s).
/// - A token naming a `kid` the set does not have triggers at most one refetch per
///   [`refetch_interval`](JwksKeySourceBuilder::refetch_interval) (5 s), single-flight: concurrent
///   requests wait for the same fetch. A `kid` still unknown after it is remembered for
///   [`unknown_kid_ttl`](JwksKeySourceBuilder::unknown_kid_ttl) (60 s) and refused without a
///   fetch, so a flood of random `kid`s costs a bounded number of fetches. An unknown `kid`
///   is `401 invalid_token` while the key set is healthy, `503` while its endpoint is failing
///   (the key may exist; we cannot tell).
/// - Keys are pinned to an algorithm: the JWK's `alg`, which must be one of
///   [`algorithms`](JwksKeySourceBuilder::algorithms); or, for a JWK with none (Entra,
///   Cognito), those of the configured algorithms that fit the key's type and curve. Only
///   `use: sig` (or no `use`) keys are taken; symmetric (`oct`) keys only after
///   [`allow_symmetric_keys`](JwksKeySourceBuilder::allow_symmetric_keys). `jku` and `x5u`
///   in a token are never followed.
/// - A key that leaves the set takes its cached validations with it: a cache hit is accepted
///   only while the key that verified it is in the current set.
///
/// Clones share the key set and the background task; the task ends when the last clone is
/// dropped.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use jwt_cache::{JwtCacheLayer, JwtValidator};
/// use jwt_cache::validator::JwksKeySource;
///
/// // From the issuer (OpenID Connect discovery: `issuer` must match, `jwks_uri` is used) ...
/// let keys = JwksKeySource::discover("https://id.example").start().await?;
/// // ... or from the JWKS URL itself:
/// // let keys = JwksKeySource::builder("https://id.example/jwks").start().await?;
/// let validator = JwtValidator::from_key_source(keys)
///     .issuer("https://id.example")
///     .audience("content");
/// let layer = JwtCacheLayer::builder(validator).build();
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwksKeySource {
    shared: Arc<Shared>,
}

struct Shared {
    url: String,
    identity: String,
    set: ArcSwap<KeySet>,
    healthy: AtomicBool,
    fetch: Fetch,
    settings: Settings,
    /// Single flight for refetches on an unknown kid, and when the last one started.
    refetch: tokio::sync::Mutex<Option<Instant>>,
    unknown: quick_cache::sync::Cache<String, Instant>,
    stats: JwksStats,
}

impl std::fmt::Debug for JwksKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksKeySource")
            .field("url", &super::http::redact(&self.shared.url))
            .field("keys", &self.shared.set.load().keys.len())
            .field("healthy", &self.shared.healthy.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Configures a [`JwksKeySource`]; [`start`](Self::start) fetches the first key set.
#[must_use]
pub struct JwksKeySourceBuilder {
    location: Location,
    settings: Settings,
    fetch: Option<Fetch>,
}

impl std::fmt::Debug for JwksKeySourceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksKeySourceBuilder")
            .field("location", &self.location)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl JwksKeySource {
    /// A key set fetched from `jwks_url`.
    pub fn builder(jwks_url: impl Into<String>) -> JwksKeySourceBuilder {
        JwksKeySourceBuilder {
            location: Location::Jwks(jwks_url.into()),
            settings: Settings::default(),
            fetch: None,
        }
    }

    /// The key set of an OpenID Connect issuer: `{issuer}/.well-known/openid-configuration`
    /// is read once at start, its `issuer` must equal `issuer` exactly (OpenID Connect
    /// Discovery §4.3), and its `jwks_uri` is the key set's URL.
    pub fn discover(issuer: impl Into<String>) -> JwksKeySourceBuilder {
        JwksKeySourceBuilder {
            location: Location::Issuer(issuer.into()),
            settings: Settings::default(),
            fetch: None,
        }
    }

    /// The JWKS URL in use.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// The `kid`s of the current key set (`None` for a key without one).
    pub fn kids(&self) -> Vec<Option<String>> {
        self.shared
            .set
            .load()
            .keys
            .iter()
            .map(|k| k.kid.clone())
            .collect()
    }

    /// Whether the last fetch succeeded.
    pub fn is_healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::Relaxed)
    }

    /// Counters.
    pub fn stats(&self) -> &JwksStats {
        &self.shared.stats
    }

    /// Fetch the key set now (what the background task does on its schedule). On failure the
    /// last good set is kept and the error returned.
    pub async fn refresh(&self) -> Result<(), ValidationError> {
        self.shared
            .refresh()
            .await
            .map(|_| ())
            .map_err(ValidationError::Unavailable)
    }

    /// Register `jwt_cache.jwks.fetches{result}`, `jwt_cache.jwks.unknown_kid{action}` and
    /// `jwt_cache.jwks.keys` on `meter`.
    #[cfg(feature = "metrics")]
    pub fn observe(&self, meter: &opentelemetry::metrics::Meter) {
        use crate::metrics::{KeyValue, observe_counter, observe_gauge};
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        observe_counter(
            meter,
            "jwt_cache.jwks.fetches",
            "Key set fetches (start, background refresh, unknown kid), by result",
            &self.shared,
            move |s: &Shared| {
                let all = get(&s.stats.fetches);
                let failed = get(&s.stats.fetch_failures);
                vec![
                    (
                        all.saturating_sub(failed),
                        vec![KeyValue::new("result", "ok")],
                    ),
                    (failed, vec![KeyValue::new("result", "error")]),
                ]
            },
        );
        observe_counter(
            meter,
            "jwt_cache.jwks.unknown_kid",
            "Tokens naming a kid the key set lacks: refetches made, and refusals without one",
            &self.shared,
            move |s: &Shared| {
                vec![
                    (
                        get(&s.stats.unknown_kid_refetches),
                        vec![KeyValue::new("action", "refetch")],
                    ),
                    (
                        get(&s.stats.unknown_kid_refused),
                        vec![KeyValue::new("action", "refused")],
                    ),
                ]
            },
        );
        observe_gauge(
            meter,
            "jwt_cache.jwks.keys",
            "Keys in the current key set",
            &self.shared,
            |s: &Shared| vec![(s.set.load().keys.len() as u64, vec![])],
        );
    }

    /// The current key set: one atomic load.
    pub(crate) fn current(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.shared.set.load()
    }

    /// A stable identity for the fingerprint: where the keys come from and what is taken from
    /// there (not the keys themselves, which rotate: a key leaving the set is handled by
    /// `key_is_current`).
    pub(crate) fn identity(&self) -> &str {
        &self.shared.identity
    }

    /// Whether a key identity is in the current set (lock-free: the cache-hit re-check).
    pub(crate) fn has_identity(&self, identity: &str) -> bool {
        self.shared
            .set
            .load()
            .keys
            .iter()
            .any(|k| k.identity == identity)
    }

    /// A token names `kid`, which `seen` (the set the caller looked in) does not have: refetch
    /// (single-flight, at most once per interval) and hand back the set to look in again, or
    /// say why not.
    pub(crate) async fn after_unknown_kid(
        &self,
        kid: &str,
        seen: u64,
    ) -> Result<Arc<KeySet>, ValidationError> {
        let s = &self.shared;
        let refuse = |s: &Shared| {
            s.stats.unknown_kid_refused.fetch_add(1, Ordering::Relaxed);
            s.no_such_key()
        };
        if s.unknown
            .get(kid)
            .is_some_and(|until| Instant::now() < until)
        {
            return Err(refuse(s));
        }
        let mut last = s.refetch.lock().await;
        let current = s.set.load_full();
        if current.generation != seen {
            // Another request (or the background task) fetched while this one waited.
            if current.has_kid(kid) {
                return Ok(current);
            }
            s.remember_unknown(kid);
            return Err(refuse(s));
        }
        if last.is_some_and(|t| t.elapsed() < s.settings.refetch_interval) {
            s.remember_unknown(kid);
            return Err(refuse(s));
        }
        *last = Some(Instant::now());
        s.stats
            .unknown_kid_refetches
            .fetch_add(1, Ordering::Relaxed);
        let fetched = s.refresh().await;
        drop(last);
        let current = s.set.load_full();
        if current.has_kid(kid) {
            return Ok(current);
        }
        s.remember_unknown(kid);
        match fetched {
            Ok(_) => Err(ValidationError::UnknownKey),
            Err(e) => Err(ValidationError::Unavailable(format!("key set: {e}"))),
        }
    }
}

impl Shared {
    fn no_such_key(&self) -> ValidationError {
        if self.healthy.load(Ordering::Relaxed) {
            ValidationError::UnknownKey
        } else {
            ValidationError::Unavailable("key set endpoint failing; unknown kid".into())
        }
    }

    fn remember_unknown(&self, kid: &str) {
        self.unknown.insert(
            kid.to_owned(),
            Instant::now() + self.settings.unknown_kid_ttl,
        );
    }

    /// Fetch, parse and swap in a key set; the delay until the next refresh on success.
    async fn refresh(&self) -> Result<Duration, String> {
        self.stats.fetches.fetch_add(1, Ordering::Relaxed);
        let result = async {
            let doc = fetch_bounded(&self.fetch, &self.url, self.settings.timeout)
                .await
                .map_err(|e| e.to_string())?;
            let keys = parse_jwks(&doc.body, &self.settings)?;
            Ok::<_, String>((keys, doc.max_age))
        }
        .await;
        match result {
            Ok((keys, max_age)) => {
                let generation = self.set.load().generation + 1;
                self.set.store(Arc::new(KeySet { keys, generation }));
                self.healthy.store(true, Ordering::Relaxed);
                let st = &self.settings;
                Ok(max_age
                    .unwrap_or(st.default_refresh)
                    .clamp(st.min_refresh, st.max_refresh))
            }
            Err(e) => {
                self.stats.fetch_failures.fetch_add(1, Ordering::Relaxed);
                self.healthy.store(false, Ordering::Relaxed);
                tracing::warn!(url = %super::http::redact(&self.url), error = %e, "JWKS refresh failed; keeping the last good key set");
                Err(e)
            }
        }
    }
}

/// How many usable keys a JWKS document holds under the default settings (the fuzz targets'
/// entry point).
#[cfg(feature = "fuzzing")]
pub(crate) fn parse_document(body: &[u8]) -> Result<usize, String> {
    parse_jwks(body, &Settings::default()).map(|keys| keys.len())
}

#[cfg(feature = "fuzzing")]
pub(crate) use self::discovery::parse_discovery;

/// The usable keys of a JWKS document; an error when it is not one or has none.
fn parse_jwks(body: &[u8], settings: &Settings) -> Result<Vec<VerificationKey>, String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        keys: Vec<serde_json::Value>,
    }
    let doc: Doc = serde_json::from_slice(body).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = Vec::new();
    for value in doc.keys {
        let kid = value
            .get("kid")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_owned();
        let parsed = serde_json::from_value::<Jwk>(value)
            .map_err(|e| e.to_string())
            .and_then(|jwk| from_jwk(&jwk, &settings.algorithms, settings.allow_symmetric));
        match parsed {
            Ok(key) => keys.push(key),
            Err(why) => tracing::debug!(kid, why, "JWKS key skipped"),
        }
    }
    if keys.is_empty() {
        return Err("the JWKS has no usable signing key".into());
    }
    Ok(keys)
}

impl JwksKeySource {
    fn spawn_refresher(&self, first: Duration) {
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            let mut delay = first;
            loop {
                tokio::time::sleep(delay).await;
                let Some(shared) = weak.upgrade() else { break };
                delay = match shared.refresh().await {
                    Ok(next) => next,
                    Err(_) => shared.settings.retry,
                };
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            max_age("max-age=\"30\", must-revalidate"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }

    #[test]
    fn garbage_and_empty_sets_are_refused() {
        let s = Settings::default();
        assert!(parse_jwks(b"<html>", &s).is_err());
        assert!(parse_jwks(br#"{"keys":[]}"#, &s).is_err());
        // A symmetric key only: refused by default, so the set has no usable key.
        let oct = br#"{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI","alg":"HS256"}]}"#;
        assert!(parse_jwks(oct, &s).is_err());
        let mut allow = s.clone();
        allow.allow_symmetric = true;
        allow.algorithms.push(Algorithm::HS256);
        assert_eq!(parse_jwks(oct, &allow).unwrap().len(), 1);
    }
}
