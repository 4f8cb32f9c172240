//! `ADDR=127.0.0.1:50052 AUTH_GRPC_URL=http://127.0.0.1:50051 cargo run -p
//! jwt-cache-example-grpc-service`: the tonic example, configured like the demo (`ADDR`,
//! `AUTH_GRPC_URL`, `JWT_PUBLIC_KEY_FILE`, `REDIS_URL`, …; see `jwt-cache-example-support`).

use jwt_cache_example_support::{init_tracing, print_banner};

#[tokio::main]
async fn main() {
    init_tracing();
    let config = match jwt_cache_example_support::from_env("jwt-cache-grpc-service").await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("jwt-cache-grpc-service: {e}");
            std::process::exit(1);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("jwt-cache-grpc-service: binding {}: {e}", config.addr);
            std::process::exit(1);
        }
    };
    let local = listener.local_addr().expect("a bound address");
    print_banner(
        "jwt-cache gRPC example (jwtcache.example.v1.Profile/Me)",
        &config,
        local,
    );
    println!(
        "call Me with metadata `authorization: Bearer $TOKEN` (scope `{}` required), e.g. from the repository root:\n  grpcurl -plaintext -import-path examples/support/proto -proto jwtcache_example.proto -H \"authorization: Bearer $TOKEN\" {local} jwtcache.example.v1.Profile/Me\n(the server has no reflection service: give grpcurl the proto file)",
        jwt_cache_example_grpc_service::SCOPE
    );
    if let Err(e) = jwt_cache_example_grpc_service::serve(config.auth, listener).await {
        eprintln!("jwt-cache-grpc-service: {e}");
        std::process::exit(1);
    }
}
