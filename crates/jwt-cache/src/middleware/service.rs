use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{RejectionHandler, ResponseFuture};
use crate::adapter::{Step, WithMethod};
use crate::authenticator::Authenticator;
use crate::claims::JwtClaims;

/// The service made by [`JwtCacheLayer`](crate::JwtCacheLayer).
pub struct JwtCache<S, C, H> {
    inner: S,
    auth: Authenticator<C>,
    handler: H,
}

impl<S, C, H> JwtCache<S, C, H> {
    pub(crate) fn new(inner: S, auth: Authenticator<C>, handler: H) -> Self {
        JwtCache {
            inner,
            auth,
            handler,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, C, H: Clone> Clone for JwtCache<S, C, H> {
    fn clone(&self) -> Self {
        JwtCache {
            inner: self.inner.clone(),
            auth: self.auth.clone(),
            handler: self.handler.clone(),
        }
    }
}

impl<S: std::fmt::Debug, C, H> std::fmt::Debug for JwtCache<S, C, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCache")
            .field("inner", &self.inner)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl<S, C, H, ReqB, ResB> Service<Request<ReqB>> for JwtCache<S, C, H>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    C: JwtClaims,
    H: RejectionHandler<ResB>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB, ResB, C, H>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let outcome = self.auth.authenticate_request(&WithMethod {
            method: req.method().as_str(),
            headers: req.headers(),
        });
        let mut req = req;
        match outcome.into_step(req.extensions_mut()) {
            // The in-process cache answered: no state machine, straight to the service that
            // `poll_ready` was called on (no clone of it, which for axum's boxed routes is an
            // allocation per request).
            Step::Call => ResponseFuture::calling(
                self.inner.call(req),
                self.handler.clone(),
                self.auth.realm_arc(),
            ),
            Step::Reject(rejection) => {
                ResponseFuture::rejected(self.handler.respond(rejection, self.auth.realm()))
            }
            // The service is called later, from the future: it takes the ready one and leaves
            // a clone here, which is not necessarily ready.
            // https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services
            Step::Wait(auth) => {
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::authenticating(
                    auth,
                    req,
                    inner,
                    self.handler.clone(),
                    self.auth.realm_arc(),
                )
            }
        }
    }
}
