//! [`JwksKeySourceBuilder`]: where the key set comes from, how it is fetched, and starting it.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;

use super::discovery::discover;
use super::fetch::reqwest_fetch;
use super::{
    FetchError, FetchedDocument, JwksKeySource, JwksKeySourceBuilder, JwksStats, KeySet, Location,
    Shared,
};
use crate::error::ConfigError;

impl JwksKeySourceBuilder {
    /// The algorithms keys may be pinned to (default: every asymmetric one: RS*, PS*, ES256,
    /// ES384, EdDSA). A JWK whose `alg` is not among them is skipped; a JWK with no `alg` is
    /// pinned to those of them that fit it.
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.settings.algorithms = algorithms.to_vec();
        self
    }

    /// Take symmetric (`oct`) keys from the JWKS (refused by default: a JWKS is usually public,
    /// and an HMAC key in it lets anyone sign). HS* must also be among the
    /// [`algorithms`](Self::algorithms).
    pub fn allow_symmetric_keys(mut self) -> Self {
        self.settings.allow_symmetric = true;
        self
    }

    /// Bounds on the background refresh interval taken from `Cache-Control: max-age`
    /// (default 30 s – 1 h).
    pub fn refresh_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.settings.min_refresh = min;
        self.settings.max_refresh = max.max(min);
        self
    }

    /// The refresh interval when the response carries no `max-age` (default 5 min, within
    /// the bounds).
    pub fn default_refresh(mut self, every: Duration) -> Self {
        self.settings.default_refresh = every;
        self
    }

    /// The delay before retrying a failed background refresh (default 10 s).
    pub fn retry(mut self, after: Duration) -> Self {
        self.settings.retry = after;
        self
    }

    /// At most one refetch per this interval for tokens naming an unknown `kid` (default 5 s).
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.settings.refetch_interval = interval;
        self
    }

    /// How long a `kid` still unknown after a refetch is refused without another (default 60 s).
    pub fn unknown_kid_ttl(mut self, ttl: Duration) -> Self {
        self.settings.unknown_kid_ttl = ttl;
        self
    }

    /// Timeout of one fetch (default 3 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// Accept plain `http://` URLs to hosts that are not loopback (default: https only, or
    /// http to `localhost`/`127.0.0.1`/`::1`). Over plain HTTP anyone on the path can hand this
    /// service keys, and so sign tokens it accepts: only for a network path you trust.
    pub fn allow_http(mut self) -> Self {
        self.settings.allow_http = true;
        self
    }

    /// Fetch with this `reqwest` client (proxies, custom roots, a user agent of yours).
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.fetch = Some(reqwest_fetch(client));
        self
    }

    /// Fetch with your own function of the URL (another HTTP client, a file, a test double of
    /// yours): it returns the body and the `max-age` it came with, or a [`FetchError`] (`?`
    /// converts a `String` or `&str` error into one).
    pub fn fetch_with<F, Fut>(mut self, fetch: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<FetchedDocument, FetchError>> + Send + 'static,
    {
        self.fetch = Some(Arc::new(move |url| Box::pin(fetch(url))));
        self
    }

    /// Resolve discovery, fetch the first key set, and start the background refresh (needs a
    /// Tokio runtime). Fails when discovery fails, the issuer does not match, or the first key
    /// set cannot be had: a service should not start unable to authenticate anyone. Use
    /// [`start_retrying`](Self::start_retrying) to start anyway.
    pub async fn start(self) -> Result<JwksKeySource, ConfigError> {
        let source = self.resolve().await?;
        let next = source.shared.refresh().await.map_err(|e| {
            ConfigError::KeySource(format!(
                "first key set from {}: {e}",
                super::super::http::redact(&source.shared.url)
            ))
        })?;
        source.spawn_refresher(next);
        Ok(source)
    }

    /// Like [`start`](Self::start), but a failing first fetch is not an error: the source
    /// starts with no keys (requests get `503` until a fetch succeeds) and retries in the
    /// background. Discovery must still succeed.
    pub async fn start_retrying(self) -> Result<JwksKeySource, ConfigError> {
        let source = self.resolve().await?;
        let next = source
            .shared
            .refresh()
            .await
            .unwrap_or(source.shared.settings.retry);
        source.spawn_refresher(next);
        Ok(source)
    }

    /// The former name of [`start_retrying`](Self::start_retrying): it starts (awaiting
    /// discovery), it does not spawn.
    #[deprecated(since = "0.2.0", note = "renamed `start_retrying`")]
    pub async fn spawn(self) -> Result<JwksKeySource, ConfigError> {
        self.start_retrying().await
    }

    async fn resolve(self) -> Result<JwksKeySource, ConfigError> {
        let fetch = match self.fetch {
            Some(f) => f,
            None => {
                reqwest_fetch(super::super::http::default_client().map_err(ConfigError::KeySource)?)
            }
        };
        let transport = |url: &str| {
            super::super::http::check_transport(url, self.settings.allow_http)
                .map_err(ConfigError::KeySource)
        };
        let (url, origin) = match self.location {
            Location::Jwks(url) => {
                transport(&url)?;
                (url.clone(), format!("jwks {url}"))
            }
            Location::Issuer(iss) => {
                transport(&iss)?;
                let jwks_uri = discover(&fetch, &iss, self.settings.timeout).await?;
                transport(&jwks_uri)?;
                (jwks_uri, format!("issuer {iss}"))
            }
        };
        let mut algs: Vec<&str> = self
            .settings
            .algorithms
            .iter()
            .map(|a| super::super::key::alg_name(*a))
            .collect();
        algs.sort_unstable();
        let identity = format!(
            "{origin}\u{0}{url}\u{0}{}\u{0}symmetric={}",
            algs.join(","),
            self.settings.allow_symmetric
        );
        Ok(JwksKeySource {
            shared: Arc::new(Shared {
                url,
                identity,
                set: ArcSwap::from_pointee(KeySet::default()),
                healthy: AtomicBool::new(false),
                fetch,
                settings: self.settings,
                refetch: tokio::sync::Mutex::new(None),
                unknown: quick_cache::sync::Cache::new(4096),
                stats: JwksStats::default(),
            }),
        })
    }
}
