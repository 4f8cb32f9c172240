//! Fetching a document: bounded in time and size, over `reqwest` by default, never following a
//! redirect.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{Fetch, FetchError, FetchedDocument, MAX_DOCUMENT};

pub(super) async fn fetch_bounded(
    fetch: &Fetch,
    url: &str,
    timeout: Duration,
) -> Result<FetchedDocument, FetchError> {
    match tokio::time::timeout(timeout, fetch(url.to_owned())).await {
        Ok(Ok(doc)) if doc.body.len() > MAX_DOCUMENT => Err(FetchError::TooLarge(MAX_DOCUMENT)),
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout(timeout)),
    }
}

/// `max-age` from a `Cache-Control` value (`no-store`/`no-cache` count as 0).
pub(crate) fn max_age(cache_control: &str) -> Option<Duration> {
    let mut age = None;
    for directive in cache_control.split(',') {
        let d = directive.trim().to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            age = v
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age
}

/// A fetch over `reqwest`: a GET, 2xx only, at most [`MAX_DOCUMENT`] bytes read. No redirect
/// is followed: a 3xx is a failed fetch (the default client follows none; with a client of the
/// user's that does, a document that came from anywhere but `url` is refused).
pub(crate) fn reqwest_fetch(client: reqwest::Client) -> Fetch {
    Arc::new(move |url: String| {
        let client = client.clone();
        Box::pin(async move {
            let shown = super::super::http::redact(&url);
            let resp = client
                .get(&url)
                .header("accept", "application/json")
                .send()
                .await
                .map_err(|e| FetchError::Transport(format!("GET {shown}: {}", e.without_url())))?;
            let status = resp.status();
            if status.is_redirection() || resp.url().as_str() != url {
                let target = super::super::http::redirect_target(&resp);
                tracing::error!(url = %shown, %status, target = %target, "key set endpoint redirected: not followed");
                return Err(FetchError::Redirected {
                    status: status.as_u16(),
                    target,
                });
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            let max_age = resp
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok())
                .and_then(max_age);
            let body = super::super::http::read_limited(resp, MAX_DOCUMENT)
                .await
                .map_err(|e| FetchError::Transport(format!("GET {shown}: {e}")))?;
            Ok(FetchedDocument { body, max_age })
        }) as BoxFuture<'static, _>
    })
}
