use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use std::sync::Arc;

use super::RejectionHandler;
use super::rejection::ScopeRefused;
use crate::authenticator::AuthFuture;
use crate::claims::JwtClaims;

pin_project! {
    /// Response future of [`JwtCache`](super::JwtCache): authenticate, then call the inner
    /// service, or answer the rejection.
    pub struct ResponseFuture<S, ReqB, ResB, C, H>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        state: State<S, S::Future, ReqB, ResB, C, H>,
    }
}

/// What a request waiting for its authentication holds. Boxed in [`State`]: the wait is the
/// slow path (a validation, a round trip), and the hot one (an in-process hit, straight to
/// `Calling`) then moves a future the size of the inner one, not of a whole request.
struct Pending<S, ReqB, C, H> {
    auth: AuthFuture<C>,
    request: Request<ReqB>,
    service: S,
    handler: H,
    realm: Option<Arc<str>>,
}

pin_project! {
    #[project = StateProj]
    enum State<S, F, ReqB, ResB, C, H> {
        Authenticating {
            pending: Option<Box<Pending<S, ReqB, C, H>>>,
        },
        Calling {
            #[pin]
            future: F,
            handler: Option<H>,
            realm: Option<Arc<str>>,
        },
        Rejected {
            response: Option<Response<ResB>>,
        },
    }
}

impl<S, ReqB, ResB, C, H> ResponseFuture<S, ReqB, ResB, C, H>
where
    S: Service<Request<ReqB>>,
{
    pub(crate) fn authenticating(
        auth: AuthFuture<C>,
        request: Request<ReqB>,
        service: S,
        handler: H,
        realm: Option<Arc<str>>,
    ) -> Self {
        ResponseFuture {
            state: State::Authenticating {
                pending: Some(Box::new(Pending {
                    auth,
                    request,
                    service,
                    handler,
                    realm,
                })),
            },
        }
    }

    /// Calling the inner service; a refusal a [`RequireScope`](super::RequireScope) below
    /// made is answered with `handler` and `realm`, like the layer's own.
    pub(crate) fn calling(future: S::Future, handler: H, realm: Option<Arc<str>>) -> Self {
        ResponseFuture {
            state: State::Calling {
                future,
                handler: Some(handler),
                realm,
            },
        }
    }

    pub(crate) fn rejected(response: Response<ResB>) -> Self {
        ResponseFuture {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<S, ReqB, ResB, C, H> Future for ResponseFuture<S, ReqB, ResB, C, H>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    C: JwtClaims,
    H: RejectionHandler<ResB>,
{
    type Output = Result<Response<ResB>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Authenticating { pending } => {
                    let waiting = pending.as_mut().expect("polled after completion");
                    let outcome = ready!(Pin::new(&mut waiting.auth).poll(cx));
                    let Pending {
                        mut request,
                        mut service,
                        handler,
                        realm,
                        ..
                    } = *pending.take().expect("polled after completion");
                    match outcome {
                        Ok(claims) => {
                            request.extensions_mut().insert(claims);
                            let future = service.call(request);
                            this.state.set(State::Calling {
                                future,
                                handler: Some(handler),
                                realm,
                            });
                        }
                        Err(rejection) => {
                            let response = handler.respond(rejection, realm.as_deref());
                            this.state.set(State::Rejected { response: None });
                            return Poll::Ready(Ok(response));
                        }
                    }
                }
                StateProj::Calling {
                    future,
                    handler,
                    realm,
                } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(ScopeRefused(rejection)) =
                        response.extensions_mut().remove::<ScopeRefused>()
                        && let Some(handler) = handler.take()
                    {
                        response = handler.respond(rejection, realm.as_deref());
                    }
                    return Poll::Ready(Ok(response));
                }
                StateProj::Rejected { response } => {
                    return Poll::Ready(Ok(response.take().expect("polled after completion")));
                }
            }
        }
    }
}
