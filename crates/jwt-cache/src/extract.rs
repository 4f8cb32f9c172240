//! What a framework's `Claims<T>` extractor does, shared by the adapters.

use std::sync::Arc;

/// Why an extractor found no claims of the type it was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissingClaims {
    /// The optional-auth middleware let the request through without a bearer token: answer
    /// 401 with a `Bearer` challenge (with this realm, if one was configured).
    Unauthenticated(Option<Arc<str>>),
    /// No claims of this type in the request extensions: the middleware is missing, or was
    /// built for another claims type. A server mistake: 500.
    NotInExtensions(&'static str),
}

impl MissingClaims {
    /// 401 or 500.
    pub fn status(&self) -> u16 {
        match self {
            MissingClaims::Unauthenticated(_) => 401,
            MissingClaims::NotInExtensions(_) => 500,
        }
    }
}

impl std::fmt::Display for MissingClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MissingClaims::Unauthenticated(_) => f.write_str("bearer token required"),
            MissingClaims::NotInExtensions(ty) => write!(
                f,
                "Missing request extension: claims of type `{ty}` were not found. \
                 Is the jwt-cache middleware applied, with that claims type?"
            ),
        }
    }
}

impl std::error::Error for MissingClaims {}

impl MissingClaims {
    /// The rejection to answer with for [`Unauthenticated`](MissingClaims::Unauthenticated),
    /// and its realm: the same 401 the middleware gives a request without a token.
    pub fn rejection(&self) -> Option<(crate::Rejection, Option<&str>)> {
        match self {
            MissingClaims::Unauthenticated(realm) => {
                Some((crate::Rejection::MissingToken, realm.as_deref()))
            }
            MissingClaims::NotInExtensions(_) => None,
        }
    }
}

/// The claims a request carries, given what the middleware put in its extensions: the
/// `Arc<T>` of an authenticated request, and the [`Unauthenticated`](crate::Unauthenticated)
/// marker of an optional-auth request without a token.
pub fn claims_from_extensions<T: Clone>(
    claims: Option<&Arc<T>>,
    unauthenticated: Option<&crate::Unauthenticated>,
) -> Result<T, MissingClaims> {
    match (claims, unauthenticated) {
        (Some(c), _) => Ok(T::clone(c)),
        (None, Some(u)) => Err(MissingClaims::Unauthenticated(u.realm.clone())),
        (None, None) => Err(MissingClaims::NotInExtensions(std::any::type_name::<T>())),
    }
}
