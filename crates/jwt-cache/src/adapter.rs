//! What a framework adapter is made of, written once for all of them: the per-request
//! decision ([`Authenticator::authenticate_request`] → [`Outcome`]), the marker an
//! optional-auth request carries ([`Unauthenticated`]), and what a `Claims<T>` extractor does
//! ([`claims_from_extensions`]).
//!
//! The tower middleware ([`JwtCache`](crate::middleware::JwtCache)) and the actix-web one
//! (crate `jwt-cache-actix`) are thin wrappers over these: each maps the request's
//! `Authorization` header values in, and the [`Outcome`] out to its own types.

use std::sync::Arc;

pub use crate::authenticator::AuthFuture;
use crate::authenticator::Authenticator;
use crate::claims::{JwtClaims, Requirement, Scopes};
use crate::error::Rejection;
pub use crate::token::{DEFAULT_MAX_TOKEN_LEN, parse_authorization};

/// Put in the request extensions by an optional-auth adapter when the request carried no
/// bearer token: extractors answer 401 (not 500) when a handler then asks for claims, with the
/// layer's realm in the challenge.
#[derive(Debug, Clone, Default)]
pub struct Unauthenticated {
    /// The configured `realm`, if any.
    pub realm: Option<Arc<str>>,
}

pub use crate::token::RequestHeaders;

/// A request's method beside its headers: what the adapters hand the authenticator, so that a
/// token taken from a cookie can be refused on a cross-site unsafe request (see
/// [`RequestHeaders::method`]).
#[derive(Debug, Clone, Copy)]
pub struct WithMethod<'a, H: ?Sized> {
    /// The method, as sent (`"GET"`, `"POST"`, …).
    pub method: &'a str,
    /// The headers.
    pub headers: &'a H,
}

impl<H: RequestHeaders + ?Sized> RequestHeaders for WithMethod<'_, H> {
    fn each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
        self.headers.each_value(name, f)
    }

    fn method(&self) -> Option<&str> {
        Some(self.method)
    }
}

#[cfg(feature = "tower")]
impl RequestHeaders for http::HeaderMap {
    fn each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
        // The names asked on every request, as constants: no parsing of the name.
        let values = match name {
            "authorization" => self.get_all(http::header::AUTHORIZATION),
            "cookie" => self.get_all(http::header::COOKIE),
            _ => self.get_all(name),
        };
        for v in values {
            f(v.as_bytes());
        }
    }
}

/// What to do with a request, decided once for every adapter. Non-exhaustive: an adapter
/// keeps a wildcard arm (see [`Outcome::into_step`], which every adapter here uses).
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome<C> {
    /// The token was accepted at once (an in-process cache hit): put the claims (an `Arc<C>`)
    /// in the request extensions and call the inner service. No allocation was made.
    Authenticated(Arc<C>),
    /// No bearer token, and authentication is optional: put the marker in the extensions and
    /// call the inner service.
    Anonymous(Unauthenticated),
    /// Answer this rejection; the inner service is not called.
    Rejected(Rejection),
    /// The answer needs waiting (a validation, a shared cache): await it, then as above.
    Pending(AuthFuture<C>),
}

/// What an adapter does next with a request, once [`Outcome::into_step`] has put what the
/// authentication proved into its extensions. Exhaustive on purpose: an adapter can call the
/// inner service, answer, or wait, and nothing else.
#[derive(Debug)]
pub enum Step<C> {
    /// Call the inner service (the claims, or the anonymous marker, are in the extensions).
    Call,
    /// Answer this rejection; the inner service is not called.
    Reject(Rejection),
    /// Await the answer; then insert the claims (`Ok`) and call, or answer the rejection.
    Wait(AuthFuture<C>),
}

/// A request's extensions, as an adapter hands them to [`Outcome::into_step`]: where the claims
/// (an `Arc<C>`) or the [`Unauthenticated`] marker go. Implemented for `http::Extensions`
/// (feature `tower`); the actix adapter implements it for its own wrapper.
pub trait Extensions {
    /// Insert `value`, replacing one of the same type.
    fn insert<T: Clone + Send + Sync + 'static>(&mut self, value: T);
}

