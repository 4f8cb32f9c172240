//! The holes a second attacker's review found (security issue 17), each held by a test that
//! fails without its fix. The fleet view's history reset (item 1) is in `tiered.rs`
//! (`a_revocation_made_after_redis_lost_its_data_reaches_an_instance_that_kept_its_connection`);
//! the cookie rule in a real browser is in `browser.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::response::IntoResponse;
use http::StatusCode;
use jwt_cache::middleware::RequireScope;
use jwt_cache::validator::{IntrospectionValidator, JwksKeySource};
use jwt_cache::{
    ConfigError, JwtCacheBuilder, JwtCacheLayer, JwtValidator, MemoryCache, Rejection,
    StandardClaims,
};
use jwt_cache_example_issuer::Issuer;
use jwt_cache_example_support::{Vars, from_vars};
use jwt_cache_tests::harness::Stack;
use jwt_cache_tests::{AUD, claims, now, rs256, rs256_validator};
use serde_json::json;

/// Serve `router` on a loopback port; its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// A server that answers every request with `307` to the same path under `target`.
async fn redirector(target: String) -> String {
    serve(Router::new().fallback(move |uri: http::Uri| {
        let target = target.clone();
        async move {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(http::header::LOCATION, format!("{target}{}", uri.path()))],
            )
        }
    }))
    .await
}

// Item 2: redirects.

#[tokio::test]
async fn introspection_never_follows_a_redirect_with_the_token_and_the_secret() {
    // The issuer stands for the attacker's endpoint: it counts what reaches it.
    let (attacker, attacker_base) = Issuer::spawn(|_| {}).await.unwrap();
    let victim = redirector(attacker_base).await;
    let v = IntrospectionValidator::<StandardClaims>::builder(format!("{victim}/introspect"))
        .client_credentials("demo", "demo-secret")
        .audience("jwt-cache-demo")
        .build()
        .unwrap();
    let stack = Stack::new(JwtCacheLayer::builder(v).build());
    let r = stack
        .send(Some(&attacker.opaque_token(Some("alice"))))
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    assert_eq!(
        attacker.stats().introspections,
        0,
        "the token and the client secret were re-sent to the redirect's target"
    );
}

#[tokio::test]
async fn a_key_set_endpoint_redirecting_elsewhere_hands_us_no_key() {
    let (attacker, attacker_base) = Issuer::spawn(|_| {}).await.unwrap();
    let victim = redirector(attacker_base.clone()).await;
    let started = JwksKeySource::builder(format!("{victim}/jwks"))
        .start()
        .await;
    let err = started.unwrap_err().to_string();
    assert!(err.contains("redirect"), "{err}");
    // Started anyway (retrying in the background): a token signed with the attacker's key is
    // never accepted.
    let source = JwksKeySource::builder(format!("{victim}/jwks"))
        .start_retrying()
        .await
        .unwrap();
    let v = JwtValidator::from_key_source(source)
        .issuer(attacker_base.clone())
        .audience("jwt-cache-demo");
    let stack = Stack::new(JwtCacheLayer::builder(v).build());
    let r = stack.send(Some(&attacker.token("mallory"))).await;
    assert_ne!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        attacker.stats().jwks,
        0,
        "the attacker's key set was fetched"
    );
    // Discovery redirecting elsewhere: refused too.
    let err = JwksKeySource::discover(victim.clone())
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("redirect"), "{err}");
    assert_eq!(attacker.stats().discovery, 0);
}

// Item 3: the transport check reads the URL the client uses.

#[test]
fn urls_are_checked_as_the_client_parses_them_and_carry_no_credentials() {
    // The client's parser sends this to evil.example (a backslash ends an http authority).
    for url in [
        "http://evil.example\\@127.0.0.1:9/introspect",
        "http://user:pass@127.0.0.1:9/introspect",
        "https://client:secret@id.example/introspect",
    ] {
        let err = IntrospectionValidator::<StandardClaims>::builder(url)
            .audience(AUD)
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not loopback") || err.contains("credentials"),
            "{url}: {err}"
        );
        assert!(!err.contains("secret") && !err.contains("pass@"), "{err}");
    }
}

