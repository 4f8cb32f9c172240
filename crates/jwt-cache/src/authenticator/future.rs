//! [`AuthFuture`]: the answer of [`Authenticator::authenticate`](super::Authenticator::authenticate).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;

use crate::error::Rejection;

/// The future returned by [`Authenticator::authenticate`](super::Authenticator::authenticate):
/// already complete when the answer came from an in-process cache (no allocation), boxed
/// otherwise.
pub struct AuthFuture<C> {
    state: AuthState<C>,
}

enum AuthState<C> {
    Ready(Option<Result<Arc<C>, Rejection>>),
    Waiting(BoxFuture<'static, Result<Arc<C>, Rejection>>),
}

impl<C> AuthFuture<C> {
    pub(crate) fn ready(result: Result<Arc<C>, Rejection>) -> Self {
        AuthFuture {
            state: AuthState::Ready(Some(result)),
        }
    }

    pub(crate) fn waiting(fut: BoxFuture<'static, Result<Arc<C>, Rejection>>) -> Self {
        AuthFuture {
            state: AuthState::Waiting(fut),
        }
    }

    /// Whether the answer is already known (it came from an in-process cache).
    pub fn is_ready(&self) -> bool {
        matches!(self.state, AuthState::Ready(_))
    }

    /// Take the answer if it is already known, without polling.
    pub fn take_ready(&mut self) -> Option<Result<Arc<C>, Rejection>> {
        match &mut self.state {
            AuthState::Ready(r) => r.take(),
            AuthState::Waiting(_) => None,
        }
    }
}

impl<C> std::fmt::Debug for AuthFuture<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFuture")
            .field("ready", &self.is_ready())
            .finish()
    }
}

impl<C> Future for AuthFuture<C> {
    type Output = Result<Arc<C>, Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            AuthState::Ready(r) => {
                Poll::Ready(r.take().expect("AuthFuture polled after completion"))
            }
            AuthState::Waiting(f) => f.as_mut().poll(cx),
        }
    }
}
