//! [`JwtCacheMiddleware`]: the `Transform`, its service and its future; how a refusal is answered.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, ready as ready_poll};

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::{HttpMessage, HttpResponse};
use futures_util::future::{Ready, ready};
use jwt_cache::adapter::{AuthFuture, RequestHeaders, Step, WithMethod};
use jwt_cache::{Authenticator, JwtCacheBuilder, JwtClaims, Rejection};
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

/// An actix request's extensions, as the core's one decision ([`Outcome::into_step`]) fills
/// them.
struct ActixExtensions<'a>(&'a mut actix_web::dev::Extensions);

impl jwt_cache::adapter::Extensions for ActixExtensions<'_> {
    fn insert<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        self.0.insert(value);
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
pub(crate) struct ScopeRefused(pub(crate) Rejection);

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
        let step = outcome.into_step(&mut ActixExtensions(&mut req.extensions_mut()));
        let state = match step {
            // The in-process cache answered: straight to the service, nothing allocated.
            Step::Call => State::Calling {
                future: self.service.call(req),
                handler: self.handler.clone(),
                realm: self.auth.realm_arc(),
            },
            Step::Reject(rejection) => State::Rejected {
                response: Some(reject(
                    req,
                    rejection,
                    self.handler.as_ref(),
                    self.auth.realm(),
                )),
            },
            Step::Wait(auth) => State::Authenticating {
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
