//! What the HTTP-backed validators share (key sets, discovery, introspection): the client, the
//! transport rule, and a body read with a size limit.

/// The client used when the user gives none.
pub(crate) fn default_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("jwt-cache/", env!("CARGO_PKG_VERSION")))
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
/// loopback host (a local issuer, tests) or when the user opts in. `Err` says why not.
pub(crate) fn check_transport(url: &str, allow_http: bool) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") || allow_http {
        return Ok(());
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return Err(format!("{url:?} is not an http(s) URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "{url:?} is plain HTTP to a host that is not loopback: use https, or allow_http() if \
             the network path is trusted"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::check_transport;

    #[test]
    fn https_everywhere_plain_http_on_loopback_only() {
        assert!(check_transport("https://id.example/jwks", false).is_ok());
        assert!(check_transport("http://127.0.0.1:4000/jwks", false).is_ok());
        assert!(check_transport("http://localhost/jwks", false).is_ok());
        assert!(check_transport("http://[::1]:8080/introspect", false).is_ok());
        assert!(check_transport("http://id.example/jwks", false).is_err());
        assert!(check_transport("http://127.0.0.1.evil.example/jwks", false).is_err());
        assert!(check_transport("http://user@10.0.0.1/jwks", false).is_err());
        assert!(check_transport("ftp://id.example/jwks", false).is_err());
        assert!(check_transport("http://id.example/jwks", true).is_ok());
    }
}
