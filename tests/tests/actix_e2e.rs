//! actix-web end-to-end: the middleware and the extractors, and the shared cache between an
//! axum stack and an actix app on one Redis.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::{App, HttpResponse, test, web};
use jwt_cache::{JwtCacheBuilder, JwtCacheLayer, Rejection, StandardClaims};
use jwt_cache_actix::{Claims, JwtCacheMiddleware, RequireScope};
use jwt_cache_redis::RedisCache;
use jwt_cache_tests::harness::Stack;
use jwt_cache_tests::redis::RedisServer;
use jwt_cache_tests::{AUD, CountingValidator, claims, now, rs256, rs256_validator};
use serde_json::json;

async fn me(Claims(c): Claims<StandardClaims>) -> String {
    c.sub
}

async fn hello(c: Option<Claims<StandardClaims>>) -> String {
    match c {
        Some(Claims(c)) => format!("hello {}", c.sub),
        None => "hello stranger".into(),
    }
}

fn app_with(
    mw: JwtCacheMiddleware<StandardClaims>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(mw)
        .route("/me", web::get().to(me))
        .route("/hello", web::get().to(hello))
        .service(
            web::scope("/admin")
                .wrap(RequireScope::<StandardClaims>::role("admin"))
                .route("", web::get().to(me)),
        )
        .service(
            web::scope("/write")
                .wrap(RequireScope::<StandardClaims>::scope("write"))
                .route("", web::get().to(me)),
        )
}

struct Reply {
    status: u16,
    challenge: Option<String>,
    body: String,
}

async fn get<S, B>(app: &S, path: &str, token: Option<&str>) -> Reply
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: MessageBody,
{
    let mut req = test::TestRequest::get().uri(path);
    if let Some(t) = token {
        req = req.insert_header(("authorization", format!("Bearer {t}")));
    }
    let res = test::call_service(app, req.to_request()).await;
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = test::read_body(res).await;
    Reply {
        status,
        challenge,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn middleware(optional: bool) -> JwtCacheMiddleware<StandardClaims> {
    JwtCacheMiddleware::from(
        JwtCacheLayer::builder(rs256_validator(AUD))
            .optional(optional)
            .build(),
    )
}

#[actix_web::test]
async fn valid_invalid_expired_revoked_and_missing() {
    let mw = middleware(false);
    let auth = mw.authenticator().clone();
    let app = test::init_service(app_with(mw)).await;

    let token = rs256(&claims("alice"));
    let r = get(&app, "/me", Some(&token)).await;
    assert_eq!((r.status, r.body.as_str()), (200, "alice"));

    let r = get(&app, "/me", Some("x.y.z")).await;
    assert_eq!(r.status, 401);
    assert!(
        r.challenge
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\"")
    );

    let mut c = claims("old");
    c["exp"] = json!(now() - 60);
    let r = get(&app, "/me", Some(&rs256(&c))).await;
    assert_eq!(r.status, 401);
    assert!(r.challenge.unwrap().contains("token expired"));

    auth.revoke_token(&token).await.unwrap();
    let r = get(&app, "/me", Some(&token)).await;
    assert_eq!(r.status, 401);
    assert!(r.challenge.unwrap().contains("token revoked"));

    let r = get(&app, "/me", None).await;
    assert_eq!((r.status, r.challenge.as_deref()), (401, Some("Bearer")));

    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header(("authorization", "Bearer a b"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("invalid_request")
    );
}

#[actix_web::test]
async fn optional_auth() {
    let app = test::init_service(app_with(middleware(true))).await;
    assert_eq!(get(&app, "/hello", None).await.body, "hello stranger");
    let r = get(&app, "/me", None).await;
    assert_eq!((r.status, r.challenge.as_deref()), (401, Some("Bearer")));
    let token = rs256(&claims("bob"));
    assert_eq!(get(&app, "/hello", Some(&token)).await.body, "hello bob");
    assert_eq!(get(&app, "/hello", Some("x.y.z")).await.status, 401);
}

#[actix_web::test]
async fn missing_middleware_is_a_500_and_custom_rejections_work() {
    let app = test::init_service(App::new().route("/me", web::get().to(me))).await;
    let r = get(&app, "/me", None).await;
    assert_eq!(r.status, 500);
    assert!(r.body.contains("StandardClaims"));

    let mw = middleware(false).on_rejection(|r: Rejection| {
        HttpResponse::build(actix_web::http::StatusCode::from_u16(r.status()).unwrap())
            .body(format!("nope: {}", r.description()))
    });
    let app = test::init_service(app_with(mw)).await;
    let r = get(&app, "/me", Some("x.y.z")).await;
    assert_eq!((r.status, r.body.as_str()), (401, "nope: malformed token"));
}

#[actix_web::test]
async fn a_token_validated_by_the_axum_stack_is_a_hit_for_the_actix_app() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let redis = |url: String| async move {
        RedisCache::<StandardClaims>::connect(&url)
            .await
            .unwrap()
            .timeout(Duration::from_millis(500))
            .integrity_key(&jwt_cache_tests::integrity_key(5))
            .unwrap()
            .build()
    };
    // The axum side, with a validator that presents itself as remote (an auth service): what
    // shared claims are for.
    let axum_validator = CountingValidator::new(rs256_validator(AUD)).remote();
    let axum_cache = redis(server.url()).await;
    let layer = JwtCacheLayer::builder(axum_validator.clone())
        .cache(axum_cache.clone())
        .build();
    let axum = Stack::new(layer.clone());
    // The actix side: its own client, the same validator configuration.
    let actix_validator = CountingValidator::new(rs256_validator(AUD)).remote();
    let mw = JwtCacheMiddleware::from(
        JwtCacheBuilder::<StandardClaims>::new(actix_validator.clone())
            .cache(redis(server.url()).await)
            .build_authenticator(),
    );
    let app = test::init_service(app_with(mw)).await;

    let token = rs256(&claims("alice"));
    assert_eq!(axum.send(Some(&token)).await.body, "alice");
    let key = axum_cache.entry_key(&layer.authenticator().cache_key(&token));
    jwt_cache_tests::redis::wait_for_key(axum_cache.client(), &key).await;
    for _ in 0..3 {
        assert_eq!(get(&app, "/me", Some(&token)).await.body, "alice");
    }
    assert_eq!((axum_validator.calls(), actix_validator.calls()), (1, 0));

    // And a logout on the axum side is a 401 on the actix side.
    layer.authenticator().revoke_token(&token).await.unwrap();
    assert_eq!(get(&app, "/me", Some(&token)).await.status, 401);
}

#[actix_web::test]
async fn a_missing_scope_or_role_is_a_403_insufficient_scope() {
    let mw = JwtCacheMiddleware::from(JwtCacheLayer::builder(rs256_validator(AUD)).build());
    let app = test::init_service(app_with(mw)).await;
    let reader = rs256(&{
        let mut c = claims("reader");
        c["scope"] = serde_json::json!("read write");
        c
    });
    let admin = rs256(&{
        let mut c = claims("boss");
        c["roles"] = serde_json::json!(["admin"]);
        c
    });
    assert_eq!(get(&app, "/write", Some(&reader)).await.status, 200);
    let r = get(&app, "/admin", Some(&reader)).await;
    assert_eq!(r.status, 403);
    let challenge = r.challenge.unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"admin\""), "{challenge}");
    assert_eq!(get(&app, "/admin", Some(&admin)).await.body, "boss");
    assert_eq!(get(&app, "/write", Some(&admin)).await.status, 403);
    assert_eq!(get(&app, "/admin", None).await.status, 401);
}
