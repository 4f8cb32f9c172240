use tower_layer::Layer;

use super::{DefaultRejection, JwtCache, RejectWith};
use crate::authenticator::{Authenticator, JwtCacheBuilder};
use crate::claims::{JwtClaims, StandardClaims};

/// A tower [`Layer`] that authenticates the bearer JWT of every request, serving validated
/// tokens from a [`ClaimsCache`](crate::ClaimsCache), and hands the claims (an `Arc<C>` in the
/// request extensions) to the inner service.
///
/// ```
/// use std::time::Duration;
/// use jwt_cache::{JwtCacheLayer, JwtValidator, MemoryCache};
/// # let secret = [42u8; 32];
/// let auth = JwtCacheLayer::builder(JwtValidator::hs256(secret)?.issuer("https://id.example").audience("content"))
///     .cache(MemoryCache::new(100_000))
///     .ttl(Duration::from_secs(600))
///     .build();
/// let svc = tower::ServiceBuilder::new()
///     .layer(auth)
///     .service_fn(|_req: http::Request<String>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
///     });
/// # Ok::<(), jwt_cache::ConfigError>(())
/// ```
pub struct JwtCacheLayer<C = StandardClaims, H = DefaultRejection> {
    auth: Authenticator<C>,
    handler: H,
}

impl<C, H: Clone> Clone for JwtCacheLayer<C, H> {
    fn clone(&self) -> Self {
        JwtCacheLayer {
            auth: self.auth.clone(),
            handler: self.handler.clone(),
        }
    }
}

impl<C, H: std::fmt::Debug> std::fmt::Debug for JwtCacheLayer<C, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCacheLayer")
            .field("auth", &self.auth)
            .field("handler", &self.handler)
            .finish()
    }
}

impl JwtCacheLayer {
    /// A builder for [`StandardClaims`]; for claims of your own type use
    /// [`JwtCacheBuilder::<MyClaims>::new()`](JwtCacheBuilder::new).
    pub fn builder(
        validator: impl crate::TokenValidator<StandardClaims>,
    ) -> JwtCacheBuilder<StandardClaims> {
        JwtCacheBuilder::new(validator)
    }
}

impl<C: JwtClaims> JwtCacheLayer<C> {
    /// A layer around an existing [`Authenticator`] (share one between a tower stack and an
    /// actix app).
    pub fn new(auth: Authenticator<C>) -> Self {
        JwtCacheLayer {
            auth,
            handler: DefaultRejection,
        }
    }
}

impl<C, H> JwtCacheLayer<C, H> {
    /// Answer rejections with your own response (e.g. a JSON problem document).
    ///
    /// ```
    /// # use jwt_cache::{JwtCacheLayer, JwtValidator, Rejection};
    /// # let layer = JwtCacheLayer::builder(JwtValidator::hs256([1u8; 32]).unwrap()).build();
    /// let layer = layer.on_rejection(|r: Rejection| {
    ///     http::Response::builder()
    ///         .status(r.status())
    ///         .body(format!("{{\"error\":\"{}\"}}", r.description()))
    ///         .unwrap()
    /// });
    /// ```
    pub fn on_rejection<F>(self, f: F) -> JwtCacheLayer<C, RejectWith<F>> {
        self.with_rejection(RejectWith(f))
    }

    /// Answer refusals with `handler`: [`GrpcRejection`](super::GrpcRejection) in front of a
    /// gRPC server, or your own [`RejectionHandler`](super::RejectionHandler).
    pub fn with_rejection<H2>(self, handler: H2) -> JwtCacheLayer<C, H2> {
        JwtCacheLayer {
            auth: self.auth,
            handler,
        }
    }

    /// The authenticator, for revocations (logout handlers) and stats.
    pub fn authenticator(&self) -> &Authenticator<C> {
        &self.auth
    }
}

impl<C, H> JwtCacheLayer<C, H> {
    /// The authenticator and the rejection handler.
    #[cfg_attr(not(feature = "tower-http"), allow(dead_code))]
    pub(crate) fn into_parts(self) -> (Authenticator<C>, H) {
        (self.auth, self.handler)
    }
}

impl<S, C, H: Clone> Layer<S> for JwtCacheLayer<C, H> {
    type Service = JwtCache<S, C, H>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtCache::new(inner, self.auth.clone(), self.handler.clone())
    }
}

impl<C: JwtClaims> crate::authenticator::JwtCacheBuilder<C> {
    /// Build the tower layer.
    pub fn build(self) -> JwtCacheLayer<C> {
        JwtCacheLayer::new(self.build_authenticator())
    }
}
