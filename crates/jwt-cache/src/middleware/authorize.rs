//! [`JwtAuthorizer`]: jwt-cache through tower-http's `AsyncRequireAuthorizationLayer`
//! (feature `tower-http`).

use std::marker::PhantomData;

use futures_util::future::{BoxFuture, Either, Ready, ready};
use http::{Request, Response};
use tower_http::auth::AsyncAuthorizeRequest;

use super::{DefaultRejection, RejectionHandler};
use crate::adapter::{Step, WithMethod};
use crate::authenticator::Authenticator;
use crate::claims::JwtClaims;

/// An [`AsyncAuthorizeRequest`] over an [`Authenticator`]: the same decision, checks and
/// RFC 6750 answers as [`JwtCacheLayer`](crate::JwtCacheLayer), for stacks built on tower-http's
/// `AsyncRequireAuthorizationLayer`. On an in-process hit nothing is allocated.
///
/// ```
/// use jwt_cache::middleware::JwtAuthorizer;
/// use jwt_cache::{JwtCacheBuilder, JwtValidator, StandardClaims};
/// use tower_http::auth::AsyncRequireAuthorizationLayer;
/// let auth = JwtCacheBuilder::<StandardClaims>::new(JwtValidator::hs256([7u8; 32])?)
///     .build_authenticator();
/// let layer = AsyncRequireAuthorizationLayer::new(JwtAuthorizer::<_, String>::new(auth));
/// # Ok::<(), jwt_cache::ConfigError>(())
/// ```
pub struct JwtAuthorizer<C, ResB, H = DefaultRejection> {
    auth: Authenticator<C>,
    handler: H,
    _body: PhantomData<fn() -> ResB>,
}

impl<C, ResB, H: Clone> Clone for JwtAuthorizer<C, ResB, H> {
    fn clone(&self) -> Self {
        JwtAuthorizer {
            auth: self.auth.clone(),
            handler: self.handler.clone(),
            _body: PhantomData,
        }
    }
}

impl<C, ResB, H> std::fmt::Debug for JwtAuthorizer<C, ResB, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthorizer").finish_non_exhaustive()
    }
}

impl<C, ResB> JwtAuthorizer<C, ResB> {
    /// Authorize with `auth`, answering refusals the RFC 6750 way.
    pub fn new(auth: Authenticator<C>) -> Self {
        JwtAuthorizer {
            auth,
            handler: DefaultRejection,
            _body: PhantomData,
        }
    }
}

impl<C, ResB, H> JwtAuthorizer<C, ResB, H> {
    /// Answer refusals with `handler` instead.
    pub fn on_rejection<H2>(self, handler: H2) -> JwtAuthorizer<C, ResB, H2> {
        JwtAuthorizer {
            auth: self.auth,
            handler,
            _body: PhantomData,
        }
    }
}

/// The layer's authenticator and rejection handler, through tower-http instead.
impl<C, ResB, H> From<crate::JwtCacheLayer<C, H>> for JwtAuthorizer<C, ResB, H> {
    fn from(layer: crate::JwtCacheLayer<C, H>) -> Self {
        let (auth, handler) = layer.into_parts();
        JwtAuthorizer {
            auth,
            handler,
            _body: PhantomData,
        }
    }
}

type Decided<B, ResB> = Result<Request<B>, Response<ResB>>;

impl<B, C, ResB, H> AsyncAuthorizeRequest<B> for JwtAuthorizer<C, ResB, H>
where
    B: Send + 'static,
    C: JwtClaims,
    ResB: Send + 'static,
    H: RejectionHandler<ResB>,
{
    type RequestBody = B;
    type ResponseBody = ResB;
    type Future = Either<Ready<Decided<B, ResB>>, BoxFuture<'static, Decided<B, ResB>>>;

    fn authorize(&mut self, mut request: Request<B>) -> Self::Future {
        let outcome = self.auth.authenticate_request(&WithMethod {
            method: request.method().as_str(),
            headers: request.headers(),
        });
        match outcome.into_step(request.extensions_mut()) {
            Step::Call => Either::Left(ready(Ok(request))),
            Step::Reject(rejection) => Either::Left(ready(Err(self
                .handler
                .respond(rejection, self.auth.realm())))),
            Step::Wait(pending) => {
                let handler = self.handler.clone();
                let realm = self.auth.realm_arc();
                Either::Right(Box::pin(async move {
                    match pending.await {
                        Ok(claims) => {
                            request.extensions_mut().insert(claims);
                            Ok(request)
                        }
                        Err(rejection) => Err(handler.respond(rejection, realm.as_deref())),
                    }
                }))
            }
        }
    }
}
