//! jwt-cache among tower-http layers: the demo's own stack (CORS preflight, request ids,
//! roles), and tower-http's `AsyncRequireAuthorizationLayer` driving the same authenticator.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use http::{Request, Response, StatusCode};
use jwt_cache::middleware::JwtAuthorizer;
use jwt_cache::{JwtCacheBuilder, StandardClaims};
use jwt_cache_tests::{AUD, CountingValidator, claims, rs256, rs256_validator};
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::auth::AsyncRequireAuthorizationLayer;

fn demo() -> axum::Router {
    let auth = JwtCacheBuilder::<StandardClaims>::new(rs256_validator(AUD)).build_authenticator();
    jwt_cache_demo::app(auth, None)
}

async fn send(app: axum::Router, req: Request<Body>) -> Response<Body> {
    app.oneshot(req).await.unwrap()
}

#[tokio::test]
async fn a_cors_preflight_to_a_protected_route_gets_the_cors_answer_not_a_401() {
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/me")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .body(Body::empty())
        .unwrap();
    let res = send(demo(), preflight).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("access-control-allow-origin"));
    assert!(!res.headers().contains_key("www-authenticate"));
    // The real request without a token is still refused, with CORS headers so the browser can
    // read the 401, and with a request id.
    let get = Request::builder()
        .uri("/me")
        .header("origin", "https://app.example")
        .body(Body::empty())
        .unwrap();
    let res = send(demo(), get).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("access-control-allow-origin"));
    assert!(res.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn the_demo_routes_require_the_role_they_name() {
    let token = rs256(&claims("alice"));
    let admin = rs256(&{
        let mut c = claims("boss");
        c["roles"] = json!(["admin"]);
        c
    });
    let get = |t: &str| {
        Request::builder()
            .uri("/admin")
            .header("authorization", format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap()
    };
    let res = send(demo(), get(&token)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert_eq!(send(demo(), get(&admin)).await.status(), StatusCode::OK);
}

/// The service behind tower-http's `AsyncRequireAuthorizationLayer` with a `JwtAuthorizer`.
fn authorized(
    auth: jwt_cache::Authenticator<StandardClaims>,
) -> tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible> {
    tower::util::BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(AsyncRequireAuthorizationLayer::new(JwtAuthorizer::<
                _,
                String,
            >::new(auth)))
            .service_fn(|req: Request<String>| async move {
                let sub = req
                    .extensions()
                    .get::<Arc<StandardClaims>>()
                    .map(|c| c.sub.clone())
                    .unwrap_or_else(|| "anonymous".into());
                Ok::<_, Infallible>(Response::new(sub))
            }),
    )
}

async fn call(
    svc: &tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>,
    headers: &[(&str, String)],
) -> Response<String> {
    let mut req = Request::builder().uri("/me");
    for (n, v) in headers {
        req = req.header(*n, v);
    }
    svc.clone()
        .oneshot(req.body(String::new()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn tower_http_async_require_authorization_drives_the_same_authenticator() {
    let v = CountingValidator::new(rs256_validator(AUD));
    let auth = JwtCacheBuilder::<StandardClaims>::new(v.clone())
        .token_from_cookie("session")
        .build_authenticator();
    let svc = authorized(auth);
    let token = rs256(&claims("alice"));
    let bearer = || vec![("authorization", format!("Bearer {token}"))];
    // A miss, then hits: one validation.
    for _ in 0..3 {
        assert_eq!(call(&svc, &bearer()).await.into_body(), "alice");
    }
    assert_eq!(v.calls(), 1);
    // The cookie source, and the same RFC 6750 answers.
    let cookie = vec![("cookie", format!("session={token}"))];
    assert_eq!(call(&svc, &cookie).await.into_body(), "alice");
    let none = call(&svc, &[]).await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let bad = call(&svc, &[("authorization", "Bearer a.b.c".to_owned())]).await;
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let both = call(&svc, &[bearer(), cookie].concat()).await;
    assert!(
        both.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_request")
    );
    // Optional authentication passes a request without a token through, anonymous.
    let optional = authorized(
        JwtCacheBuilder::<StandardClaims>::new(rs256_validator(AUD))
            .optional(true)
            .build_authenticator(),
    );
    assert_eq!(call(&optional, &[]).await.into_body(), "anonymous");
}
