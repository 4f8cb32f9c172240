//! A tonic service (`jwtcache.example.v1.Profile`, one RPC: `Me`) behind `JwtCacheLayer` with
//! [`GrpcRejection`]: a call without a valid token gets `UNAUTHENTICATED`, one without the
//! `read` scope `PERMISSION_DENIED`, one that cannot be decided `UNAVAILABLE`, each with a
//! `grpc-message`; the claims reach the handler through the request's extensions.

use std::sync::Arc;

use jwt_cache::middleware::{GrpcRejection, RequireScope};
use jwt_cache::{Authenticator, JwtCacheLayer, StandardClaims};
use jwt_cache_example_support::grpc::proto::profile_server::{Profile, ProfileServer};
use jwt_cache_example_support::grpc::proto::{MeRequest, MeResponse};
use tonic::{Request, Response, Status};

/// The scope `Me` requires.
pub const SCOPE: &str = "read";

/// `Profile`: `Me` answers the caller's subject, from the claims the layer put in the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProfileService;

#[tonic::async_trait]
impl Profile for ProfileService {
    async fn me(&self, req: Request<MeRequest>) -> Result<Response<MeResponse>, Status> {
        let claims = req
            .extensions()
            .get::<Arc<StandardClaims>>()
            .ok_or_else(|| Status::unauthenticated("no claims: is JwtCacheLayer in front?"))?;
        Ok(Response::new(MeResponse {
            subject: claims.sub.clone(),
        }))
    }
}

/// Serve `Profile` on `listener`, every call authenticated by `auth` (and required to carry
/// the [`SCOPE`]), refusals answered as gRPC statuses.
pub async fn serve(
    auth: Authenticator<StandardClaims>,
    listener: tokio::net::TcpListener,
) -> Result<(), String> {
    tonic::transport::Server::builder()
        .layer(JwtCacheLayer::new(auth).with_rejection(GrpcRejection))
        .layer(RequireScope::<StandardClaims>::scope(SCOPE))
        .add_service(ProfileServer::new(ProfileService))
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
        .await
        .map_err(|e| e.to_string())
}
