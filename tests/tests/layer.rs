//! The layer's behaviour through the tower `JwtCacheLayer` (the cases are shared with
//! `layer_tower_http.rs`).

use jwt_cache::middleware::RejectionHandler;
use jwt_cache_tests::harness::Stack;

fn stack<H: RejectionHandler<String>>(layer: JwtCacheLayer<StandardClaims, H>) -> Stack {
    Stack::new(layer)
}

include!("../layer_cases.rs");
