//! An actix-web service shaped like the design note's user-service: `JwtCacheMiddleware` with
//! a Redis cache from `REDIS_URL` (in-process when unset), `GET /me`, `GET /healthz`, and a
//! `POST /logout` that revokes the presented token through jwt-cache's revocation API (what
//! the note's auth-service logout did by hand with `SET revoked_token:<sha256> … EX 3600`).
//!
//! Same configuration and routes as the axum demo (`ADDR`/`--addr`, `JWT_PUBLIC_KEY_FILE`,
//! `JWT_ALG`, `JWT_ISSUER`, `JWT_AUDIENCE`, `REDIS_URL`), so the two are interchangeable in
//! front of one Redis.

use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use jwt_cache::{Authenticator, StandardClaims};
use jwt_cache_actix::{ActixHeaders, Claims, JwtCacheMiddleware, RequireScope};
use jwt_cache_example_support::{DevIssuer, Telemetry, init_tracing, print_banner};

async fn me(Claims(claims): Claims<StandardClaims>) -> HttpResponse {
    HttpResponse::Ok().json(claims)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn logout(req: HttpRequest, auth: web::Data<Authenticator<StandardClaims>>) -> HttpResponse {
    // The token the request was authenticated with, wherever it came from.
    match auth.presented_token(&ActixHeaders(req.headers())) {
        Some(token) => match auth.revoke_token(token).await {
            Ok(()) => HttpResponse::NoContent().finish(),
            Err(e) => {
                tracing::warn!(error = %e, "revocation failed");
                HttpResponse::ServiceUnavailable().finish()
            }
        },
        None => HttpResponse::Unauthorized().finish(),
    }
}

async fn metrics(telemetry: web::Data<Telemetry>) -> HttpResponse {
    match telemetry.text() {
        Ok(text) => HttpResponse::Ok()
            .content_type(Telemetry::CONTENT_TYPE)
            .body(text),
        Err(e) => HttpResponse::InternalServerError().body(e),
    }
}

async fn dev_token(issuer: web::Data<Option<DevIssuer>>) -> HttpResponse {
    match issuer.as_ref() {
        Some(i) => HttpResponse::Ok().body(i.token("dev-user", Duration::from_secs(3600)) + "\n"),
        None => HttpResponse::NotFound().finish(),
    }
}

#[actix_web::main]
async fn main() {
    init_tracing();
    if let Err(e) = run().await {
        eprintln!("jwt-cache-actix-user-service: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let config = jwt_cache_example_support::from_env("jwt-cache-actix-user-service").await?;
    let auth = config.auth.clone();
    let issuer = config.issuer.clone();
    let telemetry = config.telemetry.clone();
    let middleware = JwtCacheMiddleware::from(auth.clone());
    let server = HttpServer::new(move || {
        // actix applies the last `wrap` first: CORS wraps everything, so a preflight is
        // answered by CORS and never reaches the authentication middleware (which would
        // answer it 401).
        App::new()
            .app_data(web::Data::new(auth.clone()))
            .app_data(web::Data::new(issuer.clone()))
            .app_data(web::Data::new(telemetry.clone()))
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(metrics))
            .route("/dev/token", web::get().to(dev_token))
            .service(
                web::scope("")
                    .wrap(middleware.clone())
                    .route("/me", web::get().to(me))
                    .route("/logout", web::post().to(logout))
                    .service(
                        web::scope("/admin")
                            .wrap(RequireScope::<StandardClaims>::role("admin"))
                            .route("", web::get().to(me)),
                    ),
            )
            .wrap(actix_cors::Cors::permissive())
    })
    .workers(2)
    .bind(config.addr)
    .map_err(|e| format!("binding {}: {e}", config.addr))?;
    let local = server.addrs()[0];
    print_banner("jwt-cache actix user-service", &config, local);
    server.run().await.map_err(|e| e.to_string())
}
