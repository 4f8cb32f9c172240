//! The same behaviour as `layer.rs`, through tower-http's `AsyncRequireAuthorizationLayer`
//! with a `JwtAuthorizer` made from the layer.

use jwt_cache::middleware::RejectionHandler;
use jwt_cache_tests::harness::Stack;

fn stack<H: RejectionHandler<String>>(layer: JwtCacheLayer<StandardClaims, H>) -> Stack {
    Stack::tower_http(layer)
}

include!("../layer_cases.rs");
