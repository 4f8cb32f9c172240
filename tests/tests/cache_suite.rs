//! The ClaimsCache acceptance suite, run against every backend.

use jwt_cache::{MemoryCache, StandardClaims};
use jwt_cache_tests::suite::{Backend, Stores};

/// One process: the second handle is a clone over the same memory.
async fn memory() -> Option<Backend<MemoryCache<StandardClaims>, MemoryCache<StandardClaims>>> {
    let cache = MemoryCache::<StandardClaims>::new(1000);
    Some(Backend::new(cache.clone(), cache, Stores::Claims, ()))
}

jwt_cache_tests::cache_suite!(memory_cache, memory);

#[tokio::test]
async fn memory_cache_is_bounded() {
    use jwt_cache::ClaimsCache;
    use jwt_cache::cache::{CacheKey, TokenHash};
    use jwt_cache::validator::Fingerprint;
    let cache = MemoryCache::<StandardClaims>::new(100);
    let v = std::sync::Arc::new(jwt_cache::validator::ValidatedToken {
        claims: std::sync::Arc::new(StandardClaims {
            sub: "s".into(),
            email: None,
            username: None,
            iss: None,
            aud: None,
            exp: None,
            nbf: None,
            iat: None,
            jti: None,
            scope: None,
            roles: None,
            client_id: None,
        }),
        meta: Default::default(),
    });
    for i in 0..10_000 {
        let key = CacheKey {
            fingerprint: Fingerprint([0; 16]),
            token: TokenHash::of(&format!("t{i}")),
        };
        cache
            .put(
                &key,
                &jwt_cache::cache::SignedHash::of(&format!("t{i}")),
                v.clone(),
                std::time::Duration::from_secs(60),
                jwt_cache::cache::Fill::Shared,
            )
            .await
            .unwrap();
    }
    assert!(cache.len() <= 100, "len {} exceeds the bound", cache.len());
}
