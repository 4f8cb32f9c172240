//! Claims: the bound every claims type meets, and the [`StandardClaims`] default.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// What a claims type must be to be validated, cached and handed to handlers.
///
/// Implemented for every `T: DeserializeOwned + Serialize + Clone + Send + Sync + 'static`;
/// `Serialize` is what lets a shared cache (Redis) store the claims.
pub trait JwtClaims: DeserializeOwned + Serialize + Clone + Send + Sync + 'static {}

impl<T> JwtClaims for T where T: DeserializeOwned + Serialize + Clone + Send + Sync + 'static {}

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "content"`
    One(String),
    /// `"aud": ["content", "feed"]`
    Many(Vec<String>),
}

impl Audience {
    /// Whether `name` is one of the audiences.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Audience::One(a) => a == name,
            Audience::Many(v) => v.iter().any(|a| a == name),
        }
    }
}

/// The registered claims of RFC 7519 plus the usual profile claims, the default claims type.
///
/// Unknown claims are ignored; every field is optional. A token without a user (an OAuth
/// client-credentials token: no `sub` in an introspection answer) has an empty `sub` and its
/// `client_id`; see [`subject`](Self::subject).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardClaims {
    /// Subject: who the token is about; empty when the token names none.
    #[serde(default)]
    pub sub: String,
    /// The OAuth client the token was issued to (RFC 7662, RFC 9068), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// E-mail address, when the issuer adds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// User name (`preferred_username` is read too).
    #[serde(
        default,
        alias = "preferred_username",
        skip_serializing_if = "Option::is_none"
    )]
    pub username: Option<String>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Expiry, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Not before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Token identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Space-separated scopes (RFC 8693 §4.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Roles (`roles`, as Keycloak's client mappers, Entra and many issuers put them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// What a route can require of the claims: a scope or a role
/// ([`RequireScope`](crate::middleware::RequireScope), and the actix adapter's own).
pub trait Scopes {
    /// Whether the token was granted `scope`.
    fn has_scope(&self, scope: &str) -> bool;
    /// Whether the subject has `role` (default: no roles).
    fn has_role(&self, _role: &str) -> bool {
        false
    }
}

impl Scopes for StandardClaims {
    fn has_scope(&self, scope: &str) -> bool {
        StandardClaims::has_scope(self, scope)
    }
    fn has_role(&self, role: &str) -> bool {
        self.roles
            .as_ref()
            .is_some_and(|r| r.iter().any(|x| x == role))
    }
}

/// A requirement on the claims: a scope or a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// The token's `scope` holds this one.
    Scope(std::sync::Arc<str>),
    /// The claims' `roles` hold this one.
    Role(std::sync::Arc<str>),
}

impl Requirement {
    /// Require the scope `scope`.
    pub fn scope(scope: impl Into<String>) -> Self {
        Requirement::Scope(std::sync::Arc::from(scope.into()))
    }

    /// Require the role `role`.
    pub fn role(role: impl Into<String>) -> Self {
        Requirement::Role(std::sync::Arc::from(role.into()))
    }

    /// What an adapter does with a request's claims (what the authentication middleware put
    /// in it, if anything): let it through, or refuse it with 403 `insufficient_scope`, or
    /// 401 when there are no claims at all.
    pub fn check<C: Scopes + ?Sized>(&self, claims: Option<&C>) -> Result<(), crate::Rejection> {
        match claims {
            Some(c) if self.met_by(c) => Ok(()),
            Some(_) => Err(self.rejection()),
            None => Err(crate::Rejection::MissingToken),
        }
    }

    /// Whether `claims` meet it.
    pub fn met_by<C: Scopes + ?Sized>(&self, claims: &C) -> bool {
        match self {
            Requirement::Scope(s) => claims.has_scope(s),
            Requirement::Role(r) => claims.has_role(r),
        }
    }

    /// The rejection when they do not: 403 `insufficient_scope`.
    pub fn rejection(&self) -> crate::Rejection {
        match self {
            Requirement::Scope(s) | Requirement::Role(s) => {
                crate::Rejection::InsufficientScope(s.clone())
            }
        }
    }
}

impl StandardClaims {
    /// Who the token is about: `sub`, or `None` for a token that names no subject (a
    /// client-credentials token; see [`client_id`](Self::client_id)).
    pub fn subject(&self) -> Option<&str> {
        (!self.sub.is_empty()).then_some(self.sub.as_str())
    }

    /// Whether the space-separated `scope` claim holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|x| x == scope))
    }
}

/// The registered claims the cache needs from every token, whatever the claims type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenMeta {
    /// `exp`, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// `nbf`, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// `iat`, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// `jti`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Identity of the key that verified the signature (its `kid`, or a digest of the key),
    /// checked against the validator's current key set on every cache hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RegisteredClaims {
    #[serde(default, deserialize_with = "lenient_time")]
    pub(crate) exp: Option<u64>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub(crate) nbf: Option<u64>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub(crate) iat: Option<u64>,
    #[serde(default)]
    pub(crate) jti: Option<String>,
    #[serde(default)]
    pub(crate) sub: Option<String>,
}

impl RegisteredClaims {
    /// The registered claims as `TokenMeta`, with the verifying key's identity.
    pub(crate) fn into_meta(self, key: Option<String>) -> TokenMeta {
        TokenMeta {
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
            jti: self.jti,
            sub: self.sub,
            key,
        }
    }
}

/// NumericDate may be fractional (RFC 7519 §2); whole seconds are kept.
fn lenient_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<f64>::deserialize(d)?;
    Ok(v.filter(|x| x.is_finite() && *x >= 0.0).map(|x| x as u64))
}
