//! gRPC status codes, without a gRPC dependency: how a refusal is told to a gRPC client
//! ([`status_of`], used by [`GrpcRejection`](crate::middleware::GrpcRejection)), and how an auth
//! service's gRPC answer becomes a verdict on a token ([`verdict_of`]), so every gRPC
//! validator maps codes the same way.
//!
//! At the bottom of the crate with `error`: it imports nothing else of it.

use crate::error::{Rejection, ValidationError};

/// The gRPC status codes this crate speaks (`grpc-status`, as in `google.rpc.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code {
    /// 0.
    Ok = 0,
    /// 2: the server could not say what went wrong.
    Unknown = 2,
    /// 3.
    InvalidArgument = 3,
    /// 4.
    DeadlineExceeded = 4,
    /// 7: authenticated, but not allowed (a missing scope or role).
    PermissionDenied = 7,
    /// 8.
    ResourceExhausted = 8,
    /// 13.
    Internal = 13,
    /// 14: could not decide now (validator or, fail-closed, revocation store down).
    Unavailable = 14,
    /// 16: no valid credentials (missing, invalid, revoked token).
    Unauthenticated = 16,
}

impl Code {
    /// The number sent as `grpc-status`.
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

/// The gRPC status a refusal is answered with: `UNAUTHENTICATED` for a missing, malformed,
/// invalid or revoked token (and a cross-site cookie), `PERMISSION_DENIED` for a missing scope
/// or role, `UNAVAILABLE` when the decision could not be made.
pub fn status_of(rejection: &Rejection) -> Code {
    match rejection.status() {
        503 => Code::Unavailable,
        403 if matches!(rejection, Rejection::InsufficientScope(_)) => Code::PermissionDenied,
        _ => Code::Unauthenticated,
    }
}

/// What an auth service's non-OK gRPC answer to "is this token valid?" means: the token is
/// refused (`UNAUTHENTICATED`, `PERMISSION_DENIED`: not active; `INVALID_ARGUMENT`: malformed
/// — each a 401 the negative cache may remember briefly), or the service could not say
/// (`UNAVAILABLE`, `DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED` and every other code: 503, never
/// cached, cached tokens keep working).
pub fn verdict_of(code: i32, message: &str) -> ValidationError {
    match code {
        c if c == Code::Unauthenticated as i32 || c == Code::PermissionDenied as i32 => {
            ValidationError::Inactive
        }
        c if c == Code::InvalidArgument as i32 => {
            ValidationError::Malformed(format!("auth service: {message}"))
        }
        c => ValidationError::Unavailable(format!("auth service: status {c}: {message}")),
    }
}

/// A `grpc-message` value: percent-encoded as the gRPC over HTTP/2 spec asks (bytes outside
/// printable ASCII, and `%`).
pub fn encode_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_answers_map_one_way() {
        assert_eq!(status_of(&Rejection::MissingToken), Code::Unauthenticated);
        assert_eq!(status_of(&Rejection::Revoked), Code::Unauthenticated);
        assert_eq!(
            status_of(&Rejection::InsufficientScope("admin".into())),
            Code::PermissionDenied
        );
        assert_eq!(status_of(&Rejection::CrossSite), Code::Unauthenticated);
        assert_eq!(
            status_of(&Rejection::Unavailable("down".into())),
            Code::Unavailable
        );
        assert_eq!(verdict_of(16, "no"), ValidationError::Inactive);
        assert_eq!(verdict_of(7, "no"), ValidationError::Inactive);
        assert!(matches!(
            verdict_of(3, "bad"),
            ValidationError::Malformed(_)
        ));
        for c in [4, 8, 14, 13, 2, 99] {
            assert!(
                matches!(verdict_of(c, "x"), ValidationError::Unavailable(_)),
                "{c}"
            );
        }
        assert_eq!(encode_message("token revoked"), "token revoked");
        assert_eq!(encode_message("100% é"), "100%25 %C3%A9");
    }
}