#[cfg(feature = "tower")]
impl Extensions for http::Extensions {
    fn insert<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        http::Extensions::insert(self, value);
    }
}

impl<C: Send + Sync + 'static> Outcome<C> {
    /// The one decision every adapter applies: put the claims (or the anonymous marker) into
    /// `extensions`, and say what to do next.
    pub fn into_step(self, extensions: &mut impl Extensions) -> Step<C> {
        match self {
            Outcome::Authenticated(claims) => {
                extensions.insert(claims);
                Step::Call
            }
            Outcome::Anonymous(marker) => {
                extensions.insert(marker);
                Step::Call
            }
            Outcome::Rejected(rejection) => Step::Reject(rejection),
            Outcome::Pending(pending) => Step::Wait(pending),
        }
    }
}

impl<C: JwtClaims> Authenticator<C> {
    /// The marker an optional-auth adapter puts in a request that carried no token.
    pub fn unauthenticated_marker(&self) -> Unauthenticated {
        Unauthenticated {
            realm: self.realm_arc(),
        }
    }

    /// Decide what to do with a request from its headers (the `Authorization` header, and
    /// the cookie or custom header when configured): what every adapter calls, once per
    /// request.
    pub fn authenticate_request(&self, headers: &(impl RequestHeaders + ?Sized)) -> Outcome<C> {
        match self.authenticate_headers(headers) {
            Err(rejection) => Outcome::Rejected(rejection),
            Ok(None) => Outcome::Anonymous(self.unauthenticated_marker()),
            Ok(Some(mut auth)) => match auth.take_ready() {
                Some(Ok(claims)) => Outcome::Authenticated(claims),
                Some(Err(rejection)) => Outcome::Rejected(rejection),
                None => Outcome::Pending(auth),
            },
        }
    }
}

/// A [`Requirement`] (a scope or a role) on claims of type `C`: what every adapter's
/// `RequireScope` holds and checks (the tower one is this type; the actix one wraps it).
pub struct ClaimsRequirement<C> {
    requirement: Requirement,
    _claims: std::marker::PhantomData<fn() -> C>,
}

impl<C> Clone for ClaimsRequirement<C> {
    fn clone(&self) -> Self {
        ClaimsRequirement::new(self.requirement.clone())
    }
}

impl<C> std::fmt::Debug for ClaimsRequirement<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RequireScope")
            .field(&self.requirement)
            .finish()
    }
}

impl<C> ClaimsRequirement<C> {
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
        ClaimsRequirement {
            requirement,
            _claims: std::marker::PhantomData,
        }
    }

    /// The requirement.
    pub fn requirement(&self) -> &Requirement {
        &self.requirement
    }
}

impl<C: Scopes> ClaimsRequirement<C> {
    /// Whether a request with these claims (`None`: none, the middleware let it through
    /// without a token) meets the requirement: a 403 `insufficient_scope`, or a 401.
    pub fn check(&self, claims: Option<&C>) -> Result<(), Rejection> {
        self.requirement.check(claims)
    }
}

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
    pub fn rejection(&self) -> Option<(Rejection, Option<&str>)> {
        match self {
            MissingClaims::Unauthenticated(realm) => {
                Some((Rejection::MissingToken, realm.as_deref()))
            }
            MissingClaims::NotInExtensions(_) => None,
        }
    }
}

/// The claims a request carries, given what the middleware put in its extensions: the
/// `Arc<T>` of an authenticated request, and the [`Unauthenticated`] marker of an
/// optional-auth request without a token.
pub fn claims_from_extensions<T: Clone>(
    claims: Option<&Arc<T>>,
    unauthenticated: Option<&Unauthenticated>,
) -> Result<T, MissingClaims> {
    match (claims, unauthenticated) {
        (Some(c), _) => Ok(T::clone(c)),
        (None, Some(u)) => Err(MissingClaims::Unauthenticated(u.realm.clone())),
        (None, None) => Err(MissingClaims::NotInExtensions(std::any::type_name::<T>())),
    }
}
