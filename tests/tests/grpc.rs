//! gRPC with real tonic clients and servers on loopback: the layer in front of a tonic server
//! answers with gRPC statuses (`GrpcRejection`), and the cache stands in front of an auth
//! service called over gRPC (`GrpcAuthValidator`, the demo's `AUTH_GRPC_URL`).

use std::net::SocketAddr;
use std::time::Duration;

use jwt_cache_example_auth_grpc::AuthService;
use jwt_cache_example_support::grpc::proto::MeRequest;
use jwt_cache_example_support::grpc::proto::profile_client::ProfileClient;
use jwt_cache_example_support::{ExampleConfig, Vars, from_vars};
use jwt_cache_tests::redis::RedisServer;
use tonic::Code;

/// The auth service on a free loopback port.
async fn auth_service() -> (AuthService, SocketAddr) {
    let service = AuthService::new();
    let addr = service
        .clone()
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (service, addr)
}

/// The tonic example configured as the demo is (`AUTH_GRPC_URL`, and `REDIS_URL` when given);
/// its address, and its configuration (for revocations).
async fn profile_service(auth: SocketAddr, redis: Option<&str>) -> (SocketAddr, ExampleConfig) {
    let url = format!("http://{auth}");
    let mut pairs = vec![("AUTH_GRPC_URL", url.as_str())];
    if let Some(r) = redis {
        pairs.push(("REDIS_URL", r));
    }
    let config = from_vars("grpc-service", &Vars::from_pairs(pairs))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let authn = config.auth.clone();
    tokio::spawn(jwt_cache_example_grpc_service::serve(authn, listener));
    (addr, config)
}

/// `Me` with this token (or none): the subject, or the status code and message.
async fn me(addr: SocketAddr, token: Option<&str>) -> Result<String, (Code, String)> {
    let mut client = ProfileClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut req = tonic::Request::new(MeRequest {});
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    client
        .me(req)
        .await
        .map(|r| r.into_inner().subject)
        .map_err(|s| (s.code(), s.message().to_owned()))
}

#[tokio::test]
async fn refusals_are_grpc_statuses_and_claims_reach_the_handler() {
    let (auth, auth_addr) = auth_service().await;
    let (addr, _) = profile_service(auth_addr, None).await;
    // No token: UNAUTHENTICATED with a message (not an HTTP 401 the client would report as a
    // transport error).
    let (code, message) = me(addr, None).await.unwrap_err();
    assert_eq!(code, Code::Unauthenticated, "{message}");
    assert_eq!(message, "bearer token required");
    // Garbage and a forged token.
    let (code, _) = me(addr, Some("not-a-token")).await.unwrap_err();
    assert_eq!(code, Code::Unauthenticated);
    let other = AuthService::new().token("mallory");
    let (code, _) = me(addr, Some(&other)).await.unwrap_err();
    assert_eq!(code, Code::Unauthenticated);
    // A valid token: OK, and the handler read the claims.
    let token = auth.token("alice");
    assert_eq!(me(addr, Some(&token)).await.unwrap(), "alice");
    // Without the scope the RPC requires: PERMISSION_DENIED.
    let no_scope = auth.token_with_scope("bob", "write");
    let (code, message) = me(addr, Some(&no_scope)).await.unwrap_err();
    assert_eq!(code, Code::PermissionDenied, "{message}");
    assert_eq!(message, "insufficient scope");
}

#[tokio::test]
async fn a_revocation_is_refused_on_the_next_call_and_on_another_instance() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (auth, auth_addr) = auth_service().await;
    let redis = server.url();
    let (a, config_a) = profile_service(auth_addr, Some(&redis)).await;
    let (b, _) = profile_service(auth_addr, Some(&redis)).await;
    let token = auth.token("alice");
    assert_eq!(me(a, Some(&token)).await.unwrap(), "alice");
    assert_eq!(me(b, Some(&token)).await.unwrap(), "alice");
    config_a.auth.revoke_token(&token).await.unwrap();
    let (code, message) = me(a, Some(&token)).await.unwrap_err();
    assert_eq!(
        (code, message.as_str()),
        (Code::Unauthenticated, "token revoked")
    );
    // The other instance, through Redis (its replicated view: milliseconds).
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        match me(b, Some(&token)).await {
            Err((Code::Unauthenticated, _)) => break,
            other => {
                assert!(std::time::Instant::now() < deadline, "still {other:?}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[tokio::test]
async fn with_the_auth_service_slow_or_failing_cached_tokens_work_and_new_ones_are_unavailable() {
    let (auth, auth_addr) = auth_service().await;
    let (addr, _) = profile_service(auth_addr, None).await;
    let cached = auth.token("alice");
    assert_eq!(me(addr, Some(&cached)).await.unwrap(), "alice");
    let calls = auth.validate_calls();
    // Slower than the validator's deadline (500 ms).
    auth.set_delay(Duration::from_millis(1500));
    assert_eq!(me(addr, Some(&cached)).await.unwrap(), "alice");
    let (code, message) = me(addr, Some(&auth.token("new1"))).await.unwrap_err();
    assert_eq!(code, Code::Unavailable, "{message}");
    // Failing outright.
    auth.set_delay(Duration::ZERO);
    auth.set_failing(true);
    assert_eq!(me(addr, Some(&cached)).await.unwrap(), "alice");
    let (code, _) = me(addr, Some(&auth.token("new2"))).await.unwrap_err();
    assert_eq!(code, Code::Unavailable);
    // The cached token never reached the service while it was down.
    assert_eq!(
        auth.validate_calls(),
        calls + 2,
        "only the two new tokens were asked"
    );
    // Back: new tokens work, and the ones refused as unavailable were never remembered.
    auth.set_failing(false);
    assert_eq!(me(addr, Some(&auth.token("new3"))).await.unwrap(), "new3");
}

#[tokio::test]
async fn with_the_auth_service_gone_new_tokens_are_unavailable() {
    // An address nothing listens on.
    let gone: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (addr, _) = profile_service(gone, None).await;
    let token = AuthService::new().token("alice");
    let (code, message) = me(addr, Some(&token)).await.unwrap_err();
    assert_eq!(code, Code::Unavailable, "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_calls_with_one_cold_token_makes_one_validate_call() {
    let (auth, auth_addr) = auth_service().await;
    let (addr, _) = profile_service(auth_addr, None).await;
    // Slow enough that every call of the burst arrives while the first is validating.
    auth.set_delay(Duration::from_millis(200));
    let token = auth.token("alice");
    let before = auth.validate_calls();
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let token = token.clone();
            tokio::spawn(async move { me(addr, Some(&token)).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), "alice");
    }
    assert_eq!(
        auth.validate_calls() - before,
        1,
        "one Validate for the burst"
    );
}
