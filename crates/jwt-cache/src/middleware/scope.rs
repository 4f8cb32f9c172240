//! [`RequireScope`]: a route-level requirement of a scope or role on the claims the
//! authentication layer put in the request (no re-validation).

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::DefaultRejection;
use super::rejection::ScopeRefused;
use crate::claims::Scopes;

/// A tower layer that lets a request through only if its claims (type `C`, put there by
/// [`JwtCacheLayer`](crate::JwtCacheLayer)) meet a [`Requirement`](crate::Requirement); otherwise 403
/// `insufficient_scope` with `WWW-Authenticate: Bearer error="insufficient_scope",
/// scope="…"` (RFC 6750 §3.1). A request without claims gets 401. Under a
/// [`JwtCacheLayer`](crate::JwtCacheLayer), the refusal is answered by the layer's rejection
/// handler, with its realm, like the layer's own refusals. Compose several by
/// stacking them; in axum, put it on a route with `route_layer` under the authentication
/// layer.
///
/// ```
/// use jwt_cache::StandardClaims;
/// use jwt_cache::middleware::RequireScope;
/// let write = RequireScope::<StandardClaims>::scope("write");
/// let admins = RequireScope::<StandardClaims>::role("admin");
/// ```
pub type RequireScope<C> = crate::adapter::ClaimsRequirement<C>;

impl<S, C> Layer<S> for RequireScope<C> {
    type Service = RequireScopeService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopeService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`RequireScope`].
pub struct RequireScopeService<S, C> {
    inner: S,
    layer: RequireScope<C>,
}

impl<S: Clone, C> Clone for RequireScopeService<S, C> {
    fn clone(&self) -> Self {
        RequireScopeService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: std::fmt::Debug, C> std::fmt::Debug for RequireScopeService<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireScopeService")
            .field("inner", &self.inner)
            .field("requirement", self.layer.requirement())
            .finish()
    }
}

impl<S, C, ReqB, ResB> Service<Request<ReqB>> for RequireScopeService<S, C>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    C: Scopes + Send + Sync + 'static,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<ResB>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let claims = req.extensions().get::<Arc<C>>().map(|c| &**c);
        match self.layer.check(claims) {
            Ok(()) => {
                // https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Either::Left(inner.call(req))
            }
            Err(rejection) => {
                // The default answer, marked so that the layer above answers with its own
                // handler and realm instead.
                let mut response = DefaultRejection::response(&rejection, None);
                response.extensions_mut().insert(ScopeRefused(rejection));
                Either::Right(ready(Ok(response)))
            }
        }
    }
}
