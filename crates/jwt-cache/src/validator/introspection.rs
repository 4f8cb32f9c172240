//! [`IntrospectionValidator`]: OAuth 2.0 Token Introspection (RFC 7662).

use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;

use super::token_validator::TokenValidator;
use super::{Fingerprint, ValidatedToken};
use crate::claims::{Audience, JwtClaims, RegisteredClaims};
use crate::error::{ConfigError, ValidationError};

/// How the validator authenticates to the introspection endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret (the default).
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

/// The largest introspection answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// Validation by OAuth 2.0 Token Introspection (RFC 7662): the authorization server is asked
/// about each token. The expensive case a cache is for: with the layer in front, a token is
/// introspected once per cache lifetime, not once per request.
///
/// - `POST {url}` with `token` (and `token_type_hint` when set), authenticated with the
///   client credentials ([`ClientAuth::Basic`] by default, or [`ClientAuth::Post`]).
/// - `"active": true` → the answer is the claims: `exp`, `iat`, `nbf`, `sub`, `aud`, `iss`,
///   `scope`, `client_id`, `jti` and any extra field decode into the claims type `C`. `exp`
///   and `nbf` are checked against the clock; the configured [`issuer`](IntrospectionValidatorBuilder::issuer)
///   and [`audience`](IntrospectionValidatorBuilder::audience), when set, must match. The
///   cache keeps the answer at most until its `exp` (and no longer than the layer's ttl); an
///   answer without `exp` is not cached unless the layer opts in.
/// - `"active": false` → `401 invalid_token` ([`ValidationError::Inactive`]), never cached
///   as valid (the layer's small negative cache may remember it for a few seconds).
/// - No answer within the [`timeout`](IntrospectionValidatorBuilder::timeout), a connection
///   error, any non-2xx status, or a body that is not an introspection answer →
///   [`ValidationError::Unavailable`] (`503`): the server could not say, which is never
///   "invalid" and never cached. So is an `"active": true` answer whose claims do not decode
///   (`exp` as a string, a negative `iat`, a field the claims type requires missing).
///   Cached tokens keep working meanwhile.
/// - The same claim rules as [`JwtValidator`](crate::JwtValidator): with no audience
///   configured, an answer naming one is refused (a token for another API); `nbf`/`exp` get
///   the [`leeway`](IntrospectionValidatorBuilder::leeway); an answer that identifies a
///   refresh token (`token_type`, `typ`, `token_use`) is refused, or, with
///   [`token_types`](IntrospectionValidatorBuilder::token_types), any type not listed.
/// - Redirects are never followed: the request carries the token and the client secret.
///
/// Opaque access tokens are accepted (RFC 6750 `b64token` syntax), not only JWTs.
///
/// ```no_run
/// use jwt_cache::validator::IntrospectionValidator;
/// use jwt_cache::{JwtCacheLayer, StandardClaims};
/// let validator = IntrospectionValidator::<StandardClaims>::builder("https://id.example/introspect")
///     .client_credentials("content-service", "s3cret")
///     .token_type_hint("access_token")
///     .audience("content")
///     .build()?;
/// let layer = JwtCacheLayer::builder(validator).build();
/// # let _ = layer;
/// # Ok::<(), jwt_cache::ConfigError>(())
/// ```
pub struct IntrospectionValidator<C> {
    config: Config,
    client: reqwest::Client,
    _claims: PhantomData<fn() -> C>,
}

/// What an [`IntrospectionValidator`] is configured with (the builder collects it).
#[derive(Clone)]
struct Config {
    url: String,
    client_id: String,
    client_secret: String,
    auth: ClientAuth,
    hint: Option<String>,
    issuer: Option<String>,
    audiences: Vec<String>,
    timeout: Duration,
    allow_http: bool,
    leeway: u64,
    /// `None`: refuse what the answer identifies as a refresh token, accept the rest.
    token_types: Option<Vec<String>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("url", &super::http::redact(&self.url))
            .field("client_id", &self.client_id)
            .field("auth", &self.auth)
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("timeout", &self.timeout)
            .field("leeway", &self.leeway)
            .field("token_types", &self.token_types)
            .finish_non_exhaustive()
    }
}

impl<C> std::fmt::Debug for IntrospectionValidator<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionValidator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Configures an [`IntrospectionValidator`].
#[must_use]
#[derive(Debug)]
pub struct IntrospectionValidatorBuilder<C> {
    config: Config,
    client: Option<reqwest::Client>,
    _claims: PhantomData<fn() -> C>,
}

impl<C: JwtClaims> IntrospectionValidator<C> {
    /// Introspect at `url` (the server's `introspection_endpoint`).
    pub fn builder(url: impl Into<String>) -> IntrospectionValidatorBuilder<C> {
        IntrospectionValidatorBuilder {
            config: Config {
                url: url.into(),
                client_id: String::new(),
                client_secret: String::new(),
                auth: ClientAuth::Basic,
                hint: None,
                issuer: None,
                audiences: Vec::new(),
                timeout: Duration::from_secs(2),
                allow_http: false,
                leeway: 60,
                token_types: None,
            },
            client: None,
            _claims: PhantomData,
        }
    }
}