#[tokio::test]
async fn key_set_urls_with_credentials_are_refused_at_configuration() {
    for url in [
        "http://evil.example\\@127.0.0.1:9/jwks",
        "https://u:p@id.example/jwks",
    ] {
        let err = JwksKeySource::builder(url).start().await.unwrap_err();
        assert!(matches!(err, ConfigError::KeySource(_)), "{url}: {err}");
    }
}

// Item 4: introspection applies the same claim rules as a local validator.

/// An introspection endpoint answering `answer` (what the test sets), counting calls.
#[derive(Clone)]
struct Scripted {
    answer: Arc<Mutex<String>>,
    calls: Arc<AtomicUsize>,
    url: String,
}

impl Scripted {
    async fn start() -> Self {
        let answer = Arc::new(Mutex::new(String::new()));
        let calls = Arc::new(AtomicUsize::new(0));
        let (a, c) = (answer.clone(), calls.clone());
        let base = serve(Router::new().route(
            "/introspect",
            axum::routing::post(move || {
                let (a, c) = (a.clone(), c.clone());
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    (
                        [(http::header::CONTENT_TYPE, "application/json")],
                        a.lock().unwrap().clone(),
                    )
                        .into_response()
                }
            }),
        ))
        .await;
        Scripted {
            answer,
            calls,
            url: format!("{base}/introspect"),
        }
    }

    fn answer(&self, v: serde_json::Value) {
        *self.answer.lock().unwrap() = v.to_string();
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn builder(&self) -> jwt_cache::validator::IntrospectionValidatorBuilder<StandardClaims> {
        IntrospectionValidator::<StandardClaims>::builder(&self.url)
    }
}

