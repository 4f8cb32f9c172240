//! The tower middleware: [`JwtCacheLayer`], the [`JwtCache`] service and its
//! [`ResponseFuture`].
//!
//! Authentication failures are responses (401 with an RFC 6750 `WWW-Authenticate`
//! challenge, or 503 when the validator is unavailable), never service errors, so the
//! service keeps `Error = S::Error` and the inner service is never called for them.

mod future;
mod layer;
mod rejection;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::JwtCacheLayer;
pub use self::rejection::{DefaultRejection, RejectWith, RejectionHandler};
pub use self::service::JwtCache;
