//! actix-web middleware and extractors for [`jwt_cache`]: the same [`Authenticator`] (same
//! caches, same rules, same RFC 6750 rejections) as the tower layer, wrapped as an actix
//! [`Transform`].
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use jwt_cache::{JwtCacheBuilder, JwtValidator, MemoryCache, StandardClaims};
//! use jwt_cache_actix::{Claims, JwtCacheMiddleware};
//!
//! async fn me(Claims(c): Claims<StandardClaims>) -> String {
//!     c.sub
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let auth = JwtCacheBuilder::<StandardClaims>::new(JwtValidator::hs256([7u8; 32]).unwrap().audience("content"))
//!     .cache(MemoryCache::new(100_000));
//! let mw = JwtCacheMiddleware::from(auth);
//! HttpServer::new(move || App::new().wrap(mw.clone()).route("/me", web::get().to(me)))
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await
//! # }
//! ```
//!
//! The claims go into the request extensions as an `Arc<T>`, as with the tower layer; the
//! [`Claims<T>`] extractor clones them out (`Option<Claims<T>>` works through actix's `Option`
//! extractor). With [`optional`](jwt_cache::JwtCacheBuilder::optional) authentication, requests
//! without a token reach the handlers without claims; a handler that asks for `Claims<T>` then
//! answers 401 with a `Bearer` challenge.
//!
//! The core is used without its tower middleware, so an actix build carries no `http` 1.x;
//! the feature `tower` adds `From<JwtCacheLayer>` to share one layer with a tower app.
//!
//! A request whose token the in-process cache answers (the hit path) allocates nothing here:
//! the middleware's future is a small state machine ([`JwtCacheFuture`]), not a boxed one.
//!
//! Coming from a hand-written middleware or from `actix-web-httpauth`: [`migration`].
//!
//! ## Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `tower` | no | `From<JwtCacheLayer>` for [`JwtCacheMiddleware`]; turns on the core's tower middleware and with it `http` 1 |
//!
//! MSRV: Rust 1.88, as the core (checked by clippy's `incompatible_msrv` in CI).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[doc = include_str!("../guide/migration-actix.md")]
pub mod migration {}

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, ready as ready_poll};

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::{Ready, ready};
use jwt_cache::adapter::{
    AuthFuture, MissingClaims, Outcome, RequestHeaders, Unauthenticated, WithMethod,
    claims_from_extensions,
};
use jwt_cache::{Authenticator, JwtCacheBuilder, JwtClaims, Rejection, Requirement, Scopes};
use pin_project_lite::pin_project;

type Handler = Arc<dyn Fn(Rejection) -> HttpResponse + Send + Sync>;

/// The actix middleware: `App::new().wrap(JwtCacheMiddleware::from(layer_or_authenticator))`.
///
/// Cheap to clone: build it once and clone it into `HttpServer::new`'s factory.
pub struct JwtCacheMiddleware<C> {
    auth: Authenticator<C>,
    handler: Option<Handler>,
}

impl<C> Clone for JwtCacheMiddleware<C> {
    fn clone(&self) -> Self {
        JwtCacheMiddleware {
            auth: self.auth.clone(),
            handler: self.handler.clone(),
        }
    }
}

impl<C> fmt::Debug for JwtCacheMiddleware<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtCacheMiddleware")
            .field("auth", &self.auth)
            .field("custom_rejection", &self.handler.is_some())
            .finish()
    }
}

impl<C> From<Authenticator<C>> for JwtCacheMiddleware<C> {
    fn from(auth: Authenticator<C>) -> Self {
        JwtCacheMiddleware {
            auth,
            handler: None,
        }
    }
}

/// Builds the authenticator.
impl<C: JwtClaims> From<JwtCacheBuilder<C>> for JwtCacheMiddleware<C> {
    fn from(builder: JwtCacheBuilder<C>) -> Self {
        JwtCacheMiddleware::from(builder.build_authenticator())
    }
}

/// Takes the layer's authenticator (feature `tower`). The layer's own rejection handler (which
/// builds `http` 1 responses) does not carry over: set one with
/// [`JwtCacheMiddleware::on_rejection`].
#[cfg(feature = "tower")]
impl<C, H> From<jwt_cache::JwtCacheLayer<C, H>> for JwtCacheMiddleware<C> {
    fn from(layer: jwt_cache::JwtCacheLayer<C, H>) -> Self {
        JwtCacheMiddleware::from(layer.authenticator().clone())
    }
}

