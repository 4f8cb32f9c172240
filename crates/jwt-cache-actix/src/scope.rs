//! [`RequireScope`]: a scope or role required of the claims, on a scope or resource.

use std::fmt;
use std::sync::Arc;

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use futures_util::future::{Ready, ready};
use jwt_cache::adapter::ClaimsRequirement;
use jwt_cache::{Requirement, Scopes};

use crate::middleware::{ScopeRefused, rejection_response};

/// Lets a request through only if its claims (type `C`, put there by [`JwtCacheMiddleware`](crate::JwtCacheMiddleware))
/// meet a [`Requirement`]: otherwise 403 `insufficient_scope` with the RFC 6750 challenge
/// (`scope="…"`); a request without claims gets 401. Under a [`JwtCacheMiddleware`](crate::JwtCacheMiddleware), the
/// refusal is answered by the middleware's rejection handler, with its realm, like its own
/// refusals. Wrap a scope or resource under the
/// authentication middleware:
/// `web::scope("/admin").wrap(RequireScope::<StandardClaims>::role("admin"))`.
pub struct RequireScope<C>(ClaimsRequirement<C>);

impl<C> Clone for RequireScope<C> {
    fn clone(&self) -> Self {
        RequireScope(self.0.clone())
    }
}

impl<C> fmt::Debug for RequireScope<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The core's requirement, as this middleware.
impl<C> From<ClaimsRequirement<C>> for RequireScope<C> {
    fn from(r: ClaimsRequirement<C>) -> Self {
        RequireScope(r)
    }
}

impl<C> RequireScope<C> {
    /// Require the scope `scope`.
    pub fn scope(scope: impl Into<String>) -> Self {
        ClaimsRequirement::scope(scope).into()
    }

    /// Require the role `role`.
    pub fn role(role: impl Into<String>) -> Self {
        ClaimsRequirement::role(role).into()
    }

    /// Require `requirement`.
    pub fn new(requirement: Requirement) -> Self {
        ClaimsRequirement::new(requirement).into()
    }
}

impl<S, B, C> Transform<S, ServiceRequest> for RequireScope<C>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    C: Scopes + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Transform = RequireScopeService<S, C>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireScopeService {
            service,
            requirement: self.clone(),
        }))
    }
}

/// The service made by [`RequireScope`].
pub struct RequireScopeService<S, C> {
    service: S,
    requirement: RequireScope<C>,
}

impl<S, C> fmt::Debug for RequireScopeService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopeService")
            .field("requirement", &self.requirement)
            .finish_non_exhaustive()
    }
}

impl<S, B, C> Service<ServiceRequest> for RequireScopeService<S, C>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    C: Scopes + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Future = futures_util::future::Either<
        futures_util::future::MapOk<
            S::Future,
            fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B, BoxBody>>,
        >,
        Ready<Result<Self::Response, Self::Error>>,
    >;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        use futures_util::TryFutureExt;
        let verdict = {
            let ext = req.extensions();
            self.requirement.0.check(ext.get::<Arc<C>>().map(|c| &**c))
        };
        match verdict {
            Ok(()) => futures_util::future::Either::Left(
                self.service
                    .call(req)
                    .map_ok(ServiceResponse::map_into_left_body as fn(_) -> _),
            ),
            Err(rejection) => {
                let mut response = rejection_response(&rejection, None);
                response.extensions_mut().insert(ScopeRefused(rejection));
                let res = req.into_response(response);
                futures_util::future::Either::Right(ready(Ok(res.map_into_right_body())))
            }
        }
    }
}
