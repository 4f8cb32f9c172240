//! An auth service over gRPC (`jwtcache.example.v1.Auth`): `Issue` signs an access token for a
//! subject, `Validate` checks one and answers its claims (or `UNAUTHENTICATED`), `Control`
//! delays or fails every answer (`UNAVAILABLE`) and reports the calls so far. The service the
//! design note's fleet called synchronously on every request; here, behind the cache.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use jwt_cache::jsonwebtoken::{self, Algorithm, DecodingKey, Validation};
use jwt_cache_example_support::DevIssuer;
use jwt_cache_example_support::grpc::proto::auth_server::{Auth, AuthServer};
use jwt_cache_example_support::grpc::proto::{
    ControlRequest, ControlResponse, IssueRequest, IssueResponse, ValidateRequest, ValidateResponse,
};
use tonic::{Request, Response, Status};

/// The issuer (`iss`) and audience (`aud`) of its tokens.
pub const ISSUER: &str = "jwt-cache-auth-grpc";
/// See [`ISSUER`].
pub const AUDIENCE: &str = "jwt-cache-demo";

struct State {
    issuer: DevIssuer,
    decoding: DecodingKey,
    delay_ms: AtomicU64,
    fail: AtomicBool,
    issue_calls: AtomicU64,
    validate_calls: AtomicU64,
}

/// The service (cheap to clone: clones share everything).
#[derive(Clone)]
pub struct AuthService {
    state: Arc<State>,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("validate_calls", &self.validate_calls())
            .finish_non_exhaustive()
    }
}

impl Default for AuthService {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthService {
    /// A service with an Ed25519 key generated now.
    pub fn new() -> Self {
        let (issuer, public) = DevIssuer::generate(ISSUER, AUDIENCE).expect("key generation");
        AuthService {
            state: Arc::new(State {
                issuer,
                decoding: DecodingKey::from_ed_der(&public),
                delay_ms: AtomicU64::new(0),
                fail: AtomicBool::new(false),
                issue_calls: AtomicU64::new(0),
                validate_calls: AtomicU64::new(0),
            }),
        }
    }

    /// Serve on `listener` until the process ends.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> Result<(), String> {
        tonic::transport::Server::builder()
            .add_service(AuthServer::new(self))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .map_err(|e| e.to_string())
    }

    /// Start on `addr` (port 0: any free one) in the background; the address it listens on.
    pub async fn spawn(self, addr: SocketAddr) -> Result<SocketAddr, String> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("binding {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(self.serve(listener));
        Ok(local)
    }

    /// A token for `sub`, valid for an hour, with scopes `read write` (what `Issue` answers).
    pub fn token(&self, sub: &str) -> String {
        self.token_with_scope(sub, "read write")
    }

    /// A token for `sub` with these scopes (space-separated).
    pub fn token_with_scope(&self, sub: &str, scope: &str) -> String {
        self.state
            .issuer
            .token_with_scope(sub, scope, Duration::from_secs(3600))
    }

    /// Delay every answer by this much.
    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Fail every answer with `UNAVAILABLE` (`true`), or answer again (`false`).
    pub fn set_failing(&self, fail: bool) {
        self.state.fail.store(fail, Ordering::Relaxed);
    }

    /// `Validate` calls received so far.
    pub fn validate_calls(&self) -> u64 {
        self.state.validate_calls.load(Ordering::Relaxed)
    }

    /// The switches, on every answer.
    async fn gate(&self) -> Result<(), Status> {
        let delay = self.state.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.state.fail.load(Ordering::Relaxed) {
            return Err(Status::unavailable("the auth service is failing (switch)"));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn issue(&self, req: Request<IssueRequest>) -> Result<Response<IssueResponse>, Status> {
        self.state.issue_calls.fetch_add(1, Ordering::Relaxed);
        self.gate().await?;
        let subject = req.into_inner().subject;
        if subject.is_empty() {
            return Err(Status::invalid_argument("subject is empty"));
        }
        Ok(Response::new(IssueResponse {
            token: self.token(&subject),
        }))
    }

    async fn validate(
        &self,
        req: Request<ValidateRequest>,
    ) -> Result<Response<ValidateResponse>, Status> {
        self.state.validate_calls.fetch_add(1, Ordering::Relaxed);
        self.gate().await?;
        let token = req.into_inner().token;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        match jsonwebtoken::decode::<serde_json::Value>(&token, &self.state.decoding, &validation) {
            Ok(data) => Ok(Response::new(ValidateResponse {
                claims_json: data.claims.to_string(),
            })),
            Err(_) => Err(Status::unauthenticated("invalid token")),
        }
    }

    async fn control(
        &self,
        req: Request<ControlRequest>,
    ) -> Result<Response<ControlResponse>, Status> {
        let c = req.into_inner();
        if let Some(ms) = c.delay_ms {
            self.set_delay(Duration::from_millis(ms));
        }
        if let Some(fail) = c.fail {
            self.set_failing(fail);
        }
        Ok(Response::new(ControlResponse {
            issue_calls: self.state.issue_calls.load(Ordering::Relaxed),
            validate_calls: self.validate_calls(),
        }))
    }
}
