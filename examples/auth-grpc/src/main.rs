//! `cargo run -p jwt-cache-example-auth-grpc`: the example auth service on `ADDR` (default
//! `127.0.0.1:50051`; or `--addr HOST:PORT`), printing its address, a token and what to run
//! next. `--delay-ms N` delays every answer from the start (the `Control` RPC changes it, and
//! makes the service fail, at run time).

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use jwt_cache_example_auth_grpc::AuthService;
use jwt_cache_example_support::init_tracing;

const USAGE: &str = "usage: jwt-cache-auth-grpc [--addr HOST:PORT] [--delay-ms N]   (env: ADDR)";

fn arguments() -> Result<(SocketAddr, Duration), String> {
    let mut addr = std::env::var("ADDR")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "127.0.0.1:50051".into());
    let mut delay = Duration::ZERO;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or(USAGE)?,
            "--delay-ms" => {
                let ms = args.next().ok_or(USAGE)?;
                delay =
                    Duration::from_millis(ms.parse().map_err(|_| format!("--delay-ms {ms:?}"))?);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let addr = SocketAddr::from_str(&addr).map_err(|e| format!("bad address {addr:?}: {e}"))?;
    Ok((addr, delay))
}

#[tokio::main]
async fn main() {
    init_tracing();
    let (addr, delay) = match arguments() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("jwt-cache-auth-grpc: {e}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("jwt-cache-auth-grpc: binding {addr}: {e}");
            std::process::exit(1);
        }
    };
    let local = listener.local_addr().expect("a bound address");
    let service = AuthService::new();
    service.set_delay(delay);
    println!(
        "jwt-cache example auth service (gRPC jwtcache.example.v1.Auth) listening on http://{local}"
    );
    println!("a token it issued (subject dev-user, one hour):");
    println!("export TOKEN={}", service.token("dev-user"));
    println!("then, in another shell:");
    println!("  AUTH_GRPC_URL=http://{local} cargo run -p jwt-cache-demo");
    println!(
        "  AUTH_GRPC_URL=http://{local} ADDR=127.0.0.1:50052 cargo run -p jwt-cache-example-grpc-service"
    );
    println!("RPCs (proto: examples/support/proto/jwtcache_example.proto; no reflection service):");
    println!(
        "  Issue {{subject}} -> {{token}}; Validate {{token}} -> {{claims_json}} or UNAUTHENTICATED;"
    );
    println!(
        "  Control {{delay_ms, fail}} -> {{issue_calls, validate_calls}} (slow it down, make it fail), e.g."
    );
    println!(
        "  grpcurl -plaintext -import-path examples/support/proto -proto jwtcache_example.proto -d '{{\"delay_ms\": 5}}' {local} jwtcache.example.v1.Auth/Control"
    );
    println!("  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:3000/me");
    if let Err(e) = service.serve(listener).await {
        eprintln!("jwt-cache-auth-grpc: {e}");
        std::process::exit(1);
    }
}