impl<C: JwtClaims> IntrospectionValidatorBuilder<C> {
    /// The client id and secret this service authenticates with.
    pub fn client_credentials(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.config.client_id = id.into();
        self.config.client_secret = secret.into();
        self
    }

    /// How the credentials are sent (default [`ClientAuth::Basic`]).
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.config.auth = auth;
        self
    }

    /// Send `token_type_hint` (e.g. `access_token`).
    pub fn token_type_hint(mut self, hint: impl Into<String>) -> Self {
        self.config.hint = Some(hint.into());
        self
    }

    /// Require the answer's `iss` to be this issuer.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.config.issuer = Some(iss.into());
        self
    }

    /// Require the answer's `aud` to name this audience (call again to accept several).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.config.audiences.push(aud.into());
        self
    }

    /// Clock leeway for the answer's `exp` and `nbf`, in seconds (default 60, as
    /// [`JwtValidator`](crate::JwtValidator)'s), at most
    /// [`REVOCATION_MARGIN`](crate::clock::REVOCATION_MARGIN): the authorization server's clock
    /// may be ahead of ours.
    pub fn leeway(mut self, secs: u64) -> Self {
        self.config.leeway = secs.min(crate::clock::REVOCATION_MARGIN.as_secs());
        self
    }

    /// Accept only answers whose token type (`token_type`, RFC 7662; or `typ`, as Keycloak
    /// answers; or `token_use`, as Cognito does) is one of these, compared without case.
    /// An answer that names no type is then refused too.
    ///
    /// Default: an answer that identifies a refresh token (any of the three fields containing
    /// `refresh`) is refused, any other is accepted.
    pub fn token_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.token_types = Some(types.into_iter().map(Into::into).collect());
        self
    }

    /// How long one introspection may take before it is "unavailable" (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// Accept a plain `http://` URL to a host that is not loopback (default: https only, or
    /// http to `localhost`/`127.0.0.1`/`::1`): the client secret and every token would cross
    /// the network in clear. Only for a network path you trust.
    pub fn allow_http(mut self) -> Self {
        self.config.allow_http = true;
        self
    }

    /// Use this `reqwest` client (proxies, roots, connection pool settings of yours).
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The validator.
    pub fn build(self) -> Result<IntrospectionValidator<C>, ConfigError> {
        super::http::check_transport(&self.config.url, self.config.allow_http)
            .map_err(|e| ConfigError::Other(format!("introspection: {e}")))?;
        // Never a redirect: the request carries the user's token and our client secret.
        let client = match self.client {
            Some(c) => c,
            None => super::http::default_client().map_err(ConfigError::Other)?,
        };
        Ok(IntrospectionValidator {
            config: self.config,
            client,
            _claims: PhantomData,
        })
    }
}

/// `application/x-www-form-urlencoded` encoding of a credential, as RFC 6749 §2.3.1 asks
/// before HTTP Basic.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn unavailable(what: impl std::fmt::Display) -> ValidationError {
    ValidationError::Unavailable(format!("introspection: {what}"))
}

impl<C: JwtClaims> IntrospectionValidator<C> {
    async fn introspect(&self, token: &str) -> Result<Vec<u8>, ValidationError> {
        let mut form: Vec<(&str, &str)> = vec![("token", token)];
        if let Some(h) = &self.config.hint {
            form.push(("token_type_hint", h));
        }
        let mut req = self
            .client
            .post(&self.config.url)
            .header("accept", "application/json");
        match self.config.auth {
            ClientAuth::Basic => {
                req = req.basic_auth(
                    form_encode(&self.config.client_id),
                    Some(form_encode(&self.config.client_secret)),
                );
            }
            ClientAuth::Post => {
                form.push(("client_id", &self.config.client_id));
                form.push(("client_secret", &self.config.client_secret));
            }
        }
        let resp = req.form(&form).send().await.map_err(unavailable)?;
        let status = resp.status();
        if status.is_redirection() || resp.url().as_str() != self.config.url.as_str() {
            // The default client follows no redirect; a client of the user's that does is
            // caught here (too late for that request, loudly).
            let target = super::http::redirect_target(&resp);
            tracing::error!(
                url = %super::http::redact(&self.config.url),
                %status,
                target = %target,
                "introspection endpoint redirected: not followed (the request carries the token and the client secret)"
            );
            return Err(unavailable(format_args!(
                "status {status}: redirect to {target} not followed"
            )));
        }
        if !status.is_success() {
            if status.is_client_error() {
                // 400/401/403: our request or credentials were refused. Not the token's fault:
                // an operator's problem, loudly.
                tracing::error!(url = %super::http::redact(&self.config.url), %status, "introspection endpoint refused the request (client credentials?)");
            }
            return Err(unavailable(format_args!("status {status}")));
        }
        super::http::read_limited(resp, MAX_ANSWER)
            .await
            .map_err(unavailable)
    }
}