impl<C> JwtCacheMiddleware<C> {
    /// Answer rejections with your own response.
    pub fn on_rejection<F>(mut self, f: F) -> Self
    where
        F: Fn(Rejection) -> HttpResponse + Send + Sync + 'static,
    {
        self.handler = Some(Arc::new(f));
        self
    }

    /// The authenticator (for revocations from a logout handler).
    pub fn authenticator(&self) -> &Authenticator<C> {
        &self.auth
    }
}

/// The RFC 6750 response for a rejection: 401 with a `Bearer` challenge, or 503.
pub fn rejection_response(rejection: &Rejection, realm: Option<&str>) -> HttpResponse {
    let status = StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut res = HttpResponse::build(status);
    for (name, value) in rejection.response_headers(realm) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            res.insert_header((name, v));
        }
    }
    res.finish()
}

impl<S, B, C> Transform<S, ServiceRequest> for JwtCacheMiddleware<C>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    C: JwtClaims,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Transform = JwtCacheService<S, C>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(JwtCacheService {
            service: Rc::new(service),
            auth: self.auth.clone(),
            handler: self.handler.clone(),
        }))
    }
}

/// The service made by [`JwtCacheMiddleware`].
pub struct JwtCacheService<S, C> {
    service: Rc<S>,
    auth: Authenticator<C>,
    handler: Option<Handler>,
}

impl<S, C> fmt::Debug for JwtCacheService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtCacheService")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// An actix request's headers (`http` 0.2), as the core reads them: e.g. for
/// [`Authenticator::presented_token`] in a logout handler.
#[derive(Debug, Clone, Copy)]
pub struct ActixHeaders<'h>(pub &'h actix_web::http::header::HeaderMap);

impl RequestHeaders for ActixHeaders<'_> {
    fn each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
        for v in self.0.get_all(name) {
            f(v.as_bytes());
        }
    }
}

/// How the middleware answers a refusal: the user's handler, or the RFC 6750 response with the
/// realm. One path for the middleware's own refusals and [`RequireScope`]'s.
fn respond(rejection: Rejection, handler: Option<&Handler>, realm: Option<&str>) -> HttpResponse {
    match handler {
        Some(h) => h(rejection),
        None => rejection_response(&rejection, realm),
    }
}

fn reject(
    req: ServiceRequest,
    rejection: Rejection,
    handler: Option<&Handler>,
    realm: Option<&str>,
) -> ServiceResponse<BoxBody> {
    req.into_response(respond(rejection, handler, realm))
}

/// Put in a response's extensions by [`RequireScope`] when it refuses: the
/// [`JwtCacheMiddleware`] above answers with its own handler and realm instead.
#[derive(Debug, Clone)]
struct ScopeRefused(Rejection);

/// The inner service's response, or, when a [`RequireScope`] below refused, the middleware's
/// own answer to that refusal.
fn answer_scope<B>(
    res: ServiceResponse<B>,
    handler: Option<&Handler>,
    realm: Option<&str>,
) -> ServiceResponse<EitherBody<B, BoxBody>> {
    let refused = res.response().extensions().get::<ScopeRefused>().cloned();
    match refused {
        Some(ScopeRefused(rejection)) => {
            let req = res.request().clone();
            ServiceResponse::new(req, respond(rejection, handler, realm)).map_into_right_body()
        }
        None => res.map_into_left_body(),
    }
}

impl<S, B, C> Service<ServiceRequest> for JwtCacheService<S, C>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    C: JwtClaims,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Future = JwtCacheFuture<S, C>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let outcome = self.auth.authenticate_request(&WithMethod {
            method: req.method().as_str(),
            headers: &ActixHeaders(req.headers()),
        });
        let state = match outcome {
            // The in-process cache answered: straight to the service, nothing allocated.
            Outcome::Authenticated(claims) => {
                req.extensions_mut().insert(claims);
                State::Calling {
                    future: self.service.call(req),
                    handler: self.handler.clone(),
                    realm: self.auth.realm_arc(),
                }
            }
            Outcome::Anonymous(marker) => {
                req.extensions_mut().insert(marker);
                State::Calling {
                    future: self.service.call(req),
                    handler: self.handler.clone(),
                    realm: self.auth.realm_arc(),
                }
            }
            Outcome::Rejected(rejection) => State::Rejected {
                response: Some(reject(
                    req,
                    rejection,
                    self.handler.as_ref(),
                    self.auth.realm(),
                )),
            },
            Outcome::Pending(auth) => State::Authenticating {
                auth,
                request: Some(req),
                service: self.service.clone(),
                handler: self.handler.clone(),
                realm: self.auth.realm_arc(),
            },
        };
        JwtCacheFuture { state }
    }
}

