//! OpenID Connect discovery: the `jwks_uri` of an issuer, from a document that must name that
//! very issuer.

use std::time::Duration;

use super::Fetch;
use super::fetch::fetch_bounded;
use crate::error::ConfigError;

/// The `jwks_uri` of an issuer, from its discovery document, checking that the document names
/// this very issuer.
pub(super) async fn discover(
    fetch: &Fetch,
    issuer: &str,
    timeout: Duration,
) -> Result<String, ConfigError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc = fetch_bounded(fetch, &url, timeout)
        .await
        .map_err(|e| ConfigError::KeySource(format!("discovery: {e}")))?;
    parse_discovery(&doc.body, issuer, &url)
}

/// The `jwks_uri` a discovery document `body` (fetched from `url`) gives for `issuer`, when it
/// names exactly that issuer. Untrusted input: any other document is an error.
pub(crate) fn parse_discovery(body: &[u8], issuer: &str, url: &str) -> Result<String, ConfigError> {
    #[derive(serde::Deserialize)]
    struct Discovery {
        issuer: String,
        jwks_uri: String,
    }
    let d: Discovery = serde_json::from_slice(body).map_err(|e| {
        ConfigError::KeySource(format!(
            "discovery document at {}: {e}",
            super::super::http::redact(url)
        ))
    })?;
    if d.issuer != issuer {
        return Err(ConfigError::KeySource(format!(
            "discovery document at {} names issuer {:?}, not {:?}",
            super::super::http::redact(url),
            d.issuer,
            super::super::http::redact(issuer)
        )));
    }
    Ok(d.jwks_uri)
}