/// The parts of an introspection answer checked here.
#[derive(serde::Deserialize)]
struct Answer {
    active: bool,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    token_use: Option<String>,
}

impl Answer {
    /// Whether the configured token types accept this answer.
    fn type_accepted(&self, accepted: Option<&[String]>) -> bool {
        let named = [&self.token_type, &self.typ, &self.token_use];
        match accepted {
            None => !named
                .iter()
                .filter_map(|t| t.as_deref())
                .any(|t| t.to_ascii_lowercase().contains("refresh")),
            Some(types) => {
                let mut any = false;
                for t in named.iter().filter_map(|t| t.as_deref()) {
                    any = true;
                    if !types.iter().any(|a| a.eq_ignore_ascii_case(t)) {
                        return false;
                    }
                }
                any
            }
        }
    }
}

#[async_trait]
impl<C: JwtClaims> TokenValidator<C> for IntrospectionValidator<C> {
    async fn validate(&self, token: &str) -> Result<ValidatedToken<C>, ValidationError> {
        let body = match tokio::time::timeout(self.config.timeout, self.introspect(token)).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(unavailable(format_args!(
                    "no answer within {:?}",
                    self.config.timeout
                )));
            }
        };
        self.judge(&body)
    }

    fn fingerprint(&self) -> Fingerprint {
        self.fingerprint_of()
    }

    fn leeway(&self) -> u64 {
        self.config.leeway
    }

    fn accepts_opaque(&self) -> bool {
        true
    }
}

impl<C: JwtClaims> IntrospectionValidator<C> {
    /// The verdict on an introspection answer (untrusted input: the server's 200 body).
    pub(crate) fn judge(&self, body: &[u8]) -> Result<ValidatedToken<C>, ValidationError> {
        // A 200 whose body is not an introspection answer is the server's failure, not a
        // verdict on the token: 503, never remembered as a refusal.
        let answer: Answer = serde_json::from_slice(body)
            .map_err(|e| unavailable(format_args!("not an introspection answer: {e}")))?;
        if !answer.active {
            return Err(ValidationError::Inactive);
        }
        let reg: RegisteredClaims = serde_json::from_slice(body)
            .map_err(|e| unavailable(format_args!("malformed introspection answer: {e}")))?;
        if !answer.type_accepted(self.config.token_types.as_deref()) {
            return Err(ValidationError::WrongType);
        }
        let now = crate::clock::now_ms() / 1000;
        let leeway = self.config.leeway;
        if reg.exp.is_some_and(|exp| exp.saturating_add(leeway) <= now) {
            return Err(ValidationError::Expired);
        }
        if reg.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(ValidationError::NotYetValid);
        }
        if let Some(want) = &self.config.issuer
            && answer.iss.as_deref() != Some(want.as_str())
        {
            return Err(ValidationError::WrongIssuer);
        }
        // The same audience rule as `JwtValidator`: with audiences configured the answer must
        // name one; without, an answer naming any audience is refused (a token meant for
        // another API).
        let audience_ok = match (&answer.aud, self.config.audiences.is_empty()) {
            (None, true) => true,
            (Some(_), true) | (None, false) => false,
            (Some(aud), false) => self.config.audiences.iter().any(|a| aud.contains(a)),
        };
        if !audience_ok {
            return Err(ValidationError::WrongAudience);
        }
        // Claims that do not decode are a malformed answer too (the server's, or a claims type
        // that does not fit what it answers): 503, not a refusal to remember.
        let claims: C = serde_json::from_slice(body)
            .map_err(|e| unavailable(format_args!("claims of the answer: {e}")))?;
        Ok(ValidatedToken::new(claims, reg.into_meta(None)))
    }

    fn fingerprint_of(&self) -> Fingerprint {
        let mut aud = self.config.audiences.clone();
        aud.sort();
        Fingerprint::of(&[
            b"jwt-cache/IntrospectionValidator/1",
            self.config.url.as_bytes(),
            self.config.client_id.as_bytes(),
            self.config.issuer.as_deref().unwrap_or_default().as_bytes(),
            aud.join("\u{0}").as_bytes(),
            &self.config.leeway.to_be_bytes(),
            self.config
                .token_types
                .as_ref()
                .map(|t| t.join("\u{0}"))
                .unwrap_or_else(|| "-refresh".into())
                .as_bytes(),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::form_encode;

    #[test]
    fn credentials_are_form_encoded() {
        assert_eq!(form_encode("abc-1.2_3"), "abc-1.2_3");
        assert_eq!(form_encode("a b:c/d"), "a+b%3Ac%2Fd");
    }
}
