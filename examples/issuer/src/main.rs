//! `jwt-cache-issuer`: a small local OpenID issuer (see the library docs for its routes).
//!
//! `ADDR` or `--addr HOST:PORT` (default `127.0.0.1:4000`); `ISSUER_URL` (default
//! `http://ADDR`); `ISSUER_AUDIENCE` (default `jwt-cache-demo`); `INTROSPECTION_CLIENT_ID` /
//! `INTROSPECTION_CLIENT_SECRET` (default `demo` / `demo-secret`): the client allowed to
//! introspect.

use jwt_cache_example_issuer::{Issuer, IssuerConfig};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(e) = run().await {
        eprintln!("jwt-cache-issuer: {e}");
        std::process::exit(1);
    }
}

fn env(name: &str) -> Option<String> {
    jwt_cache_example_support::Vars::process().get(name)
}

async fn run() -> Result<(), String> {
    let addr = jwt_cache_example_support::listen_addr(
        &jwt_cache_example_support::Vars::process(),
        "127.0.0.1:4000",
        "usage: jwt-cache-issuer [--addr HOST:PORT]\n\n\
         env: ADDR, ISSUER_URL, ISSUER_AUDIENCE, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET",
    )?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("binding {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let mut config =
        IssuerConfig::new(env("ISSUER_URL").unwrap_or_else(|| format!("http://{local}")));
    if let Some(aud) = env("ISSUER_AUDIENCE") {
        config.audience = aud;
    }
    if let Some(id) = env("INTROSPECTION_CLIENT_ID") {
        config.client_id = id;
    }
    if let Some(secret) = env("INTROSPECTION_CLIENT_SECRET") {
        config.client_secret = secret;
    }
    let issuer = Issuer::new(config);
    let base = format!("http://{local}");
    println!(
        "jwt-cache issuer {} listening on {base}",
        issuer.config().issuer
    );
    println!("  discovery      {base}/.well-known/openid-configuration");
    println!("  JWKS           {base}/jwks");
    println!("  a JWT          curl -s -X POST '{base}/token?sub=alice'");
    println!("  an opaque one  curl -s -X POST '{base}/token?sub=alice&format=opaque'");
    println!(
        "  introspection  {base}/introspect (client {:?})",
        issuer.config().client_id
    );
    println!(
        "  rotate keys    curl -s -X POST '{base}/rotate'   (add ?retire=true to drop the old ones)"
    );
    println!("  slow / fail    curl -s -X POST '{base}/control?delay_ms=5&fail=false'");
    println!("  counters       curl -s {base}/stats");
    axum::serve(listener, issuer.router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
