//! What comes back from Redis: a value decoded with and without the integrity key; a value we
//! encoded, one bit flipped, never accepted (input format: `jwt_cache_redis::fuzzing::redis_value`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jwt_cache_redis::fuzzing::redis_value(data);
});
