use http::header::HeaderValue;
use http::{Response, StatusCode};

use crate::error::Rejection;

/// Turns a [`Rejection`] into a response.
pub trait RejectionHandler<B>: Clone + Send + Sync + 'static {
    /// The response for `rejection`; `realm` is the configured realm, if any.
    fn respond(&self, rejection: Rejection, realm: Option<&str>) -> Response<B>;
}

/// The RFC 6750 answer: `401` with `WWW-Authenticate: Bearer error="…",
/// error_description="…"` (no `error` when the request carried no token), or `503` when the
/// decision could not be made; an empty body.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRejection;

impl DefaultRejection {
    /// The default response with any body type.
    pub fn response<B: Default>(rejection: &Rejection, realm: Option<&str>) -> Response<B> {
        let mut res = Response::new(B::default());
        *res.status_mut() =
            StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        for (name, value) in rejection.response_headers(realm) {
            if let Ok(v) = HeaderValue::from_str(&value) {
                res.headers_mut().insert(name, v);
            }
        }
        res
    }
}

impl<B: Default> RejectionHandler<B> for DefaultRejection {
    fn respond(&self, rejection: Rejection, realm: Option<&str>) -> Response<B> {
        Self::response(&rejection, realm)
    }
}

/// Put in a response's extensions by [`RequireScope`](super::RequireScope) when it refuses a
/// request: the [`JwtCache`](super::JwtCache) service above replaces that response with its
/// own handler's answer, so a service has one rejection path (the layer's handler and realm)
/// for authentication and scope alike.
#[derive(Debug, Clone)]
pub(crate) struct ScopeRefused(pub(crate) Rejection);

/// A rejection handler made from a closure; see
/// [`JwtCacheLayer::on_rejection`](crate::JwtCacheLayer::on_rejection).
#[derive(Clone, Copy, Debug)]
pub struct RejectWith<F>(pub F);

impl<B, F> RejectionHandler<B> for RejectWith<F>
where
    F: Fn(Rejection) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn respond(&self, rejection: Rejection, _realm: Option<&str>) -> Response<B> {
        (self.0)(rejection)
    }
}
