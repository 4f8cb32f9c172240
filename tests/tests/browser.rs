//! Cookie tokens and cross-site request forgery in a real browser: headless Chromium (Debian
//! `chromium`, `chromium-driver`) driven over WebDriver, against the demo on `127.0.0.1` and
//! pages served from `localhost` (another site). `scripts/test.sh` installs both packages; a
//! missing `chromedriver` fails this test, never skips it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use jwt_cache_example_support::{Vars, from_vars};
use jwt_cache_tests::tools::{Process, free_port};
use serde_json::{Value, json};

/// A `chromedriver` on a free loopback port, killed on drop with the browser it started.
struct Driver {
    _process: Process,
    port: u16,
    profile: std::path::PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The browser outlives a killed driver (a failed test never closes its session):
        // end every process started with this test's profile.
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self.profile.as_os_str())
            .status();
    }
}

fn start_driver() -> Driver {
    let port = free_port();
    let chromedriver = jwt_cache_tests::tools::require("chromedriver", "chromium-driver");
    jwt_cache_tests::tools::require("chromium", "chromium");
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "chromedriver not found ({e}): install Debian's chromium and chromium-driver \
                 (scripts/test.sh does)"
            )
        });
    let profile = std::env::temp_dir().join(format!("jwt-cache-chromium-{port}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        _process: Process::new(child, Some(profile.clone())),
        port,
        profile,
    }
}

async fn browser(driver: &Driver) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                format!("--user-data-dir={}", driver.profile.display()),
            ],
            // Allow third-party cookies: the allowed origin here is another *site*
            // (localhost vs 127.0.0.1), where a browser that blocks third-party cookies would
            // not send the cookie at all; an allowed origin is usually a sibling subdomain
            // (same site), where it does.
            "prefs": {"profile.cookie_controls_mode": 0, "profile.block_third_party_cookies": false},
        }),
    );
    fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}

/// Serve `router` on `listener`.
fn serve(listener: tokio::net::TcpListener, router: Router) {
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
}

