//! The demo's application: routes, and the middleware stack a real service uses around
//! `JwtCacheLayer`. The binary (`src/main.rs`) reads the configuration and serves it; the tests
//! drive the same stack.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use jwt_cache::middleware::RequireScope;
use jwt_cache::{Authenticator, JwtCacheLayer, StandardClaims};
use jwt_cache_axum::Claims;
use jwt_cache_example_support::{DevIssuer, Telemetry};
use tower::ServiceBuilder;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

#[derive(Clone)]
struct AppState {
    auth: Authenticator<StandardClaims>,
    issuer: Option<DevIssuer>,
}

async fn me(Claims(claims): Claims<StandardClaims>) -> Json<StandardClaims> {
    Json(claims)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> StatusCode {
    // The token the request was authenticated with, wherever it came from.
    match state.auth.presented_token(&headers) {
        Some(token) => match state.auth.revoke_token(token).await {
            Ok(()) => StatusCode::NO_CONTENT,
            Err(e) => {
                tracing::warn!(error = %e, "revocation failed");
                StatusCode::SERVICE_UNAVAILABLE
            }
        },
        None => StatusCode::UNAUTHORIZED,
    }
}

async fn dev_token(State(state): State<AppState>) -> Result<String, StatusCode> {
    let issuer = state.issuer.as_ref().ok_or(StatusCode::NOT_FOUND)?;
    Ok(issuer.token("dev-user", Duration::from_secs(3600)) + "\n")
}

/// `GET /metrics`: the registry in Prometheus' text format (the instruments of
/// `jwt_cache::metrics`, exported by `opentelemetry-prometheus`). Open, like `/healthz`: put it
/// on an internal port or behind your network policy in production.
pub fn metrics_route(telemetry: Telemetry) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let telemetry = telemetry.clone();
            async move {
                match telemetry.text() {
                    Ok(text) => (
                        [(axum::http::header::CONTENT_TYPE, Telemetry::CONTENT_TYPE)],
                        text,
                    )
                        .into_response(),
                    Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
                }
            }
        }),
    )
}

/// The demo's router and its middleware, outermost first:
///
/// 1. `SetRequestIdLayer` (`x-request-id`, a UUID when the client sent none), then
///    `TraceLayer`, then `PropagateRequestIdLayer`: every request, refused or not, is traced
///    with its id, and the id goes back in the response.
/// 2. `TimeoutLayer` (10 s, 408): bounds everything inside it, authentication included.
/// 3. `CorsLayer`: **outside** the authentication layer, so a CORS preflight (`OPTIONS`, which
///    browsers send without credentials) is answered by CORS and never reaches
///    `JwtCacheLayer`. Placed inside it instead, every preflight to a protected route would be
///    a 401 and browsers would refuse the real request. Permissive without credentials by
///    default (bearer tokens need none); with cookie origins ([`app_with_origins`]), those
///    origins only, with credentials.
/// 4. `JwtCacheLayer` on the protected routes only (`/me`, `/logout`, and `/admin` which also
///    requires the `admin` role); `/healthz` and `/dev/token` stay open.
pub fn app(auth: Authenticator<StandardClaims>, issuer: Option<DevIssuer>) -> Router {
    app_with_origins(auth, issuer, &[])
}

/// [`app`], with CORS allowing these origins **with credentials** (cookies): the origins the
/// authenticator lets use the cookie token cross-origin (`JWT_COOKIE_ALLOWED_ORIGINS`). Empty:
/// any origin, without credentials.
pub fn app_with_origins(
    auth: Authenticator<StandardClaims>,
    issuer: Option<DevIssuer>,
    cookie_origins: &[String],
) -> Router {
    let cors = if cookie_origins.is_empty() {
        CorsLayer::permissive()
    } else {
        let origins: Vec<HeaderValue> = cookie_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        CorsLayer::new()
            .allow_origin(origins)
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
    };
    let state = AppState {
        auth: auth.clone(),
        issuer,
    };
    let request_id = HeaderName::from_static("x-request-id");
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(10),
        ))
        .layer(cors);
    Router::new()
        .route(
            "/admin",
            get(me).route_layer(RequireScope::<StandardClaims>::role("admin")),
        )
        .route("/me", get(me))
        .route("/logout", post(logout))
        .layer(JwtCacheLayer::new(auth))
        .route("/healthz", get(healthz))
        .route("/dev/token", get(dev_token))
        .with_state(state)
        .layer(stack)
}
