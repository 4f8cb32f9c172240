//! End-to-end through axum: the `Claims<T>` extractor, `Option<Claims<T>>`, and a real server
//! on loopback.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use jwt_cache::{JwtCacheLayer, StandardClaims};
use jwt_cache_axum::Claims;
use jwt_cache_tests::{AUD, claims, rs256, rs256_validator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

async fn me(Claims(c): Claims<StandardClaims>) -> String {
    c.sub
}

async fn hello(c: Option<Claims<StandardClaims>>) -> String {
    match c {
        Some(Claims(c)) => format!("hello {}", c.sub),
        None => "hello stranger".into(),
    }
}

fn app(optional: bool) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/hello", get(hello))
        .layer(
            JwtCacheLayer::builder(rs256_validator(AUD))
                .optional(optional)
                .build(),
        )
}

async fn call(
    app: &Router,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut req = Request::builder().uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), challenge)
}

#[tokio::test]
async fn claims_extractor_required_mode() {
    let app = app(false);
    let token = rs256(&claims("alice"));
    assert_eq!(call(&app, "/me", Some(&token)).await.1, "alice");
    assert_eq!(call(&app, "/hello", Some(&token)).await.1, "hello alice");
    let (status, _, challenge) = call(&app, "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    let (status, _, challenge) = call(&app, "/me", Some("x.y.z")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().contains("invalid_token"));
}

#[tokio::test]
async fn claims_extractor_optional_mode() {
    let app = app(true);
    assert_eq!(call(&app, "/hello", None).await.1, "hello stranger");
    // A route that needs claims answers 401 with a challenge when none were presented.
    let (status, _, challenge) = call(&app, "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    let token = rs256(&claims("bob"));
    assert_eq!(call(&app, "/hello", Some(&token)).await.1, "hello bob");
    // A bad token is refused even on an optional route.
    assert_eq!(
        call(&app, "/hello", Some("x.y.z")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn missing_layer_is_a_500_naming_the_type() {
    let app: Router = Router::new().route("/me", get(me));
    let (status, body, _) = call(&app, "/me", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("StandardClaims"), "{body}");
}

#[tokio::test]
async fn real_server_on_loopback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app(false)).await.unwrap() });
    let token = rs256(&claims("carol"));
    for (auth, expect_status, expect_body) in
        [(Some(token.as_str()), "200", "carol"), (None, "401", "")]
    {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut req = format!("GET /me HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
        if let Some(t) = auth {
            req.push_str(&format!("authorization: Bearer {t}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        assert!(
            out.starts_with(&format!("HTTP/1.1 {expect_status}")),
            "{out}"
        );
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b);
        assert_eq!(body, Some(expect_body), "{out}");
        if expect_status == "401" {
            assert!(
                out.to_ascii_lowercase()
                    .contains("www-authenticate: bearer"),
                "{out}"
            );
        }
    }
    server.abort();
}
