//! axum extractors for [`jwt_cache`]: [`Claims<T>`] and `Option<Claims<T>>`.
//!
//! [`JwtCacheLayer`](jwt_cache::JwtCacheLayer) puts the validated claims in the request
//! extensions as an `Arc<T>`; `Claims<T>` takes them out (cloning `T`). To share the `Arc`
//! without a clone, extract `axum::Extension<Arc<T>>` instead.
//!
//! ```
//! use axum::{Router, routing::get};
//! use jwt_cache::{JwtCacheLayer, JwtValidator, StandardClaims};
//! use jwt_cache_axum::Claims;
//!
//! async fn me(Claims(c): Claims<StandardClaims>) -> String {
//!     c.sub
//! }
//!
//! async fn greeting(claims: Option<Claims<StandardClaims>>) -> String {
//!     match claims {
//!         Some(Claims(c)) => format!("hello {}", c.sub),
//!         None => "hello stranger".into(),
//!     }
//! }
//!
//! # let secret = [9u8; 32];
//! let auth = JwtCacheLayer::builder(JwtValidator::hs256(secret)?)
//!     .optional(true)
//!     .build();
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/hello", get(greeting))
//!     .layer(auth);
//! # Ok::<(), jwt_cache::ConfigError>(())
//! ```
//!
//! Rejections: a handler asking for `Claims<T>` on a request that the optional layer let
//! through without a token gets `401` with `WWW-Authenticate: Bearer`; one asking on a request
//! the layer never saw (layer missing, or layered with another claims type) gets `500` naming the
//! type, like axum's `Extension`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use jwt_cache::adapter::{MissingClaims, Unauthenticated, claims_from_extensions};
use jwt_cache::middleware::DefaultRejection;

/// The validated claims of the request's bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims<T>(pub T);

impl<T> std::ops::Deref for Claims<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Why [`Claims<T>`] could not be extracted: 401 with a `Bearer` challenge, or 500.
#[derive(Debug, Clone)]
pub struct ClaimsRejection(pub MissingClaims);

impl fmt::Display for ClaimsRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ClaimsRejection {}

impl IntoResponse for ClaimsRejection {
    fn into_response(self) -> Response {
        match self.0.rejection() {
            // The same 401 the layer gives a request without a token.
            Some((rejection, realm)) => DefaultRejection::response(&rejection, realm),
            None => (StatusCode::INTERNAL_SERVER_ERROR, self.0.to_string()).into_response(),
        }
    }
}

impl<T, S> FromRequestParts<S> for Claims<T>
where
    T: Clone + Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        claims_from_extensions(
            parts.extensions.get::<Arc<T>>(),
            parts.extensions.get::<Unauthenticated>(),
        )
        .map(Claims)
        .map_err(ClaimsRejection)
    }
}

impl<T, S> OptionalFromRequestParts<S> for Claims<T>
where
    T: Clone + Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Arc<T>>()
            .map(|c| Claims(T::clone(c))))
    }
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
