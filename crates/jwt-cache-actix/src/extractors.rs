//! [`Claims<T>`]: the claims a request carries, for handlers.

use std::fmt;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::{Ready, ready};
use jwt_cache::adapter::{MissingClaims, Unauthenticated, claims_from_extensions};

use crate::middleware::rejection_response;

/// The validated claims of the request's bearer token (cloned out of the `Arc<T>` the
/// middleware put in the extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims<T>(pub T);

impl<T> std::ops::Deref for Claims<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Why [`Claims<T>`] could not be extracted: 401 with a `Bearer` challenge, or 500. The same
/// name as the axum adapter's.
#[derive(Debug, Clone)]
pub struct ClaimsRejection(pub MissingClaims);

/// The former name of [`ClaimsRejection`].
#[deprecated(
    since = "0.2.0",
    note = "renamed `ClaimsRejection`, as in jwt-cache-axum"
)]
pub type ClaimsError = ClaimsRejection;

impl fmt::Display for ClaimsRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ClaimsRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        match self.0.rejection() {
            // The same 401 the middleware gives a request without a token.
            Some((rejection, realm)) => rejection_response(&rejection, realm),
            None => HttpResponse::InternalServerError().body(self.to_string()),
        }
    }
}

impl<T: Clone + 'static> FromRequest for Claims<T> {
    type Error = ClaimsRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let ext = req.extensions();
        ready(
            claims_from_extensions(ext.get::<Arc<T>>(), ext.get::<Unauthenticated>())
                .map(Claims)
                .map_err(ClaimsRejection),
        )
    }
}