pin_project! {
    /// The future of [`JwtCacheService`]: authenticate (only when the answer needs waiting),
    /// then call the inner service, or answer the rejection.
    pub struct JwtCacheFuture<S, C>
    where
        S: Service<ServiceRequest>,
    {
        #[pin]
        state: State<S, S::Future, C>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F, C> {
        Authenticating {
            auth: AuthFuture<C>,
            request: Option<ServiceRequest>,
            service: Rc<S>,
            handler: Option<Handler>,
            realm: Option<Arc<str>>,
        },
        Calling {
            #[pin]
            future: F,
            handler: Option<Handler>,
            realm: Option<Arc<str>>,
        },
        Rejected {
            response: Option<ServiceResponse<BoxBody>>,
        },
    }
}

impl<S, C> fmt::Debug for JwtCacheFuture<S, C>
where
    S: Service<ServiceRequest>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtCacheFuture").finish_non_exhaustive()
    }
}

impl<S, B, C> Future for JwtCacheFuture<S, C>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    C: JwtClaims,
{
    type Output = Result<ServiceResponse<EitherBody<B, BoxBody>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Authenticating {
                    auth,
                    request,
                    service,
                    handler,
                    realm,
                } => {
                    let outcome = ready_poll!(Pin::new(auth).poll(cx));
                    let req = request.take().expect("polled after completion");
                    match outcome {
                        Ok(claims) => {
                            req.extensions_mut().insert(claims);
                            let future = service.call(req);
                            let (handler, realm) = (handler.take(), realm.take());
                            this.state.set(State::Calling {
                                future,
                                handler,
                                realm,
                            });
                        }
                        Err(rejection) => {
                            let res = reject(req, rejection, handler.as_ref(), realm.as_deref());
                            this.state.set(State::Rejected { response: None });
                            return Poll::Ready(Ok(res.map_into_right_body()));
                        }
                    }
                }
                StateProj::Calling {
                    future,
                    handler,
                    realm,
                } => {
                    let res = ready_poll!(future.poll(cx))?;
                    return Poll::Ready(Ok(answer_scope(res, handler.as_ref(), realm.as_deref())));
                }
                StateProj::Rejected { response } => {
                    let res = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(res.map_into_right_body()));
                }
            }
        }
    }
}

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

/// Why [`Claims<T>`] could not be extracted: 401 with a `Bearer` challenge, or 500.
#[derive(Debug, Clone)]
pub struct ClaimsError(pub MissingClaims);

impl fmt::Display for ClaimsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ClaimsError {
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
    type Error = ClaimsError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let ext = req.extensions();
        ready(
            claims_from_extensions(ext.get::<Arc<T>>(), ext.get::<Unauthenticated>())
                .map(Claims)
                .map_err(ClaimsError),
        )
    }
}

/// Lets a request through only if its claims (type `C`, put there by [`JwtCacheMiddleware`])
/// meet a [`Requirement`]: otherwise 403 `insufficient_scope` with the RFC 6750 challenge
/// (`scope="…"`); a request without claims gets 401. Under a [`JwtCacheMiddleware`], the
/// refusal is answered by the middleware's rejection handler, with its realm, like its own
/// refusals. Wrap a scope or resource under the
/// authentication middleware:
/// `web::scope("/admin").wrap(RequireScope::<StandardClaims>::role("admin"))`.
pub struct RequireScope<C> {
    requirement: Requirement,
    _claims: std::marker::PhantomData<fn() -> C>,
}

impl<C> Clone for RequireScope<C> {
    fn clone(&self) -> Self {
        RequireScope {
            requirement: self.requirement.clone(),
            _claims: std::marker::PhantomData,
        }
    }
}

impl<C> fmt::Debug for RequireScope<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireScope")
            .field(&self.requirement)
            .finish()
    }
}

impl<C> RequireScope<C> {
    /// Require the scope `scope`.
    pub fn scope(scope: impl Into<String>) -> Self {
        Self::new(Requirement::scope(scope))
    }

    /// Require the role `role`.
    pub fn role(role: impl Into<String>) -> Self {
        Self::new(Requirement::role(role))
    }

    /// Require `requirement`.
    pub fn new(requirement: Requirement) -> Self {
        RequireScope {
            requirement,
            _claims: std::marker::PhantomData,
        }
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
            self.requirement
                .requirement
                .check(ext.get::<Arc<C>>().map(|c| &**c))
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

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
