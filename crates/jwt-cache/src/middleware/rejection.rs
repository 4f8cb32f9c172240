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

/// Refusals as gRPC clients understand them: a trailers-only response (HTTP 200,
/// `content-type: application/grpc`, an empty body) with `grpc-status` 16 `UNAUTHENTICATED`
/// (missing, invalid, revoked token), 7 `PERMISSION_DENIED` (a [`RequireScope`](super::RequireScope)
/// refusal) or 14 `UNAVAILABLE` (could not decide), and a `grpc-message`; never an HTTP 401,
/// which a gRPC client reports as a transport error. Select it on a layer in front of a tonic
/// server:
///
/// ```
/// use jwt_cache::middleware::GrpcRejection;
/// # let validator = jwt_cache::JwtValidator::hs256([7u8; 32])?;
/// let layer = jwt_cache::JwtCacheLayer::builder(validator)
///     .build()
///     .with_rejection(GrpcRejection);
/// # let _ = layer;
/// # Ok::<(), jwt_cache::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcRejection;

impl<B: Default> RejectionHandler<B> for GrpcRejection {
    fn respond(&self, rejection: Rejection, _realm: Option<&str>) -> Response<B> {
        let mut res = Response::new(B::default());
        let code = crate::grpc::status_of(&rejection);
        let headers = res.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert("grpc-status", HeaderValue::from(code.as_i32()));
        if let Ok(v) = HeaderValue::from_str(&crate::grpc::encode_message(rejection.description()))
        {
            headers.insert("grpc-message", v);
        }
        res
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