fn active(extra: serde_json::Value) -> serde_json::Value {
    let mut v = json!({"active": true, "sub": "alice", "exp": now() + 600, "iat": now()});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// A fresh opaque token per call (each is a miss).
fn opaque(n: usize) -> String {
    format!("opaque-token-{n}-{}", now())
}

#[tokio::test]
async fn introspection_without_an_audience_refuses_answers_naming_one() {
    let server = Scripted::start().await;
    let stack = Stack::new(JwtCacheLayer::builder(server.builder().build().unwrap()).build());
    server.answer(active(json!({"aud": "billing-api"})));
    let r = stack.send(Some(&opaque(1))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert!(r.challenge.unwrap().contains("wrong audience"));
    // An answer naming no audience is the token of no particular API: accepted, as a JWT
    // without `aud` is by `JwtValidator`.
    server.answer(active(json!({})));
    assert_eq!(stack.send(Some(&opaque(2))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_tokens_are_refused_where_the_answer_identifies_them() {
    let server = Scripted::start().await;
    let v = server.builder().audience("content").build().unwrap();
    let stack = Stack::new(JwtCacheLayer::builder(v).build());
    let refresh_shapes = [
        json!({"token_type": "refresh_token"}),
        json!({"typ": "Refresh"}),
        json!({"token_use": "refresh"}),
    ];
    for (i, shape) in refresh_shapes.into_iter().enumerate() {
        let mut answer = active(json!({"aud": "content"}));
        for (k, x) in shape.as_object().unwrap() {
            answer[k] = x.clone();
        }
        server.answer(answer);
        let r = stack.send(Some(&opaque(10 + i))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{shape}: {r:?}");
        assert!(r.challenge.unwrap().contains("wrong token type"), "{shape}");
    }
    server.answer(active(json!({"aud": "content", "token_type": "Bearer"})));
    assert_eq!(stack.send(Some(&opaque(20))).await.status, StatusCode::OK);

    // With a list of accepted types, an answer must name one of them.
    let strict = server
        .builder()
        .audience("content")
        .token_types(["access_token"])
        .build()
        .unwrap();
    let stack = Stack::new(JwtCacheLayer::builder(strict).build());
    server.answer(active(
        json!({"aud": "content", "token_type": "access_token"}),
    ));
    assert_eq!(stack.send(Some(&opaque(21))).await.status, StatusCode::OK);
    server.answer(active(json!({"aud": "content"})));
    assert_eq!(
        stack.send(Some(&opaque(22))).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_answers_nbf_and_exp_get_the_leeway() {
    let server = Scripted::start().await;
    let v = server.builder().audience("content").build().unwrap();
    let stack = Stack::new(JwtCacheLayer::builder(v).build());
    // The authorization server's clock is 30 s ahead: within the default 60 s leeway.
    server.answer(active(
        json!({"aud": "content", "nbf": now() + 30, "iat": now() + 30}),
    ));
    let r = stack.send(Some(&opaque(30))).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    server.answer(active(json!({"aud": "content", "nbf": now() + 300})));
    let r = stack.send(Some(&opaque(31))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert!(r.challenge.unwrap().contains("not yet valid"));
}

#[tokio::test]
async fn a_malformed_answer_is_an_outage_never_remembered_as_a_refusal() {
    let server = Scripted::start().await;
    let v = server.builder().audience("content").build().unwrap();
    let stack = Stack::new(JwtCacheLayer::builder(v).build());
    let token = opaque(40);
    for (i, answer) in [
        json!({"active": true, "aud": "content", "exp": "tomorrow"}),
        json!({"active": true, "aud": "content", "iat": -5}),
        json!(["not", "an", "object"]),
    ]
    .into_iter()
    .enumerate()
    {
        server.answer(answer.clone());
        let r = stack.send(Some(&token)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{answer}: {r:?}");
        // Not in the negative cache: the next request asks again.
        assert_eq!(server.calls(), i + 1, "{answer}");
    }
    server.answer(active(json!({"aud": "content"})));
    assert_eq!(stack.send(Some(&token)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_demo_refuses_introspection_without_an_audience() {
    let err = from_vars(
        "demo",
        &Vars::from_pairs([
            ("INTROSPECTION_URL", "http://127.0.0.1:9/introspect"),
            ("INTROSPECTION_CLIENT_ID", "demo"),
        ]),
    )
    .await
    .unwrap_err();
    assert!(err.contains("JWT_AUDIENCE"), "{err}");
}

// Item 5: cookie tokens and cross-site request forgery.

fn cookie_stack(origins: &[&str]) -> Stack {
    Stack::new(
        JwtCacheLayer::builder(rs256_validator(AUD))
            .token_from_cookie("session")
            .cookie_allowed_origins(origins.iter().copied())
            .build(),
    )
}

#[tokio::test]
async fn a_cookie_token_authenticates_an_unsafe_method_only_same_origin_or_from_an_allowed_origin()
{
    let stack = cookie_stack(&["https://app.example"]);
    let token = rs256(&claims("alice"));
    let cookie = format!("session={token}");
    let bearer = format!("Bearer {token}");
    let c = cookie.as_bytes();
    type Case<'a> = (&'a str, Vec<(&'a str, &'a [u8])>, StatusCode);
    let cases: Vec<Case<'_>> = vec![
        // The forged form post of the review: refused.
        (
            "POST",
            vec![
                ("cookie", c),
                ("origin", b"https://evil.example"),
                ("sec-fetch-site", b"cross-site"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            "POST",
            vec![("cookie", c), ("sec-fetch-site", b"same-site")],
            StatusCode::FORBIDDEN,
        ),
        ("DELETE", vec![("cookie", c)], StatusCode::FORBIDDEN),
        (
            "PUT",
            vec![("cookie", c), ("origin", b"null")],
            StatusCode::FORBIDDEN,
        ),
        // Same-origin by fetch metadata, or by Origin = Host from a browser without it.
        (
            "POST",
            vec![("cookie", c), ("sec-fetch-site", b"same-origin")],
            StatusCode::OK,
        ),
        (
            "POST",
            vec![
                ("cookie", c),
                ("origin", b"http://api.example"),
                ("host", b"api.example"),
            ],
            StatusCode::OK,
        ),
        // An allowed origin.
        (
            "POST",
            vec![
                ("cookie", c),
                ("origin", b"https://app.example"),
                ("sec-fetch-site", b"cross-site"),
            ],
            StatusCode::OK,
        ),
        // Safe methods, and bearer headers, are not affected.
        (
            "GET",
            vec![("cookie", c), ("sec-fetch-site", b"cross-site")],
            StatusCode::OK,
        ),
        (
            "POST",
            vec![
                ("authorization", bearer.as_bytes()),
                ("origin", b"https://evil.example"),
                ("sec-fetch-site", b"cross-site"),
            ],
            StatusCode::OK,
        ),
    ];
    for (method, headers, expected) in cases {
        let r = stack.send_method(method, &headers).await;
        assert_eq!(r.status, expected, "{method} {headers:?}: {r:?}");
        if expected == StatusCode::FORBIDDEN {
            assert_eq!(r.error_code().as_deref(), Some("invalid_request"));
        }
    }
}

#[actix_web::test]
async fn actix_refuses_a_cross_site_post_with_a_cookie_token() {
    use actix_web::{App, HttpResponse, test, web};
    let auth = JwtCacheBuilder::<StandardClaims>::new(rs256_validator(AUD))
        .token_from_cookie("session")
        .build_authenticator();
    let app = test::init_service(
        App::new()
            .wrap(jwt_cache_actix::JwtCacheMiddleware::from(auth))
            .route("/logout", web::post().to(HttpResponse::NoContent)),
    )
    .await;
    let token = rs256(&claims("alice"));
    let forged = test::TestRequest::post()
        .uri("/logout")
        .insert_header(("cookie", format!("session={token}")))
        .insert_header(("origin", "https://evil.example"))
        .insert_header(("sec-fetch-site", "cross-site"))
        .to_request();
    assert_eq!(test::call_service(&app, forged).await.status(), 403);
    let same = test::TestRequest::post()
        .uri("/logout")
        .insert_header(("cookie", format!("session={token}")))
        .insert_header(("sec-fetch-site", "same-origin"))
        .to_request();
    assert_eq!(test::call_service(&app, same).await.status(), 204);
}

// Item 6: one user cannot block everyone's logout.

#[tokio::test]
async fn one_subject_cannot_fill_the_revocation_set() {
    // A small set, to show what 125 000 logouts did to the default one.
    let cache = MemoryCache::<StandardClaims>::with_revocation_capacity(1000, 300);
    let auth = JwtCacheBuilder::new(rs256_validator(AUD))
        .cache(cache.clone())
        .max_revocations_per_subject(50)
        .build_authenticator();
    let n = AtomicUsize::new(0);
    // A fresh 60-second token each time (its own jti), as `/dev/token` hands out.
    let short = |sub: &str| {
        let mut c = claims(sub);
        c["exp"] = json!(now() + 60);
        c["jti"] = json!(format!("{sub}-{}", n.fetch_add(1, Ordering::Relaxed)));
        rs256(&c)
    };
    // Mallory logs out 1000 fresh tokens: every logout succeeds...
    let mut mallorys = Vec::new();
    for _ in 0..1000 {
        let t = short("mallory");
        auth.revoke_token(&t).await.unwrap();
        mallorys.push(t);
    }
    // ... in a bounded number of entries (her share, then one subject revocation).
    assert!(
        cache.revocations().len() <= 2 * 50 + 1,
        "{} revocations held",
        cache.revocations().len()
    );
    for t in mallorys.iter().step_by(97) {
        assert!(auth.authenticate(t).await.is_err(), "a logged-out token");
    }
    // The victim's logout still works, and takes effect.
    let victim = short("victim");
    assert!(auth.authenticate(&victim).await.is_ok());
    auth.revoke_token(&victim)
        .await
        .expect("the victim's logout is refused");
    assert_eq!(
        auth.authenticate(&victim).await.unwrap_err(),
        Rejection::Revoked
    );
    // Another user's fresh token is unaffected.
    assert!(auth.authenticate(&short("bob")).await.is_ok());
}

// Item 7: the demo never mints tokens in a configured mode.

#[tokio::test]
async fn the_demo_starts_dev_mode_only_when_nothing_is_configured() {
    // The review's case: a misspelt key variable beside an issuer and an audience.
    let err = from_vars(
        "demo",
        &Vars::from_pairs([
            ("JWT_ISSUER", "https://id.example"),
            ("JWT_AUDIENCE", "content"),
            ("JWT_PUBLIC_KEY", "/keys/issuer.pem"),
        ]),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("JWT_PUBLIC_KEY ") && err.contains("JWT_PUBLIC_KEY_FILE"),
        "{err}"
    );
    // An issuer or audience with no key at all.
    for var in ["JWT_ISSUER", "JWT_AUDIENCE", "JWT_ALG"] {
        let err = from_vars("demo", &Vars::from_pairs([(var, "x")]))
            .await
            .unwrap_err();
        assert!(err.contains("nothing to validate"), "{var}: {err}");
    }
    // Other misspellings under our prefixes.
    for (var, closest) in [
        ("REDIS_URI", "REDIS_URL"),
        ("INTROSPECTION_ULR", "INTROSPECTION_URL"),
        ("AUTH_GRPC_ULR", "AUTH_GRPC_URL"),
    ] {
        let err = from_vars("demo", &Vars::from_pairs([(var, "x")]))
            .await
            .unwrap_err();
        assert!(err.contains(var) && err.contains(closest), "{err}");
    }
    // An integrity key without Redis would be silently ignored: refused.
    let err = from_vars(
        "demo",
        &Vars::from_pairs([(
            "JWT_CACHE_INTEGRITY_KEY",
            "9f2c4e1a7b3d8c60e5f14a2b9c7d3e8f",
        )]),
    )
    .await
    .unwrap_err();
    assert!(err.contains("REDIS_URL"), "{err}");
    // Dev mode listens on loopback only.
    let err = from_vars("demo", &Vars::from_pairs([("ADDR", "0.0.0.0:0")]))
        .await
        .unwrap_err();
    assert!(err.contains("loopback"), "{err}");
    // Nothing configured: dev mode, whose tokens name the dev issuer and audience.
    let dev = from_vars("demo", &Vars::from_pairs([])).await.unwrap();
    let issuer = dev.issuer.expect("dev mode");
    assert_eq!(
        (issuer.iss.as_str(), issuer.aud.as_str()),
        ("jwt-cache-demo", "jwt-cache-demo")
    );
}

// Item 8: URLs printed or logged are redacted.

#[tokio::test]
async fn urls_in_the_banner_and_debug_output_are_redacted() {
    let config = from_vars(
        "demo",
        &Vars::from_pairs([
            (
                "INTROSPECTION_URL",
                "http://127.0.0.1:9/introspect?api_key=SUPERSECRET",
            ),
            ("INTROSPECTION_CLIENT_ID", "demo"),
            ("INTROSPECTION_CLIENT_SECRET", "CLIENTSECRET"),
            ("JWT_AUDIENCE", "content"),
        ]),
    )
    .await
    .unwrap();
    let shown = format!("{} {:?}", config.validation, config);
    assert!(!shown.contains("SUPERSECRET"), "{shown}");
    assert!(!shown.contains("CLIENTSECRET"), "{shown}");
    assert!(shown.contains("127.0.0.1:9/introspect"), "{shown}");
    let v = IntrospectionValidator::<StandardClaims>::builder(
        "https://id.example/introspect?api_key=SUPERSECRET",
    )
    .client_credentials("demo", "CLIENTSECRET")
    .audience(AUD)
    .build()
    .unwrap();
    let debug = format!("{v:?}");
    assert!(
        !debug.contains("SUPERSECRET") && !debug.contains("CLIENTSECRET"),
        "{debug}"
    );
}

// Also fixed: one rejection path, one classification, integrity-key entropy.

#[tokio::test]
async fn require_scope_answers_with_the_layers_rejection_handler_and_realm() {
    use tower::{ServiceBuilder, ServiceExt};
    let layer = JwtCacheLayer::builder(rs256_validator(AUD))
        .realm("api")
        .build()
        .on_rejection(|r: Rejection| {
            let mut res = http::Response::new(format!("{{\"error\":\"{}\"}}", r.description()));
            *res.status_mut() = StatusCode::from_u16(r.status()).unwrap();
            res
        });
    let svc = ServiceBuilder::new()
        .layer(layer)
        .layer(RequireScope::<StandardClaims>::scope("admin"))
        .service_fn(|_req: http::Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
        });
    let token = rs256(&claims("alice"));
    let req = http::Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(res.into_body(), "{\"error\":\"insufficient scope\"}");
    // The default handler: the layer's realm in the scope challenge too.
    let layer = JwtCacheLayer::builder(rs256_validator(AUD))
        .realm("api")
        .build();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .layer(RequireScope::<StandardClaims>::scope("admin"))
        .service_fn(|_req: http::Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        });
    let req = http::Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("realm=\"api\""), "{challenge}");
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
}

#[actix_web::test]
async fn actix_require_scope_answers_with_the_middlewares_handler() {
    use actix_web::{App, HttpResponse, test, web};
    let auth = JwtCacheBuilder::<StandardClaims>::new(rs256_validator(AUD))
        .realm("api")
        .build_authenticator();
    let mw = jwt_cache_actix::JwtCacheMiddleware::from(auth).on_rejection(|r| {
        HttpResponse::build(actix_web::http::StatusCode::from_u16(r.status()).unwrap())
            .body(format!("custom: {}", r.description()))
    });
    let app = test::init_service(
        App::new().wrap(mw).service(
            web::scope("/admin")
                .wrap(jwt_cache_actix::RequireScope::<StandardClaims>::scope(
                    "admin",
                ))
                .route("", web::get().to(HttpResponse::Ok)),
        ),
    )
    .await;
    let token = rs256(&claims("alice"));
    let req = test::TestRequest::get()
        .uri("/admin")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 403);
    let body = test::read_body(res).await;
    assert_eq!(&body[..], b"custom: insufficient scope");
}

#[tokio::test]
async fn the_same_bytes_get_the_same_answer_on_every_path() {
    let layer = JwtCacheLayer::builder(rs256_validator(AUD)).build();
    let auth = layer.authenticator().clone();
    let stack = Stack::new(layer);
    for bytes in [
        "abc$def.ghi.jkl",
        "a.b",
        "not a token",
        "a.b.c.d.e",
        "x=y.z.w",
    ] {
        let direct = auth.authenticate(bytes).await.unwrap_err();
        let header = stack.send(Some(bytes)).await;
        assert_eq!(
            direct.error_code().map(str::to_owned),
            header.error_code(),
            "{bytes:?}: {direct:?} / {header:?}"
        );
    }
}

#[test]
fn an_integrity_key_without_entropy_is_refused() {
    for weak in [
        [b'a'; 32].to_vec(),
        b"abababababababababababababababab".to_vec(),
    ] {
        let err = jwt_cache::check_secret_entropy(&weak).unwrap_err();
        assert!(err.to_string().contains("openssl rand"), "{err}");
    }
    jwt_cache::check_secret_entropy(&jwt_cache_tests::integrity_key(1)).unwrap();
}
