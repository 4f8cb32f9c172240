//! gRPC: the example API (generated from `proto/jwtcache_example.proto` at build time) and
//! [`GrpcAuthValidator`], a [`TokenValidator`] that asks an auth service's `Validate` over gRPC
//! — the design note's synchronous call, now behind the cache.

use std::sync::Arc;
use std::time::Duration;

use jwt_cache::validator::{Fingerprint, TokenMeta, ValidatedToken};
use jwt_cache::{StandardClaims, TokenValidator, ValidationError};

/// The example API: `jwtcache.example.v1` (`Auth`: `Issue`, `Validate`, `Control`; `Profile`:
/// `Me`).
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
pub mod proto {
    tonic::include_proto!("jwtcache.example.v1");
}

use self::proto::ValidateRequest;
use self::proto::auth_client::AuthClient;

/// Validation by an auth service's `Validate` RPC, with a deadline on every call and a bound on
/// the calls in flight. Its answers map the way every validator of the project maps them
/// ([`jwt_cache::grpc::verdict_of`]): `UNAUTHENTICATED`, `PERMISSION_DENIED`, `INVALID_ARGUMENT`
/// refuse the token (401, remembered briefly by the negative cache); `UNAVAILABLE`,
/// `DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED`, a transport error or no answer within the deadline
/// mean the service could not say (503, never cached: cached tokens keep working). A remote
/// validator: the cache is looked up first, and one call serves a burst of one token.
#[derive(Clone)]
pub struct GrpcAuthValidator {
    client: AuthClient<tonic::transport::Channel>,
    permits: Arc<tokio::sync::Semaphore>,
    deadline: Duration,
    url: String,
}

impl std::fmt::Debug for GrpcAuthValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcAuthValidator")
            .field("url", &crate::shown_url(&self.url))
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl GrpcAuthValidator {
    /// A validator for the auth service at `url` (`http://127.0.0.1:50051`; plain HTTP to
    /// loopback only, as for every outbound call carrying a token), connecting on first use.
    /// Each call waits at most `deadline`; at most `max_in_flight` run at once (the rest wait,
    /// within the deadline, then get 503).
    pub fn new(url: &str, deadline: Duration, max_in_flight: usize) -> Result<Self, String> {
        jwt_cache::validator::check_transport(url, false)?;
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
            .map_err(|e| format!("{}: {e}", crate::shown_url(url)))?
            .connect_timeout(deadline.max(Duration::from_millis(100)))
            .timeout(deadline);
        Ok(GrpcAuthValidator {
            client: AuthClient::new(endpoint.connect_lazy()),
            permits: Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1))),
            deadline,
            url: url.to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl TokenValidator<StandardClaims> for GrpcAuthValidator {
    async fn validate(
        &self,
        token: &str,
    ) -> Result<ValidatedToken<StandardClaims>, ValidationError> {
        let unavailable =
            |why: String| ValidationError::Unavailable(format!("auth service: {why}"));
        let call = async {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| unavailable("closed".into()))?;
            let mut request = tonic::Request::new(ValidateRequest {
                token: token.to_owned(),
            });
            request.set_timeout(self.deadline);
            self.client
                .clone()
                .validate(request)
                .await
                .map_err(|status| {
                    jwt_cache::grpc::verdict_of(status.code() as i32, status.message())
                })
        };
        let answer = tokio::time::timeout(self.deadline, call)
            .await
            .map_err(|_| unavailable(format!("no answer within {:?}", self.deadline)))??;
        // The service's answer is untrusted input too: claims that do not decode are its
        // failure (503), not a verdict on the token.
        let json = answer.into_inner().claims_json;
        let claims: StandardClaims = serde_json::from_str(&json)
            .map_err(|e| unavailable(format!("claims of the answer: {e}")))?;
        let mut meta: TokenMeta = serde_json::from_str(&json)
            .map_err(|e| unavailable(format!("claims of the answer: {e}")))?;
        meta.key = None;
        Ok(ValidatedToken::new(claims, meta))
    }

    fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&[
            b"jwt-cache-example/GrpcAuthValidator/1",
            self.url.as_bytes(),
        ])
    }
}
