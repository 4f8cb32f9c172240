//! The tower middleware: [`JwtCacheLayer`](crate::JwtCacheLayer), the [`JwtCache`] service
//! and its [`ResponseFuture`], and how rejections become responses (feature `tower`, on by
//! default).
//!
//! Authentication failures are responses (401 with an RFC 6750 `WWW-Authenticate`
//! challenge, or 503 when the validator is unavailable), never service errors, so the
//! service keeps `Error = S::Error` and the inner service is never called for them.

#[cfg(feature = "tower-http")]
mod authorize;
mod future;
pub(crate) mod layer;
mod rejection;
mod scope;
mod service;

#[cfg(feature = "tower-http")]
pub use self::authorize::JwtAuthorizer;
pub use self::future::ResponseFuture;
pub use self::rejection::{DefaultRejection, GrpcRejection, RejectWith, RejectionHandler};
pub use self::scope::{RequireScope, RequireScopeService};
pub use self::service::JwtCache;