/// Run `script` (an async body whose last argument is the callback) in the current page.
async fn run(client: &fantoccini::Client, script: &str) -> Value {
    client
        .execute_async(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// A `fetch` from the current page: `[status, body]`.
async fn fetch(client: &fantoccini::Client, url: &str, init: Value) -> (u64, String) {
    let script = format!(
        "const done = arguments[arguments.length - 1];
         fetch({url:?}, {init})
           .then(async r => done([r.status, await r.text()]))
           .catch(e => done([0, String(e)]));"
    );
    let v = run(client, &script).await;
    (v[0].as_u64().unwrap(), v[1].as_str().unwrap().to_owned())
}

/// The demo's request counter for one refusal reason, from its Prometheus text.
fn refusals(text: &str, reason: &str) -> u64 {
    text.lines()
        .filter(|l| {
            l.starts_with("jwt_cache_requests_total") && l.contains(&format!("reason=\"{reason}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_cannot_forge_a_cookie_authenticated_post_but_allowed_origins_can() {
    // Two sites: the demo on 127.0.0.1, the pages on localhost (one allowed origin, one not).
    let allowed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let allowed_origin = format!("http://localhost:{}", allowed.local_addr().unwrap().port());
    let evil_origin = format!("http://localhost:{}", evil.local_addr().unwrap().port());
    let config = from_vars(
        "demo",
        &Vars::from_pairs([
            ("JWT_COOKIE", "session"),
            ("JWT_COOKIE_ALLOWED_ORIGINS", allowed_origin.as_str()),
        ]),
    )
    .await
    .unwrap();
    let issuer = config.issuer.clone().expect("dev mode");
    let token = issuer.token("alice", Duration::from_secs(600));
    let telemetry = config.telemetry.clone();
    let demo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://127.0.0.1:{}", demo.local_addr().unwrap().port());
    serve(
        demo,
        Router::new()
            .route(
                "/page",
                get(|| async { Html("<title>same origin</title>") }),
            )
            .merge(jwt_cache_demo::app_with_origins(
                config.auth,
                config.issuer,
                &config.cookie_origins,
            )),
    );
    // The pages: a form that posts itself to the demo's logout, and an empty page to fetch
    // from.
    let forge = format!(
        "<form id=f method=post action=\"{api}/logout\"></form>\
         <script>document.getElementById('f').submit()</script>"
    );
    let pages = Router::new()
        .route("/forge", get(move || async move { Html(forge) }))
        .route("/blank", get(|| async { Html("<title>blank</title>") }));
    serve(allowed, pages.clone());
    serve(evil, pages);

    let driver = start_driver();
    let client = browser(&driver).await;

    // The victim's browser holds the token as a cookie for the demo's origin (SameSite=None,
    // so that the browser itself does not hold it back: the server's rule is what is tested).
    client.goto(&format!("{api}/page")).await.unwrap();
    let set = run(
        &client,
        &format!(
            "document.cookie = 'session={token}; path=/; SameSite=None; Secure';
             arguments[arguments.length - 1](document.cookie.includes('session='));"
        ),
    )
    .await;
    assert_eq!(set, json!(true), "the browser took the cookie");

    // 1. Same-origin fetch with the cookie: authenticated.
    let (status, body) = fetch(&client, "/me", json!({"credentials": "same-origin"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"sub\":\"alice\""), "{body}");

    // 2. A cross-site form POST (a page on another site submits to /logout): refused, and the
    //    token still works.
    client.goto(&format!("{evil_origin}/forge")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while refusals(&telemetry.text().unwrap(), "cross_site") == 0 {
        assert!(
            Instant::now() < deadline,
            "the forged POST never reached the demo"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let still = reqwest::Client::new()
        .get(format!("{api}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200, "the forged logout went through");

    // 3. A cross-origin fetch with credentials from the allowed origin: the CORS preflight
    //    (a JSON content type makes one) passes, and the cookie authenticates, POST included.
    client
        .goto(&format!("{allowed_origin}/blank"))
        .await
        .unwrap();
    let (status, body) = fetch(
        &client,
        &format!("{api}/me"),
        json!({"credentials": "include", "headers": {"Content-Type": "application/json"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"sub\":\"alice\""), "{body}");
    let (status, body) = fetch(
        &client,
        &format!("{api}/logout"),
        json!({"method": "POST", "credentials": "include", "headers": {"Content-Type": "application/json"}}),
    )
    .await;
    assert_eq!(status, 204, "status {status}: {body}");
    let after = reqwest::Client::new()
        .get(format!("{api}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        401,
        "the allowed origin's logout took effect"
    );

    // 4. The same fetch from the other origin: CORS withholds the answer, and the server
    //    refuses the cookie on the unsafe method anyway.
    let fresh = issuer.token("bob", Duration::from_secs(600));
    client.goto(&format!("{api}/page")).await.unwrap();
    run(
        &client,
        &format!(
            "document.cookie = 'session={fresh}; path=/; SameSite=None; Secure';
             arguments[arguments.length - 1](true);"
        ),
    )
    .await;
    client.goto(&format!("{evil_origin}/blank")).await.unwrap();
    let before = refusals(&telemetry.text().unwrap(), "cross_site");
    let (status, _) = fetch(
        &client,
        &format!("{api}/logout"),
        json!({"method": "POST", "credentials": "include", "mode": "no-cors"}),
    )
    .await;
    assert_eq!(status, 0, "an opaque answer");
    let deadline = Instant::now() + Duration::from_secs(10);
    while refusals(&telemetry.text().unwrap(), "cross_site") == before {
        assert!(
            Instant::now() < deadline,
            "the no-cors POST never reached the demo"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bob = reqwest::Client::new()
        .get(format!("{api}/me"))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(
        bob.status(),
        200,
        "a no-cors logout from another site went through"
    );
    client.close().await.unwrap();
}
