use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::RejectionHandler;
use crate::authenticator::{AuthFuture, Authenticator};
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

pin_project! {
    #[project = StateProj]
    enum State<S, F, ReqB, ResB, C, H> {
        Authenticating {
            auth: AuthFuture<C>,
            request: Option<Request<ReqB>>,
            service: Option<S>,
            handler: H,
            authenticator: Authenticator<C>,
        },
        Calling {
            #[pin]
            future: F,
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
        authenticator: Authenticator<C>,
    ) -> Self {
        ResponseFuture {
            state: State::Authenticating {
                auth,
                request: Some(request),
                service: Some(service),
                handler,
                authenticator,
            },
        }
    }

    pub(crate) fn calling(future: S::Future) -> Self {
        ResponseFuture {
            state: State::Calling { future },
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
                StateProj::Authenticating {
                    auth,
                    request,
                    service,
                    handler,
                    authenticator,
                } => {
                    let outcome = ready!(Pin::new(auth).poll(cx));
                    match outcome {
                        Ok(claims) => {
                            let mut req = request.take().expect("polled after completion");
                            req.extensions_mut().insert(claims);
                            let mut svc = service.take().expect("polled after completion");
                            let future = svc.call(req);
                            this.state.set(State::Calling { future });
                        }
                        Err(rejection) => {
                            let response = handler.respond(rejection, authenticator.realm());
                            this.state.set(State::Rejected { response: None });
                            return Poll::Ready(Ok(response));
                        }
                    }
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Rejected { response } => {
                    return Poll::Ready(Ok(response.take().expect("polled after completion")));
                }
            }
        }
    }
}
