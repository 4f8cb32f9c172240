//! What the HTTP-backed validators share (key sets, discovery, introspection): the client, the
//! transport rule, and a body read with a size limit.

/// The client used when the user gives none. It follows **no redirect**: an introspection
/// request carries the user's token and our client secret, and a key set must come from the
/// configured origin; a 3xx answer is a failed call (logged with its status and the target's
/// origin).
pub(crate) fn default_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("jwt-cache/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// A response's body, refused past `max` bytes (untrusted input: read no more than that).
pub(crate) async fn read_limited(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("body over {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Key sets and introspection travel over HTTPS: over plain HTTP anyone on the path could hand
/// us keys (and sign tokens) or read our client secret. Plain `http://` is accepted for a
/// loopback host (a local issuer, tests) or when the user opts in. A URL with user-info
/// (`user:pass@`) is refused whatever the scheme: credentials go in their own settings, and
/// user-info is how a URL shows one host to a careless check and another to the client.
///
/// The URL is parsed with the parser the HTTP client uses (`reqwest::Url`), so the host checked
/// is the host connected to. `Err` says why not.
pub(crate) fn check_transport(url: &str, allow_http: bool) -> Result<(), String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("{:?} is not a URL: {e}", redact(url)))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{:?} carries credentials (user-info): give them in their own settings",
            redact(url)
        ));
    }
    match parsed.scheme() {
        "https" => return Ok(()),
        "http" if allow_http => return Ok(()),
        "http" => {}
        _ => return Err(format!("{:?} is not an http(s) URL", redact(url))),
    }
    let host = parsed.host_str().unwrap_or_default();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "{:?} is plain HTTP to a host that is not loopback: use https, or allow_http() if \
             the network path is trusted",
            redact(url)
        ))
    }
}

/// A URL fit for a log line or a banner: user-info, query and fragment hidden. Something that
/// does not parse is not printed at all.
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let hidden = !u.username().is_empty() || u.password().is_some();
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let had_query = u.query().is_some();
            u.set_query(None);
            u.set_fragment(None);
            let mut out = u.to_string();
            if hidden {
                // Say that something was there, not what.
                if let Some(i) = out.find("://") {
                    out.insert_str(i + 3, "***@");
                }
            }
            if had_query {
                out.push_str("?***");
            }
            out
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

/// Where a redirect pointed, as an origin only (`scheme://host:port`), for the log.
pub(crate) fn redirect_target(resp: &reqwest::Response) -> String {
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok());
    let target = match location {
        Some(l) => resp.url().join(l).ok(),
        None if resp.url().as_str().is_empty() => None,
        None => Some(resp.url().clone()),
    };
    target.map_or_else(|| "<none>".to_owned(), |u| u.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::{check_transport, redact};

    #[test]
    fn redaction_hides_user_info_and_query() {
        assert_eq!(
            redact("https://u:secret@id.example/introspect?key=abc#x"),
            "https://***@id.example/introspect?***"
        );
        assert_eq!(
            redact("http://127.0.0.1:4000/jwks"),
            "http://127.0.0.1:4000/jwks"
        );
        assert_eq!(redact("not a url secret"), "<unparsable URL>");
    }

    #[test]
    fn https_everywhere_plain_http_on_loopback_only() {
        assert!(check_transport("https://id.example/jwks", false).is_ok());
        assert!(check_transport("http://127.0.0.1:4000/jwks", false).is_ok());
        assert!(check_transport("http://localhost/jwks", false).is_ok());
        assert!(check_transport("http://[::1]:8080/introspect", false).is_ok());
        assert!(check_transport("http://id.example/jwks", false).is_err());
        assert!(check_transport("http://127.0.0.1.evil.example/jwks", false).is_err());
        assert!(check_transport("http://user@10.0.0.1/jwks", false).is_err());
        // The client's parser reads `evil.example` as the host here (a backslash ends the
        // authority of an http URL): plain HTTP to a host that is not loopback, refused.
        let e = check_transport("http://evil.example\\@127.0.0.1:9/introspect", false).unwrap_err();
        assert!(e.contains("not loopback"), "{e}");
        assert!(check_transport("https://user:pw@id.example/jwks", false).is_err());
        assert!(check_transport("http://127.0.0.1@evil.example/jwks", false).is_err());
        assert!(check_transport("ftp://id.example/jwks", false).is_err());
        assert!(check_transport("http://id.example/jwks", true).is_ok());
    }
}
